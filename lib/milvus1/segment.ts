/**
 * Reads Milvus 0.7–1.1 segment files: `<id>.rv` (raw vectors), `<id>.uid` (int64 ids) and `deleted_docs`
 * (int32 row offsets), streamed in bounded batches.
 *
 * Since 0.7.1 each file starts with a u64 byte count (`size_t`): the reader checks it against the file size and the
 * files against each other (rv bytes = rows × bytes per vector, uid count = rows, every deleted offset < rows)
 * before reading a row. 0.7.0 wrote the same files without that header; they are accepted only for collections
 * created by 0.7.0, and only when the headerless sizes agree exactly.
 *
 * Rows are read by position slice by slice, never whole files: memory is one batch plus a bitmap of deleted rows.
 *
 * @module
 */
import { type ByteSource, openFileSource } from "../bytes.ts";
import { MilvusdmError, throwIfAborted } from "../errors.ts";
import { type Batch, type BatchAllocator, bytesPerVector, type SourceInfo, type VectorSource } from "../types.ts";
import { type Milvus1Collection, type Milvus1Partition, type Milvus1Segment, partitionLabel } from "./meta.ts";

/** The file name of a segment's deleted row offsets. */
export const DELETED_DOCS = "deleted_docs";

/** Size of the `size_t` byte-count header (0.7.1+). */
const HEADER = 8;

/** Deleted offsets are read this many at a time. */
const DELETED_CHUNK = 1 << 16;

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new MilvusdmError("INTERNAL", "The Milvus 1.x reader needs a little-endian machine");
}

/** The files of one segment. */
export interface SegmentFiles {
  rv: string;
  uid: string;
  deletedDocs: string;
}

/** What a segment holds, after every header and offset was checked. */
export interface SegmentScan {
  segment: Milvus1Segment;
  /** The files read, or null for an empty segment whose folder was never written. */
  files: SegmentFiles | null;
  /** "v1": u64 headers (0.7.1–1.1); "legacy": headerless files (0.7.0). */
  format: "v1" | "legacy";
  /** Rows in the files (n, from the `.uid` header). */
  rows: number;
  /** Entries in `deleted_docs` (duplicates included). */
  deletedEntries: number;
  /** Distinct deleted rows. */
  deletedRows: number;
  /** Rows that will be read: `rows - deletedRows`. */
  liveRows: number;
  /** Bytes of the `.rv`, `.uid` and `deleted_docs` files. */
  bytes: number;
}

/** Options of {@linkcode scanSegment}. */
export interface ScanOptions {
  /** Keep the bitmap of deleted rows (bit i set = row i deleted) for reading. */
  bitmap?: boolean;
}

/** A scan plus the bitmap of deleted rows. */
export interface SegmentScanWithBitmap extends SegmentScan {
  /** Bit i (byte i >> 3, bit i & 7) set = row i deleted; null when nothing is deleted. */
  deleted: Uint8Array | null;
}

function where(segment: Milvus1Segment): string {
  return `segment "${segment.segmentId}" of collection "${segment.collection}" partition "${
    segment.partition === null ? "_default" : segment.partition
  }"`;
}

