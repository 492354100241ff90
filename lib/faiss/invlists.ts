/**
 * Inverted lists of IVF indexes: where each list's codes and ids are, and streaming them list by list.
 *
 * - `ilar` (ArrayInvertedLists): u64 nlist, u64 code_size, u32 layout — `full`: `VECTOR<u64>` sizes of every list;
 *   `sprs`: `VECTOR<u64>` of (list_no, size) pairs for the non-empty lists — then for each non-empty list in list
 *   order its n × code_size code bytes followed by its n int64 ids.
 * - `ilod` (OnDiskInvertedLists): u64 nlist, u64 code_size, `VECTOR<{u64 size, u64 capacity, u64 offset}>`,
 *   `VECTOR<{u64 offset, u64 capacity}>` free slots, `VECTOR<char>` data file name, u64 total size. In the data
 *   file a list at `offset` holds capacity × code_size code bytes then capacity ids; the first `size` are valid.
 * - `il00` (lists not stored) and the fast-scan / Panorama layouts are refused.
 *
 * @module
 */
import { bigToSafe, type ByteSource, type Cursor, openFileSource } from "../bytes.ts";
import { MilvusdmError } from "../errors.ts";
import type { Batch, BatchAllocator } from "../types.ts";
import { corrupt, skipVector, unsupportedFourcc } from "./header.ts";
import { allocVectors, type ParseContext, rowBytes, rowView, type VectorArray, windowReader } from "./node.ts";

/** Where the non-empty lists of an IVF index are, in list order. */
export interface ListTable {
  /** The file holding the codes and ids (the index file, or the on-disk lists' data file). */
  source: ByteSource;
  /** How the lists are stored, for `inspect`, e.g. `ilar full`. */
  kind: string;
  /** Number of lists of the index. */
  nlist: number;
  /** Bytes per code. */
  codeSize: number;
  /** Number of non-empty lists described below. */
  count: number;
  /** List number of each non-empty list. */
  listNo: Float64Array;
  /** Entries of each list. */
  size: Float64Array;
  /** Byte offset of each list's first code. */
  codeOffset: Float64Array;
  /** Byte offset of each list's first id. */
  idOffset: Float64Array;
  /** Total entries over all lists. */
  total: number;
}

/** Starts a table with room for `capacity` non-empty lists. */
export function newListTable(
  source: ByteSource,
  kind: string,
  nlist: number,
  codeSize: number,
  capacity: number,
): ListTable {
  return {
    source,
    kind,
    nlist,
    codeSize,
    count: 0,
    listNo: new Float64Array(capacity),
    size: new Float64Array(capacity),
    codeOffset: new Float64Array(capacity),
    idOffset: new Float64Array(capacity),
    total: 0,
  };
}

/** Appends a non-empty list to a table. */
export function addList(t: ListTable, listNo: number, size: number, codeOffset: number, idOffset: number): void {
  const k = t.count++;
  t.listNo[k] = listNo;
  t.size[k] = size;
  t.codeOffset[k] = codeOffset;
  t.idOffset[k] = idOffset;
  t.total += size;
}

/** One line about the lists for `inspect`. */
export function describeLists(t: ListTable): string {
  return `${t.kind}, ${t.nlist} lists (${t.count} non-empty), ${t.total} entries`;
}

/** Reads the inverted lists of an IVF index whose header said `nlist` lists of `codeSize`-byte codes. */
export async function readInvertedLists(
  c: Cursor,
  ctx: ParseContext,
  nlist: number,
  codeSize: number,
): Promise<ListTable> {
  const fourcc = await c.fourcc("inverted lists fourcc");
  if (fourcc !== "ilar" && fourcc !== "ilod") throw unsupportedFourcc(ctx.path, fourcc, "the inverted-list storage");
  const ilNlist = await c.size64(`${fourcc} nlist`);
  const ilCodeSize = await c.size64(`${fourcc} code size`);
  if (ilNlist !== nlist || ilCodeSize !== codeSize) {
    throw corrupt(
      ctx.path,
      `inverted lists have ${ilNlist} lists of ${ilCodeSize}-byte codes, the index expects ${nlist} of ${codeSize}`,
    );
  }
  return fourcc === "ilar"
    ? await readArrayLists(c, ctx, nlist, codeSize)
    : await readOnDiskLists(c, ctx, nlist, codeSize);
}

