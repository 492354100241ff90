/**
 * The control calls a migration makes (collections, partitions, flush, statistics, index, load, count, import),
 * hand-encoded and sent over the same HTTP/2 channel as the inserts ({@linkcode BulkTransport}).
 *
 * The SDK's client costs about 1 CPU s before the first row moves (loading its modules and parsing its .proto
 * files, 0.4 + 0.45 s measured per process) — half of the 2 s budget for a whole 1M × 128 migration — and its
 * grpc-js channel can abort the process under Deno when a server going down sends GOAWAY. These few messages are
 * small and stable, so they are written and read here with their field numbers from milvus.proto; the SDK stays
 * for `verify`, which reads vectors back. Replies keep the SDK's shape where callers look (`status`,
 * `error_code`, `reason`), so {@linkcode control} and {@linkcode checkStatus} treat both alike.
 *
 * @module
 */
import { type BulkTransport, CallError } from "./transport.ts";
import { ProtoError, ProtoMessage, ProtoWriter } from "./proto.ts";

/** A Milvus `common.Status`. */
export interface Status {
  /** `ErrorCode` (0 = success). */
  error_code: number;
  reason: string;
  /** The newer merr code (0 = success). */
  code: number;
}

/** Schema data types milvusdm reads or writes (schema.proto `DataType`). */
export const DataType = {
  Int64: 5,
  VarChar: 21,
  BinaryVector: 100,
  FloatVector: 101,
} as const;

const DATA_TYPE_NAMES: Record<number, string> = {
  0: "None",
  1: "Bool",
  2: "Int8",
  3: "Int16",
  4: "Int32",
  5: "Int64",
  10: "Float",
  11: "Double",
  20: "String",
  21: "VarChar",
  22: "Array",
  23: "JSON",
  100: "BinaryVector",
  101: "FloatVector",
  102: "Float16Vector",
  103: "BFloat16Vector",
  104: "SparseFloatVector",
  105: "Int8Vector",
};

/** `common.ConsistencyLevel`. */
const CONSISTENCY = { Strong: 0, Session: 1, Bounded: 2, Eventually: 3 } as const;

const IMPORT_STATE_NAMES: Record<number, string> = {
  0: "ImportPending",
  1: "ImportFailed",
  2: "ImportStarted",
  5: "ImportPersisted",
  6: "ImportCompleted",
  7: "ImportFailedAndCleaned",
  8: "ImportFlushed",
};

/** One field of a collection's schema. */
export interface FieldInfo {
  name: string;
  /** The type's name: `Int64`, `FloatVector`, … */
  data_type: string;
  is_primary_key: boolean;
  autoID: boolean;
  /** `type_params` (for vectors: `dim`). */
  type_params: { key: string; value: string }[];
}

/** A field of a collection to create. */
export interface NewField {
  name: string;
  data_type: number;
  is_primary_key?: boolean;
  autoID?: boolean;
  /** Vector dimension. */
  dim?: number;
}

/** An import task's state (`GetImportStateResponse`). */
export interface ImportTaskState {
  status: Status;
  /** The state's name: `ImportPending`, `ImportStarted`, `ImportCompleted`, `ImportFailed`, … */
  state: string;
  /** The task's id (a decimal string: ids exceed 2^53). */
  id: string;
  row_count: number;
  infos: { key: string; value: string }[];
}

function statusOf(m: ProtoMessage): Status {
  return { error_code: m.int(1), reason: m.string(2), code: m.int(3) };
}

function keyValueList(map: Map<string, string>): { key: string; value: string }[] {
  return [...map].map(([key, value]) => ({ key, value }));
}

