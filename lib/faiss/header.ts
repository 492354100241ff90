/**
 * The pieces every Faiss index starts with: fourccs, the float and binary index headers, `VECTOR<T>` fields, and
 * the errors for corrupt and unsupported files.
 *
 * Faiss writes native little-endian fields with no version number: the fourcc decides the layout. A `VECTOR<T>` is
 * a u64 element count followed by the elements.
 *
 * @module
 */
import type { Cursor } from "../bytes.ts";
import { MilvusdmError } from "../errors.ts";

/** Faiss metric type numbers and their names (`faiss/MetricType.h`). */
export const METRIC_NAMES: Readonly<Record<number, string>> = {
  0: "IP",
  1: "L2",
  2: "L1",
  3: "Linf",
  4: "Lp",
  20: "Canberra",
  21: "BrayCurtis",
  22: "JensenShannon",
  23: "Jaccard",
  24: "NaNEuclidean",
  25: "Gower",
};

/** The fields of a float index header (`read_index_header`). */
export interface FloatHeader {
  /** Vector dimension. */
  d: number;
  /** Number of vectors. */
  ntotal: number;
  /** Whether the index was trained. */
  isTrained: boolean;
  /** The faiss metric type number. */
  metricType: number;
  /** The metric argument (Lp's p); 0 when the file stores none. */
  metricArg: number;
}

/** The fields of a binary index header (`read_index_binary_header`). */
export interface BinaryHeader {
  /** Dimension in bits. */
  d: number;
  /** Bytes per vector (d / 8). */
  codeSize: number;
  /** Number of vectors. */
  ntotal: number;
}

/** Where a `VECTOR<T>` field's elements are, after its count was checked against the bytes remaining. */
export interface VectorSpan {
  /** Byte offset of the first element. */
  offset: number;
  /** Number of elements. */
  count: number;
}

/** Deepest nesting of indexes accepted (faiss's own limit). */
export const MAX_DEPTH = 50;

/** The largest dimension faiss itself accepts when reading a header. */
export const MAX_DIM = 1 << 20;

/** A `SOURCE_INVALID` error about a corrupt file, naming it. */
export function corrupt(name: string, message: string): MilvusdmError {
  return new MilvusdmError("SOURCE_INVALID", `Faiss index "${name}": ${message} (corrupt or not a faiss index file)`);
}

/** Reads a float index header: i32 d, i64 ntotal, 2 × i64 dummy, u8 is_trained, i32 metric, [f32 metric_arg]. */
export async function readFloatHeader(c: Cursor, fourcc: string): Promise<FloatHeader> {
  const at = c.offset;
  const d = await c.i32(`${fourcc} dimension`);
  const ntotal = await c.size64(`${fourcc} ntotal`);
  if (d < 1 || d > MAX_DIM) {
    throw corrupt(c.source.name, `${fourcc} header at byte ${at} has dimension ${d}, expected 1..${MAX_DIM}`);
  }
  c.skip(16, `${fourcc} header`);
  const isTrained = (await c.u8(`${fourcc} is_trained`)) !== 0;
  const metricType = await c.i32(`${fourcc} metric type`);
  if (!(metricType in METRIC_NAMES)) {
    throw corrupt(c.source.name, `${fourcc} header at byte ${at} has metric type ${metricType}, unknown to faiss`);
  }
  const metricArg = metricType > 1 ? await c.f32(`${fourcc} metric argument`) : 0;
  return { d, ntotal, isTrained, metricType, metricArg };
}

/**
 * Reads a binary index header: i32 d, i32 code_size, i64 ntotal, u8 is_trained, i32 metric.
 *
 * `allowZeroCodeSize` accepts the code_size 0 that faiss < 1.8 wrote for binary IDMaps.
 */
