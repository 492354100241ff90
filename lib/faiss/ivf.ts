/**
 * IVF indexes: `IwFl` (IVFFlat), `IwFd` (IVFFlatDedup), `IvFl` / `IvFL` (legacy IVFFlat), `IwSq` / `IwSQ`
 * (IVFScalarQuantizer), `IwPQ` (IVFPQ) and `IBwF` (BinaryIVF).
 *
 * IVF header: index header, u64 nlist, u64 nprobe, the nested coarse quantizer (an index holding the nlist
 * centroids), the direct map (u8 type, `VECTOR<int64>` array, and for type 2 a `VECTOR<(int64, int64)>`
 * hashtable), then per type its own fields and the inverted lists. Vectors are read list by list; with
 * `by_residual` the codes encode x − centroid(list), so the list's centroid is added back as faiss does.
 *
 * @module
 */
import type { Cursor } from "../bytes.ts";
import type { Batch, BatchAllocator } from "../types.ts";
import {
  corrupt,
  type FloatHeader,
  readBinaryHeader,
  readFloatHeader,
  readInt64Vector,
  skipVector,
  unsupported,
} from "./header.ts";
import {
  addList,
  describeLists,
  type ListDecoder,
  type ListTable,
  newListTable,
  readInvertedLists,
  streamLists,
} from "./invlists.ts";
import type { FaissChild, FaissNode, ParseContext } from "./node.ts";
import { type Decoder, readProductQuantizer, readScalarQuantizer } from "./quantizers.ts";

const DIRECT_MAPS = ["none", "array", "hashtable"];

/** Skips the direct map; returns a description for `inspect`. */
async function skipDirectMap(c: Cursor, name: string): Promise<string> {
  const type = await c.u8("direct map type");
  if (type > 2) throw corrupt(name, `direct map type is ${type}, expected 0 (none), 1 (array) or 2 (hashtable)`);
  const array = await skipVector(c, 8, "direct map array");
  const hashtable = type === 2 ? (await skipVector(c, 16, "direct map hashtable")).count : 0;
  return type === 0 ? "none" : `${DIRECT_MAPS[type]} (${type === 1 ? array.count : hashtable} entries, skipped)`;
}

interface IvfStart {
  h: FloatHeader;
  nlist: number;
  quantizer: FaissNode;
}

async function readIvfStart(c: Cursor, fourcc: string, ctx: ParseContext, depth: number): Promise<IvfStart> {
  const h = await readFloatHeader(c, fourcc);
  const nlist = await c.size64(`${fourcc} nlist`);
  c.skip(8, `${fourcc} nprobe`);
  const quantizer = await ctx.parseIndex(c, depth + 1);
  if (quantizer.d !== h.d) throw corrupt(ctx.path, `${fourcc} has d=${h.d} but its quantizer has d=${quantizer.d}`);
  return { h, nlist, quantizer };
}