function listSize(v: bigint, name: string, listNo: number | bigint): number {
  const n = bigToSafe(v);
  if (n === null || n < 0) throw corrupt(name, `inverted list ${listNo} has size ${v}`);
  return n;
}

async function readArrayLists(c: Cursor, ctx: ParseContext, nlist: number, codeSize: number): Promise<ListTable> {
  const layout = await c.fourcc("inverted lists layout");
  let listNos: Float64Array, sizes: Float64Array;
  if (layout === "full") {
    const count = c.count(await c.u64("list sizes count"), 8, "list sizes");
    if (count !== nlist) throw corrupt(ctx.path, `ilar full has ${count} list sizes, expected nlist = ${nlist}`);
    const raw = await c.i64s(count, "list sizes");
    listNos = new Float64Array(count);
    sizes = new Float64Array(count);
    for (let k = 0; k < count; k++) {
      listNos[k] = k;
      sizes[k] = listSize(raw[k], ctx.path, k);
    }
  } else if (layout === "sprs") {
    const count = c.count(await c.u64("sparse list sizes count"), 8, "sparse list sizes");
    if (count % 2 !== 0) throw corrupt(ctx.path, `ilar sprs has ${count} values, expected (list, size) pairs`);
    const raw = await c.i64s(count, "sparse list sizes");
    // faiss assigns sizes[list] = size pair by pair (a later pair wins), then stores lists in list order
    const order: number[] = [];
    for (let k = 0; k < count / 2; k++) order.push(k);
    const pairList = (k: number) => {
      const n = bigToSafe(raw[2 * k]);
      if (n === null || n < 0 || n >= nlist) throw corrupt(ctx.path, `ilar sprs names list ${raw[2 * k]} of ${nlist}`);
      return n;
    };
    const keys = order.map(pairList);
    order.sort((a, b) => keys[a] - keys[b] || a - b);
    listNos = new Float64Array(order.length);
    sizes = new Float64Array(order.length);
    let m = 0;
    for (let i = 0; i < order.length; i++) {
      const k = order[i];
      if (i + 1 < order.length && keys[order[i + 1]] === keys[k]) continue; // a later pair for the same list wins
      listNos[m] = keys[k];
      sizes[m] = listSize(raw[2 * k + 1], ctx.path, keys[k]);
      m++;
    }
    listNos = listNos.subarray(0, m);
    sizes = sizes.subarray(0, m);
  } else {
    throw corrupt(ctx.path, `ilar list layout is "${layout}", expected "full" or "sprs"`);
  }
  let nonEmpty = 0;
  for (let k = 0; k < sizes.length; k++) if (sizes[k] > 0) nonEmpty++;
  const table = newListTable(ctx.source, `ilar ${layout}`, nlist, codeSize, nonEmpty);
  for (let k = 0; k < sizes.length; k++) {
    const n = sizes[k];
    if (n === 0) continue;
    const codeOffset = c.offset;
    c.skip(n * codeSize, `inverted list ${listNos[k]} codes`);
    const idOffset = c.offset;
    c.skip(n * 8, `inverted list ${listNos[k]} ids`);
    addList(table, listNos[k], n, codeOffset, idOffset);
  }
  return table;
}