/** Finds a segment's files: `<file_id>.rv`, else `<segment_id>.rv`, else the one `*.rv` in the folder. */
export function findSegmentFiles(segment: Milvus1Segment): SegmentFiles | null {
  let names: string[];
  try {
    names = [...Deno.readDirSync(segment.dir)].filter((e) => e.isFile || e.isSymlink).map((e) => e.name);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      // Milvus itself tolerates a missing folder for a file it recorded as empty.
      if (segment.metaRowCount === 0 && segment.metaFileSize === 0) return null;
      throw new MilvusdmError(
        "SOURCE_NOT_FOUND",
        `Segment folder "${segment.dir}" does not exist (${where(segment)}, ${segment.metaRowCount} rows per metadata)`,
        { cause: error },
      );
    }
    throw new MilvusdmError("SOURCE_INVALID", `Cannot list segment folder "${segment.dir}": ${String(error)}`, {
      cause: error,
    });
  }
  const pick = (extension: string): string => {
    for (const stem of [segment.fileId, segment.segmentId]) {
      if (names.includes(stem + extension)) return `${segment.dir}/${stem}${extension}`;
    }
    const candidates = names.filter((n) => n.endsWith(extension));
    if (candidates.length === 1) return `${segment.dir}/${candidates[0]}`;
    if (candidates.length === 0) {
      throw new MilvusdmError(
        "SOURCE_NOT_FOUND",
        `Segment file "${segment.dir}/${segment.fileId}${extension}" does not exist (${where(segment)})`,
      );
    }
    throw new MilvusdmError(
      "MILVUS1_INVALID",
      `Segment folder "${segment.dir}" holds several ${extension} files (${
        candidates.map((c) => `"${c}"`).join(", ")
      }) and none is named after the segment (${where(segment)})`,
    );
  };
  const rv = pick(".rv");
  const uid = pick(".uid");
  if (!names.includes(DELETED_DOCS)) {
    throw new MilvusdmError(
      "SOURCE_NOT_FOUND",
      `Segment file "${segment.dir}/${DELETED_DOCS}" does not exist (${where(segment)})`,
    );
  }
  return { rv, uid, deletedDocs: `${segment.dir}/${DELETED_DOCS}` };
}

/** Whether a collection may hold 0.7.0's headerless files. */
export function allowsLegacyFormat(collection: Milvus1Collection): boolean {
  return /^0\.7\.0(\D|$)/.test(collection.version.trim());
}

/** A segment's three files as byte sources (local files, buffers, or one day object-store ranges). */
export interface SegmentSources {
  rv: ByteSource;
  uid: ByteSource;
  deleted: ByteSource;
}

async function openFiles(files: SegmentFiles): Promise<SegmentSources> {
  const opened: ByteSource[] = [];
  try {
    const rv = await openFileSource(files.rv);
    opened.push(rv);
    const uid = await openFileSource(files.uid);
    opened.push(uid);
    const deleted = await openFileSource(files.deletedDocs);
    opened.push(deleted);
    return { rv, uid, deleted };
  } catch (error) {
    for (const source of opened) source.close();
    throw error;
  }
}

function closeFiles(files: SegmentSources): void {
  files.rv.close();
  files.uid.close();
  files.deleted.close();
}

async function header(source: ByteSource): Promise<bigint | null> {
  if (source.size < HEADER) return null;
  const bytes = new Uint8Array(HEADER);
  await source.readInto(0, bytes);
  return new DataView(bytes.buffer).getBigUint64(0, true);
}

/** The layout of a segment's files once checked. */
interface Geometry {
  format: "v1" | "legacy";
  rows: number;
  /** Where ids, vectors and deleted offsets start. */
  dataOffset: number;
  deletedEntries: number;
}

/** Checks a u64 header against its file: it must count exactly the bytes after it, in whole elements. */
function checkHeader(
  source: ByteSource,
  value: bigint | null,
  elementSize: number,
  what: string,
  segment: Milvus1Segment,
): number {
  if (value === null) {
    throw new MilvusdmError(
      "SOURCE_TRUNCATED",
      `"${source.name}" is ${source.size} bytes, shorter than its 8-byte header (${what} of ${where(segment)})`,
    );
  }
  const after = BigInt(source.size - HEADER);
  if (value > after) {
    throw new MilvusdmError(
      "SOURCE_TRUNCATED",
      `"${source.name}" is shorter than its header says: the header counts ${value} bytes of ${what}, ` +
        `only ${after} follow (${where(segment)})`,
    );
  }
  if (value < after) {
    throw new MilvusdmError(
      "MILVUS1_INVALID",
      `"${source.name}": the header counts ${value} bytes of ${what} but ${after} follow (${where(segment)})`,
    );
  }
  const n = Number(value);
  if (n % elementSize !== 0) {
    throw new MilvusdmError(
      "MILVUS1_INVALID",
      `"${source.name}": the header counts ${n} bytes of ${what}, not a multiple of ${elementSize} (${where(segment)})`,
    );
  }
  return n;
}

