/**
 * Builds Milvus 0.7–1.1 data directories the way the server wrote them, for the reader's tests.
 *
 * `buildMilvus1Dir(dir, spec)` writes `db/meta.sqlite` with the 1.x schema (node:sqlite; the builder may write, the
 * reader must not) and `db/tables/<table_id>/<segment_id>/{<id>.rv,<id>.uid,deleted_docs,bloom_filter}`, plus the
 * things a reader must ignore: INDEX rows and their index files, TO_DELETE rows, shadow NEW/NEW_MERGE/NEW_INDEX rows
 * with files on disk, folders with no metadata, dropped collections and partitions. It returns the live rows a
 * correct reader yields, per partition, and the metadata rows so that `loadMetaIntoMysql` can put the same metadata
 * into MySQL.
 *
 * @module
 */
import assert from "node:assert/strict";
import { prng } from "../lib/random.ts";
import { DatabaseSync } from "node:sqlite";
import type { Connection } from "mysql2/promise";
import { MilvusdmError } from "../lib/errors.ts";
import type { VectorSource } from "../lib/types.ts";

/** One segment to write. */
export interface SegmentSpec {
  /** Folder and file name; generated when absent. */
  segmentId?: string;
  /** Rows in the files (before deletes). */
  rows: number;
  /** Deleted row offsets, written as-is (duplicates and any order allowed). */
  deletes?: number[];
  /** 1 RAW (default), 2 TO_INDEX, 7 BACKUP. */
  fileType?: 1 | 2 | 7;
  /** Also an INDEX row (file_type 3) with a junk index file in the folder; the raw row becomes BACKUP (7). */
  index?: boolean;
  /** Also a second raw row for the same segment (RAW beside the BACKUP), to test de-duplication. */
  duplicateRow?: boolean;
  /** Write 0.7.0's headerless files. */
  legacy?: boolean;
  /** Explicit ids (length `rows`); random unique ids otherwise. */
  ids?: bigint[];
  /** `TableFiles.row_count` to record (default: live rows, as Milvus keeps it). */
  metaRowCount?: number;
}

/** One partition: the default one (`tag` null) or a named one. */
export interface PartitionSpec {
  tag: string | null;
  segments: SegmentSpec[];
  /** A dropped partition (state 1): its files stay on disk and must be ignored. */
  dropped?: boolean;
}

/** One collection. */
export interface CollectionSpec {
  name: string;
  dim: number;
  /** 1 L2, 2 IP, 3 HAMMING, 4 JACCARD, 5 TANIMOTO, 6 SUBSTRUCTURE, 7 SUPERSTRUCTURE. */
  metricType: number;
  engineType?: number;
  /** Bytes (default 1024 MB). */
  indexFileSize?: number;
  indexParams?: string;
  /** Server version at creation (default "1.1.1"). */
  version?: string;
  /** A dropped collection (state 1). */
  dropped?: boolean;
  /** The default partition must be listed (tag null); named partitions follow. */
  partitions: PartitionSpec[];
}

/** A data directory to build. */
export interface FixtureSpec {
  collections: CollectionSpec[];
  /** PRNG seed for ids and vectors. */
  seed?: number;
  /** Add TO_DELETE and shadow rows with files, and folders without metadata (default true). */
  junk?: boolean;
  /** Leave every metadata row only in `meta.sqlite-wal`, as a server that stopped without a checkpoint. */
  wal?: boolean;
  /** Only finite floats (Milvus 2.x refuses NaN and infinities), for loads into a real server. */
  finite?: boolean;
  /** Write `db/meta.sqlite` (default true; false for a MySQL-backed server). */
  sqlite?: boolean;
}

/** The rows a reader must yield for one partition, in reading order. */
export interface ExpectedPartition {
  collection: string;
  /** null = the default partition. */
  tag: string | null;
  tableId: string;
  ids: BigInt64Array;
  /** Concatenated vectors, `rows × bytes per vector`. */
  vectors: Uint8Array;
  rows: number;
  /** Distinct deleted rows in its segments. */
  deletedRows: number;
  segments: number;
}

