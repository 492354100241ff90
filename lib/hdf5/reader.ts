/**
 * The HDF5 source: `embeddings` (float32/float64, or uint8 bytes of binary vectors) and optional `ids`, or the
 * ann-benchmarks layout (`train`, ids = row index, metric from the `distance` attribute).
 *
 * The datasets are found and described from the file's own headers (format.ts) when the file is in HDF5's original
 * format (superblock 0 or 1: h5py's default, and M2H's files) and every dataset read takes a fast path; h5wasm is then
 * not loaded at all. Otherwise, or when those headers do not describe the file completely, h5wasm finds and describes
 * them. The rows are then read by the fastest path the layout allows (see rows.ts): straight from the file for
 * contiguous data, chunk by chunk for h5py's chunked and gzip datasets, through h5wasm otherwise. Every h5wasm call
 * is guarded (h5.ts), and every shape is checked against the file size before anything is read or allocated, so a
 * corrupt file ends in a typed `HDF5_INVALID` (or `SOURCE_TRUNCATED`) error.
 *
 * @module
 */
import { fillRangeIds } from "../ids.ts";
import type { Dataset } from "h5wasm";
import { type ByteSource, openFileSource, sourceHead } from "../bytes.ts";
import { MilvusdmError, throwIfAborted } from "../errors.ts";
import type { Batch, BatchAllocator, Metric, SourceInfo, VectorSource, VectorType } from "../types.ts";
import type { Hdf5Filter } from "./filters.ts";
import {
  type DatasetHeader,
  readDatasetDescription,
  readGroupLinks,
  readObjectAttributes,
  readSuperblock,
  readSuperblockAddresses,
  refusedByHdf5,
} from "./format.ts";
import {
  findHdf5SignatureIn,
  type H5Module,
  h5Module,
  hdf5Call,
  hdf5Crashed,
  hdf5ObjectAddress,
  openHdf5File,
} from "./h5.ts";
import { type DatasetGeometry, type Hdf5FileContext, openRowReader, type ReadMethod, type RowReader } from "./rows.ts";

export type { ReadMethod } from "./rows.ts";

/** Options of {@linkcode openHdf5Source}. */
export interface Hdf5SourceOptions {
  /** Name of the vectors dataset (default `embeddings`, or `train` in an ann-benchmarks file). */
  embeddingsDataset?: string;
  /** Name of the ids dataset (default `ids`, optional). */
  idsDataset?: string;
  /** Treat uint8 data as binary vectors (default: yes for uint8). */
  vectorType?: VectorType;
  /**
   * Worker threads that decompress gzip chunks (default: the cores, up to 4, for 16 MiB of compressed data or
   * more; 0 decodes on the calling thread).
   */
  decodeThreads?: number;
  /**
   * Reuse the same arrays for every batch (default false): a batch is then valid only until the next one is
   * requested. For consumers that are done with a batch before asking for the next, e.g. a checksum or a scan;
   * not for the Milvus pipeline, which keeps inserts in flight.
   */
  reuseBuffers?: boolean;
}

/** How one dataset is read: the path taken, and why h5wasm was used when it was. */
export interface Hdf5ReadPath {
  method: ReadMethod;
  fallbackReason: string | null;
}

/** An open HDF5 source. */
export interface Hdf5Source extends VectorSource {
  /** The file. */
  readonly path: string;
  /** The datasets used and the layout recognised. */
  readonly layout: { embeddings: string; ids: string | null; annBenchmarks: boolean; dtype: string };
  /** Attributes milvusdm wrote on export (collection, partition, metric...), when present. */
  readonly attributes: Record<string, string | number>;
  /** How the vectors and the ids are read (`contiguous`, `chunks` or `h5wasm`). */
  readonly readPaths: { embeddings: Hdf5ReadPath; ids: Hdf5ReadPath | null };
  /** How the datasets were found and described: from the file's own headers, or through h5wasm. */
  readonly describedBy: "headers" | "h5wasm";
}

