/**
 * The Milvus 2.x sink every `*ToMilvus` job uses: prepare the target collection and partition under a mode, send
 * batches with a bounded number of inserts in flight, then flush, index, load and check the count.
 *
 * @module
 */
import { DataType } from "./control.ts";
import { MilvusdmError, throwIfAborted } from "../errors.ts";
import type { Batch, BatchMemory, Metric, VectorType } from "../types.ts";
import { checkStatus, control, type MilvusConnection } from "./connection.ts";
import { CallError, callFailure } from "./transport.ts";
import {
  encodeInsertInto,
  encodeInsertRequest,
  insertCapacity,
  type InsertLayout,
  insertLayout,
  type InsertSchema,
} from "./wire.ts";

/** What to do when the target collection (or the named partition) already exists. */
export type Mode = "skip" | "append" | "overwrite";

/** The modes, for validation. */
export const MODES: readonly Mode[] = ["skip", "append", "overwrite"];

/** An index to build after the load. */
export interface IndexSpec {
  /** Milvus index type, e.g. `AUTOINDEX`, `HNSW`, `IVF_FLAT`, `FLAT`, `BIN_FLAT`. */
  type: string;
  /** Index build parameters, e.g. `{ M: 16, efConstruction: 200 }`. */
  params?: Record<string, unknown>;
}

/** What the target must look like. */
export interface TargetSpec {
  /** Collection name. */
  collection: string;
  /** Partition name; empty or null for the default partition. */
  partition?: string | null;
  /** Behaviour when the target exists. */
  mode: Mode;
  /** Vector dimension (bits for binary). */
  dim: number;
  /** Float or binary vectors. */
  vectorType: VectorType;
  /** The metric the index is built with. */
  metric: Metric;
  /** Whether the source carries ids (else a new collection generates them). */
  hasIds: boolean;
  /** The index to build if the collection has none; `false` builds none (and then the collection is not loaded). */
  index?: IndexSpec | false;
}

/** The outcome of preparing a target. */
export interface PreparedTarget {
  /** What was decided. */
  action: "create" | "append" | "overwrite" | "skip";
  /** Why, in words. */
  reason: string;
  /** What inserts carry. */
  schema: InsertSchema;
  /** Rows in the target (collection, or the named partition) before the run. */
  rowsBefore: number;
  /** The metric actually used (TANIMOTO becomes JACCARD on Milvus 2.3+). */
  metric: Metric;
}

function partitionOf(spec: { partition?: string | null }): string {
  return spec.partition && spec.partition !== "_default" ? spec.partition : "";
}

interface ExistingSchema {
  idField: string;
  autoId: boolean;
  vectorField: string;
  vectorType: VectorType;
  dim: number;
}

async function describeExisting(conn: MilvusConnection, collection: string): Promise<ExistingSchema> {
  const desc = await control(
    conn,
    "describeCollection",
    () => conn.client.describeCollection({ collection_name: collection }),
  );
  checkStatus(desc.status, `describe collection "${collection}"`);
  const fields = desc.schema.fields;
  const pk = fields.find((f) => f.is_primary_key);
  const vectors = fields.filter((f) => f.data_type === "FloatVector" || f.data_type === "BinaryVector");
  const others = fields.filter((f) => f !== pk && !vectors.includes(f));
  const list = fields.map((f) => `${f.name} ${f.data_type}`).join(", ");
  if (!pk || pk.data_type !== "Int64") {
    throw new MilvusdmError(
      "TARGET_SCHEMA_MISMATCH",
      `Collection "${collection}" has no INT64 primary key (fields: ${list}); milvusdm writes INT64 ids`,
      { hint: "Choose another dest_collection_name, or use mode overwrite to replace it" },
    );
  }
  if (vectors.length !== 1 || others.length > 0) {
    throw new MilvusdmError(
      "TARGET_SCHEMA_MISMATCH",
      `Collection "${collection}" has fields ${list}; milvusdm writes exactly one INT64 primary key and one vector`,
      { hint: "Choose another dest_collection_name, or use mode overwrite to replace it" },
    );
  }
  const v = vectors[0];
  const dimParam = v.type_params?.find((p) => p.key === "dim")?.value ?? (v as unknown as { dim?: string }).dim;
  return {
    idField: pk.name,
    autoId: Boolean(pk.autoID),
    vectorField: v.name,
    vectorType: v.data_type === "FloatVector" ? "float" : "binary",
    dim: Number(dimParam),
  };
}