/** A `Tables` row as stored. */
export interface TablesRowSpec {
  id: number;
  table_id: string;
  state: number;
  dimension: number;
  created_on: number;
  flag: number;
  index_file_size: number;
  engine_type: number;
  index_params: string;
  metric_type: number;
  owner_table: string;
  partition_tag: string;
  version: string;
  flush_lsn: number;
}

/** A `TableFiles` row as stored. */
export interface TableFilesRowSpec {
  id: number;
  table_id: string;
  segment_id: string;
  engine_type: number;
  file_id: string;
  file_type: number;
  file_size: number;
  row_count: number;
  updated_time: number;
  created_on: number;
  date: number;
  flush_lsn: number;
}

/** What {@linkcode buildMilvus1Dir} wrote. */
export interface BuiltFixture {
  /** The storage root (holds `db/`). */
  dir: string;
  dbDir: string;
  /** Live partitions of live collections, in collection then partition order. */
  expected: ExpectedPartition[];
  tables: TablesRowSpec[];
  files: TableFilesRowSpec[];
}

export { prng };

/** The 1.x SQLite schema, as `SqliteMetaImpl` creates it. */
export const SQLITE_SCHEMA = [
  "CREATE TABLE IF NOT EXISTS Environment(global_lsn INTEGER DEFAULT (0) NOT NULL);",
  "CREATE TABLE IF NOT EXISTS Tables(id INTEGER PRIMARY KEY NOT NULL, table_id TEXT UNIQUE NOT NULL, " +
  "state INTEGER NOT NULL, dimension INTEGER NOT NULL, created_on INTEGER NOT NULL, " +
  "flag INTEGER DEFAULT (0) NOT NULL, index_file_size INTEGER NOT NULL, engine_type INTEGER NOT NULL, " +
  "index_params TEXT NOT NULL, metric_type INTEGER NOT NULL, owner_table TEXT DEFAULT ('') NOT NULL, " +
  "partition_tag TEXT DEFAULT ('') NOT NULL, version TEXT DEFAULT ('1.1.1') NOT NULL, flush_lsn INTEGER NOT NULL);",
  "CREATE TABLE IF NOT EXISTS TableFiles(id INTEGER PRIMARY KEY NOT NULL, table_id TEXT NOT NULL, " +
  "segment_id TEXT DEFAULT ('') NOT NULL, engine_type INTEGER NOT NULL, file_id TEXT NOT NULL, " +
  "file_type INTEGER NOT NULL, file_size INTEGER DEFAULT (0) NOT NULL, row_count INTEGER DEFAULT (0) NOT NULL, " +
  "updated_time INTEGER NOT NULL, created_on INTEGER NOT NULL, date INTEGER NOT NULL, flush_lsn INTEGER NOT NULL);",
  "CREATE TABLE IF NOT EXISTS Fields(collection_id TEXT NOT NULL, field_name TEXT NOT NULL, " +
  "field_type INTEGER NOT NULL, field_params TEXT NOT NULL);",
];

