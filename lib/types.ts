/**
 * The types every source, sink and migration share.
 *
 * @module
 */

/** Float vectors (`FLOAT_VECTOR`, 4 bytes per dimension) or binary vectors (`BINARY_VECTOR`, 1 bit per dimension). */
export type VectorType = "float" | "binary";

/** The distance metrics milvusdm carries over. The last five mean binary vectors. */
export type Metric =
  | "L2"
  | "IP"
  | "COSINE"
  | "HAMMING"
  | "JACCARD"
  | "TANIMOTO"
  | "SUBSTRUCTURE"
  | "SUPERSTRUCTURE";

/** Metrics of float vectors. */
export const FLOAT_METRICS: readonly Metric[] = ["L2", "IP", "COSINE"];
/** Metrics of binary vectors. */
export const BINARY_METRICS: readonly Metric[] = ["HAMMING", "JACCARD", "TANIMOTO", "SUBSTRUCTURE", "SUPERSTRUCTURE"];

/** The vector type a metric implies. */
export function vectorTypeOfMetric(metric: Metric): VectorType {
  return BINARY_METRICS.includes(metric) ? "binary" : "float";
}

/**
 * A batch of rows as typed arrays: never one JS object per row.
 *
 * `dim` is the vector dimension in Milvus's terms: floats for float vectors, bits for binary vectors, so a binary
 * batch holds `rows * dim / 8` bytes.
 */
export interface Batch {
  /** Primary keys, one per row, or null when the source has none (Milvus then generates them). */
  ids: BigInt64Array | null;
  /** Row-major vectors: `rows * dim` floats or `rows * dim / 8` bytes. */
  vectors: Float32Array | Uint8Array;
  /** Vector dimension (bits for binary vectors). */
  dim: number;
  /** Number of rows. */
  rows: number;
}

/** What a source knows about its data before it is read. */
export interface SourceInfo {
  /** Vector dimension (bits for binary vectors). */
  dim: number;
  /** Float or binary vectors. */
  vectorType: VectorType;
  /** The metric recorded in the source, when it records one. */
  metric: Metric | null;
  /** Number of rows the source will yield. */
  rows: number;
  /** Whether the source carries its own ids. */
  hasIds: boolean;
}

/** Memory for one batch, handed to a source by its consumer (see {@linkcode BatchAllocator}). */
export interface BatchMemory {
  /** Room for `rows * dim` floats or `rows * dim / 8` bytes (8-byte aligned). */
  vectors: Float32Array | Uint8Array;
  /** Room for `rows` ids. */
  ids: BigInt64Array;
}

/**
 * Gives a source the memory to read a batch of `rows` rows into, e.g. the vector payload of an insert request,
 * so that vectors go from the file to the socket without a copy. A source given one may call it once per batch,
 * before yielding that batch, with `rows` at most the `maxRows` it was asked for; it fills the arrays and yields
 * them (or views of them) as the batch, and must not touch them afterwards: they belong to the consumer again,
 * which reuses them once the batch is sent. Sources may ignore it and yield arrays of their own.
 */
export type BatchAllocator = (rows: number) => BatchMemory;

/** A readable source of vectors, yielding bounded batches. */
export interface VectorSource {
  /** What the source holds. */
  readonly info: SourceInfo;
  /**
   * Yields batches of at most `maxRows` rows, in source order. With `allocate`, the batches may live in memory it
   * hands out (see {@linkcode BatchAllocator}).
   */
  batches(maxRows: number, signal?: AbortSignal, allocate?: BatchAllocator): AsyncIterable<Batch>;
  /** Releases files and handles. */
  close(): void | Promise<void>;
}

/** Bytes one vector takes. */
export function bytesPerVector(vectorType: VectorType, dim: number): number {
  return vectorType === "float" ? dim * 4 : dim / 8;
}