function checkFits(existing: ExistingSchema, spec: TargetSpec): void {
  const differences: string[] = [];
  if (existing.vectorType !== spec.vectorType) {
    differences.push(`its vectors are ${existing.vectorType}, the source's are ${spec.vectorType}`);
  }
  if (existing.dim !== spec.dim) {
    differences.push(`its dimension is ${existing.dim}, the source's is ${spec.dim}`);
  }
  if (spec.hasIds && existing.autoId) {
    differences.push("it generates its own ids (auto_id) and the source has ids to keep");
  }
  if (!spec.hasIds && !existing.autoId) {
    differences.push(`it needs ids for "${existing.idField}" and the source has none`);
  }
  if (differences.length > 0) {
    throw new MilvusdmError(
      "TARGET_SCHEMA_MISMATCH",
      `Collection "${spec.collection}" does not fit the source: ${differences.join("; ")}`,
      {
        hint: spec.hasIds || existing.autoId
          ? "Choose another dest_collection_name, or use mode overwrite to replace it"
          : "Add an ids dataset to the source, or choose a new dest_collection_name",
      },
    );
  }
}

/** Milvus 2.3+ has no TANIMOTO; on bit vectors it ranks exactly as JACCARD. */
export function serverMetric(metric: Metric): Metric {
  return metric === "TANIMOTO" ? "JACCARD" : metric;
}

/** The index built when the user names none. */
export function defaultIndex(vectorType: VectorType): IndexSpec {
  return vectorType === "float" ? { type: "AUTOINDEX" } : { type: "BIN_FLAT" };
}

/**
 * Prepares the target for a load under `spec.mode`, checking everything before changing anything: an existing
 * collection whose schema does not fit is refused before any drop.
 */
export async function prepareTarget(
  conn: MilvusConnection,
  spec: TargetSpec,
  options: { dryRun?: boolean } = {},
): Promise<PreparedTarget> {
  const { client } = conn;
  const collection = spec.collection;
  const partition = partitionOf(spec);
  const metric = serverMetric(spec.metric);
  const has = await control(conn, "hasCollection", () => client.hasCollection({ collection_name: collection }));
  checkStatus(has.status, `check collection "${collection}"`);
  const dry = options.dryRun ?? false;

  const fresh = (action: "create" | "overwrite", reason: string): PreparedTarget => ({
    action,
    reason,
    rowsBefore: 0,
    metric,
    schema: newCollectionSchema(conn, spec, partition),
  });

  if (!has.value) {
    const prepared = fresh("create", `collection "${collection}" does not exist: it will be created`);
    if (!dry) await createCollection(conn, spec, partition);
    return prepared;
  }

  if (!partition) {
    if (spec.mode === "overwrite") {
      const prepared = fresh("overwrite", `collection "${collection}" exists: mode overwrite drops and recreates it`);
      if (!dry) {
        checkStatus(
          await control(conn, "dropCollection", () => client.dropCollection({ collection_name: collection })),
          `drop "${collection}"`,
        );
        await createCollection(conn, spec, partition);
      }
      return prepared;
    }
    const existing = await describeExisting(conn, collection);
    if (spec.mode === "skip") {
      return {
        ...fresh("create", ""),
        action: "skip",
        reason: `collection "${collection}" exists: mode skip leaves it as it is`,
      };
    }
    checkFits(existing, spec);
    const rowsBefore = await targetRowCount(conn, collection, "", { flush: !dry });
    return {
      action: "append",
      reason: `collection "${collection}" exists (${rowsBefore} rows): mode append adds to it`,
      rowsBefore,
      metric,
      schema: schemaOf(conn, collection, "", existing),
    };
  }

  // A partition is named: the collection must fit whatever the mode, and the mode applies to the partition.
  const existing = await describeExisting(conn, collection);
  checkFits(existing, spec);
  const hasPart = await control(
    conn,
    "hasPartition",
    () => client.hasPartition({ collection_name: collection, partition_name: partition }),
  );
  checkStatus(hasPart.status, `check partition "${partition}"`);
  const schema = schemaOf(conn, collection, partition, existing);
  if (!hasPart.value) {
    if (!dry) await createPartition(conn, collection, partition);
    return {
      action: "create",
      reason: `partition "${partition}" of "${collection}" does not exist: it will be created`,
      rowsBefore: 0,
      metric,
      schema,
    };
  }
  if (spec.mode === "skip") {
    return {
      action: "skip",
      reason: `partition "${partition}" of "${collection}" exists: mode skip leaves it as it is`,
      rowsBefore: 0,
      metric,
      schema,
    };
  }
  if (spec.mode === "overwrite") {
    if (!dry) {
      // A loaded partition cannot be dropped: release first; finishTarget loads again.
      checkStatus(
        await control(conn, "releaseCollection", () => client.releaseCollection({ collection_name: collection })),
        `release "${collection}"`,
      );
      checkStatus(
        await control(
          conn,
          "dropPartition",
          () => client.dropPartition({ collection_name: collection, partition_name: partition }),
        ),
        `drop partition "${partition}"`,
      );
      await createPartition(conn, collection, partition);
    }
    return {
      action: "overwrite",
      reason: `partition "${partition}" of "${collection}" exists: mode overwrite drops and recreates it`,
      rowsBefore: 0,
      metric,
      schema,
    };
  }
  const rowsBefore = await targetRowCount(conn, collection, partition, { flush: !dry });
  return {
    action: "append",
    reason: `partition "${partition}" of "${collection}" exists (${rowsBefore} rows): mode append adds to it`,
    rowsBefore,
    metric,
    schema,
  };
}