const ANN_DISTANCE: Record<string, Metric> = {
  euclidean: "L2",
  angular: "COSINE",
  cosine: "COSINE",
  dot: "IP",
  ip: "IP",
  hamming: "HAMMING",
  jaccard: "JACCARD",
};

const METRICS = new Set<string>([
  "L2",
  "IP",
  "COSINE",
  "HAMMING",
  "JACCARD",
  "TANIMOTO",
  "SUBSTRUCTURE",
  "SUPERSTRUCTURE",
]);

/** Attribute values larger than this are not read (milvusdm's attributes are short scalars). */
const MAX_ATTRIBUTE_BYTES = 64 << 10;

interface DatasetMetadata {
  type: number;
  size: number;
  signed: boolean;
  littleEndian: boolean;
  shape: number[] | null;
  chunks: number[] | null;
}

/**
 * The file's scalar string and number attributes. They are parsed from the root group's header and its dense
 * attribute storage (format.ts), not read through the HDF5 library, which loops forever on a corrupt global heap
 * (where variable-length strings live) and frees uninitialised pointers when a string read fails. Only dense
 * storage too large for format.ts (dozens of attributes) goes through h5wasm, without variable-length strings.
 * Unreadable attributes are left out.
 */
async function readAttributes(ctx: H5wasmContext): Promise<Record<string, string | number>> {
  try {
    const sb = ctx.superblock ?? await readSuperblock(ctx.source, ctx.signatureAt);
    ctx.superblock = sb;
    const root = hdf5ObjectAddress(ctx.module, ctx.fileId, "/", `The root group of "${ctx.path}"`);
    const { values, dense } = await readObjectAttributes(ctx.source, sb, root, MAX_ATTRIBUTE_BYTES);
    if (!dense) return values;
  } catch (error) {
    if (!(error instanceof MilvusdmError) || hdf5Crashed()) throw error;
    return {};
  }
  return readAttributesWithH5wasm(ctx.module, ctx.fileId, ctx.path);
}

/**
 * The scalar numbers and fixed-length strings, through h5wasm's low-level calls, whose every status is checked
 * (h5wasm's `attrs[name].value` ignores a failed read).
 */
function readAttributesWithH5wasm(module: H5Module, fileId: bigint, path: string): Record<string, string | number> {
  const attributes: Record<string, string | number> = {};
  let names: string[];
  try {
    names = hdf5Call(`Attributes of "${path}" cannot be listed`, () => module.get_attribute_names(fileId, "/"));
  } catch (error) {
    if (hdf5Crashed()) throw error;
    return attributes;
  }
  for (const name of names) {
    try {
      const value = readScalarAttribute(module, fileId, path, name);
      if (value !== undefined) attributes[name] = value;
    } catch (error) {
      if (hdf5Crashed()) throw error;
    }
  }
  return attributes;
}