async function geometry(
  files: SegmentSources,
  collection: Milvus1Collection,
  segment: Milvus1Segment,
): Promise<Geometry> {
  const bpv = bytesPerVector(collection.vectorType, collection.dim);
  const [uidHeader, rvHeader, deletedHeader] = await Promise.all([
    header(files.uid),
    header(files.rv),
    header(files.deleted),
  ]);
  try {
    const uidBytes = checkHeader(files.uid, uidHeader, 8, "ids", segment);
    const rows = uidBytes / 8;
    const rvBytes = checkHeader(files.rv, rvHeader, 1, "vectors", segment);
    if (rvBytes !== rows * bpv) {
      throw new MilvusdmError(
        "MILVUS1_INVALID",
        `"${files.rv.name}" holds ${rvBytes} bytes of vectors but "${files.uid.name}" holds ${rows} ids: ` +
          `expected ${rows} × ${bpv} = ${
            rows * bpv
          } bytes for dimension ${collection.dim} (${collection.vectorType}) ` +
          `(${where(segment)})`,
      );
    }
    const deletedBytes = checkHeader(files.deleted, deletedHeader, 4, "deleted offsets", segment);
    return { format: "v1", rows, dataOffset: HEADER, deletedEntries: deletedBytes / 4 };
  } catch (error) {
    // 0.7.0 wrote the same arrays without the byte-count header.
    const rows = files.uid.size / 8;
    const legacyFits = Number.isInteger(rows) && files.rv.size === rows * bpv && files.deleted.size % 4 === 0;
    if (!legacyFits || !(error instanceof MilvusdmError)) throw error;
    if (allowsLegacyFormat(collection)) {
      return { format: "legacy", rows, dataOffset: 0, deletedEntries: files.deleted.size / 4 };
    }
    throw new MilvusdmError(error.code, error.message, {
      cause: error,
      hint: `The sizes would fit Milvus 0.7.0's files without headers, but collection "${collection.name}" was ` +
        `created by version "${collection.version}", which writes headers`,
    });
  }
}

/** Reads `deleted_docs` into a bitmap, checking every offset against the row count. */
async function readDeleted(
  source: ByteSource,
  g: Geometry,
  segment: Milvus1Segment,
): Promise<{ bitmap: Uint8Array | null; distinct: number }> {
  if (g.deletedEntries === 0) return { bitmap: null, distinct: 0 };
  const bitmap = new Uint8Array(Math.ceil(g.rows / 8));
  let distinct = 0;
  const chunk = new Int32Array(Math.min(DELETED_CHUNK, g.deletedEntries));
  const chunkBytes = new Uint8Array(chunk.buffer);
  for (let start = 0; start < g.deletedEntries; start += chunk.length) {
    const count = Math.min(chunk.length, g.deletedEntries - start);
    await source.readInto(g.dataOffset + start * 4, chunkBytes.subarray(0, count * 4));
    for (let i = 0; i < count; i++) {
      const offset = chunk[i];
      if (offset < 0 || offset >= g.rows) {
        throw new MilvusdmError(
          "MILVUS1_INVALID",
          `"${source.name}": entry ${start + i} deletes row ${offset}, but the segment has ${g.rows} rows (${
            where(segment)
          })`,
        );
      }
      const bit = 1 << (offset & 7);
      if ((bitmap[offset >> 3] & bit) === 0) {
        bitmap[offset >> 3] |= bit;
        distinct++;
      }
    }
  }
  return { bitmap, distinct };
}

function fileSizeSum(files: SegmentSources): number {
  return files.rv.size + files.uid.size + files.deleted.size;
}

/**
 * Checks a segment's files and counts its rows without reading vectors.
 *
 * @example
 * ```ts
 * const scan = await scanSegment(collection, collection.partitions[0].segments[0]);
 * console.log(scan.liveRows, scan.deletedRows);
 * ```
 */
export async function scanSegment(
  collection: Milvus1Collection,
  segment: Milvus1Segment,
  options: ScanOptions = {},
): Promise<SegmentScanWithBitmap> {
  const paths = findSegmentFiles(segment);
  if (paths === null) {
    return {
      segment,
      files: null,
      format: "v1",
      rows: 0,
      deletedEntries: 0,
      deletedRows: 0,
      liveRows: 0,
      bytes: 0,
      deleted: null,
    };
  }
  const files = await openFiles(paths);
  try {
    return { ...(await scanSegmentSources(collection, segment, files, options)), files: paths };
  } finally {
    closeFiles(files);
  }
}