async function readOnDiskLists(c: Cursor, ctx: ParseContext, nlist: number, codeSize: number): Promise<ListTable> {
  const count = c.count(await c.u64("on-disk list table count"), 24, "on-disk list table");
  if (count !== nlist) throw corrupt(ctx.path, `ilod has ${count} list entries, expected nlist = ${nlist}`);
  const lists = await c.i64s(count * 3, "on-disk list table");
  await skipVector(c, 16, "on-disk free slots");
  const nameLength = c.count(await c.u64("on-disk file name length"), 1, "on-disk file name");
  const stored = new TextDecoder().decode(await c.bytes(nameLength, "on-disk file name"));
  c.skip(8, "on-disk total size");
  const dataPath = await resolveDataFile(stored, ctx);
  const source = await openFileSource(dataPath);
  ctx.extraSources.push(source);
  let nonEmpty = 0;
  for (let k = 0; k < count; k++) if (lists[3 * k] !== 0n) nonEmpty++;
  const table = newListTable(source, "ilod", nlist, codeSize, nonEmpty);
  for (let k = 0; k < count; k++) {
    const size = listSize(lists[3 * k], ctx.path, k);
    if (size === 0) continue;
    const capacity = listSize(lists[3 * k + 1], ctx.path, k);
    const offset = listSize(lists[3 * k + 2], ctx.path, k);
    const end = offset + capacity * (codeSize + 8);
    if (size > capacity) throw corrupt(ctx.path, `on-disk list ${k} has size ${size} above its capacity ${capacity}`);
    if (!Number.isSafeInteger(end) || end > source.size) {
      throw new MilvusdmError(
        "SOURCE_TRUNCATED",
        `Faiss on-disk lists "${dataPath}" are too short: list ${k} needs bytes ${offset}..${end}, the file has ${source.size}`,
      );
    }
    addList(table, k, size, offset, offset + capacity * codeSize);
  }
  return table;
}

function isAbsolute(p: string): boolean {
  return p.startsWith("/") || /^[A-Za-z]:[\\/]/.test(p);
}

function dirOf(p: string): string {
  const i = Math.max(p.lastIndexOf("/"), p.lastIndexOf("\\"));
  return i < 0 ? "." : i === 0 ? "/" : p.slice(0, i);
}

function baseOf(p: string): string {
  return p.slice(Math.max(p.lastIndexOf("/"), p.lastIndexOf("\\")) + 1);
}