/** The 1.x MySQL schema, as `MySQLMetaImpl` creates it. */
export const MYSQL_SCHEMA = [
  "CREATE TABLE IF NOT EXISTS Environment (global_lsn BIGINT NOT NULL)",
  "CREATE TABLE IF NOT EXISTS Tables (id BIGINT PRIMARY KEY AUTO_INCREMENT, table_id VARCHAR(255) UNIQUE NOT NULL, " +
  "state INT NOT NULL, dimension SMALLINT NOT NULL, created_on BIGINT NOT NULL, flag BIGINT DEFAULT 0 NOT NULL, " +
  "index_file_size BIGINT DEFAULT 1024 NOT NULL, engine_type INT DEFAULT 1 NOT NULL, " +
  "index_params VARCHAR(512) NOT NULL, metric_type INT DEFAULT 1 NOT NULL, owner_table VARCHAR(255) NOT NULL, " +
  "partition_tag VARCHAR(255) NOT NULL, version VARCHAR(64) DEFAULT '1.1.1', flush_lsn BIGINT DEFAULT 0 NOT NULL)",
  "CREATE TABLE IF NOT EXISTS TableFiles (id BIGINT PRIMARY KEY AUTO_INCREMENT, table_id VARCHAR(255) NOT NULL, " +
  "segment_id VARCHAR(255) NOT NULL, engine_type INT DEFAULT 1 NOT NULL, file_id VARCHAR(255) NOT NULL, " +
  "file_type INT DEFAULT 0 NOT NULL, file_size BIGINT DEFAULT 0 NOT NULL, row_count BIGINT DEFAULT 0 NOT NULL, " +
  "updated_time BIGINT NOT NULL, created_on BIGINT NOT NULL, date INT DEFAULT -1 NOT NULL, " +
  "flush_lsn BIGINT DEFAULT 0 NOT NULL)",
  "CREATE TABLE IF NOT EXISTS Fields (collection_id VARCHAR(255) NOT NULL, field_name VARCHAR(255) NOT NULL, " +
  "field_type INT NOT NULL, field_params VARCHAR(255) NOT NULL)",
];

const TABLE_COLUMNS = [
  "id",
  "table_id",
  "state",
  "dimension",
  "created_on",
  "flag",
  "index_file_size",
  "engine_type",
  "index_params",
  "metric_type",
  "owner_table",
  "partition_tag",
  "version",
  "flush_lsn",
] as const;

const FILE_COLUMNS = [
  "id",
  "table_id",
  "segment_id",
  "engine_type",
  "file_id",
  "file_type",
  "file_size",
  "row_count",
  "updated_time",
  "created_on",
  "date",
  "flush_lsn",
] as const;

/** Bytes per vector for a metric and dimension. */
export function vectorBytesOf(metricType: number, dim: number): number {
  return metricType >= 3 ? dim / 8 : dim * 4;
}

function u64(value: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value), true);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Writes a segment's `.rv`, `.uid`, `deleted_docs` and `bloom_filter` as Milvus 0.7.1–1.1 (or 0.7.0) did. */
export function writeSegmentFiles(
  dir: string,
  name: string,
  ids: BigInt64Array,
  vectors: Uint8Array,
  deletes: number[],
  legacy = false,
): number {
  Deno.mkdirSync(dir, { recursive: true });
  const idBytes = new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength);
  const del = new Uint8Array(new Int32Array(deletes).buffer);
  const header = (n: number) => legacy ? new Uint8Array(0) : u64(n);
  const rv = concat([header(vectors.length), vectors]);
  const uid = concat([header(idBytes.length), idBytes]);
  Deno.writeFileSync(`${dir}/${name}.rv`, rv);
  Deno.writeFileSync(`${dir}/${name}.uid`, uid);
  Deno.writeFileSync(`${dir}/deleted_docs`, concat([header(del.length), del]));
  if (!legacy) {
    // 1.1's bloom filter: "bloom_0\0", u32 capacity, f64 error rate, u64 bitmap bytes, bitmap (never read).
    const bitmapBytes = 64;
    const bloom = new Uint8Array(8 + 4 + 8 + 8 + bitmapBytes);
    bloom.set(new TextEncoder().encode("bloom_0\0"), 0);
    const view = new DataView(bloom.buffer);
    view.setUint32(8, Math.max(ids.length, 1), true);
    view.setFloat64(12, 0.01, true);
    view.setBigUint64(20, BigInt(bitmapBytes), true);
    bloom.fill(0xa5, 28);
    Deno.writeFileSync(`${dir}/bloom_filter`, bloom);
  }
  return rv.length + uid.length;
}

const SPECIAL_FLOATS = [0, -0, 1, -1, NaN, Infinity, -Infinity, 1e-45, 3.4028234663852886e38, -1.1754943508222875e-38];