/** What inserts carry into a collection milvusdm creates (`id` and `embedding`). */
function newCollectionSchema(conn: MilvusConnection, spec: TargetSpec, partition: string): InsertSchema {
  return {
    database: conn.database,
    collection: spec.collection,
    partition,
    idField: spec.hasIds ? "id" : null,
    vectorField: "embedding",
    vectorType: spec.vectorType,
    dim: spec.dim,
  };
}

function schemaOf(
  conn: MilvusConnection,
  collection: string,
  partition: string,
  existing: ExistingSchema,
): InsertSchema {
  return {
    database: conn.database,
    collection,
    partition,
    idField: existing.autoId ? null : existing.idField,
    vectorField: existing.vectorField,
    vectorType: existing.vectorType,
    dim: existing.dim,
  };
}

async function createCollection(conn: MilvusConnection, spec: TargetSpec, partition: string): Promise<void> {
  const res = await control(conn, "createCollection", () =>
    conn.client.createCollection({
      collection_name: spec.collection,
      description: "created by milvusdm",
      fields: [
        { name: "id", data_type: DataType.Int64, is_primary_key: true, autoID: !spec.hasIds },
        {
          name: "embedding",
          data_type: spec.vectorType === "float" ? DataType.FloatVector : DataType.BinaryVector,
          dim: spec.dim,
        },
      ],
    }));
  checkStatus(res, `create collection "${spec.collection}"`);
  if (partition) await createPartition(conn, spec.collection, partition);
}

async function createPartition(conn: MilvusConnection, collection: string, partition: string): Promise<void> {
  const res = await control(
    conn,
    "createPartition",
    () => conn.client.createPartition({ collection_name: collection, partition_name: partition }),
  );
  checkStatus(res, `create partition "${partition}" in "${collection}"`);
}

/**
 * Rows stored in a collection or partition, as the server's statistics count them after a flush (deleted rows
 * still count until compaction; duplicates count twice, which is what a check for doubled data needs).
 */
export async function targetRowCount(
  conn: MilvusConnection,
  collection: string,
  partition: string,
  options: { flush?: boolean } = {},
): Promise<number> {
  if (options.flush ?? true) {
    const flushed = await control(conn, "flushSync", () => conn.client.flushSync({ collection_names: [collection] }));
    checkStatus(flushed.status, `flush "${collection}"`);
  }
  if (partition) {
    const stats = await control(conn, "getPartitionStatistics", () =>
      conn.client.getPartitionStatistics({
        collection_name: collection,
        partition_name: partition,
      }));
    checkStatus(stats.status, `read statistics of partition "${partition}"`);
    return Number(stats.data.row_count);
  }
  const stats = await control(
    conn,
    "getCollectionStatistics",
    () => conn.client.getCollectionStatistics({ collection_name: collection }),
  );
  checkStatus(stats.status, `read statistics of "${collection}"`);
  return Number(stats.data.row_count);
}