/** Parses a float IVF index (fourcc already read). */
export async function parseIvf(c: Cursor, fourcc: string, ctx: ParseContext, depth: number): Promise<FaissNode> {
  const { h, nlist, quantizer } = await readIvfStart(c, fourcc, ctx, depth);
  const d = h.d;
  if (fourcc === "IvFl" || fourcc === "IvFL") return await parseLegacyIvfFlat(c, fourcc, ctx, h, nlist, quantizer);
  const directMap = await skipDirectMap(c, ctx.path);
  const side: FaissChild[] = [{ role: "quantizer", node: quantizer }, { role: "direct map", text: directMap }];

  if (fourcc === "IwFl" || fourcc === "IwFd") {
    const pairs = fourcc === "IwFd" ? await readInt64Vector(c, "dedup pairs") : null;
    if (pairs && pairs.length % 2 !== 0) {
      throw corrupt(ctx.path, `IwFd has ${pairs.length} dedup values, expected pairs`);
    }
    const table = await readInvertedLists(c, ctx, nlist, d * 4);
    const dups = pairs ? pairs.length / 2 : 0;
    checkTotal(ctx, fourcc, h.ntotal, table, dups);
    side.push({ role: "lists", text: describeLists(table) });
    if (pairs) side.push({ role: "duplicates", text: `${dups} (stored id, duplicate id) pairs` });
    const node = ivfNode(
      fourcc,
      fourcc === "IwFd" ? "IVFFlatDedup" : "IVFFlat",
      h,
      side,
      [],
      (maxRows, allocate) => streamLists(table, node, null, maxRows, allocate),
    );
    if (pairs) node.stream = (maxRows) => streamDedup(table, node, pairs, maxRows);
    return node;
  }

  if (fourcc === "IwSq" || fourcc === "IwSQ") {
    const sq = await readScalarQuantizer(c, d, h.ntotal, ctx.path);
    const codeSize = await c.size64("IVF code size");
    if (codeSize !== sq.codeSize) {
      throw corrupt(ctx.path, `${fourcc} code size ${codeSize}, the quantizer says ${sq.codeSize}`);
    }
    const byResidual = fourcc === "IwSQ" ? true : (await c.u8("by_residual")) !== 0;
    const table = await readInvertedLists(c, ctx, nlist, codeSize);
    checkTotal(ctx, fourcc, h.ntotal, table, 0);
    side.push({ role: "lists", text: describeLists(table) });
    const lossy = sq.exact && !byResidual ? [] : [
      `scalar quantizer ${sq.name} codes${byResidual ? " of residuals (the list's centroid is added back)" : ""}`,
    ];
    const decode = listDecoder(ctx, sq.decode, byResidual, quantizer, table, d);
    const node = ivfNode(
      fourcc,
      `IVFScalarQuantizer ${sq.name}`,
      h,
      side,
      lossy,
      (maxRows, allocate) => streamLists(table, node, decode, maxRows, allocate),
    );
    node.short = "IVFSQ";
    return node;
  }

  if (fourcc === "IwPQ") {
    const byResidual = (await c.u8("by_residual")) !== 0;
    const codeSize = await c.size64("IVF code size");
    const pq = await readProductQuantizer(c, d, ctx.path);
    if (codeSize !== pq.codeSize) throw corrupt(ctx.path, `IwPQ code size ${codeSize}, the PQ says ${pq.codeSize}`);
    const table = await readInvertedLists(c, ctx, nlist, codeSize);
    checkTotal(ctx, fourcc, h.ntotal, table, 0);
    side.push({ role: "lists", text: describeLists(table) });
    const lossy = [`product quantizer codes (${pq.m}x${pq.nbits} bits)${byResidual ? " of residuals" : ""}`];
    const decode = listDecoder(ctx, pq.decode, byResidual, quantizer, table, d);
    const node = ivfNode(
      fourcc,
      `IVFPQ ${pq.m}x${pq.nbits}`,
      h,
      side,
      lossy,
      (maxRows, allocate) => streamLists(table, node, decode, maxRows, allocate),
    );
    node.short = "IVFPQ";
    return node;
  }
  throw unsupported(ctx.path, `IVF type ${fourcc} is not supported`);
}

/** Parses `IBwF` (fourcc already read): binary header, nlist, nprobe, binary quantizer, direct map, lists. */
export async function parseBinaryIvf(
  c: Cursor,
  fourcc: string,
  ctx: ParseContext,
  depth: number,
): Promise<FaissNode> {
  const h = await readBinaryHeader(c, fourcc);
  const nlist = await c.size64(`${fourcc} nlist`);
  c.skip(8, `${fourcc} nprobe`);
  const quantizer = await ctx.parseBinaryIndex(c, depth + 1);
  if (quantizer.d !== h.d) throw corrupt(ctx.path, `${fourcc} has d=${h.d} but its quantizer has d=${quantizer.d}`);
  const directMap = await skipDirectMap(c, ctx.path);
  const table = await readInvertedLists(c, ctx, nlist, h.codeSize);
  checkTotal(ctx, fourcc, h.ntotal, table, 0);
  const node: FaissNode = {
    fourcc,
    label: `BinaryIVF (${fourcc})`,
    short: "BinaryIVF",
    d: h.d,
    ntotal: h.ntotal,
    metricType: 1,
    metricArg: 0,
    vectorType: "binary",
    lossy: [],
    children: [
      { role: "quantizer", node: quantizer },
      { role: "direct map", text: directMap },
      { role: "lists", text: describeLists(table) },
    ],
    stream: (maxRows, allocate) => streamLists(table, node, null, maxRows, allocate),
  };
  return node;
}

function checkTotal(ctx: ParseContext, fourcc: string, ntotal: number, table: ListTable, dups: number): void {
  if (table.total + dups !== ntotal) {
    throw corrupt(
      ctx.path,
      `${fourcc} header says ntotal = ${ntotal} but its inverted lists hold ${table.total} entries` +
        (dups ? ` and ${dups} duplicates` : ""),
    );
  }
}

function ivfNode(
  fourcc: string,
  kind: string,
  h: FloatHeader,
  children: FaissChild[],
  lossy: string[],
  stream: (maxRows: number, allocate?: BatchAllocator) => AsyncGenerator<Batch>,
): FaissNode {
  return {
    fourcc,
    label: `${kind} (${fourcc})`,
    short: kind,
    d: h.d,
    ntotal: h.ntotal,
    metricType: h.metricType,
    metricArg: h.metricArg,
    vectorType: "float",
    lossy,
    children,
    stream,
  };
}