/** Random vectors: floats with special values sprinkled in, or bytes whose rows often end in zero bytes. */
function randomVectors(
  random: () => number,
  rows: number,
  metricType: number,
  dim: number,
  finite = false,
): Uint8Array {
  const bpv = vectorBytesOf(metricType, dim);
  const out = new Uint8Array(rows * bpv);
  if (metricType >= 3) {
    for (let r = 0; r < rows; r++) {
      const row = out.subarray(r * bpv, (r + 1) * bpv);
      for (let i = 0; i < bpv; i++) row[i] = Math.floor(random() * 256);
      // Trailing zero bytes are data, not padding: some rows end in them, one row is all zeros.
      if (r % 3 === 0) row.fill(0, Math.floor(bpv / 2));
      if (r === 1) row.fill(0);
    }
  } else {
    const floats = new Float32Array(out.buffer);
    for (let i = 0; i < floats.length; i++) {
      const special = SPECIAL_FLOATS[i % SPECIAL_FLOATS.length];
      floats[i] = i % 97 === 5 && (!finite || Number.isFinite(special)) ? special : (random() - 0.5) * 100;
    }
    // A NaN with a payload: must survive byte for byte.
    if (floats.length > 3 && !finite) new DataView(out.buffer).setUint32(12, 0x7fc01234, true);
  }
  return out;
}

function uniqueIds(random: () => number, rows: number, used: Set<bigint>): BigInt64Array {
  const ids = new BigInt64Array(rows);
  for (let i = 0; i < rows; i++) {
    let id: bigint;
    do {
      // 62-bit ids (beyond 2^53: any loss of precision shows), some small ones.
      id = random() < 0.1
        ? BigInt(Math.floor(random() * 1000))
        : (BigInt(Math.floor(random() * 2 ** 31)) << 31n) | BigInt(Math.floor(random() * 2 ** 31));
    } while (used.has(id));
    used.add(id);
    ids[i] = id;
  }
  return ids;
}

/**
 * Writes a Milvus 1.x data directory under `dir` (which must not hold one yet).
 *
 * @example
 * ```ts
 * const built = buildMilvus1Dir(await Deno.makeTempDir(), standardSpec());
 * ```
 */