function join(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

/**
 * Finds the data file of on-disk lists: the stored path (relative paths against the index's folder, then the
 * working directory), else a file of the same name beside the index (the pair was moved together).
 */
async function resolveDataFile(stored: string, ctx: ParseContext): Promise<string> {
  if (stored.length === 0) throw corrupt(ctx.path, "on-disk inverted lists have an empty data file name");
  const indexDir = dirOf(ctx.path);
  const candidates = isAbsolute(stored)
    ? [stored, join(indexDir, baseOf(stored))]
    : [join(indexDir, stored), stored, join(indexDir, baseOf(stored))];
  const unique = [...new Set(candidates)];
  for (const candidate of unique) {
    try {
      if ((await Deno.stat(candidate)).isFile) {
        if (candidate !== unique[0]) {
          ctx.warnings.push(
            `the on-disk inverted lists are stored as "${stored}", which does not exist; using "${candidate}"`,
          );
        }
        return candidate;
      }
    } catch {
      // not there: try the next one
    }
  }
  throw new MilvusdmError(
    "SOURCE_NOT_FOUND",
    `Faiss index "${ctx.path}" keeps its vectors in the on-disk inverted lists file "${stored}", which was not found ` +
      `(looked for ${unique.map((p) => `"${p}"`).join(", ")})`,
    { hint: `Copy "${baseOf(stored)}" beside the index file` },
  );
}

/**
 * Lists whose codes take at least this many bytes are read directly into the batch (codes, then ids: two reads);
 * smaller ones go through a read-ahead window, which covers a run of consecutive small lists (their codes and ids)
 * with one read. The window never reaches into a large list, which is read directly (reading it through the window
 * too would read its bytes twice).
 */
const DIRECT_READ_BYTES = 64 << 10;
/** The read-ahead window for small lists. */
const WINDOW_BYTES = 1 << 20;

/** Decodes `rows` codes of list `listNo` into float vectors from row `outRow`. */
export type ListDecoder = (
  codes: Uint8Array,
  rows: number,
  out: Float32Array,
  outRow: number,
  listNo: number,
) => Promise<void> | void;

/**
 * Streams the entries of all lists in list order, filling batches of `maxRows` across lists and splitting big
 * lists, into memory from `allocate` when given. Without a decoder the codes are the vectors (IVFFlat, binary IVF)
 * and are read straight into the batch. A list whose codes take at least {@linkcode DIRECT_READ_BYTES} is read
 * with two direct reads (codes, then ids) into the batch; runs of consecutive smaller lists stored one after the
 * other (codes then ids, as `ilar` stores them) are served from a read-ahead window that stops at the run's end.
 */
export async function* streamLists(
  t: ListTable,
  out: { d: number; vectorType: "float" | "binary" },
  decode: ListDecoder | null,
  maxRows: number,
  allocate?: BatchAllocator,
): AsyncGenerator<Batch> {
  const reader = windowReader(t.source, WINDOW_BYTES);
  const cs = t.codeSize;
  const rowSize = rowBytes(out);
  if (!decode && rowSize !== cs) throw corrupt(t.source.name, `list codes are ${cs} bytes, expected ${rowSize}`);
  let remaining = t.total;
  let batchRows = Math.min(maxRows, remaining);
  if (batchRows === 0) return;
  const scratch = decode ? new Uint8Array(batchRows * cs) : null;
  const memoryFor = (rows: number): { ids: BigInt64Array; vectors: VectorArray } => {
    const memory = allocate?.(rows);
    return memory ?? { ids: new BigInt64Array(rows), vectors: allocVectors(out, rows) };
  };
  // A small list is windowed when its ids follow its codes; the window stops at the end of the run of such lists
  // that follow one another in the file (and fit in the window).
  const windowed = (l: number) =>
    t.size[l] * cs < DIRECT_READ_BYTES && t.idOffset[l] >= t.codeOffset[l] + t.size[l] * cs;
  const idEnd = (l: number) => t.idOffset[l] + t.size[l] * 8;
  let runLast = -1;
  let runEnd = 0;
  let { ids, vectors } = memoryFor(batchRows);
  let filled = 0;
  for (let l = 0; l < t.count; l++) {
    const size = t.size[l];
    const small = windowed(l);
    if (small && l > runLast) {
      runLast = l;
      runEnd = idEnd(l);
      const limit = t.codeOffset[l] + WINDOW_BYTES;
      while (
        runLast + 1 < t.count && windowed(runLast + 1) && t.codeOffset[runLast + 1] >= runEnd &&
        idEnd(runLast + 1) <= limit
      ) {
        runLast++;
        runEnd = idEnd(runLast);
      }
    }
    const read = small
      ? (offset: number, target: Uint8Array) => reader.read(offset, target, runEnd)
      : (offset: number, target: Uint8Array) => t.source.readInto(offset, target);
    let done = 0;
    while (done < size) {
      const take = Math.min(size - done, batchRows - filled);
      if (decode) {
        const codes = scratch!.subarray(0, take * cs);
        await read(t.codeOffset[l] + done * cs, codes);
        await decode(codes, take, vectors as Float32Array, filled, t.listNo[l]);
      } else {
        await read(t.codeOffset[l] + done * cs, rowView(vectors, rowSize, filled, take));
      }
      await read(t.idOffset[l] + done * 8, new Uint8Array(ids.buffer, ids.byteOffset + filled * 8, take * 8));
      filled += take;
      done += take;
      if (filled === batchRows) {
        yield { ids, vectors, dim: out.d, rows: filled };
        remaining -= filled;
        filled = 0;
        batchRows = Math.min(maxRows, remaining);
        if (batchRows === 0) return;
        ({ ids, vectors } = memoryFor(batchRows));
      }
    }
  }
  if (filled > 0) throw corrupt(t.source.name, "inverted lists ended before their recorded sizes");
}
