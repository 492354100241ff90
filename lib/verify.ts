/**
 * `verify`: after a migration into Milvus, compares the source with the target: the row count of every target
 * partition (`count(*)` with Strong consistency, which also sees rows stored twice), and a sample of rows spread over
 * the whole source (or every row) fetched by id and compared vector for vector: floats bit for bit, binary vectors
 * byte for byte. Sources are streamed and the sample is picked as the batches go by, so memory stays bounded.
 *
 * @module
 */
import type { TaskKind } from "./config.ts";
import { MilvusdmError, throwIfAborted } from "./errors.ts";
import { checkStatus, connectMilvus, type MilvusConnection, type MilvusTarget } from "./milvus/connection.ts";
import { DEFAULT_BATCH_BYTES, type ProgressEvent, rowsPerBatch } from "./pipeline.ts";
import { openTaskSources, type SourceUnit } from "./sources.ts";
import type { ResolvedTask } from "./tasks.ts";
import { bytesPerVector, type VectorType } from "./types.ts";
import { prng } from "./random.ts";

/** The default sample: rows compared by id per target. */
export const DEFAULT_SAMPLE = 3000;
/** Ids per query. */
const QUERY_CHUNK = 1000;

/** Options of {@linkcode verifyTask}. */
export interface VerifyOptions {
  /** Rows compared per target, spread over the whole source (default 3000); ignored with `all`. */
  sample?: number;
  /** Compare every row. */
  all?: boolean;
  /** Seed of the sample (default: from the clock; reported, so a sample can be repeated). */
  seed?: number;
  /** Differences kept in the report per target (default 10); all are counted. */
  maxDifferences?: number;
  signal?: AbortSignal;
  /** Rows read so far (per unit, as in a migration). */
  onProgress?: (event: ProgressEvent) => void;
  onLog?: (message: string) => void;
  onWarning?: (message: string) => void;
}

/** One difference between source and target. */
export interface VerifyDifference {
  /** The row's id (int64, as text). */
  id: string;
  /** The source unit and the row's position in it. */
  unit: string;
  row: number;
  /** `missing`: no row with this id in the target partition; `vector`: the vectors differ. */
  kind: "missing" | "vector";
  /** What differs, e.g. `dimension 3: source 0.25, target 0.5`. */
  detail: string;
}

/** The comparison of one target collection/partition with the source units that went there. */
export interface VerifyTarget {
  collection: string;
  /** `_default` for the default partition. */
  partition: string;
  units: string[];
  /** Rows in the source. */
  sourceRows: number;
  /** `count(*)` of the target partition, or null when it does not exist. */
  targetRows: number | null;
  /** Whether the counts agree. */
  countMatches: boolean;
  /** Whether rows could be compared by id (false for sources without ids). */
  comparedById: boolean;
  /** Rows fetched by id and compared. */
  compared: number;
  missing: number;
  different: number;
  /** The first differences. */
  differences: VerifyDifference[];
  /** Problems that are not row differences (a missing collection, no ids to compare by). */
  notes: string[];
  ok: boolean;
}

/** The result of a verification. */
export interface VerifyReport {
  job: TaskKind;
  ok: boolean;
  /** `all`, or the sample size per target. */
  sample: number | "all";
  seed: number;
  targets: VerifyTarget[];
  seconds: number;
}

/**
 * Picks `want` of `total` rows, one at random in each of `want` equal strata, lazily and in order: the picks are
 * spread over the whole source and need no memory.
 */
class StratifiedPicker {
  readonly #total: number;
  readonly #want: number;
  readonly #random: () => number;
  #k = 0;
  /** The next row to pick (Infinity when done). */
  next: number;

  constructor(total: number, want: number, seed: number) {
    this.#total = total;
    this.#want = Math.min(want, total);
    this.#random = prng(seed);
    this.next = this.#at(0);
  }