export function buildMilvus1Dir(dir: string, spec: FixtureSpec): BuiltFixture {
  const random = prng(spec.seed ?? 1);
  const junk = spec.junk ?? true;
  const dbDir = `${dir}/db`;
  Deno.mkdirSync(`${dbDir}/tables`, { recursive: true });
  const tables: TablesRowSpec[] = [];
  const files: TableFilesRowSpec[] = [];
  const expected: ExpectedPartition[] = [];
  let nextId = 1_600_000_000_000_000_000n;
  const newId = () => String(nextId += 1_000_000n);
  const now = 1_617_000_000_000_000;
  const usedIds = new Set<bigint>();

  const fileRow = (
    tableId: string,
    segmentId: string,
    fileId: string,
    fileType: number,
    rowCount: number,
    fileSize: number,
    engineType: number,
  ) => {
    files.push({
      id: files.length + 1,
      table_id: tableId,
      segment_id: segmentId,
      engine_type: engineType,
      file_id: fileId,
      file_type: fileType,
      file_size: fileSize,
      row_count: rowCount,
      updated_time: now + files.length,
      created_on: now + files.length,
      date: 1210322,
      flush_lsn: 0,
    });
  };

  /** Writes a complete segment that a reader must NOT read (TO_DELETE, shadow, orphan). */
  const junkSegment = (tableId: string, c: CollectionSpec, fileType: number | null) => {
    const segmentId = newId();
    const rows = 5;
    const ids = new BigInt64Array(rows).fill(-777n);
    const vectors = new Uint8Array(rows * vectorBytesOf(c.metricType, c.dim)).fill(0xee);
    const size = writeSegmentFiles(`${dbDir}/tables/${tableId}/${segmentId}`, segmentId, ids, vectors, []);
    if (fileType !== null) fileRow(tableId, segmentId, segmentId, fileType, rows, size, c.engineType ?? 1);
  };

  for (const c of spec.collections) {
    if (c.partitions.length === 0 || c.partitions[0].tag !== null) {
      throw new Error(`Fixture collection "${c.name}": the first partition must be the default one (tag null)`);
    }
    const state = c.dropped ? 1 : 0;
    const version = c.version ?? "1.1.1";
    const engineType = c.engineType ?? (c.metricType >= 3 ? 9 : 1);
    const tableRow = (tableId: string, owner: string, tag: string, rowState: number) => {
      tables.push({
        id: tables.length + 1,
        table_id: tableId,
        state: rowState,
        dimension: c.dim,
        created_on: now + tables.length,
        flag: 2,
        index_file_size: c.indexFileSize ?? 1024 * 1024 * 1024,
        engine_type: engineType,
        index_params: c.indexParams ?? '{"nlist": 16384}',
        metric_type: c.metricType,
        owner_table: owner,
        partition_tag: tag,
        version,
        flush_lsn: 0,
      });
    };
    tableRow(c.name, "", "", state);
    Deno.mkdirSync(`${dbDir}/tables/${c.name}`, { recursive: true });
    for (const p of c.partitions) {
      const tableId = p.tag === null ? c.name : newId();
      if (p.tag !== null) {
        tableRow(tableId, c.name, p.tag, p.dropped ? 1 : state);
        Deno.mkdirSync(`${dbDir}/tables/${tableId}`, { recursive: true });
      }
      const bpv = vectorBytesOf(c.metricType, c.dim);
      const liveIds: bigint[] = [];
      const liveVectors: Uint8Array[] = [];
      let deletedRows = 0;
      for (const s of p.segments) {
        const segmentId = s.segmentId ?? newId();
        const ids = s.ids ? BigInt64Array.from(s.ids) : uniqueIds(random, s.rows, usedIds);
        if (ids.length !== s.rows) {
          throw new Error(`Fixture segment "${segmentId}": ${ids.length} ids for ${s.rows} rows`);
        }
        const vectors = randomVectors(random, s.rows, c.metricType, c.dim, spec.finite ?? false);
        const deletes = s.deletes ?? [];
        const size = writeSegmentFiles(
          `${dbDir}/tables/${tableId}/${segmentId}`,
          segmentId,
          ids,
          vectors,
          deletes,
          s.legacy,
        );
        const deleted = new Set(deletes);
        deletedRows += deleted.size;
        const live = s.rows - deleted.size;
        const fileType = s.index ? 7 : (s.fileType ?? 1);
        if (s.duplicateRow) fileRow(tableId, segmentId, segmentId, 7, s.metaRowCount ?? live, size, 1);
        fileRow(tableId, segmentId, segmentId, fileType, s.metaRowCount ?? live, size, 1);
        if (s.index) {
          const indexId = newId();
          const junkIndex = new Uint8Array(333).fill(0x49);
          new DataView(junkIndex.buffer).setBigUint64(0, 123456789n, true);
          Deno.writeFileSync(`${dbDir}/tables/${tableId}/${segmentId}/${indexId}`, junkIndex);
          fileRow(tableId, segmentId, indexId, 3, live, junkIndex.length, engineType);
        }
        for (let r = 0; r < s.rows; r++) {
          if (deleted.has(r)) continue;
          liveIds.push(ids[r]);
          liveVectors.push(vectors.subarray(r * bpv, (r + 1) * bpv));
        }
      }
      if (junk) {
        junkSegment(tableId, c, 4); // TO_DELETE
        junkSegment(tableId, c, 0); // NEW (shadow)
        junkSegment(tableId, c, 5); // NEW_MERGE (shadow)
        junkSegment(tableId, c, 6); // NEW_INDEX (shadow)
        junkSegment(tableId, c, null); // a folder with no metadata at all
      }
      if (!c.dropped && !p.dropped) {
        expected.push({
          collection: c.name,
          tag: p.tag,
          tableId,
          ids: BigInt64Array.from(liveIds),
          vectors: concat(liveVectors),
          rows: liveIds.length,
          deletedRows,
          segments: p.segments.length,
        });
      }
    }
  }

  if (spec.sqlite ?? true) writeSqliteMeta(dbDir, tables, files, spec.wal ?? false);
  return { dir, dbDir, expected, tables, files };
}