function readScalarAttribute(
  module: H5Module,
  fileId: bigint,
  path: string,
  name: string,
): string | number | undefined {
  const failure = `Attribute "${name}" of "${path}" cannot be read`;
  const meta = hdf5Call(failure, () => module.get_attribute_metadata(fileId, "/", name));
  if (meta.total_size !== 1 || !(meta.size > 0 && meta.size <= MAX_ATTRIBUTE_BYTES)) return undefined;
  const isString = meta.type === 3;
  const isNumber = (meta.type === 0 && [1, 2, 4, 8].includes(meta.size)) ||
    (meta.type === 1 && [4, 8].includes(meta.size));
  if (!isString && !isNumber) return undefined;
  // Variable-length strings live in the global heap, which the HDF5 library reads without bounds (a corrupt heap
  // makes it loop forever): only format.ts reads them.
  if (isString && meta.vlen) return undefined;
  const bytes = meta.size;
  const pointer = hdf5Call(failure, () => module._malloc(bytes), { memory: bytes });
  if (!pointer) return undefined;
  try {
    module.HEAPU8.fill(0, pointer, pointer + bytes);
    const status = hdf5Call(failure, () => module.get_attribute_data(fileId, "/", name, BigInt(pointer)));
    if (status < 0) return undefined;
    const heap = module.HEAPU8;
    const view = new DataView(heap.buffer, pointer, bytes);
    if (isString) {
      const raw = heap.slice(pointer, pointer + bytes);
      const nul = raw.indexOf(0);
      const text = new TextDecoder().decode(nul >= 0 ? raw.subarray(0, nul) : raw);
      return meta.strpad === 2 ? text.replace(/ +$/, "") : text;
    }
    if (meta.type === 1) return meta.size === 4 ? view.getFloat32(0, true) : view.getFloat64(0, true);
    switch (meta.size) {
      case 1:
        return meta.signed ? view.getInt8(0) : view.getUint8(0);
      case 2:
        return meta.signed ? view.getInt16(0, true) : view.getUint16(0, true);
      case 4:
        return meta.signed ? view.getInt32(0, true) : view.getUint32(0, true);
      default:
        return Number(meta.signed ? view.getBigInt64(0, true) : view.getBigUint64(0, true));
    }
  } finally {
    module._free(pointer);
  }
}

function safeShape(shape: unknown): number[] {
  if (!Array.isArray(shape)) return [];
  return shape.map((d) => (typeof d === "number" ? d : Number(d)));
}

/** A file opened through h5wasm. */
type H5wasmContext = Hdf5FileContext & { module: H5Module; fileId: bigint };

/** A dataset as the source needs it, described by h5wasm or read from the file's own headers. */
interface DatasetFacts {
  name: string;
  /** Path in the file, for h5wasm. */
  path: string;
  /** Object header address, when read from the file (h5wasm is then not needed to find it). */
  address?: number;
  /** The layout, when read from the file. */
  header?: DatasetHeader;
  meta: DatasetMetadata;
  dtype: string;
  filters: Hdf5Filter[];
}

/** What an open file offers the source: its datasets, its attributes, and how to release it. */
interface OpenedFile {
  describedBy: "headers" | "h5wasm";
  names: string[];
  /** The named dataset; `"other"` when the name is not a dataset (a group); null when it cannot be opened. */
  dataset(name: string): Promise<DatasetFacts | "other" | null>;
  ctx: Hdf5FileContext;
  attributes(): Promise<Record<string, string | number>>;
  close(): void;
}

/** Which datasets a file's vectors and ids are in. */
function chooseDatasets(
  path: string,
  names: string[],
  options: Hdf5SourceOptions,
): { embeddings: string; annBenchmarks: boolean; listed: string } {
  const listed = names.length ? names.map((n) => `"${n}"`).join(", ") : "none";
  if (options.embeddingsDataset) return { embeddings: options.embeddingsDataset, annBenchmarks: false, listed };
  if (names.includes("embeddings")) return { embeddings: "embeddings", annBenchmarks: false, listed };
  if (names.includes("train")) return { embeddings: "train", annBenchmarks: true, listed };
  throw new MilvusdmError("HDF5_INVALID", `"${path}" has no dataset "embeddings" (datasets: ${listed})`, {
    hint: "Name the vectors dataset with embeddings_dataset",
  });
}

/** The dtype string h5wasm gives a numeric type (`<f4` style, as `metadata_to_dtype` writes it). */
function dtypeOf(meta: DatasetMetadata): string {
  const order = meta.littleEndian ? "<" : ">";
  if (meta.type === 0) {
    const fmt = ({ 1: "b", 2: "h", 4: "i", 8: "q" } as Record<number, string>)[meta.size] ?? `i${meta.size}`;
    return order + (meta.signed ? fmt : fmt.toUpperCase());
  }
  if (meta.type === 1) {
    return order + (({ 2: "e", 4: "f", 8: "d" } as Record<number, string>)[meta.size] ?? "undefined");
  }
  return "unknown";
}