export async function readBinaryHeader(c: Cursor, fourcc: string, allowZeroCodeSize = false): Promise<BinaryHeader> {
  const at = c.offset;
  const d = await c.i32(`${fourcc} dimension`);
  let codeSize = await c.i32(`${fourcc} code size`);
  const ntotal = await c.size64(`${fourcc} ntotal`);
  c.skip(1, `${fourcc} is_trained`);
  c.skip(4, `${fourcc} metric type`);
  if (d < 8 || d % 8 !== 0 || d > MAX_DIM * 8) {
    throw corrupt(c.source.name, `${fourcc} header at byte ${at} has dimension ${d}, expected a multiple of 8 bits`);
  }
  if (codeSize === 0 && allowZeroCodeSize) codeSize = d / 8;
  if (codeSize !== d / 8) {
    throw corrupt(c.source.name, `${fourcc} header at byte ${at} has code size ${codeSize}, expected d/8 = ${d / 8}`);
  }
  return { d, codeSize, ntotal };
}

/** Reads a `VECTOR<T>` count, checks it against the bytes remaining and skips the elements. */
export async function skipVector(c: Cursor, elementSize: number, what: string): Promise<VectorSpan> {
  const count = c.count(await c.u64(`${what} count`), elementSize, what);
  const offset = c.offset;
  c.skip(count * elementSize, what);
  return { offset, count };
}

/** Reads a `VECTOR<float>` into memory (the count is checked before allocating). */
export async function readFloatVector(c: Cursor, what: string): Promise<Float32Array> {
  const count = c.count(await c.u64(`${what} count`), 4, what);
  return await c.f32s(count, what);
}

/** Reads a `VECTOR<int64>` into memory (the count is checked before allocating). */
export async function readInt64Vector(c: Cursor, what: string): Promise<BigInt64Array> {
  const count = c.count(await c.u64(`${what} count`), 8, what);
  return await c.i64s(count, what);
}

/** Index types this reader knows by name but cannot export, by fourcc. */
const UNSUPPORTED_NAMES: Readonly<Record<string, string>> = {
  IxHE: "IndexLSH (old layout)",
  IxHe: "IndexLSH: only hash bits are stored, vectors cannot be recovered",
  IxFP: "IndexFlatL2Panorama",
  IxFp: "IndexFlatIPPanorama",
  IxRQ: "IndexResidualQuantizer (old layout)",
  IxRq: "IndexResidualQuantizer",
  IxLS: "IndexLocalSearchQuantizer",
  IxPR: "IndexProductResidualQuantizer",
  IxPL: "IndexProductLocalSearchQuantizer",
  ImRQ: "ResidualCoarseQuantizer",
  ILfs: "IndexLocalSearchQuantizerFastScan",
  IRfs: "IndexResidualQuantizerFastScan",
  IPRf: "IndexProductResidualQuantizerFastScan",
  IPLf: "IndexProductLocalSearchQuantizerFastScan",
  IVLf: "IndexIVFLocalSearchQuantizerFastScan",
  IVRf: "IndexIVFResidualQuantizerFastScan",
  NPLf: "IndexIVFProductLocalSearchQuantizerFastScan",
  NPRf: "IndexIVFProductResidualQuantizerFastScan",
  IwPn: "IndexIVFFlatPanorama",
  IwP2: "IndexIVFFlatPanorama",
  IxLa: "IndexLattice",
  IvSQ: "legacy IndexIVFScalarQuantizer",
  IwLS: "IndexIVFLocalSearchQuantizer",
  IwRQ: "IndexIVFResidualQuantizer",
  IwPL: "IndexIVFProductLocalSearchQuantizer",
  IwPR: "IndexIVFProductResidualQuantizer",
  IwSh: "IndexIVFSpectralHash",
  IvPQ: "legacy IndexIVFPQ",
  IvQR: "legacy IndexIVFPQR",
  IwQR: "IndexIVFPQR",
  IwIQ: "IndexIVFIndependentQuantizer",
  Imiq: "MultiIndexQuantizer",
  IxRP: "IndexRefinePanorama",
  Ix2L: "Index2Layer",
  IH00: "IndexHNSW without storage",
  IHN2: "IndexHNSW2Level",
  IHNc: "IndexHNSWCagra",
  IHc2: "IndexHNSWCagra",
  IHfP: "IndexHNSWFlatPanorama",
  INSf: "IndexNSGFlat",
  INSp: "IndexNSGPQ",
  INSs: "IndexNSGSQ",
  INNf: "IndexNNDescentFlat",
  IPfs: "IndexPQFastScan",
  IwPf: "IndexIVFPQFastScan",
  IRMf: "IndexRowwiseMinMax",
  IRMh: "IndexRowwiseMinMaxFP16",
  IxEd: "IndexEDEN",
  IxEe: "IndexEDEN",
  IwEd: "IndexIVFEDEN",
  IwEe: "IndexIVFEDEN",
  Irfn: "IndexRaBitQFastScan",
  Irfs: "IndexRaBitQFastScan",
  Ixrq: "IndexRaBitQ",
  Ixrr: "IndexRaBitQ",
  Iwrq: "IndexIVFRaBitQ",
  Iwrr: "IndexIVFRaBitQ",
  Iwrn: "IndexIVFRaBitQFastScan",
  Iwrf: "IndexIVFRaBitQFastScan",
  ILVQ: "IndexSVS",
  ISVL: "IndexSVS",
  ISVD: "IndexSVS",
  ISV2: "IndexSVS",
  ISVF: "IndexSVSFlat",
  ISIQ: "IndexSVSIVF",
  ISIL: "IndexSVSIVF",
  ISID: "IndexSVSIVF",
  IBFf: "IndexBinaryFromFloat",
  IBHh: "IndexBinaryHash",
  IBHm: "IndexBinaryMultiHash",
  IBHc: "IndexBinaryHNSWCagra",
  null: "an empty (null) index",
  il00: "lists not stored with the index: the file holds no vectors",
  ilpn: "IVF Panorama inverted lists",
  ilp2: "IVF Panorama inverted lists",
  ilbl: "block inverted lists (fast-scan)",
  Viqt: "ITQTransform (faiss cannot reverse it)",
  HRot: "HadamardRotation",
};