/** {@linkcode scanSegment} over already opened sources (which stay open). */
export async function scanSegmentSources(
  collection: Milvus1Collection,
  segment: Milvus1Segment,
  sources: SegmentSources,
  options: ScanOptions = {},
): Promise<SegmentScanWithBitmap> {
  const g = await geometry(sources, collection, segment);
  const { bitmap, distinct } = await readDeleted(sources.deleted, g, segment);
  return {
    segment,
    files: null,
    format: g.format,
    rows: g.rows,
    deletedEntries: g.deletedEntries,
    deletedRows: distinct,
    liveRows: g.rows - distinct,
    bytes: fileSizeSum(sources),
    deleted: options.bitmap ? bitmap : null,
  };
}

/** Whether any row in [start, end) is deleted. */
function anyDeleted(bitmap: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end && (i & 7) !== 0) {
    if (bitmap[i >> 3] & (1 << (i & 7))) return true;
    i++;
  }
  for (; i + 8 <= end; i += 8) if (bitmap[i >> 3] !== 0) return true;
  for (; i < end; i++) if (bitmap[i >> 3] & (1 << (i & 7))) return true;
  return false;
}

function checkMaxRows(maxRows: number): void {
  if (!Number.isSafeInteger(maxRows) || maxRows <= 0) {
    throw new MilvusdmError("CONFIG_INVALID", `Batch size ${maxRows} is not a positive integer`);
  }
}

/**
 * Yields a segment's live rows in batches of at most `maxRows`, in row order.
 *
 * Opens the files and checks every header and deleted offset again before the first batch.
 */
export async function* readSegment(
  collection: Milvus1Collection,
  segment: Milvus1Segment,
  maxRows: number,
  signal?: AbortSignal,
  allocate?: BatchAllocator,
): AsyncGenerator<Batch> {
  checkMaxRows(maxRows);
  throwIfAborted(signal);
  const paths = findSegmentFiles(segment);
  if (paths === null) return;
  const files = await openFiles(paths);
  try {
    yield* readSegmentSources(collection, segment, files, maxRows, signal, allocate);
  } finally {
    closeFiles(files);
  }
}

/** {@linkcode readSegment} over already opened sources (which stay open). */
export async function* readSegmentSources(
  collection: Milvus1Collection,
  segment: Milvus1Segment,
  files: SegmentSources,
  maxRows: number,
  signal?: AbortSignal,
  allocate?: BatchAllocator,
): AsyncGenerator<Batch> {
  checkMaxRows(maxRows);
  throwIfAborted(signal);
  const g = await geometry(files, collection, segment);
  const { bitmap, distinct } = await readDeleted(files.deleted, g, segment);
  const dim = collection.dim;
  const bpv = bytesPerVector(collection.vectorType, dim);
  const rvStart = g.dataOffset;
  const uidStart = g.dataOffset;
  let live = g.rows - distinct;
  let pos = 0;
  while (live > 0) {
    throwIfAborted(signal);
    const want = Math.min(maxRows, live);
    // Memory from `allocate` (e.g. the insert request being built), else fresh arrays.
    const memory = allocate?.(want);
    const ids = memory ? memory.ids : new BigInt64Array(want);
    const idBytes = new Uint8Array(ids.buffer, ids.byteOffset, want * 8);
    const vectorBytes = memory
      ? new Uint8Array(memory.vectors.buffer, memory.vectors.byteOffset, want * bpv)
      : new Uint8Array(want * bpv);
    let filled = 0;
    while (filled < want) {
      if (pos >= g.rows) {
        throw new MilvusdmError("INTERNAL", `Ran past the end of ${where(segment)} while reading live rows`);
      }
      const window = Math.min(want - filled, g.rows - pos);
      await files.uid.readInto(uidStart + pos * 8, idBytes.subarray(filled * 8, (filled + window) * 8));
      await files.rv.readInto(rvStart + pos * bpv, vectorBytes.subarray(filled * bpv, (filled + window) * bpv));
      if (bitmap !== null && anyDeleted(bitmap, pos, pos + window)) {
        // Squeeze deleted rows out of the window, moving runs of live rows down.
        let out = filled;
        let row = 0;
        while (row < window) {
          const r = pos + row;
          if (bitmap[r >> 3] & (1 << (r & 7))) {
            row++;
            continue;
          }
          let end = row + 1;
          while (end < window && !(bitmap[(pos + end) >> 3] & (1 << ((pos + end) & 7)))) end++;
          const runStart = filled + row;
          const length = end - row;
          if (out !== runStart) {
            ids.copyWithin(out, runStart, runStart + length);
            vectorBytes.copyWithin(out * bpv, runStart * bpv, (runStart + length) * bpv);
          }
          out += length;
          row = end;
        }
        filled = out;
      } else {
        filled += window;
      }
      pos += window;
    }
    live -= want;
    const vectors = memory
      ? memory.vectors
      : collection.vectorType === "float"
      ? new Float32Array(vectorBytes.buffer, 0, want * dim)
      : vectorBytes;
    yield { ids, vectors, dim, rows: want };
  }
}

