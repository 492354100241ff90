/**
 * The typed view of a stopped Milvus 0.7–1.1 server's metadata, shared by the SQLite and MySQL readers.
 *
 * Both readers return the raw `Tables` and `TableFiles` rows ({@linkcode RawMeta}); {@linkcode buildCollections}
 * turns them into collections, partitions and live segments the same way whatever the backend:
 *
 * - a collection is a `Tables` row with `owner_table = ''` and `state = 0` (1 = dropped);
 * - its partitions are the rows with `owner_table` = the collection's `table_id` and `state = 0`; the collection's own
 *   `table_id` is the default partition;
 * - live raw data are the `TableFiles` rows with `file_type` 1 (RAW), 2 (TO_INDEX) or 7 (BACKUP), one per
 *   `segment_id`; NEW, INDEX, TO_DELETE and the shadow types are never read, whatever lies on disk.
 *
 * @module
 */
import { MilvusdmError } from "../errors.ts";
import type { Metric, VectorType } from "../types.ts";

/** `Tables.state` of a live collection or partition (1 = TO_DELETE, a dropped one). */
export const STATE_NORMAL = 0;

/** `TableFiles.file_type` values. */
export const FILE_TYPE = {
  NEW: 0,
  RAW: 1,
  TO_INDEX: 2,
  INDEX: 3,
  TO_DELETE: 4,
  NEW_MERGE: 5,
  NEW_INDEX: 6,
  BACKUP: 7,
} as const;

/** The file types that hold live raw vectors and ids. */
export const LIVE_FILE_TYPES: readonly number[] = [FILE_TYPE.RAW, FILE_TYPE.TO_INDEX, FILE_TYPE.BACKUP];

/** `Tables.metric_type` → metric. 3–7 are binary metrics. */
export const METRIC_TYPES: Readonly<Record<number, Metric>> = {
  1: "L2",
  2: "IP",
  3: "HAMMING",
  4: "JACCARD",
  5: "TANIMOTO",
  6: "SUBSTRUCTURE",
  7: "SUPERSTRUCTURE",
};

/** `Tables.engine_type` → index type name (the collection's index; raw rows are picked by `file_type`). */
export const ENGINE_TYPES: Readonly<Record<number, string>> = {
  0: "INVALID",
  1: "FLAT",
  2: "IVF_FLAT",
  3: "IVF_SQ8",
  4: "RNSG",
  5: "IVF_SQ8H",
  6: "IVF_PQ",
  7: "SPTAG_KDT_RNT",
  8: "SPTAG_BKT_RNT",
  9: "BIN_FLAT",
  10: "BIN_IVF_FLAT",
  11: "HNSW",
  12: "ANNOY",
  13: "IVF_SQ8NR",
  14: "HNSW_SQ8NM",
};

