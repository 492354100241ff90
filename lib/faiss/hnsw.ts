/**
 * HNSW indexes: `IHNf` (flat storage), `IHNs` (scalar quantizer storage), `IHNp` (PQ storage) and `IBHf`
 * (binary flat storage).
 *
 * Layout: header, the HNSW graph, then the nested storage index that holds the vectors in id order. The graph is
 * skipped by its sizes without being loaded.
 *
 * @module
 */
import type { Cursor } from "../bytes.ts";
import { corrupt, readBinaryHeader, readFloatHeader, skipVector, unsupported } from "./header.ts";
import { type FaissNode, type ParseContext, streamRows } from "./node.ts";

/** What the skipped graph looked like, for `inspect`. */
export interface HnswSummary {
  /** Highest level of the graph. */
  maxLevel: number;
  /** Total neighbor slots. */
  neighbors: number;
}

/**
 * Skips the HNSW struct: `VECTOR<double>` assign_probas, `VECTOR<int>` cum_nneighbor_per_level, `VECTOR<int>`
 * levels (one per vector), `VECTOR<size_t>` offsets, `VECTOR<int>` neighbors, then five ints.
 */
export async function skipHnsw(c: Cursor, ntotal: number, name: string): Promise<HnswSummary> {
  await skipVector(c, 8, "HNSW assign_probas");
  await skipVector(c, 4, "HNSW cum_nneighbor_per_level");
  const levels = await skipVector(c, 4, "HNSW levels");
  if (levels.count !== ntotal) {
    throw corrupt(name, `HNSW graph has ${levels.count} levels entries, expected ntotal = ${ntotal}`);
  }
  await skipVector(c, 8, "HNSW offsets");
  const neighbors = await skipVector(c, 4, "HNSW neighbors");
  c.skip(4, "HNSW entry_point");
  const maxLevel = await c.i32("HNSW max_level");
  c.skip(12, "HNSW efConstruction, efSearch, upper_beam");
  return { maxLevel, neighbors: neighbors.count };
}

/** Parses `IHNf`, `IHNs` or `IHNp` (fourcc already read). */
export async function parseHnsw(c: Cursor, fourcc: string, ctx: ParseContext, depth: number): Promise<FaissNode> {
  const h = await readFloatHeader(c, fourcc);
  const graph = await skipHnsw(c, h.ntotal, ctx.path);
  const storage = await ctx.parseIndex(c, depth + 1);
  return hnswNode(fourcc, "HNSW", h.d, h.ntotal, h.metricType, h.metricArg, graph, storage, ctx);
}

/** Parses `IBHf` (fourcc already read): binary header, graph, nested `IBxF`. */
export async function parseBinaryHnsw(
  c: Cursor,
  fourcc: string,
  ctx: ParseContext,
  depth: number,
): Promise<FaissNode> {
  const h = await readBinaryHeader(c, fourcc);
  const graph = await skipHnsw(c, h.ntotal, ctx.path);
  const storage = await ctx.parseBinaryIndex(c, depth + 1);
  if (storage.fourcc !== "IBxF") {
    throw unsupported(ctx.path, `BinaryHNSW storage is ${storage.label}, expected BinaryFlat (IBxF)`);
  }
  return hnswNode(fourcc, "BinaryHNSW", h.d, h.ntotal, 1, 0, graph, storage, ctx);
}

function hnswNode(
  fourcc: string,
  short: string,
  d: number,
  ntotal: number,
  metricType: number,
  metricArg: number,
  graph: HnswSummary,
  storage: FaissNode,
  ctx: ParseContext,
): FaissNode {
  if (storage.d !== d || storage.ntotal !== ntotal) {
    throw corrupt(
      ctx.path,
      `${fourcc} has d=${d}, ntotal=${ntotal} but its storage ${storage.fourcc} has d=${storage.d}, ntotal=${storage.ntotal}`,
    );
  }
  if (!storage.readRows) {
    throw unsupported(ctx.path, `${short} storage ${storage.label} does not store rows in id order`);
  }
  const node: FaissNode = {
    fourcc,
    label: `${short} (${fourcc})`,
    short,
    d,
    ntotal,
    metricType,
    metricArg,
    vectorType: storage.vectorType,
    lossy: storage.lossy,
    children: [
      { role: "graph", text: `${graph.neighbors} neighbor slots, max level ${graph.maxLevel} (skipped)` },
      { role: null, node: storage },
    ],
    readRows: storage.readRows,
    stream: (maxRows, allocate) => streamRows(node, maxRows, allocate),
  };
  return node;
}