/**
 * Opens the file without h5wasm when its headers are what h5py writes by default and format.ts reads (superblock
 * version 0 or 1, root group as a symbol table or link messages, datasets with plain dataspace, datatype, layout
 * and filter messages, compact attributes), and every dataset the source reads takes a fast path (contiguous, or
 * chunks under a version-1 B-tree or a single chunk, with no filter or deflate/shuffle). Returns null otherwise, or on a typed
 * error: the file is then opened through h5wasm, which reports what is wrong with it.
 */
async function openNatively(path: string, options: Hdf5SourceOptions): Promise<Hdf5Source | null> {
  let source: ByteSource | null = null;
  try {
    const opened = await openFileSource(path);
    source = opened;
    const signatureAt = await findHdf5SignatureIn(opened);
    if (signatureAt === null) return null;
    const sb = await readSuperblock(opened, signatureAt);
    // HDF5's own format only (superblock 0 or 1, as h5py and M2H write by default): the newer structures carry
    // checksums, which are not verified here
    if (sb.version > 1) return null;
    const { root, endOfFile } = await readSuperblockAddresses(opened, sb);
    if (endOfFile > opened.size) return null; // truncated (the stored end counts the user block): h5wasm says so
    // The HDF5 library reads nothing past the stored end (bytes after it are not part of the file): neither does
    // anything here, metadata or data.
    const bounded = endOfFile < opened.size ? sourceHead(opened, endOfFile) : opened;
    const links = await readGroupLinks(bounded, sb, root);
    if (!links) return null;
    const ctx: Hdf5FileContext = {
      path,
      source: bounded,
      signatureAt,
      superblock: sb,
      fileId: null,
      module: null,
      decodeThreads: options.decodeThreads,
    };
    const describe = async (name: string): Promise<DatasetFacts | null> => {
      const address = links.get(name);
      if (address === undefined) return null;
      const d = await readDatasetDescription(bounded, sb, address);
      if (!d) return null;
      // contiguous storage of exactly the dataset's size, as the HDF5 library requires (else it reports corruption)
      const bytes = d.shape.reduce((n, x) => n * x, d.size);
      if (d.layout.kind === "contiguous" && d.layout.size !== bytes) return null;
      const chunks = d.layout.kind === "chunked" ? d.layout.dims.slice(0, -1) : null;
      const meta: DatasetMetadata = {
        type: d.typeClass,
        size: d.size,
        signed: d.signed,
        littleEndian: d.littleEndian,
        shape: d.shape,
        chunks,
      };
      const header = { layout: d.layout, external: d.external, standardType: true };
      return { name, path: `/${name}`, address, header, meta, dtype: dtypeOf(meta), filters: d.filters };
    };
    const { values, dense } = await readObjectAttributes(bounded, sb, root, MAX_ATTRIBUTE_BYTES);
    if (dense) return null;
    let usable = true;
    const file: OpenedFile = {
      describedBy: "headers",
      names: [...links.keys()],
      async dataset(name: string): Promise<DatasetFacts | null> {
        const facts = await describe(name);
        // a name not in the root group (a path), or an object whose header is not read here: h5wasm describes it
        if (!facts) usable = false;
        return facts;
      },
      ctx,
      attributes: () => Promise.resolve(values),
      close: () => opened.close(),
    };
    const result = await openWith(path, file, options);
    if (result === null || !usable) {
      result?.close();
      return null;
    }
    source = null; // the source owns it now
    return result;
  } catch (error) {
    // What the HDF5 library refuses too is reported (its WebAssembly build tolerates some of it), as is a structure
    // or data past the stored end of the file, which the library does not read either; anything else not read here
    // is left to h5wasm.
    if (!(error instanceof MilvusdmError) || refusedByHdf5(error) || error.code === "SOURCE_TRUNCATED") throw error;
    return null;
  } finally {
    source?.close();
  }
}