function importStateOf(m: ProtoMessage): ImportTaskState {
  const state = m.int(2);
  return {
    status: statusOf(m.message(1)),
    state: IMPORT_STATE_NAMES[state] ?? `ImportState${state}`,
    id: String(m.int64(6)),
    row_count: m.int(3),
    infos: keyValueList(m.keyValues(5)),
  };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The control calls of a migration, over a {@linkcode BulkTransport}. */
export class ControlClient {
  readonly #transport: BulkTransport;
  readonly #database: string;
  readonly #timeoutMs: number;

  /** `timeoutMs` bounds each call (not the waits of `flushSync` and `loadCollectionSync`, which poll). */
  constructor(transport: BulkTransport, database: string, timeoutMs: number) {
    this.#transport = transport;
    this.#database = database;
    this.#timeoutMs = timeoutMs;
  }

  async #call(method: string, request: ProtoWriter): Promise<ProtoMessage> {
    const message = request.finish();
    const framed = new Uint8Array(5 + message.length);
    new DataView(framed.buffer).setUint32(1, message.length, false);
    framed.set(message, 5);
    const reply = await this.#transport.unary(method, framed, { timeoutMs: this.#timeoutMs });
    try {
      return new ProtoMessage(reply);
    } catch (error) {
      if (error instanceof ProtoError) {
        throw new CallError("fatal", `the server's ${method} reply does not parse: ${error.message}`);
      }
      throw error;
    }
  }

  /** A request with `db_name` (field 2) and `collection_name` (field 3), as most collection calls have. */
  #collectionRequest(collection: string): ProtoWriter {
    return new ProtoWriter().string(2, this.#database).string(3, collection);
  }

  async #status(method: string, request: ProtoWriter): Promise<Status> {
    return statusOf(await this.#call(method, request));
  }

  /** The server's version string. */
  async getVersion(): Promise<{ status: Status; version: string }> {
    const m = await this.#call("GetVersion", new ProtoWriter());
    return { status: statusOf(m.message(1)), version: m.string(2) };
  }

  async hasCollection(req: { collection_name: string }): Promise<{ status: Status; value: boolean }> {
    const m = await this.#call("HasCollection", this.#collectionRequest(req.collection_name));
    return { status: statusOf(m.message(1)), value: m.bool(2) };
  }

  async describeCollection(
    req: { collection_name: string },
  ): Promise<{ status: Status; schema: { fields: FieldInfo[] } }> {
    const m = await this.#call("DescribeCollection", this.#collectionRequest(req.collection_name));
    const schema = m.message(2);
    const fields = schema.messages(4).map((f): FieldInfo => {
      const type = f.int(5);
      return {
        name: f.string(2),
        data_type: DATA_TYPE_NAMES[type] ?? `DataType${type}`,
        is_primary_key: f.bool(3),
        autoID: f.bool(8),
        type_params: keyValueList(f.keyValues(6)),
      };
    });
    return { status: statusOf(m.message(1)), schema: { fields } };
  }

  /** Creates a collection (Bounded consistency, as the SDK's default; the server's default shard count). */
  createCollection(
    req: { collection_name: string; description?: string; fields: NewField[] },
  ): Promise<Status> {
    const schema = new ProtoWriter().string(1, req.collection_name).string(2, req.description);
    for (const field of req.fields) {
      const f = new ProtoWriter().string(2, field.name).bool(3, field.is_primary_key).uint(5, field.data_type)
        .keyValues(6, field.dim !== undefined ? { dim: field.dim } : undefined).bool(8, field.autoID);
      schema.message(4, f);
    }
    const request = this.#collectionRequest(req.collection_name).message(4, schema).uint(6, CONSISTENCY.Bounded);
    return this.#status("CreateCollection", request);
  }

  dropCollection(req: { collection_name: string }): Promise<Status> {
    return this.#status("DropCollection", this.#collectionRequest(req.collection_name));
  }

  releaseCollection(req: { collection_name: string }): Promise<Status> {
    return this.#status("ReleaseCollection", this.#collectionRequest(req.collection_name));
  }

  async hasPartition(
    req: { collection_name: string; partition_name: string },
  ): Promise<{ status: Status; value: boolean }> {
    const m = await this.#call(
      "HasPartition",
      this.#collectionRequest(req.collection_name).string(4, req.partition_name),
    );
    return { status: statusOf(m.message(1)), value: m.bool(2) };
  }

  createPartition(req: { collection_name: string; partition_name: string }): Promise<Status> {
    return this.#status("CreatePartition", this.#collectionRequest(req.collection_name).string(4, req.partition_name));
  }

  dropPartition(req: { collection_name: string; partition_name: string }): Promise<Status> {
    return this.#status("DropPartition", this.#collectionRequest(req.collection_name).string(4, req.partition_name));
  }

  /** Flushes the collections and waits until their segments are persisted (polling every 100 ms, as the SDK). */
  async flushSync(req: { collection_names: string[] }): Promise<{ status: Status; flushed: boolean }> {
    const m = await this.#call("Flush", new ProtoWriter().string(2, this.#database).strings(3, req.collection_names));
    const status = statusOf(m.message(1));
    if (status.error_code !== 0 || status.code !== 0) return { status, flushed: false };
    const segments: bigint[] = [];
    for (const ids of m.mapOfMessages(3).values()) segments.push(...ids.int64s(1));
    for (;;) {
      const state = await this.#call("GetFlushState", new ProtoWriter().packedInts(1, segments));
      const flushStatus = statusOf(state.message(1));
      if (flushStatus.error_code !== 0 || flushStatus.code !== 0 || state.bool(2)) {
        return { status: flushStatus, flushed: state.bool(2) };
      }
      await pause(100);
    }
  }

  async #statistics(method: string, request: ProtoWriter): Promise<{ status: Status; data: { row_count: number } }> {
    const m = await this.#call(method, request);
    return { status: statusOf(m.message(1)), data: { row_count: Number(m.keyValues(2).get("row_count") ?? 0) } };
  }

  getCollectionStatistics(req: { collection_name: string }): Promise<{ status: Status; data: { row_count: number } }> {
    return this.#statistics("GetCollectionStatistics", this.#collectionRequest(req.collection_name));
  }

  getPartitionStatistics(
    req: { collection_name: string; partition_name: string },
  ): Promise<{ status: Status; data: { row_count: number } }> {
    return this.#statistics(
      "GetPartitionStatistics",
      this.#collectionRequest(req.collection_name).string(4, req.partition_name),
    );
  }

  /**
   * The indexes on a field. A collection without one answers with a failed status (IndexNotExist) and no
   * descriptions, which callers read as "no index".
   */
  async describeIndex(
    req: { collection_name: string; field_name: string },
  ): Promise<{ status: Status; index_descriptions: { index_name: string; field_name: string }[] }> {
    const m = await this.#call("DescribeIndex", this.#collectionRequest(req.collection_name).string(4, req.field_name));
    return {
      status: statusOf(m.message(1)),
      index_descriptions: m.messages(2).map((d) => ({ index_name: d.string(1), field_name: d.string(4) })),
    };
  }

  createIndex(req: {
    collection_name: string;
    field_name: string;
    index_type: string;
    metric_type: string;
    params?: Record<string, string | number>;
  }): Promise<Status> {
    const params = req.params ?? {};
    const extra: Record<string, string> = { index_type: req.index_type, metric_type: req.metric_type };
    if (Object.keys(params).length > 0) extra.params = JSON.stringify(params);
    return this.#status(
      "CreateIndex",
      this.#collectionRequest(req.collection_name).string(4, req.field_name).keyValues(5, extra),
    );
  }

  /** Loads a collection and waits until it is fully loaded (polling the progress every 400 ms, as the SDK). */
  async loadCollectionSync(req: { collection_name: string }): Promise<Status> {
    const status = await this.#status("LoadCollection", this.#collectionRequest(req.collection_name));
    if (status.error_code !== 0 || status.code !== 0) return status;
    for (;;) {
      const m = await this.#call(
        "GetLoadingProgress",
        new ProtoWriter().string(2, req.collection_name).string(4, this.#database),
      );
      const progress = statusOf(m.message(1));
      if (progress.error_code !== 0 || progress.code !== 0) return progress;
      if (m.int(2) >= 100) return status;
      await pause(400);
    }
  }

  /** `count(*)` of a collection or some of its partitions, at Strong consistency. */
  async count(
    req: { collection_name: string; partition_names?: string[] },
  ): Promise<{ status: Status; count: number }> {
    const request = this.#collectionRequest(req.collection_name).strings(5, ["count(*)"])
      .strings(6, req.partition_names).uint(11, CONSISTENCY.Strong);
    const m = await this.#call("Query", request);
    let count = 0;
    for (const field of m.messages(2)) {
      if (field.string(2) === "count(*)") count = Number(field.message(3).message(3).int64s(1)[0] ?? 0n);
    }
    return { status: statusOf(m.message(1)), count };
  }

  /** Starts an import of files (paths the server reads) into a collection (and partition). */
  async bulkInsert(
    req: { collection_name: string; partition_name?: string; files: string[] },
  ): Promise<{ status: Status; tasks: string[] }> {
    const request = new ProtoWriter().string(1, req.collection_name).string(2, req.partition_name)
      .strings(5, req.files).string(7, this.#database);
    const m = await this.#call("Import", request);
    return { status: statusOf(m.message(1)), tasks: m.int64s(2).map(String) };
  }

  async getImportState(req: { task: string }): Promise<ImportTaskState> {
    return importStateOf(await this.#call("GetImportState", new ProtoWriter().uint(1, BigInt(req.task))));
  }

  /** Import tasks of a collection (all of them: `limit` 0). */
  async listImportTasks(req: { collection_name: string }): Promise<{ status: Status; tasks: ImportTaskState[] }> {
    const m = await this.#call(
      "ListImportTasks",
      new ProtoWriter().string(1, req.collection_name).string(3, this.#database),
    );
    return { status: statusOf(m.message(1)), tasks: m.messages(2).map(importStateOf) };
  }
}