/** Writes `meta.sqlite` in WAL mode; with `wal`, every row stays in `meta.sqlite-wal` (no checkpoint). */
export function writeSqliteMeta(
  dbDir: string,
  tables: TablesRowSpec[],
  files: TableFilesRowSpec[],
  wal: boolean,
): void {
  const target = `${dbDir}/meta.sqlite`;
  const stage = wal ? Deno.makeTempDirSync({ prefix: "milvusdm-fixture-" }) : null;
  const path = stage === null ? target : `${stage}/meta.sqlite`;
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA journal_mode = WAL");
    for (const sql of SQLITE_SCHEMA) db.exec(sql);
    db.exec("INSERT INTO Environment VALUES (0)");
    if (wal) {
      // Schema in the main file, every row only in the WAL: a reader that ignores the WAL sees no collection.
      db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      db.exec("PRAGMA wal_autocheckpoint = 0");
    }
    const insertTable = db.prepare(
      `INSERT INTO Tables (${TABLE_COLUMNS.join(", ")}) VALUES (${TABLE_COLUMNS.map(() => "?").join(", ")})`,
    );
    const insertFile = db.prepare(
      `INSERT INTO TableFiles (${FILE_COLUMNS.join(", ")}) VALUES (${FILE_COLUMNS.map(() => "?").join(", ")})`,
    );
    db.exec("BEGIN");
    for (const t of tables) insertTable.run(...TABLE_COLUMNS.map((k) => t[k]));
    for (const f of files) insertFile.run(...FILE_COLUMNS.map((k) => f[k]));
    db.exec("COMMIT");
    if (stage !== null) {
      // Copy while the writer is open: the state of a server killed before its checkpoint.
      Deno.copyFileSync(path, target);
      Deno.copyFileSync(`${path}-wal`, `${target}-wal`);
      Deno.copyFileSync(`${path}-shm`, `${target}-shm`);
    }
  } finally {
    db.close();
    if (stage !== null) Deno.removeSync(stage, { recursive: true });
  }
}

/** Puts a built fixture's metadata into MySQL (dropping any previous Milvus tables in that database). */
/** The test MariaDB's parameters (scripts/mariadb start; the MILVUSDM_MYSQL_* variables override them). */
export function testMysqlParameters() {
  return {
    host: Deno.env.get("MILVUSDM_MYSQL_HOST") ?? "127.0.0.1",
    port: Number(Deno.env.get("MILVUSDM_MYSQL_PORT") ?? "13306"),
    user: Deno.env.get("MILVUSDM_MYSQL_USER") ?? "milvusdm",
    password: Deno.env.get("MILVUSDM_MYSQL_PASSWORD") ?? "milvusdm-test-pw",
    database: Deno.env.get("MILVUSDM_MYSQL_DATABASE") ?? "milvusdm_test",
  };
}

/** Puts a built fixture's metadata into the test MariaDB; returns the parameters to read it with. */
export async function loadMetaIntoTestMysql(built: Pick<BuiltFixture, "tables" | "files">) {
  const params = testMysqlParameters();
  const { default: mysql } = await import("mysql2/promise");
  const conn = await mysql.createConnection({ ...params, connectTimeout: 5000 });
  try {
    await loadMetaIntoMysql(conn, built);
  } finally {
    await conn.end();
  }
  return params;
}