/** Opens the file through h5wasm, which finds and describes the datasets. */
async function openWithH5wasm(path: string, options: Hdf5SourceOptions): Promise<OpenedFile> {
  const { file, signatureAt } = await openHdf5File(path);
  let source: ByteSource | null = null;
  const closeFile = () => {
    source?.close();
    try {
      hdf5Call(`"${path}" cannot be closed`, () => file.close(), { strict: false });
    } catch {
      // closing a broken file: nothing more to do
    }
  };
  try {
    const names = hdf5Call(`"${path}" cannot be listed`, () => file.keys());
    source = await openFileSource(path);
    const ctx: H5wasmContext = {
      path,
      source,
      signatureAt,
      fileId: file.file_id,
      module: await h5Module(),
      decodeThreads: options.decodeThreads,
    };
    return {
      describedBy: "h5wasm",
      names,
      dataset(name: string): Promise<DatasetFacts | "other" | null> {
        const got = hdf5Call(`Dataset "${name}" in "${path}" cannot be opened`, () => file.get(name), {
          strict: false,
        });
        if (!got) return Promise.resolve(null);
        if ((got as { type?: string }).type !== "Dataset") return Promise.resolve("other");
        const ds = got as Dataset;
        const meta = hdf5Call(
          `Dataset "${name}" in "${path}" cannot be read`,
          () => ds.metadata as unknown as DatasetMetadata,
        );
        const dtype = hdf5Call(`Dataset "${name}" in "${path}" cannot be read`, () => String(ds.dtype));
        const filters = hdf5Call(`Dataset "${name}" in "${path}" cannot be read`, () =>
          ds.filters as unknown as Hdf5Filter[]) ??
          [];
        return Promise.resolve({ name, path: ds.path, meta, dtype, filters });
      },
      ctx,
      attributes: () => readAttributes(ctx),
      close: closeFile,
    };
  } catch (error) {
    closeFile();
    throw error;
  }
}

/**
 * Opens an HDF5 file as a vector source.
 *
 * Files laid out as h5py writes them by default (and as M2H writes them) are described from their own headers
 * (format.ts) and read without h5wasm; any other file, and any file those headers do not describe completely, is
 * opened through h5wasm.
 *
 * @example
 * ```ts
 * const src = await openHdf5Source("vectors.h5");
 * for await (const batch of src.batches(10_000)) console.log(batch.rows);
 * src.close();
 * ```
 */
export async function openHdf5Source(path: string, options: Hdf5SourceOptions = {}): Promise<Hdf5Source> {
  const native = await openNatively(path, options);
  if (native) return native;
  const file = await openWithH5wasm(path, options);
  let result: Hdf5Source | null = null;
  try {
    result = await openWith(path, file, options);
    if (result === null) throw new MilvusdmError("INTERNAL", `"${path}": h5wasm cannot read a dataset`);
    return result;
  } finally {
    if (result === null) file.close();
  }
}

/**
 * Checks the datasets of an opened file and builds the source; null when a dataset would need h5wasm and the file
 * was opened without it. Closes nothing on failure (the caller does).
 */