/** What this reader supports, for error messages. */
export const SUPPORTED_TYPES: string =
  "exact: Flat (IxF2, IxFI, IxFl), IDMap/IDMap2 (IxMp, IxM2) over any supported index, " +
  "IVFFlat (IwFl, legacy IvFl) with in-file (ilar) or on-disk (ilod) lists, IVFFlatDedup (IwFd), HNSWFlat (IHNf), " +
  "RefineFlat (IxRF), BinaryFlat/IDMap/IVF/HNSW (IBxF, IBMp, IBM2, IBwF, IBHf); lossy, with allow_lossy: " +
  "ScalarQuantizer (IxSQ, IwSq, IwSQ, IHNs), PQ (IxPq, IwPQ, IHNp), PreTransform (IxPT) with reversible transforms";

/** Whether four bytes look like a fourcc (printable ASCII). */
function printable(fourcc: string): boolean {
  return /^[\x20-\x7e]{4}$/.test(fourcc);
}

/** The `FAISS_UNSUPPORTED_INDEX` error for a fourcc, naming the index type and listing what is supported. */
export function unsupportedFourcc(name: string, fourcc: string, where: string): MilvusdmError {
  const known = UNSUPPORTED_NAMES[fourcc];
  const shown = printable(fourcc)
    ? `"${fourcc}"`
    : `0x${[...fourcc].map((ch) => ch.charCodeAt(0).toString(16).padStart(2, "0")).join("")}`;
  const what = known
    ? `${where} is of type ${shown} (${known})`
    : `${where} has the unknown fourcc ${shown} (not a faiss index, corrupt, or a type newer than this reader)`;
  return new MilvusdmError(
    "FAISS_UNSUPPORTED_INDEX",
    `Faiss index "${name}" cannot be exported: ${what}; supported: ${SUPPORTED_TYPES}`,
  );
}

/** A `FAISS_UNSUPPORTED_INDEX` error with a specific reason. */
export function unsupported(name: string, message: string): MilvusdmError {
  return new MilvusdmError(
    "FAISS_UNSUPPORTED_INDEX",
    `Faiss index "${name}" cannot be exported: ${message}; supported: ${SUPPORTED_TYPES}`,
  );
}