/** Options of a {@linkcode MilvusWriter}. */
export interface WriterOptions {
  /** Inserts in flight at once (default 2). */
  inFlight?: number;
  /** Attempts per insert before giving up on a transient failure (default 8). */
  maxAttempts?: number;
  /** First backoff in milliseconds, doubled each attempt (default 250). */
  backoffMs?: number;
  /** Stops sending when fired. */
  signal?: AbortSignal;
  /** Called after each acknowledged batch with its row count. */
  onAcknowledged?: (rows: number) => void;
  /** Called on each retry, with what happened. */
  onRetry?: (message: string) => void;
  /**
   * Rows of the largest batch: with it, the writer keeps `inFlight + 1` request buffers of that size, reused once
   * each request is acknowledged, and hands them to sources through {@linkcode MilvusWriter.allocate}.
   */
  maxRows?: number;
}

/** Where a batch's rows come from: a unit of the migration (a file, a segment list) and its first row there. */
export interface BatchOrigin {
  unit: string;
  firstRow: number;
}

/**
 * A refused insert named by the rows it carried. Milvus 2.x refuses NaN and infinite floats (Milvus 1.x and Faiss
 * store them): the first such value is found in the batch, so the message says which row to fix.
 */
export function describeRefusal(error: unknown, batch: Batch, vectorType: VectorType, origin: BatchOrigin): unknown {
  if (!(error instanceof MilvusdmError) || error.code !== "MILVUS_ERROR") return error;
  const rows = `rows ${origin.firstRow}..${origin.firstRow + batch.rows - 1} of "${origin.unit}"`;
  const at = vectorType === "float" ? firstNonFinite(batch.vectors as Float32Array) : -1;
  if (at < 0) {
    return new MilvusdmError(error.code, `${error.message} (the request held ${rows})`, {
      cause: error.cause ?? error,
      hint: error.hint,
    });
  }
  const row = Math.floor(at / batch.dim);
  const id = batch.ids ? ` (id ${batch.ids[row]})` : "";
  return new MilvusdmError(
    "SOURCE_INVALID",
    `Row ${origin.firstRow + row} of "${origin.unit}"${id} holds ${batch.vectors[at]} in dimension ${
      at % batch.dim
    }, and Milvus accepts only finite numbers: ${error.message}`,
    { cause: error, hint: "Fix or remove the rows with NaN or infinite values in the source" },
  );
}

function firstNonFinite(vectors: Float32Array): number {
  for (let i = 0; i < vectors.length; i++) {
    const v = vectors[i];
    // v - v is NaN exactly for NaN and ±Infinity.
    if (v - v !== 0) return i;
  }
  return -1;
}

/** A reusable request buffer. */
interface RequestSlot {
  buffer: ArrayBuffer;
  /** Ids read by a source before they are encoded as varints. */
  ids: BigInt64Array;
  /** The layout of the batch being filled or sent. */
  layout: InsertLayout | null;
  /** free; filling: handed to a source; sending: its request is in flight. */
  state: "free" | "filling" | "sending";
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends batches as hand-encoded inserts, at most `inFlight` at once. `write` resolves as soon as a slot is free, so
 * the source reads the next batch while earlier ones are on the wire. With `maxRows`, requests are built in a few
 * reused buffers (memory stays bounded by batch size × requests in flight, and nothing is allocated per batch),
 * and a source can read its vectors straight into the request through {@linkcode MilvusWriter.allocate}.
 */
export class MilvusWriter {
  readonly #conn: MilvusConnection;
  readonly #schema: InsertSchema;
  readonly #inFlight: number;
  readonly #maxAttempts: number;
  readonly #backoffMs: number;
  readonly #options: WriterOptions;
  readonly #pending = new Set<Promise<void>>();
  #failure: unknown = null;
  #rowsAcknowledged = 0;
  readonly #slots: RequestSlot[] = [];
  #layout: InsertLayout | null = null;