async function openWith(path: string, file: OpenedFile, options: Hdf5SourceOptions): Promise<Hdf5Source | null> {
  const { embeddings: embeddingsName, annBenchmarks, listed } = chooseDatasets(path, file.names, options);
  const name = embeddingsName;
  const emb = await file.dataset(name);
  if (!emb || emb === "other") {
    throw new MilvusdmError("HDF5_INVALID", `"${path}" has no dataset "${embeddingsName}" (datasets: ${listed})`);
  }
  const meta = emb.meta;
  const dtype = emb.dtype;
  const shape = safeShape(meta.shape);
  if (shape.length !== 2 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new MilvusdmError(
      "HDF5_INVALID",
      `Dataset "${embeddingsName}" in "${path}" has shape [${shape.join(", ")}], expected 2-D (rows, dim)`,
    );
  }
  const [rows, cols] = shape;
  let vectorType: VectorType;
  let dim: number;
  if (meta.type === 1 && (meta.size === 4 || meta.size === 8)) {
    vectorType = "float";
    dim = cols;
    if (options.vectorType === "binary") {
      throw new MilvusdmError(
        "HDF5_INVALID",
        `Dataset "${embeddingsName}" holds floats, binary vectors were asked for`,
      );
    }
  } else if (meta.type === 0 && meta.size === 1 && !meta.signed) {
    vectorType = "binary";
    dim = cols * 8;
  } else {
    throw new MilvusdmError(
      "HDF5_INVALID",
      `Dataset "${embeddingsName}" in "${path}" has type ${dtype}; expected float32, float64 (float vectors) or ` +
        `uint8 (binary vectors, dim/8 bytes per row)`,
    );
  }
  if (!meta.littleEndian && meta.size > 1) {
    throw new MilvusdmError("HDF5_INVALID", `Dataset "${embeddingsName}" is big-endian; only little-endian is read`);
  }
  if (cols === 0) {
    throw new MilvusdmError("HDF5_INVALID", `Dataset "${embeddingsName}" in "${path}" has 0 columns`);
  }

  let idsName: string | null = null;
  let ids: DatasetFacts | null = null;
  if (!annBenchmarks) {
    const wanted = options.idsDataset ?? "ids";
    const got = file.names.includes(wanted) ? await file.dataset(wanted) : null;
    if ((options.idsDataset && !got) || got === "other") {
      throw new MilvusdmError("HDF5_INVALID", `"${path}" has no dataset "${wanted}" (datasets: ${listed})`);
    }
    if (got) {
      idsName = wanted;
      ids = got;
      const ishape = safeShape(got.meta.shape);
      const length = ishape[0];
      if (!(ishape.length === 1 || (ishape.length === 2 && ishape[1] === 1))) {
        throw new MilvusdmError(
          "HDF5_INVALID",
          `Dataset "${wanted}" in "${path}" has shape [${ishape.join(", ")}], expected one id per row`,
        );
      }
      if (got.meta.type !== 0 || ![1, 2, 4, 8].includes(got.meta.size)) {
        throw new MilvusdmError(
          "HDF5_INVALID",
          `Dataset "${wanted}" in "${path}" has type ${got.dtype}, expected int64`,
        );
      }
      if (length !== rows) {
        throw new MilvusdmError(
          "HDF5_INVALID",
          `Dataset "${wanted}" in "${path}" has ${length} ids for ${rows} vectors; the lengths must match`,
        );
      }
    }
  }

  const attributes = await file.attributes();
  let metric: Metric | null = null;
  const recorded = String(attributes["metric"] ?? attributes["metric_type"] ?? "").toUpperCase();
  if (METRICS.has(recorded)) metric = recorded as Metric;
  if (annBenchmarks) {
    const distance = String(attributes["distance"] ?? "").toLowerCase();
    metric = ANN_DISTANCE[distance] ?? null;
  }

  const readers: RowReader[] = [];
  const closeReaders = () => {
    for (const reader of readers) reader.close();
  };
  try {
    const embReader = await openRowReader(file.ctx, {
      name,
      path: emb.path,
      address: emb.address,
      header: emb.header,
      rows,
      cols,
      rank: 2,
      elementSize: meta.size,
      littleEndian: meta.littleEndian,
      chunks: meta.chunks,
      filters: emb.filters,
    });
    if (!embReader) return null;
    readers.push(embReader);
    let idsReader: RowReader | null = null;
    if (ids && idsName) {
      const geometry: DatasetGeometry = {
        name: idsName,
        path: ids.path,
        address: ids.address,
        header: ids.header,
        rows,
        cols: 1,
        rank: safeShape(ids.meta.shape).length === 2 ? 2 : 1,
        elementSize: ids.meta.size,
        littleEndian: ids.meta.littleEndian,
        chunks: ids.meta.chunks,
        filters: ids.filters,
      };
      idsReader = await openRowReader(file.ctx, geometry);
      if (!idsReader) {
        closeReaders();
        return null;
      }
      readers.push(idsReader);
    }
    return sourceOf(path, file, readers, {
      info: { dim, vectorType, metric, rows, hasIds: annBenchmarks || idsReader !== null },
      attributes,
      layout: { embeddings: name, ids: idsName, annBenchmarks, dtype },
      embReader,
      idsReader,
      idsName,
      idsFormat: ids ? { size: ids.meta.size, signed: ids.meta.signed } : null,
      cols,
      elementSize: meta.size,
      reuseBuffers: options.reuseBuffers === true,
    });
  } catch (error) {
    closeReaders();
    throw error;
  }
}