export async function loadMetaIntoMysql(connection: Connection, built: Pick<BuiltFixture, "tables" | "files">) {
  for (const table of ["Environment", "Tables", "TableFiles", "Fields"]) {
    await connection.query(`DROP TABLE IF EXISTS ${table}`);
  }
  for (const sql of MYSQL_SCHEMA) await connection.query(sql);
  await connection.execute("INSERT INTO Environment (global_lsn) VALUES (?)", [0]);
  for (const t of built.tables) {
    await connection.execute(
      `INSERT INTO Tables (${TABLE_COLUMNS.join(", ")}) VALUES (${TABLE_COLUMNS.map(() => "?").join(", ")})`,
      TABLE_COLUMNS.map((k) => t[k]),
    );
  }
  for (const f of built.files) {
    await connection.execute(
      `INSERT INTO TableFiles (${FILE_COLUMNS.join(", ")}) VALUES (${FILE_COLUMNS.map(() => "?").join(", ")})`,
      FILE_COLUMNS.map((k) => f[k]),
    );
  }
}

/** A spec covering every case: deletes with duplicates, TO_INDEX, BACKUP+INDEX, partitions, binary, empty, dropped. */
export function standardSpec(
  options: { wal?: boolean; sqlite?: boolean; seed?: number; finite?: boolean } = {},
): FixtureSpec {
  return {
    seed: options.seed ?? 7,
    finite: options.finite,
    wal: options.wal,
    sqlite: options.sqlite,
    collections: [
      {
        name: "books",
        dim: 16,
        metricType: 1,
        engineType: 2,
        indexFileSize: 256 * 1024 * 1024,
        partitions: [
          {
            tag: null,
            segments: [
              { rows: 40 },
              { rows: 33, fileType: 2, deletes: [5, 0, 32, 5, 17, 17, 17, 31] },
              { rows: 25, index: true, deletes: [24, 3] },
              { rows: 12, duplicateRow: true },
            ],
          },
          { tag: "2021", segments: [{ rows: 19, deletes: [1, 2, 3] }, { rows: 7, fileType: 2 }] },
          { tag: "empty", segments: [] },
          { tag: "all_deleted", segments: [{ rows: 4, deletes: [3, 2, 1, 0, 0] }] },
          { tag: "gone", dropped: true, segments: [{ rows: 9 }] },
        ],
      },
      {
        name: "fingerprints",
        dim: 64,
        metricType: 4,
        partitions: [
          { tag: null, segments: [{ rows: 30, deletes: [29, 0, 0] }, { rows: 10, index: true }] },
          { tag: "p", segments: [{ rows: 8, fileType: 2, deletes: [7] }] },
        ],
      },
      {
        name: "hamming_wide",
        dim: 520,
        metricType: 3,
        partitions: [{ tag: null, segments: [{ rows: 6 }] }],
      },
      {
        name: "inner",
        dim: 3,
        metricType: 2,
        partitions: [{ tag: null, segments: [{ rows: 1 }, { rows: 2, deletes: [0, 1] }] }],
      },
      {
        name: "dropped_one",
        dim: 8,
        metricType: 1,
        dropped: true,
        partitions: [{ tag: null, segments: [{ rows: 10 }] }, { tag: "x", segments: [{ rows: 3 }] }],
      },
      { name: "no_data", dim: 128, metricType: 1, partitions: [{ tag: null, segments: [] }] },
    ],
  };
}

/** The real files of `shared/fixtures/milvus1x-test1w`, next to the repository. */
export const TEST1W_SOURCE = new URL("../../shared/fixtures/milvus1x-test1w/", import.meta.url);
/** Its only segment. */
export const TEST1W_SEGMENT = "1678354366132931000";

/**
 * Reproduces `milvus1x-test1w` as a data directory: a built `db/meta.sqlite`, the real `.uid`, `deleted_docs` and
 * `bloom_filter`, and the `.rv` its README describes (10,000 × 256 float32 ones).
 */
