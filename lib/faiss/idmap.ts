/**
 * IDMap indexes: `IxMp` / `IxM2` (float) and `IBMp` / `IBM2` (binary).
 *
 * Layout: header, the nested index, then `VECTOR<int64>` id_map where id_map[k] is the external id of the nested
 * index's id k. Over an index that stores rows in order (Flat, HNSW, ...) a batch's ids are one contiguous slice
 * of id_map, read beside the vectors. Over an IVF index the nested ids come in list order, so they are looked up:
 * in an in-memory copy of id_map when it is small, else by coalesced reads of the entries a batch needs.
 *
 * @module
 */
import type { ByteSource, Cursor } from "../bytes.ts";
import type { Batch, BatchAllocator } from "../types.ts";
import { corrupt, readBinaryHeader, readFloatHeader, skipVector } from "./header.ts";
import { allocVectors, type FaissNode, type ParseContext } from "./node.ts";

/** Parses an IDMap (fourcc already read); `binary` for `IBMp` / `IBM2`. */
export async function parseIdMap(c: Cursor, fourcc: string, ctx: ParseContext, depth: number): Promise<FaissNode> {
  const binary = fourcc.startsWith("IB");
  let d: number, ntotal: number, metricType = 1, metricArg = 0;
  if (binary) {
    // faiss < 1.8 wrote code_size 0 in the header of a binary IDMap
    ({ d, ntotal } = await readBinaryHeader(c, fourcc, true));
  } else {
    ({ d, ntotal, metricType, metricArg } = await readFloatHeader(c, fourcc));
  }
  const inner = binary ? await ctx.parseBinaryIndex(c, depth + 1) : await ctx.parseIndex(c, depth + 1);
  if (inner.d !== d || inner.ntotal !== ntotal) {
    throw corrupt(
      ctx.path,
      `${fourcc} has d=${d}, ntotal=${ntotal} but its nested ${inner.fourcc} has d=${inner.d}, ntotal=${inner.ntotal}`,
    );
  }
  const span = await skipVector(c, 8, `${fourcc} id map`);
  if (span.count !== ntotal) {
    throw corrupt(ctx.path, `${fourcc} id map has ${span.count} entries, expected ntotal = ${ntotal}`);
  }
  const source = ctx.source;
  const lookup = idLookup(source, span.offset, ntotal, ctx.idMapCacheBytes);
  const map2 = fourcc.endsWith("2");
  const node: FaissNode = {
    fourcc,
    label: `${binary ? "BinaryIDMap" : "IDMap"}${map2 ? "2" : ""} (${fourcc})`,
    short: `${binary ? "BinaryIDMap" : "IDMap"}${map2 ? "2" : ""}`,
    d,
    ntotal,
    metricType,
    metricArg,
    vectorType: inner.vectorType,
    lossy: inner.lossy,
    children: [{ role: null, node: inner }],
    stream: inner.readRows ? streamSlices : streamLookedUp,
  };
  async function* streamSlices(maxRows: number, allocate?: BatchAllocator): AsyncGenerator<Batch> {
    for (let start = 0; start < ntotal; start += maxRows) {
      const rows = Math.min(maxRows, ntotal - start);
      const memory = allocate?.(rows);
      const vectors = memory ? memory.vectors : allocVectors(inner, rows);
      await inner.readRows!(start, rows, vectors, 0);
      const ids = memory ? memory.ids : new BigInt64Array(rows);
      await source.readInto(span.offset + start * 8, new Uint8Array(ids.buffer, ids.byteOffset, rows * 8));
      yield { ids, vectors, dim: d, rows };
    }
  }
  async function* streamLookedUp(maxRows: number): AsyncGenerator<Batch> {
    for await (const batch of inner.stream(maxRows)) {
      if (batch.ids) await lookup(batch.ids);
      yield batch;
    }
  }
  return node;
}

/** Maps ids in place through an id table of `count` int64 entries at `offset`. */
type IdLookup = (ids: BigInt64Array) => Promise<void>;

const GAP = 512; // entries: read through gaps up to this size rather than issuing another read
const MAX_RUN = 1 << 16; // entries per read

function idLookup(source: ByteSource, offset: number, count: number, cacheBytes: number): IdLookup {
  let table: Uint32Array | null = null;
  return async (ids: BigInt64Array): Promise<void> => {
    const words = new Uint32Array(ids.buffer, ids.byteOffset, ids.length * 2);
    const n = ids.length;
    // internal ids as numbers, checked against the table size
    const keys = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      const lo = words[2 * k], hi = words[2 * k + 1];
      const v = hi * 4294967296 + lo;
      if (hi >= 0x200000 || v >= count) {
        throw corrupt(source.name, `an inverted list holds internal id ${ids[k]}, outside the IDMap's ${count} ids`);
      }
      keys[k] = v;
    }
    if (count * 8 <= cacheBytes) {
      if (table === null) {
        const bytes = new Uint8Array(count * 8);
        await source.readInto(offset, bytes);
        table = new Uint32Array(bytes.buffer);
      }
      for (let k = 0; k < n; k++) {
        const v = keys[k];
        words[2 * k] = table[2 * v];
        words[2 * k + 1] = table[2 * v + 1];
      }
      return;
    }
    // uncached: sort the rows by internal id and read runs of nearby entries
    const order = new Uint32Array(n);
    for (let k = 0; k < n; k++) order[k] = k;
    order.sort((a, b) => keys[a] - keys[b]);
    let i = 0;
    while (i < n) {
      const first = keys[order[i]];
      let j = i + 1;
      while (j < n && keys[order[j]] - keys[order[j - 1]] <= GAP && keys[order[j]] - first < MAX_RUN) j++;
      const last = keys[order[j - 1]];
      const run = new Uint8Array((last - first + 1) * 8);
      await source.readInto(offset + first * 8, run);
      const runWords = new Uint32Array(run.buffer);
      for (let t = i; t < j; t++) {
        const k = order[t];
        const rel = keys[k] - first;
        words[2 * k] = runWords[2 * rel];
        words[2 * k + 1] = runWords[2 * rel + 1];
      }
      i = j;
    }
  };
}