/** The source over open row readers; closing it closes them and the file. */
function sourceOf(
  path: string,
  file: OpenedFile,
  readers: RowReader[],
  s: {
    info: SourceInfo;
    attributes: Record<string, string | number>;
    layout: Hdf5Source["layout"];
    embReader: RowReader;
    idsReader: RowReader | null;
    idsName: string | null;
    idsFormat: { size: number; signed: boolean } | null;
    cols: number;
    elementSize: number;
    reuseBuffers: boolean;
  },
): Hdf5Source {
  const { info, embReader, idsReader, idsName, idsFormat, cols } = s;
  const { rows, dim, vectorType } = info;
  const annBenchmarks = s.layout.annBenchmarks;
  const rowBytes = cols * s.elementSize;
  let closed = false;
  return {
    path,
    info,
    attributes: s.attributes,
    layout: s.layout,
    readPaths: {
      embeddings: { method: embReader.method, fallbackReason: embReader.fallbackReason },
      ids: idsReader ? { method: idsReader.method, fallbackReason: idsReader.fallbackReason } : null,
    },
    describedBy: file.describedBy,
    async *batches(maxRows: number, signal?: AbortSignal, allocate?: BatchAllocator): AsyncGenerator<Batch> {
      const step = Math.max(1, Math.floor(maxRows));
      const most = Math.min(step, rows);
      const reuse = s.reuseBuffers;
      // Memory from `allocate` (the request being built), else fresh arrays for every batch, unless the caller
      // asked for reused ones; the float64 staging and narrow-id buffers are reused.
      let vectorBytes: Uint8Array | null = null;
      let idBytes: Uint8Array | null = null;
      let staging: Uint8Array | null = null;
      let converted: Float32Array | null = null;
      let narrowIds: Uint8Array | null = null;
      for (let start = 0; start < rows; start += step) {
        throwIfAborted(signal);
        if (closed) throw new MilvusdmError("INTERNAL", `"${path}" is closed`);
        const end = Math.min(rows, start + step);
        const n = end - start;
        const memory = allocate?.(n);
        let vectors: Float32Array | Uint8Array;
        if (vectorType === "binary" || s.elementSize === 4) {
          const bytes = memory
            ? new Uint8Array(memory.vectors.buffer, memory.vectors.byteOffset, n * rowBytes)
            : reuse
            ? (vectorBytes ??= new Uint8Array(most * rowBytes))
            : new Uint8Array(n * rowBytes);
          await embReader.read(start, end, bytes);
          vectors = memory
            ? memory.vectors
            : vectorType === "binary"
            ? bytes.subarray(0, n * rowBytes)
            : new Float32Array(bytes.buffer, 0, n * cols);
        } else {
          staging ??= new Uint8Array(most * rowBytes);
          await embReader.read(start, end, staging);
          const doubles = new Float64Array(staging.buffer, 0, n * cols);
          if (memory) {
            vectors = memory.vectors;
            vectors.set(doubles);
          } else if (reuse) {
            converted ??= new Float32Array(most * cols);
            vectors = converted.subarray(0, n * cols);
            vectors.set(doubles);
          } else {
            vectors = new Float32Array(doubles);
          }
        }
        let ids: BigInt64Array | null = null;
        if (annBenchmarks) {
          ids = memory ? memory.ids : new BigInt64Array(n);
          fillRangeIds(ids, 0, start, n);
        } else if (idsReader && idsFormat) {
          if (memory && idsFormat.size === 8) {
            const raw = new Uint8Array(memory.ids.buffer, memory.ids.byteOffset, n * 8);
            await idsReader.read(start, end, raw);
            ids = toBigInt64(raw, n, idsFormat, idsName!, path);
          } else if (memory) {
            narrowIds ??= new Uint8Array(most * idsFormat.size);
            await idsReader.read(start, end, narrowIds);
            ids = toBigInt64(narrowIds, n, idsFormat, idsName!, path, memory.ids);
          } else {
            const raw = reuse && idsFormat.size === 8
              ? (idBytes ??= new Uint8Array(most * 8))
              : new Uint8Array(n * idsFormat.size);
            await idsReader.read(start, end, raw);
            ids = toBigInt64(raw, n, idsFormat, idsName!, path);
          }
        }
        yield { ids, vectors, dim, rows: n };
        // Let other work (inserts in flight) run between slices.
        await Promise.resolve();
      }
    },
    close() {
      if (!closed) {
        closed = true;
        for (const reader of readers) reader.close();
        file.close();
      }
    },
  };
}