/** Connection parameters of a MySQL metadata backend (the YAML's `mysql_parameter`). */
export interface MysqlParameters {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

/** One `Tables` row, normalised (columns an older schema lacks are null). */
export interface TablesRow {
  id: number;
  tableId: string;
  state: number;
  dimension: number;
  createdOn: number | null;
  flag: number;
  indexFileSize: number;
  engineType: number;
  indexParams: string | null;
  metricType: number;
  ownerTable: string;
  partitionTag: string;
  version: string;
}

/** One `TableFiles` row, normalised. */
export interface TableFilesRow {
  id: number;
  tableId: string;
  segmentId: string;
  engineType: number;
  fileId: string;
  fileType: number;
  fileSize: number;
  rowCount: number;
  createdOn: number | null;
}

/** What a metadata reader returns: every `Tables` row and the live-raw `TableFiles` rows. */
export interface RawMeta {
  /** "sqlite" or "mysql". */
  backend: "sqlite" | "mysql";
  /** Where the metadata came from, for messages (a path or `user@host:port/database`). */
  location: string;
  tables: TablesRow[];
  /** `TableFiles` rows with `file_type` in {@linkcode LIVE_FILE_TYPES}. */
  files: TableFilesRow[];
}

/** One live segment: a directory holding `<id>.rv`, `<id>.uid` and `deleted_docs`. */
export interface Milvus1Segment {
  /** `TableFiles.segment_id` (the segment's folder name). */
  segmentId: string;
  /** `TableFiles.file_id` of the raw row (names the `.rv`/`.uid` files). */
  fileId: string;
  /** 1 RAW, 2 TO_INDEX or 7 BACKUP. */
  fileType: number;
  /** `TableFiles.row_count`: live rows per the metadata (informational; the files are authoritative). */
  metaRowCount: number;
  /** `TableFiles.file_size` (informational). */
  metaFileSize: number;
  /** The `table_id` of the partition the segment belongs to. */
  tableId: string;
  /** The collection the segment belongs to (for messages). */
  collection: string;
  /** The partition tag, null for the default partition (for messages). */
  partition: string | null;
  /** The segment directory: `<db>/tables/<table_id>/<segment_id>`. */
  dir: string;
  /** The `TableFiles.id` (segments are read in this order). */
  metaId: number;
}

/** A partition: the default one (`tag` null, the collection's own `table_id`) or a named one. */
export interface Milvus1Partition {
  /** The partition tag, or null for the default partition. */
  tag: string | null;
  /** Whether this is the default partition (`_default` in Milvus 2.x terms). */
  isDefault: boolean;
  /** The `table_id` holding its files (the collection's name for the default partition, a number otherwise). */
  tableId: string;
  /** Live segments in `TableFiles.id` order. */
  segments: Milvus1Segment[];
}

/** A live collection with its partitions. */
export interface Milvus1Collection {
  /** The collection name (its `table_id`). */
  name: string;
  /** Dimension: floats, or bits for binary vectors. */
  dim: number;
  /** The metric recorded at creation. */
  metric: Metric;
  /** The raw `metric_type` (1–7). */
  metricType: number;
  /** Float or binary vectors (binary for metrics 3–7). */
  vectorType: VectorType;
  /** The raw `engine_type`. */
  engineType: number;
  /** Index type name from `engine_type` (FLAT when no index was built). */
  indexType: string;
  /** `index_params` JSON text (null on schemas before 0.8, which had `nlist`). */
  indexParams: string | null;
  /** `index_file_size` in bytes (the 1.x API shows MB). */
  indexFileSize: number;
  /** Server version string at creation (e.g. "1.1.1"). */
  version: string;
  /** `flag` bits: 0x1 auto ids, 0x2 user ids. */
  flag: number;
  /** Default partition first, then named partitions in `Tables.id` order. */
  partitions: Milvus1Partition[];
}

/** Where a data directory's parts are. */
export interface Milvus1Layout {
  /** The path the user gave. */
  path: string;
  /** The `db` directory: holds `meta.sqlite` (SQLite backend) and `tables/`. */
  dbDir: string;
  /** Other `db` directories to look in for segment folders (0.7's `secondary_path`), in order. */
  extraDbDirs: string[];
}

/** Converts a metadata value (number, bigint, numeric string, null) to a safe integer, or throws. */
export function toInt(value: unknown, what: string, location: string): number {
  let n: number;
  if (typeof value === "number") n = value;
  else if (typeof value === "bigint") {
    n = value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : NaN;
  } else if (typeof value === "string" && /^-?\d+$/.test(value.trim())) n = Number(value.trim());
  else n = NaN;
  if (!Number.isSafeInteger(n)) {
    throw new MilvusdmError(
      "MILVUS1_INVALID",
      `Metadata in ${location}: ${what} is ${
        describe(value)
      }, expected an integer (not a Milvus 0.7–1.1 metadata database?)`,
    );
  }
  return n;
}

/** Converts a metadata value to a string (null/undefined → fallback). */
export function toText(value: unknown, fallback = ""): string {
  if (value === null || value === undefined) return fallback;
  if (typeof value === "string") return value;
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  return String(value);
}

function describe(value: unknown): string {
  if (value === undefined) return "missing";
  if (value === null) return "NULL";
  if (typeof value === "string") return `"${value}"`;
  return String(value);
}

const TABLES_REQUIRED = ["id", "table_id", "state", "dimension", "metric_type", "owner_table", "partition_tag"];
const FILES_REQUIRED = ["id", "table_id", "segment_id", "file_id", "file_type", "row_count"];

/** Throws `MILVUS1_INVALID` unless every required column is present. */
export function checkColumns(table: "Tables" | "TableFiles", columns: string[], location: string): void {
  const required = table === "Tables" ? TABLES_REQUIRED : FILES_REQUIRED;
  const have = new Set(columns.map((c) => c.toLowerCase()));
  const missing = required.filter((c) => !have.has(c));
  if (missing.length > 0) {
    throw new MilvusdmError(
      "MILVUS1_INVALID",
      `Metadata in ${location}: table "${table}" lacks column(s) ${
        missing.map((m) => `"${m}"`).join(", ")
      }; expected the schema of Milvus 0.7–1.1`,
    );
  }
}

/** Looks a column up case-insensitively (MySQL may return names as declared). */
function col(row: Record<string, unknown>, name: string): unknown {
  if (name in row) return row[name];
  const lower = name.toLowerCase();
  for (const key of Object.keys(row)) if (key.toLowerCase() === lower) return row[key];
  return undefined;
}

/** Normalises a `Tables` row as returned by either backend. */
export function normaliseTablesRow(row: Record<string, unknown>, location: string): TablesRow {
  const tableId = toText(col(row, "table_id"));
  const at = `Tables row table_id "${tableId}"`;
  const optionalInt = (name: string, fallback: number): number => {
    const v = col(row, name);
    return v === undefined || v === null ? fallback : toInt(v, `${at}: ${name}`, location);
  };
  const createdOn = col(row, "created_on");
  const indexParams = col(row, "index_params");
  return {
    id: toInt(col(row, "id"), `${at}: id`, location),
    tableId,
    state: toInt(col(row, "state"), `${at}: state`, location),
    dimension: toInt(col(row, "dimension"), `${at}: dimension`, location),
    createdOn: createdOn === undefined || createdOn === null ? null : toInt(createdOn, `${at}: created_on`, location),
    flag: optionalInt("flag", 0),
    indexFileSize: optionalInt("index_file_size", 0),
    engineType: optionalInt("engine_type", 1),
    indexParams: indexParams === undefined || indexParams === null ? null : toText(indexParams),
    metricType: toInt(col(row, "metric_type"), `${at}: metric_type`, location),
    ownerTable: toText(col(row, "owner_table")),
    partitionTag: toText(col(row, "partition_tag")),
    version: toText(col(row, "version")),
  };
}

/** Normalises a `TableFiles` row as returned by either backend. */
export function normaliseFilesRow(row: Record<string, unknown>, location: string): TableFilesRow {
  const fileId = toText(col(row, "file_id"));
  const at = `TableFiles row file_id "${fileId}"`;
  const optionalInt = (name: string, fallback: number): number => {
    const v = col(row, name);
    return v === undefined || v === null ? fallback : toInt(v, `${at}: ${name}`, location);
  };
  const createdOn = col(row, "created_on");
  return {
    id: toInt(col(row, "id"), `${at}: id`, location),
    tableId: toText(col(row, "table_id")),
    segmentId: toText(col(row, "segment_id")),
    engineType: optionalInt("engine_type", 0),
    fileId,
    fileType: toInt(col(row, "file_type"), `${at}: file_type`, location),
    fileSize: optionalInt("file_size", 0),
    rowCount: toInt(col(row, "row_count"), `${at}: row_count`, location),
    createdOn: createdOn === undefined || createdOn === null ? null : toInt(createdOn, `${at}: created_on`, location),
  };
}

/** A name is safe as one path component (metadata is not trusted to stay inside the data directory). */
function safeComponent(name: string): boolean {
  return name.length > 0 && name !== "." && name !== ".." && !name.includes("/") && !name.includes("\\") &&
    !name.includes("\0");
}

function existsDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** The segment folder: the first of the candidate `db` directories where it exists, else the primary one. */
export function segmentDir(layout: Milvus1Layout, tableId: string, segmentId: string): string {
  const primary = `${layout.dbDir}/tables/${tableId}/${segmentId}`;
  if (layout.extraDbDirs.length === 0 || existsDir(primary)) return primary;
  for (const db of layout.extraDbDirs) {
    const candidate = `${db}/tables/${tableId}/${segmentId}`;
    if (existsDir(candidate)) return candidate;
  }
  return primary;
}

/**
 * Builds the collection view from raw metadata rows.
 *
 * @example
 * ```ts
 * const collections = buildCollections(await readSqliteMeta(layout.dbDir), layout);
 * ```
 */
export function buildCollections(meta: RawMeta, layout: Milvus1Layout): Milvus1Collection[] {
  const live = meta.tables.filter((t) => t.state === STATE_NORMAL);
  const byOwner = new Map<string, TablesRow[]>();
  for (const t of live) {
    if (t.ownerTable === "") continue;
    const list = byOwner.get(t.ownerTable) ?? [];
    list.push(t);
    byOwner.set(t.ownerTable, list);
  }
  const filesByTable = new Map<string, TableFilesRow[]>();
  for (const f of meta.files) {
    if (!LIVE_FILE_TYPES.includes(f.fileType)) continue;
    const list = filesByTable.get(f.tableId) ?? [];
    list.push(f);
    filesByTable.set(f.tableId, list);
  }

  const collections: Milvus1Collection[] = [];
  for (const t of live.filter((row) => row.ownerTable === "").sort((a, b) => a.id - b.id)) {
    const where = `${meta.location}: collection "${t.tableId}"`;
    if (!safeComponent(t.tableId)) {
      throw new MilvusdmError("MILVUS1_INVALID", `Metadata in ${where}: the name is not a valid folder name`);
    }
    const metric = METRIC_TYPES[t.metricType];
    if (metric === undefined) {
      throw new MilvusdmError(
        "MILVUS1_INVALID",
        `Metadata in ${where}: metric_type is ${t.metricType}, expected 1–7 (L2, IP, HAMMING, JACCARD, TANIMOTO, ` +
          `SUBSTRUCTURE, SUPERSTRUCTURE)`,
      );
    }
    const vectorType: VectorType = t.metricType >= 3 ? "binary" : "float";
    if (t.dimension <= 0 || (vectorType === "binary" && t.dimension % 8 !== 0)) {
      throw new MilvusdmError(
        "MILVUS1_INVALID",
        `Metadata in ${where}: dimension is ${t.dimension}, expected a positive number${
          vectorType === "binary" ? " of bits divisible by 8" : ""
        }`,
      );
    }
    const partitionRows = (byOwner.get(t.tableId) ?? []).sort((a, b) => a.id - b.id);
    const partitions: Milvus1Partition[] = [
      { tag: null, isDefault: true, tableId: t.tableId, segments: segmentsOf(t.tableId, t.tableId, null) },
    ];
    for (const p of partitionRows) {
      if (!safeComponent(p.tableId)) {
        throw new MilvusdmError(
          "MILVUS1_INVALID",
          `Metadata in ${where}: partition "${p.partitionTag}" has table_id "${p.tableId}", not a valid folder name`,
        );
      }
      partitions.push({
        tag: p.partitionTag,
        isDefault: false,
        tableId: p.tableId,
        segments: segmentsOf(p.tableId, t.tableId, p.partitionTag),
      });
    }
    collections.push({
      name: t.tableId,
      dim: t.dimension,
      metric,
      metricType: t.metricType,
      vectorType,
      engineType: t.engineType,
      indexType: ENGINE_TYPES[t.engineType] ?? `UNKNOWN(${t.engineType})`,
      indexParams: t.indexParams,
      indexFileSize: t.indexFileSize,
      version: t.version,
      flag: t.flag,
      partitions,
    });
  }
  return collections;

  function segmentsOf(tableId: string, collection: string, partition: string | null): Milvus1Segment[] {
    const rows = (filesByTable.get(tableId) ?? []).slice().sort((a, b) => a.id - b.id);
    const seen = new Map<string, Milvus1Segment>();
    for (const f of rows) {
      const segmentId = f.segmentId === "" ? f.fileId : f.segmentId;
      if (!safeComponent(segmentId) || !safeComponent(f.fileId)) {
        throw new MilvusdmError(
          "MILVUS1_INVALID",
          `Metadata in ${meta.location}: TableFiles row ${f.id} of "${tableId}" has segment_id "${f.segmentId}" / ` +
            `file_id "${f.fileId}", not valid folder or file names`,
        );
      }
      const existing = seen.get(segmentId);
      // One segment may appear as several raw rows (e.g. RAW and BACKUP): read it once, preferring the row whose
      // file_id names the segment's files.
      if (existing !== undefined && !(existing.fileId !== segmentId && f.fileId === segmentId)) continue;
      seen.set(segmentId, {
        segmentId,
        fileId: f.fileId,
        fileType: f.fileType,
        metaRowCount: f.rowCount,
        metaFileSize: f.fileSize,
        tableId,
        collection,
        partition,
        dir: segmentDir(layout, tableId, segmentId),
        metaId: existing?.metaId ?? f.id,
      });
    }
    return [...seen.values()].sort((a, b) => a.metaId - b.metaId);
  }
}

/** The names of a collection's partitions for messages: `_default` for the default one. */
export function partitionLabel(partition: Milvus1Partition): string {
  return partition.tag === null ? "_default" : partition.tag;
}