  #at(k: number): number {
    if (k >= this.#want) return Infinity;
    if (this.#want === this.#total) return k;
    const lo = Math.floor((k * this.#total) / this.#want);
    const hi = Math.floor(((k + 1) * this.#total) / this.#want);
    return lo + Math.floor(this.#random() * (hi - lo));
  }

  advance(): void {
    this.#k++;
    this.next = this.#at(this.#k);
  }
}

interface Pending {
  ids: bigint[];
  vectors: (Float32Array | Uint8Array)[];
  units: string[];
  rows: number[];
}

interface TargetFields {
  idField: string;
  vectorField: string;
  vectorType: VectorType;
  dim: number;
}

async function describeTarget(conn: MilvusConnection, collection: string): Promise<TargetFields> {
  const desc = await conn.client.describeCollection({ collection_name: collection });
  checkStatus(desc.status, `describe collection "${collection}"`);
  const fields = desc.schema.fields;
  const pk = fields.find((f) => f.is_primary_key);
  const vector = fields.find((f) => f.data_type === "FloatVector" || f.data_type === "BinaryVector");
  if (!pk || !vector) {
    throw new MilvusdmError(
      "TARGET_SCHEMA_MISMATCH",
      `Collection "${collection}" has no primary key or no float or binary vector field`,
    );
  }
  const dim = Number(
    vector.type_params?.find((p) => p.key === "dim")?.value ?? (vector as unknown as { dim?: string }).dim,
  );
  return {
    idField: pk.name,
    vectorField: vector.name,
    vectorType: vector.data_type === "FloatVector" ? "float" : "binary",
    dim,
  };
}

async function strongCount(conn: MilvusConnection, collection: string, partition: string): Promise<number> {
  const res = await conn.client.count({ collection_name: collection, partition_names: [partition] });
  if ((res.status.error_code !== 0 || res.status.code !== 0) && /not loaded|not load/i.test(res.status.reason ?? "")) {
    throw new MilvusdmError(
      "MILVUS_ERROR",
      `Collection "${collection}" is not loaded, so its rows cannot be counted or fetched`,
      {
        hint: "milvusdm loads a collection after a migration when it has an index; load it (it needs an index) " +
          "and run verify again",
      },
    );
  }
  checkStatus(res.status, `count the rows of "${collection}" partition "${partition}"`);
  return res.count;
}

function toStored(value: unknown, vectorType: VectorType): Float32Array | Uint8Array {
  if (vectorType === "binary") {
    if (value instanceof Uint8Array) return value;
    if (Array.isArray(value)) return Uint8Array.from(value as number[]);
    if (value && typeof value === "object" && "data" in value) {
      return Uint8Array.from((value as { data: number[] }).data);
    }
    return new Uint8Array(0);
  }
  if (value instanceof Float32Array) return value;
  return Float32Array.from((value ?? []) as number[]);
}

/** Why two vectors differ, or null when they are the same bits. */
function vectorDifference(source: Float32Array | Uint8Array, target: Float32Array | Uint8Array): string | null {
  if (source.length !== target.length) {
    return `length: source ${source.length}, target ${target.length}`;
  }
  if (source instanceof Float32Array && target instanceof Float32Array) {
    const a = new Uint32Array(source.buffer, source.byteOffset, source.length);
    const b = new Uint32Array(target.buffer, target.byteOffset, target.length);
    for (let i = 0; i < a.length; i++) {
      if (a[i] !== b[i]) {
        let count = 0;
        for (let j = i; j < a.length; j++) if (a[j] !== b[j]) count++;
        return `dimension ${i}: source ${source[i]}, target ${target[i]}` +
          (count > 1 ? ` (${count} dimensions differ)` : "");
      }
    }
    return null;
  }
  for (let i = 0; i < source.length; i++) {
    if (source[i] !== target[i]) {
      let count = 0;
      for (let j = i; j < source.length; j++) if (source[j] !== target[j]) count++;
      const hex = (n: number) => `0x${n.toString(16).padStart(2, "0")}`;
      return `byte ${i}: source ${hex(source[i])}, target ${hex(target[i])}` +
        (count > 1 ? ` (${count} bytes differ)` : "");
    }
  }
  return null;
}

/**
 * Compares a migrated task's source with its Milvus target. M2H writes files, not a collection: verify the restore
 * with its H2M YAMLs.
 *
 * @example
 * ```ts
 * const report = await verifyTask(resolveTask(parseTaskYaml(await Deno.readTextFile("H2M.yaml"))), { sample: 5000 });
 * if (!report.ok) console.log(report.targets.flatMap((t) => t.differences.map((d) => d.id)));
 * ```
 */
export async function verifyTask(task: ResolvedTask, options: VerifyOptions = {}): Promise<VerifyReport> {
  const started = performance.now();
  if (task.kind === "M2H") {
    throw new MilvusdmError(
      "CONFIG_INVALID",
      "verify compares a Milvus 2.x target with its source; M2H writes HDF5 files",
      { hint: "Restore the export with its H2M YAMLs (under <run id>/yamls/), then verify those" },
    );
  }
  const sample = options.all ? Infinity : Math.max(1, Math.floor(options.sample ?? DEFAULT_SAMPLE));
  const seed = options.seed ?? (Date.now() % 2147483647);
  const keep = options.maxDifferences ?? 10;
  const target: MilvusTarget = task.options.target;
  const sources = await openTaskSources(task, { signal: options.signal });
  try {
    // Group the units by target partition, in order.
    const groups = new Map<string, SourceUnit[]>();
    for (const u of sources.units) {
      const key = `${u.collection}\u0000${u.partition}`;
      groups.set(key, [...(groups.get(key) ?? []), u]);
    }
    const conn = await connectMilvus(target);
    try {
      const results: VerifyTarget[] = [];
      let groupIndex = 0;
      for (const units of groups.values()) {
        const newIds = task.kind === "M2M" && task.options.newIds === true;
        results.push(await verifyGroup(conn, units, { ...options, sample, seed: seed + groupIndex++, keep, newIds }));
      }
      return {
        job: task.kind,
        ok: results.every((r) => r.ok),
        sample: options.all ? "all" : sample,
        seed,
        targets: results,
        seconds: (performance.now() - started) / 1000,
      };
    } finally {
      await conn.close();
    }
  } finally {
    await sources.close();
  }
}

async function verifyGroup(
  conn: MilvusConnection,
  units: SourceUnit[],
  options: VerifyOptions & { sample: number; seed: number; keep: number; newIds: boolean },
): Promise<VerifyTarget> {
  const { collection, partition } = units[0];
  const sourceRows = units.reduce((n, u) => n + u.source.info.rows, 0);
  const result: VerifyTarget = {
    collection,
    partition,
    units: units.map((u) => u.name),
    sourceRows,
    targetRows: null,
    countMatches: false,
    comparedById: !options.newIds && units.every((u) => u.source.info.hasIds),
    compared: 0,
    missing: 0,
    different: 0,
    differences: [],
    notes: [],
    ok: false,
  };
  const has = await conn.client.hasCollection({ collection_name: collection });
  checkStatus(has.status, `check collection "${collection}"`);
  if (!has.value) {
    result.notes.push(`collection "${collection}" does not exist`);
    return result;
  }
  if (partition !== "_default") {
    const hasPart = await conn.client.hasPartition({ collection_name: collection, partition_name: partition });
    checkStatus(hasPart.status, `check partition "${partition}"`);
    if (!hasPart.value) {
      result.notes.push(`partition "${partition}" of "${collection}" does not exist`);
      return result;
    }
  }
  const fields = await describeTarget(conn, collection);
  const first = units[0].source.info;
  if (fields.vectorType !== first.vectorType || fields.dim !== first.dim) {
    result.notes.push(
      `"${collection}" holds ${fields.vectorType} vectors of dimension ${fields.dim}, the source ` +
        `${first.vectorType} vectors of dimension ${first.dim}`,
    );
    return result;
  }
  result.targetRows = await strongCount(conn, collection, partition);
  result.countMatches = result.targetRows === sourceRows;
  if (!result.countMatches) {
    result.notes.push(
      result.targetRows > sourceRows
        ? `the target holds ${result.targetRows - sourceRows} rows more than the source (rows stored twice, or ` +
          `rows that were there before)`
        : `the target holds ${sourceRows - result.targetRows} rows fewer than the source`,
    );
  }
  if (!result.comparedById) {
    result.notes.push(
      options.newIds
        ? "new_ids: the target generated new ids, so rows cannot be matched by id: only the counts can be compared"
        : "the source has no ids (Milvus generated them): only the counts can be compared",
    );
    result.ok = result.countMatches;
    return result;
  }

  const picker = new StratifiedPicker(sourceRows, options.sample, options.seed);
  const per = bytesPerVector(first.vectorType, first.dim);
  const maxRows = rowsPerBatch(per, DEFAULT_BATCH_BYTES);
  const pending: Pending = { ids: [], vectors: [], units: [], rows: [] };
  const flush = async () => {
    if (pending.ids.length === 0) return;
    const stored = await fetchByIds(conn, collection, partition, fields, pending.ids);
    for (let i = 0; i < pending.ids.length; i++) {
      const id = pending.ids[i];
      const got = stored.get(id);
      result.compared++;
      let difference: VerifyDifference | null = null;
      if (!got) {
        result.missing++;
        difference = { id: String(id), unit: pending.units[i], row: pending.rows[i], kind: "missing", detail: "" };
        difference.detail = `no row with this id in ${collection}/${partition}`;
      } else {
        const detail = vectorDifference(pending.vectors[i], got);
        if (detail) {
          result.different++;
          difference = { id: String(id), unit: pending.units[i], row: pending.rows[i], kind: "vector", detail };
        }
      }
      if (difference && result.differences.length < options.keep) result.differences.push(difference);
    }
    pending.ids = [];
    pending.vectors = [];
    pending.units = [];
    pending.rows = [];
  };

  const started = performance.now();
  let offset = 0;
  for (const unit of units) {
    let unitRow = 0;
    for await (const batch of unit.source.batches(maxRows, options.signal)) {
      throwIfAborted(options.signal);
      const end = offset + batch.rows;
      while (picker.next < end) {
        const r = picker.next - offset;
        const vector = batch.vectors instanceof Float32Array
          ? batch.vectors.slice(r * first.dim, (r + 1) * first.dim)
          : batch.vectors.slice(r * per, (r + 1) * per);
        pending.ids.push(batch.ids![r]);
        pending.vectors.push(vector);
        pending.units.push(unit.name);
        pending.rows.push(unitRow + r);
        picker.advance();
        if (pending.ids.length >= QUERY_CHUNK) await flush();
      }
      offset = end;
      unitRow += batch.rows;
      options.onProgress?.({
        unit: unit.name,
        unitRowsDone: unitRow,
        unitRows: unit.source.info.rows,
        rowsDone: offset,
        rowsTotal: sourceRows,
        bytesDone: offset * per,
        elapsedSeconds: (performance.now() - started) / 1000,
      });
      if (picker.next === Infinity) break;
    }
    if (picker.next === Infinity) break;
  }
  await flush();
  result.ok = result.countMatches && result.missing === 0 && result.different === 0;
  return result;
}

async function fetchByIds(
  conn: MilvusConnection,
  collection: string,
  partition: string,
  fields: TargetFields,
  ids: bigint[],
): Promise<Map<bigint, Float32Array | Uint8Array>> {
  const sdk = await conn.sdk();
  const res = await sdk.query({
    collection_name: collection,
    expr: `${fields.idField} in [${ids.join(",")}]`,
    output_fields: [fields.idField, fields.vectorField],
    consistency_level: "Strong" as never,
    partition_names: [partition],
    limit: 16384,
  });
  checkStatus(res.status, `fetch rows of "${collection}" by id`);
  const out = new Map<bigint, Float32Array | Uint8Array>();
  for (const row of res.data) {
    out.set(BigInt(row[fields.idField] as string), toStored(row[fields.vectorField], fields.vectorType));
  }
  return out;
}
