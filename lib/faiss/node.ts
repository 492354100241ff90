/**
 * The parsed form of a Faiss index: a tree of nodes, each of which can stream its (ids, vectors) batches.
 *
 * Opening a file walks its structure once and keeps only offsets and small tables (list sizes, quantizer tables);
 * vectors, codes and ids stay in the file and are read batch by batch.
 *
 * @module
 */
import { fillRangeIds } from "../ids.ts";
import type { ByteSource, Cursor } from "../bytes.ts";
import type { Batch, BatchAllocator, VectorType } from "../types.ts";

/** Row-major vectors of a batch: float32 for float indexes, packed bits for binary ones. */
export type VectorArray = Float32Array | Uint8Array;

/** One index in the tree (an IDMap, its HNSW, the HNSW's flat storage, ...). */
export interface FaissNode {
  /** The fourcc, e.g. `IxF2`. */
  fourcc: string;
  /** How the node shows in `inspect`, e.g. `Flat L2 (IxF2)`. */
  label: string;
  /** A short name for the one-line description, e.g. `Flat`. */
  short: string;
  /** Vector dimension (bits for binary indexes). */
  d: number;
  /** Number of vectors this node yields. */
  ntotal: number;
  /** The faiss metric type number (binary indexes: the stored, meaningless value). */
  metricType: number;
  /** The metric argument (Lp's p). */
  metricArg: number;
  /** Float or binary vectors. */
  vectorType: VectorType;
  /** Why the vectors are approximate; empty when they are the stored vectors bit for bit. */
  lossy: string[];
  /** Nested indexes and side structures, in file order. `role` is null for the child holding the vectors. */
  children: FaissChild[];
  /**
   * Reads `count` rows starting at row `start` into `out` from row `outRow`, for nodes that store rows in order
   * with implicit ids 0..ntotal-1 (Flat, SQ, PQ, HNSW, Refine). Absent for nodes whose ids are explicit.
   */
  readRows?: (start: number, count: number, out: VectorArray, outRow: number) => Promise<void>;
  /**
   * Streams batches of at most `maxRows` rows; ids are this node's ids (internal ids of an enclosing IDMap). Nodes
   * that store rows in order read into memory from `allocate` when given (see {@linkcode BatchAllocator}).
   */
  stream(maxRows: number, allocate?: BatchAllocator): AsyncGenerator<Batch>;
}

/** A child of a node in the tree: a nested index or a one-line description of a side structure. */
export interface FaissChild {
  /** What the child is to its parent (`quantizer`, `lists`, `transform`, `base`), or null on the vector path. */
  role: string | null;
  /** The nested index, when the child is one. */
  node?: FaissNode;
  /** A description of a side structure (inverted lists, a transform), when the child is not an index. */
  text?: string;
}

/** What parsers share while walking one file. */
export interface ParseContext {
  /** The index file. */
  source: ByteSource;
  /** The path as the user gave it. */
  path: string;
  /** Other files opened on the way (on-disk inverted lists), closed with the index. */
  extraSources: ByteSource[];
  /** Messages for the user that are not errors. */
  warnings: string[];
  /** Largest IDMap id table kept in memory for lookups by internal id, in bytes. */
  idMapCacheBytes: number;
  /** Parses a nested float index at the cursor. */
  parseIndex(c: Cursor, depth: number): Promise<FaissNode>;
  /** Parses a nested binary index at the cursor. */
  parseBinaryIndex(c: Cursor, depth: number): Promise<FaissNode>;
}

/** Bytes one output row takes. */
export function rowBytes(node: Pick<FaissNode, "vectorType" | "d">): number {
  return node.vectorType === "float" ? node.d * 4 : node.d / 8;
}

/** Allocates the vectors of a batch of `rows` rows. */
export function allocVectors(node: Pick<FaissNode, "vectorType" | "d">, rows: number): VectorArray {
  return node.vectorType === "float" ? new Float32Array(rows * node.d) : new Uint8Array(rows * node.d / 8);
}

/** The bytes of a vectors array from row `row` for `rows` rows (a view, no copy). */
export function rowView(vectors: VectorArray, rowSize: number, row: number, rows: number): Uint8Array {
  return new Uint8Array(vectors.buffer, vectors.byteOffset + row * rowSize, rows * rowSize);
}

/** Streams a node that stores rows in order (it has `readRows`), with ids 0..ntotal-1. */
export async function* streamRows(
  node: FaissNode,
  maxRows: number,
  allocate?: BatchAllocator,
): AsyncGenerator<Batch> {
  const readRows = node.readRows!;
  for (let start = 0; start < node.ntotal; start += maxRows) {
    const rows = Math.min(maxRows, node.ntotal - start);
    const memory = allocate?.(rows);
    const vectors = memory ? memory.vectors : allocVectors(node, rows);
    await readRows(start, rows, vectors, 0);
    const ids = memory ? memory.ids : new BigInt64Array(rows);
    fillRangeIds(ids, 0, start, rows);
    yield { ids, vectors, dim: node.d, rows };
  }
}

/** Reads bytes by position, serving small reads from a read-ahead window and large ones directly. */
export interface WindowReader {
  /**
   * Fills `target` with the bytes at `offset`. A window loaded for it stops at `end` when given (the bytes after
   * `end` are not wanted through the window: they are read directly, or not at all).
   */
  read(offset: number, target: Uint8Array, end?: number): Promise<void>;
}

/** A {@linkcode WindowReader} over a source, with a window of at most `windowSize` bytes. */
export function windowReader(source: ByteSource, windowSize = 1 << 20): WindowReader {
  let buffer: Uint8Array | null = null;
  let win: Uint8Array = new Uint8Array(0);
  let winStart = 0;
  return {
    async read(offset: number, target: Uint8Array, end = source.size): Promise<void> {
      const n = target.length;
      if (n === 0) return;
      if (offset >= winStart && offset + n <= winStart + win.length) {
        target.set(win.subarray(offset - winStart, offset - winStart + n));
        return;
      }
      const len = Math.min(windowSize, end - offset, source.size - offset);
      if (n * 2 >= windowSize || len < n) {
        await source.readInto(offset, target); // large, or past the window's end (a truncation raises its error)
        return;
      }
      buffer ??= new Uint8Array(Math.min(windowSize, source.size));
      win = buffer.subarray(0, len);
      await source.readInto(offset, win);
      winStart = offset;
      target.set(win.subarray(0, n));
    },
  };
}

/** Whether a node yields exactly the stored vectors. */
export function isExact(node: FaissNode): boolean {
  return node.lossy.length === 0;
}