/** A list decoder that decodes codes and, for residual encodings, adds the list's centroid (float32 sums). */
function listDecoder(
  ctx: ParseContext,
  decode: Decoder,
  byResidual: boolean,
  quantizer: FaissNode,
  table: ListTable,
  d: number,
): ListDecoder {
  if (!byResidual) return (codes, rows, out, outRow) => decode(codes, rows, out, outRow);
  if (!quantizer.readRows || quantizer.vectorType !== "float") {
    throw unsupported(ctx.path, `the coarse quantizer ${quantizer.label} does not store its centroids in order`);
  }
  for (let k = 0; k < table.count; k++) {
    if (table.listNo[k] >= quantizer.ntotal) {
      throw corrupt(
        ctx.path,
        `inverted list ${table.listNo[k]} has no centroid: the quantizer holds ${quantizer.ntotal}`,
      );
    }
  }
  const centroid = new Float32Array(d);
  let centroidOf = -1;
  return async (codes, rows, out, outRow, listNo) => {
    decode(codes, rows, out, outRow);
    if (centroidOf !== listNo) {
      await quantizer.readRows!(listNo, 1, centroid, 0);
      centroidOf = listNo;
    }
    for (let r = 0; r < rows; r++) {
      const o = (outRow + r) * d;
      for (let j = 0; j < d; j++) out[o + j] = Math.fround(out[o + j] + centroid[j]);
    }
  };
}

/**
 * Streams an IVFFlatDedup: the stored entries list by list, then one row per (stored id, duplicate id) pair with
 * the stored vector. Vectors of stored ids that have duplicates are kept while the lists stream.
 */
async function* streamDedup(
  table: ListTable,
  node: FaissNode,
  pairs: BigInt64Array,
  maxRows: number,
): AsyncGenerator<Batch> {
  const d = node.d;
  const hasDups = new Set<bigint>();
  for (let k = 0; k < pairs.length; k += 2) hasDups.add(pairs[k]);
  const saved = new Map<bigint, Float32Array>();
  for await (const batch of streamLists(table, node, null, maxRows)) {
    const ids = batch.ids!;
    const vectors = batch.vectors as Float32Array;
    for (let r = 0; r < batch.rows; r++) {
      const id = ids[r];
      if (hasDups.has(id) && !saved.has(id)) saved.set(id, vectors.slice(r * d, (r + 1) * d));
    }
    yield batch;
  }
  const n = pairs.length / 2;
  for (let start = 0; start < n; start += maxRows) {
    const rows = Math.min(maxRows, n - start);
    const ids = new BigInt64Array(rows);
    const vectors = new Float32Array(rows * d);
    for (let r = 0; r < rows; r++) {
      const stored = pairs[2 * (start + r)];
      const vector = saved.get(stored);
      if (!vector) throw corrupt(table.source.name, `IwFd duplicate of id ${stored}, which no inverted list holds`);
      vectors.set(vector, r * d);
      ids[r] = pairs[2 * (start + r) + 1];
    }
    yield { ids, vectors, dim: d, rows };
  }
}

/**
 * Legacy `IvFl` / `IvFL` (faiss ≤ 2018): after the quantizer, nlist × `VECTOR<int64>` ids, the direct map, then
 * nlist × the codes (`IvFl`: `VECTOR<float>` of n × d; `IvFL`: `VECTOR<uint8>` of n × 4d).
 */
async function parseLegacyIvfFlat(
  c: Cursor,
  fourcc: string,
  ctx: ParseContext,
  h: FloatHeader,
  nlist: number,
  quantizer: FaissNode,
): Promise<FaissNode> {
  const d = h.d;
  c.count(nlist, 16, `${fourcc} lists`); // each list has two u64 counts
  const idSpans = new Float64Array(nlist * 2);
  let nonEmpty = 0;
  for (let l = 0; l < nlist; l++) {
    const span = await skipVector(c, 8, `${fourcc} list ${l} ids`);
    idSpans[2 * l] = span.offset;
    idSpans[2 * l + 1] = span.count;
    if (span.count > 0) nonEmpty++;
  }
  const directMap = await skipDirectMap(c, ctx.path);
  const table = newListTable(ctx.source, `legacy ${fourcc}`, nlist, d * 4, nonEmpty);
  const elementSize = fourcc === "IvFl" ? 4 : 1;
  for (let l = 0; l < nlist; l++) {
    const span = await skipVector(c, elementSize, `${fourcc} list ${l} codes`);
    const n = idSpans[2 * l + 1];
    if (span.count * elementSize !== n * d * 4) {
      throw corrupt(ctx.path, `${fourcc} list ${l} has ${n} ids but ${span.count * elementSize} code bytes`);
    }
    if (n > 0) addList(table, l, n, span.offset, idSpans[2 * l]);
  }
  checkTotal(ctx, fourcc, h.ntotal, table, 0);
  const node = ivfNode(
    fourcc,
    "IVFFlat (legacy)",
    h,
    [
      { role: "quantizer", node: quantizer },
      { role: "direct map", text: directMap },
      { role: "lists", text: describeLists(table) },
    ],
    [],
    (maxRows, allocate) => streamLists(table, node, null, maxRows, allocate),
  );
  node.short = "IVFFlat";
  return node;
}