export function buildTest1wDir(dir: string): { dir: string; dbDir: string } {
  const dbDir = `${dir}/db`;
  const segmentDir = `${dbDir}/tables/test1w/${TEST1W_SEGMENT}`;
  Deno.mkdirSync(segmentDir, { recursive: true });
  const source = new URL(`tables/test1w/${TEST1W_SEGMENT}/`, TEST1W_SOURCE);
  for (const name of [`${TEST1W_SEGMENT}.uid`, "deleted_docs", "bloom_filter"]) {
    Deno.copyFileSync(new URL(name, source), `${segmentDir}/${name}`);
    Deno.chmodSync(`${segmentDir}/${name}`, 0o644);
  }
  const rows = 10_000, dim = 256;
  const rv = new Uint8Array(8 + rows * dim * 4);
  new DataView(rv.buffer).setBigUint64(0, BigInt(rows * dim * 4), true);
  new Float32Array(rv.buffer, 8).fill(1);
  Deno.writeFileSync(`${segmentDir}/${TEST1W_SEGMENT}.rv`, rv);
  const now = 1_678_354_366_132_931;
  writeSqliteMeta(dbDir, [{
    id: 1,
    table_id: "test1w",
    state: 0,
    dimension: dim,
    created_on: now,
    flag: 1,
    index_file_size: 1024 * 1024 * 1024,
    engine_type: 1,
    index_params: "{}",
    metric_type: 1,
    owner_table: "",
    partition_tag: "",
    version: "1.1.0",
    flush_lsn: 0,
  }], [{
    id: 1,
    table_id: "test1w",
    segment_id: TEST1W_SEGMENT,
    engine_type: 1,
    file_id: TEST1W_SEGMENT,
    file_type: 1,
    file_size: 10_320_000,
    row_count: rows,
    updated_time: now,
    created_on: now,
    date: 1230308,
    flush_lsn: 0,
  }], false);
  return { dir, dbDir };
}

/** SHA-256 of every file under `dir` (relative path → hex), to prove a directory was not changed. */
export async function snapshotDir(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  async function walk(path: string, rel: string) {
    for await (const entry of Deno.readDir(path)) {
      const full = `${path}/${entry.name}`;
      const name = rel === "" ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory) {
        out.set(name + "/", "dir");
        await walk(full, name);
      } else {
        const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(full));
        const stat = await Deno.stat(full);
        out.set(
          name,
          `${[...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("")} ${stat.mode}`,
        );
      }
    }
  }
  await walk(dir, "");
  return out;
}

/** Reads every batch of a source into one id array and one byte array. */
export async function readAll(
  source: VectorSource,
  maxRows: number,
): Promise<{ ids: BigInt64Array; vectors: Uint8Array; batches: number }> {
  const ids: bigint[] = [];
  const parts: Uint8Array[] = [];
  let batches = 0;
  for await (const batch of source.batches(maxRows)) {
    batches++;
    assert.ok(batch.rows > 0 && batch.rows <= maxRows, `batch of ${batch.rows} rows for maxRows ${maxRows}`);
    assert.ok(batch.ids !== null);
    assert.equal(batch.ids.length, batch.rows);
    assert.equal(batch.dim, source.info.dim);
    const bytes = new Uint8Array(batch.vectors.buffer, batch.vectors.byteOffset, batch.vectors.byteLength);
    const bpv = source.info.vectorType === "float" ? batch.dim * 4 : batch.dim / 8;
    assert.equal(bytes.length, batch.rows * bpv);
    assert.ok(
      source.info.vectorType === "float" ? batch.vectors instanceof Float32Array : batch.vectors instanceof Uint8Array,
    );
    ids.push(...batch.ids);
    parts.push(bytes.slice());
  }
  const vectors = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    vectors.set(p, at);
    at += p.length;
  }
  await source.close();
  return { ids: BigInt64Array.from(ids), vectors, batches };
}

/** Asserts that `fn` throws a MilvusdmError with `code` (and a message matching `pattern`). */
export async function assertCode(
  fn: () => unknown | Promise<unknown>,
  code: string,
  pattern?: RegExp,
): Promise<MilvusdmError> {
  try {
    await fn();
  } catch (error) {
    if (!(error instanceof MilvusdmError)) {
      throw new Error(`Expected MilvusdmError ${code}, got ${String(error)}`, { cause: error });
    }
    assert.equal(error.code, code, `code of "${error.message}"`);
    if (pattern) assert.match(error.message, pattern);
    return error;
  }
  throw new Error(`Expected MilvusdmError ${code}, nothing was thrown`);
}