/**
 * The scalar string and number attributes of an HDF5 file's root group, read safely (see {@linkcode openHdf5Source}
 * for the file checks). For tools that show a file they may not be able to read as vectors (`inspect`).
 *
 * @example
 * ```ts
 * const attributes = await readHdf5Attributes("export.h5"); // { collection: "c", metric: "IP", ... }
 * ```
 */
export async function readHdf5Attributes(path: string): Promise<Record<string, string | number>> {
  const { file, signatureAt } = await openHdf5File(path);
  let source: ByteSource | null = null;
  try {
    source = await openFileSource(path);
    return await readAttributes({
      path,
      source,
      signatureAt,
      fileId: file.file_id,
      module: await h5Module(),
    });
  } finally {
    source?.close();
    try {
      hdf5Call(`"${path}" cannot be closed`, () => file.close(), { strict: false });
    } catch {
      // closing a broken file: nothing more to do
    }
  }
}

/**
 * Ids as int64, from little-endian integers of 1, 2, 4 or 8 bytes (`raw` 8-byte aligned); 8-byte ids are a view of
 * `raw`, narrower ones are widened into `out` (or a new array), two 32-bit words at a time, without a BigInt per id.
 */
function toBigInt64(
  raw: Uint8Array,
  n: number,
  format: { size: number; signed: boolean },
  name: string,
  path: string,
  out: BigInt64Array = new BigInt64Array(n),
): BigInt64Array {
  const buffer = raw.buffer;
  const at = raw.byteOffset;
  if (format.size === 8) {
    if (!format.signed) {
      const words = new Uint32Array(buffer, at, n * 2);
      for (let i = 1; i < n * 2; i += 2) {
        if (words[i] > 0x7fffffff) {
          const id = new BigUint64Array(buffer, at, n)[(i - 1) / 2];
          throw new MilvusdmError("HDF5_INVALID", `Dataset "${name}" in "${path}" has id ${id} beyond int64`);
        }
      }
    }
    return new BigInt64Array(buffer, at, n);
  }
  let values: ArrayLike<number>;
  if (format.size === 4) values = format.signed ? new Int32Array(buffer, at, n) : new Uint32Array(buffer, at, n);
  else if (format.size === 2) values = format.signed ? new Int16Array(buffer, at, n) : new Uint16Array(buffer, at, n);
  else values = format.signed ? new Int8Array(buffer, at, n) : new Uint8Array(buffer, at, n);
  const words = new Int32Array(out.buffer, out.byteOffset, n * 2);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    words[2 * i] = v;
    words[2 * i + 1] = v < 0 ? -1 : 0;
  }
  return out.subarray(0, n);
}