/** A {@linkcode VectorSource} over a partition's live rows, with the per-segment scans. */
export interface Milvus1Source extends VectorSource {
  /** The checked segments, in reading order. */
  readonly segments: readonly SegmentScan[];
}

/** Options of {@linkcode partitionSource} and {@linkcode segmentSource}. */
export interface SourceOptions {
  /** Stops the up-front scan. */
  signal?: AbortSignal;
}

function infoOf(collection: Milvus1Collection, rows: number): SourceInfo {
  return { dim: collection.dim, vectorType: collection.vectorType, metric: collection.metric, rows, hasIds: true };
}

function sourceOver(collection: Milvus1Collection, scans: SegmentScan[]): Milvus1Source {
  let closed = false;
  const rows = scans.reduce((sum, s) => sum + s.liveRows, 0);
  return {
    info: infoOf(collection, rows),
    segments: scans,
    async *batches(maxRows: number, signal?: AbortSignal, allocate?: BatchAllocator): AsyncIterable<Batch> {
      checkMaxRows(maxRows);
      for (const scan of scans) {
        if (closed) return;
        if (scan.liveRows === 0) continue;
        let seen = 0;
        for await (const batch of readSegment(collection, scan.segment, maxRows, signal, allocate)) {
          seen += batch.rows;
          yield batch;
          if (closed) return;
        }
        if (seen !== scan.liveRows) {
          throw new MilvusdmError(
            "MILVUS1_INVALID",
            `${where(scan.segment)} changed while it was read: ${seen} live rows instead of ${scan.liveRows}`,
          );
        }
      }
    },
    close(): void {
      closed = true;
    },
  };
}

/**
 * Opens one partition's live rows as a {@linkcode VectorSource}, chaining its segments.
 *
 * Every segment's headers and deleted offsets are checked first, so a damaged segment fails before any row is
 * yielded; `info.rows` is the exact number of rows the batches will hold.
 *
 * @example
 * ```ts
 * const store = await openMilvus1("/var/lib/milvus");
 * const collection = store.collection("books");
 * const source = await partitionSource(collection, store.partition(collection, null));
 * for await (const batch of source.batches(10_000)) console.log(batch.rows);
 * ```
 */
export async function partitionSource(
  collection: Milvus1Collection,
  partition: Milvus1Partition,
  options: SourceOptions = {},
): Promise<Milvus1Source> {
  if (!collection.partitions.includes(partition)) {
    throw new MilvusdmError(
      "CONFIG_INVALID",
      `Partition "${partitionLabel(partition)}" does not belong to collection "${collection.name}"`,
    );
  }
  const scans: SegmentScan[] = [];
  for (const segment of partition.segments) {
    throwIfAborted(options.signal);
    const { deleted: _bitmap, ...scan } = await scanSegment(collection, segment);
    scans.push(scan);
  }
  return sourceOver(collection, scans);
}

/** Opens one segment's live rows as a {@linkcode VectorSource}. */
export async function segmentSource(
  collection: Milvus1Collection,
  segment: Milvus1Segment,
  options: SourceOptions = {},
): Promise<Milvus1Source> {
  throwIfAborted(options.signal);
  const { deleted: _bitmap, ...scan } = await scanSegment(collection, segment);
  return sourceOver(collection, [scan]);
}