  constructor(conn: MilvusConnection, schema: InsertSchema, options: WriterOptions = {}) {
    this.#conn = conn;
    this.#schema = schema;
    this.#inFlight = Math.max(1, options.inFlight ?? 2);
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 8);
    this.#backoffMs = options.backoffMs ?? 250;
    this.#options = options;
    const maxRows = options.maxRows ?? 0;
    if (maxRows > 0) {
      const capacity = insertCapacity(schema, maxRows);
      for (let i = 0; i <= this.#inFlight; i++) {
        this.#slots.push({
          buffer: new ArrayBuffer(capacity),
          ids: new BigInt64Array(maxRows),
          layout: null,
          state: "free",
        });
      }
    }
  }

  /**
   * Memory for a batch of `rows` rows inside a free request buffer, vectors where the request carries them (a
   * {@linkcode BatchAllocator} for sources). The memory is the writer's again once the batch is written, or
   * handed back with {@linkcode MilvusWriter.recycle}. Without a free buffer (or beyond `maxRows`), fresh arrays.
   */
  readonly allocate = (rows: number): BatchMemory => {
    const slot = this.#slots.find((s) => s.state === "free");
    const float = this.#schema.vectorType === "float";
    const dim = this.#schema.dim;
    if (!slot || rows > slot.ids.length) {
      return {
        vectors: float ? new Float32Array(rows * dim) : new Uint8Array(rows * dim / 8),
        ids: new BigInt64Array(rows),
      };
    }
    const layout = this.#layoutFor(rows);
    slot.layout = layout;
    slot.state = "filling";
    return {
      vectors: float
        ? new Float32Array(slot.buffer, layout.vectorOffset, rows * dim)
        : new Uint8Array(slot.buffer, layout.vectorOffset, rows * dim / 8),
      ids: slot.ids.subarray(0, rows),
    };
  };

  /** Hands back the memory of a batch from {@linkcode MilvusWriter.allocate} that was not written whole. */
  recycle(batch: Batch): void {
    const slot = this.#slots.find((s) => s.state === "filling" && s.buffer === batch.vectors.buffer);
    if (slot) {
      slot.state = "free";
      slot.layout = null;
    }
  }

  #layoutFor(rows: number): InsertLayout {
    if (this.#layout?.rows !== rows) this.#layout = insertLayout(this.#schema, rows);
    return this.#layout;
  }

  /** Encodes a batch: in place when it was read into a request buffer, else into a free one, else a new one. */
  #encode(batch: Batch): { framed: Uint8Array<ArrayBuffer>; slot: RequestSlot | null } {
    const own = this.#slots.find((s) => s.state === "filling" && s.buffer === batch.vectors.buffer);
    if (own && own.layout && own.layout.rows === batch.rows && own.layout.vectorOffset === batch.vectors.byteOffset) {
      const framed = encodeInsertInto(own.buffer, own.layout, batch, this.#schema);
      own.state = "sending";
      return { framed, slot: own };
    }
    const free = this.#slots.find((s) => s.state === "free");
    if (free && batch.rows <= free.ids.length) {
      const layout = this.#layoutFor(batch.rows);
      const framed = encodeInsertInto(free.buffer, layout, batch, this.#schema);
      free.layout = layout;
      free.state = "sending";
      return { framed, slot: free };
    }
    return { framed: encodeInsertRequest(batch, this.#schema), slot: null };
  }

  /** Rows the server has acknowledged. */
  get rowsAcknowledged(): number {
    return this.#rowsAcknowledged;
  }

  /**
   * Queues a batch; resolves when another may be queued. Throws the first failure of any earlier batch.
   * `upsert` sends it as an upsert (for rows that may already be in the target); `onAcknowledged` is called once
   * the target has acknowledged it. `origin` (where the batch's rows come from) names the rows in a refusal.
   */
  async write(
    batch: Batch,
    meta: { upsert?: boolean; onAcknowledged?: () => void; origin?: BatchOrigin } = {},
  ): Promise<void> {
    this.#throwIfFailed();
    throwIfAborted(this.#options.signal);
    const { framed, slot } = this.#encode(batch);
    const upsert = (meta.upsert ?? false) && this.#schema.idField !== null;
    const release = () => {
      if (slot) {
        slot.state = "free";
        slot.layout = null;
      }
    };
    const p = this.#send(framed, batch, upsert ? "Upsert" : "Insert").then(
      () => {
        release();
        this.#pending.delete(p);
        meta.onAcknowledged?.();
      },
      (error) => {
        // Described before the request buffer is released: the batch's rows are still in it.
        const failure = meta.origin ? describeRefusal(error, batch, this.#schema.vectorType, meta.origin) : error;
        release();
        this.#pending.delete(p);
        if (this.#failure === null) this.#failure = failure;
      },
    );
    this.#pending.add(p);
    while (this.#pending.size >= this.#inFlight) await Promise.race(this.#pending);
    this.#throwIfFailed();
  }

  /** Waits for every batch in flight; throws the first failure. */
  async drain(): Promise<void> {
    while (this.#pending.size > 0) await Promise.race(this.#pending);
    this.#throwIfFailed();
  }

  #throwIfFailed(): void {
    if (this.#failure !== null) throw this.#failure;
  }

  async #send(framed: Uint8Array<ArrayBuffer>, batch: Batch, first: "Insert" | "Upsert"): Promise<void> {
    // A retry after an unknown outcome uses upsert when rows carry ids, so a batch the server did take is not
    // stored twice.
    let method = first;
    for (let attempt = 1;; attempt++) {
      try {
        // No abort signal here: an interrupted run finishes the requests in flight, so the journal stays exact.
        const status = await this.#conn.transport.mutate(method, framed);
        const counted = method === "Insert" ? status.insertCount : (status.upsertCount || status.insertCount);
        if (counted !== batch.rows) {
          throw new MilvusdmError(
            "MILVUS_ERROR",
            `Milvus acknowledged ${counted} of ${batch.rows} rows in one ${method.toLowerCase()}`,
          );
        }
        this.#rowsAcknowledged += batch.rows;
        this.#options.onAcknowledged?.(batch.rows);
        return;
      } catch (error) {
        if (!(error instanceof CallError)) throw error;
        if (error.kind === "too_large" && batch.rows > 1) {
          await this.#sendSplit(batch, method);
          return;
        }
        if (error.kind === "fatal" || error.kind === "too_large" || attempt >= this.#maxAttempts) {
          throw callFailure(error, this.#conn.address);
        }
        const delay = Math.min(this.#backoffMs * 2 ** (attempt - 1), 15_000) * (0.75 + Math.random() * 0.5);
        this.#options.onRetry?.(
          `Insert of ${batch.rows} rows failed (${error.message}); retry ${attempt}/${this.#maxAttempts - 1} in ${
            Math.round(delay)
          } ms`,
        );
        await sleep(delay);
        if (error.kind === "transient" && this.#schema.idField !== null) method = "Upsert";
      }
    }
  }

  async #sendSplit(batch: Batch, method: "Insert" | "Upsert"): Promise<void> {
    const half = Math.ceil(batch.rows / 2);
    const per = batch.vectors.length / batch.rows;
    for (const [start, end] of [[0, half], [half, batch.rows]]) {
      const part: Batch = {
        ids: batch.ids ? batch.ids.subarray(start, end) : null,
        vectors: batch.vectors.subarray(start * per, end * per),
        dim: batch.dim,
        rows: end - start,
      };
      this.#options.onRetry?.(`An insert of ${batch.rows} rows was over the server's size limit: sending halves`);
      await this.#send(encodeInsertRequest(part, this.#schema), part, method);
    }
  }
}

/** Options of {@linkcode finishTarget}. */
export interface FinishOptions {
  /** The index to build when the collection has none; `false` for none. */
  index?: IndexSpec | false;
  /** Load the collection so it is searchable (default true; needs an index). */
  load?: boolean;
}

/** The final state of a target. */
export interface FinishedTarget {
  /** Rows the target (collection or partition) holds after the flush. */
  rowCount: number;
  /** The index built, or null when one existed or none was asked for. */
  indexBuilt: string | null;
  /** Whether the collection was loaded. */
  loaded: boolean;
}

/** Exact row count (`count(*)`, Strong consistency) of a loaded collection or partition. */
export async function strongCount(conn: MilvusConnection, collection: string, partition: string): Promise<number> {
  const res = await control(conn, "count rows", () =>
    conn.client.count({
      collection_name: collection,
      partition_names: partition ? [partition] : undefined,
    }));
  checkStatus(res.status, `count the rows of "${collection}"`);
  return res.count;
}

/**
 * Flushes and checks that the target holds exactly `rowsBefore + rowsSent` rows (an error if not). Returns the
 * count. The server's statistics are read first; when they disagree (they lag after a server restart), the
 * collection is indexed and loaded (as `finish` options say) and `count(*)` decides.
 */
export async function verifyCount(
  conn: MilvusConnection,
  prepared: PreparedTarget,
  rowsSent: number,
  finish: FinishOptions = {},
): Promise<number> {
  const { collection, partition } = prepared.schema;
  const rowCount = await targetRowCount(conn, collection, partition);
  const expected = prepared.rowsBefore + rowsSent;
  if (rowCount === expected) return rowCount;
  const { loaded } = await indexAndLoad(conn, {
    collection,
    vectorField: prepared.schema.vectorField,
    vectorType: prepared.schema.vectorType,
    metric: prepared.metric,
  }, finish);
  const counted = loaded ? await strongCount(conn, collection, partition) : rowCount;
  if (counted === expected) return counted;
  throw new MilvusdmError(
    "TARGET_COUNT_MISMATCH",
    `${partition ? `Partition "${partition}" of "${collection}"` : `Collection "${collection}"`} holds ${counted} ` +
      `rows after the load, expected ${expected} (${prepared.rowsBefore} before + ${rowsSent} sent)`,
    { hint: "Another writer may have changed it during the run; run `milvusdm verify` to compare" },
  );
}

/**
 * Builds the index when the collection has none (unless `index` is false) and loads the collection (when it has
 * an index). Returns the index built, if any, and whether the collection was loaded.
 */
export async function indexAndLoad(
  conn: MilvusConnection,
  target: { collection: string; vectorField: string; vectorType: VectorType; metric: Metric },
  options: FinishOptions = {},
): Promise<{ indexBuilt: string | null; loaded: boolean }> {
  const { client } = conn;
  const { collection, vectorField } = target;
  let indexBuilt: string | null = null;
  const index = options.index ?? defaultIndex(target.vectorType);
  const described = await control(
    conn,
    "describeIndex",
    () => client.describeIndex({ collection_name: collection, field_name: vectorField }),
  );
  const hasIndex = (described.index_descriptions?.length ?? 0) > 0;
  if (!hasIndex && index !== false) {
    const res = await control(conn, "createIndex", () =>
      client.createIndex({
        collection_name: collection,
        field_name: vectorField,
        index_type: index.type,
        metric_type: target.metric,
        params: (index.params ?? {}) as Record<string, string | number>,
      }));
    checkStatus(res, `build a ${index.type} index with metric ${target.metric} on "${collection}"`);
    indexBuilt = index.type;
  }
  let loaded = false;
  if ((options.load ?? true) && (hasIndex || indexBuilt !== null)) {
    const res = await control(
      conn,
      "loadCollectionSync",
      () => client.loadCollectionSync({ collection_name: collection }),
    );
    checkStatus(res, `load "${collection}"`);
    loaded = true;
  }
  return { indexBuilt, loaded };
}

/** Verifies the count, then builds the index and loads the collection. */
export async function finishTarget(
  conn: MilvusConnection,
  prepared: PreparedTarget,
  rowsSent: number,
  options: FinishOptions = {},
): Promise<FinishedTarget> {
  const rowCount = await verifyCount(conn, prepared, rowsSent, options);
  const { indexBuilt, loaded } = await indexAndLoad(conn, {
    collection: prepared.schema.collection,
    vectorField: prepared.schema.vectorField,
    vectorType: prepared.schema.vectorType,
    metric: prepared.metric,
  }, options);
  return { rowCount, indexBuilt, loaded };
}

/**
 * Prepares one partition of a collection already prepared at collection level, for appending: checks the schema,
 * creates the partition when missing (`_default` always exists) and records its rows before the load.
 */
export async function preparePartitionAppend(
  conn: MilvusConnection,
  spec: TargetSpec & { partition: string },
  options: { dryRun?: boolean; collectionExists?: boolean } = {},
): Promise<PreparedTarget> {
  const { client } = conn;
  const { collection, partition } = spec;
  const metric = serverMetric(spec.metric);
  if (options.dryRun && options.collectionExists === false) {
    return {
      action: "create",
      reason: `partition "${partition}" of the new collection "${collection}" will be created`,
      rowsBefore: 0,
      metric,
      schema: newCollectionSchema(conn, spec, partition),
    };
  }
  const existing = await describeExisting(conn, collection);
  checkFits(existing, spec);
  const schema = schemaOf(conn, collection, partition, existing);
  let created = false;
  if (partition !== "_default") {
    const has = await control(
      conn,
      "hasPartition",
      () => client.hasPartition({ collection_name: collection, partition_name: partition }),
    );
    checkStatus(has.status, `check partition "${partition}"`);
    if (!has.value) {
      if (!options.dryRun) await createPartition(conn, collection, partition);
      created = true;
    }
  }
  const rowsBefore = created ? 0 : await targetRowCount(conn, collection, partition, { flush: !options.dryRun });
  return {
    action: created ? "create" : "append",
    reason: created
      ? `partition "${partition}" of "${collection}" will be created`
      : `partition "${partition}" of "${collection}" has ${rowsBefore} rows: appending`,
    rowsBefore,
    metric,
    schema,
  };
}
