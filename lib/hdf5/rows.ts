/**
 * Reading row ranges of a 1-D or 2-D dataset as row-major bytes, by the fastest path the file allows:
 *
 * - `contiguous`: contiguous, little-endian data is read straight from the file into the caller's buffer, after
 *   checking that the whole extent lies inside the file;
 * - `chunks`: chunked data indexed by a version-1 B-tree (h5py's default) or a single chunk, with no filter or
 *   deflate/shuffle, is decoded here one band of chunk rows at a time, every chunk exactly once; the chunk index is
 *   read up front, bounded by what the file can hold, and every chunk of the extent must have been written;
 * - `h5wasm`: anything else (other chunk indexes, other filters, external or compact storage, big-endian data) is
 *   read through h5wasm, in bands aligned to whole chunks, with the status of every read checked.
 *
 * @module
 */
import type { ByteSource } from "../bytes.ts";
import { MilvusdmError } from "../errors.ts";
import {
  type ChunkEntry,
  type DataLayout,
  type DatasetHeader,
  readChunkBTree,
  readDatasetHeader,
  readSuperblock,
  type Superblock,
} from "./format.ts";
import { filtersSupported, type Hdf5Filter, MAX_DEFLATE_RATIO, storedSizePlausible } from "./filters.ts";
import { type H5Module, hdf5Call, hdf5ObjectAddress } from "./h5.ts";
import { inlineDecoder, workerDecoder } from "./decode.ts";

/** How a dataset's rows are read. */
export type ReadMethod = "contiguous" | "chunks" | "h5wasm";

/** Reads row ranges of one dataset. */
export interface RowReader {
  /** The path chosen. */
  readonly method: ReadMethod;
  /** Why the h5wasm path was chosen, else null. */
  readonly fallbackReason: string | null;
  /** Fills `target` (at least `(end - start) * rowBytes` long) with rows `start` to `end` (exclusive). */
  read(start: number, end: number, target: Uint8Array): Promise<void>;
  /** Releases buffers (the file itself belongs to the caller). */
  close(): void;
}

/** A dataset as h5wasm describes it. */
export interface DatasetGeometry {
  /** Name, for messages. */
  name: string;
  /** Path in the file, for h5wasm (e.g. `/embeddings`). */
  path: string;
  /** The address of the dataset's object header, when known (else h5wasm is asked for it). */
  address?: number;
  /** The dataset's layout, when already read from its object header (else it is read here). */
  header?: DatasetHeader;
  /** Rows: the first dimension. */
  rows: number;
  /** Elements per row: the second dimension, or 1 for a 1-D dataset. */
  cols: number;
  /** 1 or 2. */
  rank: 1 | 2;
  /** Bytes per element. */
  elementSize: number;
  /** Byte order of the stored elements. */
  littleEndian: boolean;
  /** Chunk dimensions (without the element size), or null when not chunked. */
  chunks: number[] | null;
  /** The filter pipeline. */
  filters: Hdf5Filter[];
}

/** The open file the readers share. */
export interface Hdf5FileContext {
  /** Path, for messages. */
  path: string;
  /** The file, for positional reads (also used to parse the layout). */
  source: ByteSource;
  /** Where the HDF5 signature is (the superblock). */
  signatureAt: number;
  /** The superblock, once read (null: not readable, the h5wasm path is used). */
  superblock?: Superblock | null;
  /** Worker threads decoding gzip chunks (default: the cores, up to 4, when there are 16 MiB or more). */
  decodeThreads?: number;
  /** The h5wasm file id and module, for the fallback path; null when the file was opened without h5wasm. */
  fileId: bigint | null;
  module: H5Module | null;
}

/** Bytes one h5wasm read aims at: large enough to amortise its per-call cost. */
const H5WASM_BAND_BYTES = 8 << 20;
/** Chunks larger than this are refused (HDF5 allows 4 GiB; nobody writes vectors that way). */
const MAX_CHUNK_BYTES = 1 << 30;
/** The largest single h5wasm read buffer. */
const MAX_H5WASM_READ = 512 << 20;

function describe(ctx: Hdf5FileContext, g: DatasetGeometry): string {
  return `Dataset "${g.name}" in "${ctx.path}"`;
}

/**
 * Chooses and opens the reader for a dataset. Throws a typed error when the dataset cannot be read correctly
 * (data beyond the end of the file, chunks never written, a shape the file cannot hold). Returns null when only
 * h5wasm could read the dataset and the file was opened without it (`ctx.module` null).
 *
 * @example
 * ```ts
 * const reader = await openRowReader(ctx, geometry);
 * await reader.read(0, 100, new Uint8Array(100 * geometry.cols * geometry.elementSize));
 * ```
 */
export async function openRowReader(ctx: Hdf5FileContext, g: DatasetGeometry): Promise<RowReader | null> {
  const rowBytes = g.cols * g.elementSize;
  const total = g.rows * rowBytes;
  if (!Number.isSafeInteger(total) || g.rows < 0 || g.cols < 0) {
    throw new MilvusdmError("HDF5_INVALID", `${describe(ctx, g)} has an impossible shape [${g.rows}, ${g.cols}]`);
  }
  let layout: DataLayout | null = null;
  let superblock: Superblock | null = null;
  let standardType: boolean | null = null;
  let reason: string;
  if (!g.littleEndian && g.elementSize > 1) {
    reason = "big-endian data";
  } else {
    try {
      if (ctx.superblock === undefined) {
        ctx.superblock = await readSuperblock(ctx.source, ctx.signatureAt).catch((error) => {
          if (!(error instanceof MilvusdmError)) throw error;
          return null;
        });
      }
      superblock = ctx.superblock;
      if (!superblock) throw new MilvusdmError("HDF5_INVALID", "the superblock cannot be read");
      const address = g.address ??
        (ctx.module && ctx.fileId !== null
          ? hdf5ObjectAddress(ctx.module, ctx.fileId, g.path, describe(ctx, g))
          : null);
      if (address === null) throw new MilvusdmError("HDF5_INVALID", "the object header address is not known");
      const header = g.header ?? await readDatasetHeader(ctx.source, superblock, address);
      layout = header.layout;
      reason = header.external ? "data in external files" : "";
      standardType = header.standardType;
    } catch (error) {
      if (!(error instanceof MilvusdmError)) throw error;
      reason = `layout not readable (${error.message})`;
      layout = null;
    }
  }
  // Every path reads the stored bytes as they are: a type with other bit fields (a precision or offset short of its
  // size, a float of another layout) would be read as something it is not.
  if (standardType === false) {
    throw new MilvusdmError(
      "HDF5_INVALID",
      `${describe(ctx, g)} has a datatype with a precision, offset or float layout numpy does not write; ` +
        `only plain integers and IEEE 754 floats are read`,
    );
  }
  if (layout && superblock && !reason) {
    if (layout.kind === "contiguous") {
      if (g.chunks === null) return contiguousReader(ctx, g, superblock, layout);
      reason = "the layout message disagrees with h5wasm";
    } else if (layout.kind === "chunked" && layout.index !== "other") {
      const agrees = g.chunks !== null && g.chunks.length === g.rank && layout.dims.length === g.rank + 1 &&
        g.chunks.every((d, i) => d === layout!.dims[i]) && layout.dims[g.rank] === g.elementSize;
      if (!agrees) reason = "the layout message disagrees with h5wasm";
      else if (!filtersSupported(g.filters)) reason = `filters ${g.filters.map((f) => f.name ?? f.id).join(", ")}`;
      else return await chunkReader(ctx, g, superblock, layout);
    } else {
      reason = layout.kind === "chunked" ? "a chunk index other than a version-1 B-tree" : `${layout.kind} layout`;
    }
  }
  // Data in other files (external storage, a virtual dataset) is not bounded by this file's size.
  const elsewhere = layout?.kind === "virtual" || reason === "data in external files";
  if (!ctx.module || ctx.fileId === null) return null;
  return h5wasmReader(ctx, ctx.module, ctx.fileId, g, reason, !elsewhere);
}

function contiguousReader(
  ctx: Hdf5FileContext,
  g: DatasetGeometry,
  sb: Superblock,
  layout: Extract<DataLayout, { kind: "contiguous" }>,
): RowReader {
  const rowBytes = g.cols * g.elementSize;
  const total = g.rows * rowBytes;
  if (total > 0 && layout.address === null) {
    throw new MilvusdmError(
      "HDF5_INVALID",
      `${describe(ctx, g)} has no data: its storage was never written (shape [${g.rows}, ${g.cols}])`,
    );
  }
  if (layout.size < total) {
    throw new MilvusdmError(
      "HDF5_INVALID",
      `${describe(ctx, g)} stores ${layout.size} bytes, its shape [${g.rows}, ${g.cols}] needs ${total} (corrupt file)`,
    );
  }
  const start = sb.base + (layout.address ?? 0);
  if (total > 0 && start + total > ctx.source.size) {
    throw new MilvusdmError(
      "SOURCE_TRUNCATED",
      `"${ctx.path}" is truncated: dataset "${g.name}" needs bytes ${start}..${
        start + total
      }, the file has ${ctx.source.size}`,
    );
  }
  return {
    method: "contiguous",
    fallbackReason: null,
    async read(from: number, to: number, target: Uint8Array): Promise<void> {
      checkRange(g, from, to);
      if (to > from) await ctx.source.readInto(start + from * rowBytes, target.subarray(0, (to - from) * rowBytes));
    },
    close() {},
  };
}

function checkRange(g: DatasetGeometry, from: number, to: number): void {
  if (!(from >= 0 && from <= to && to <= g.rows)) {
    throw new MilvusdmError("INTERNAL", `Rows ${from}..${to} of dataset "${g.name}" (${g.rows} rows)`);
  }
}

/**
 * A reader over bands of `bandRows` rows, each loaded once; the band being read is kept for the next read, and up
 * to `prefetch` following bands are loaded ahead (so worker threads decode while the caller works).
 */
function bandedReader(
  g: DatasetGeometry,
  bandRows: number,
  load: (band: number) => Promise<Uint8Array>,
  options: { method: ReadMethod; fallbackReason: string | null; prefetch?: number; release?: () => void },
): RowReader {
  const rowBytes = g.cols * g.elementSize;
  const bands = Math.ceil(g.rows / bandRows);
  const prefetch = options.prefetch ?? 0;
  const loading = new Map<number, Promise<Uint8Array>>();
  const get = (band: number): Promise<Uint8Array> => {
    let promise = loading.get(band);
    if (!promise) {
      try {
        promise = load(band);
      } catch (error) {
        promise = Promise.reject(error);
      }
      promise.catch(() => {}); // a prefetched band's failure is reported when that band is read
      loading.set(band, promise);
    }
    return promise;
  };
  return {
    method: options.method,
    fallbackReason: options.fallbackReason,
    async read(from: number, to: number, target: Uint8Array): Promise<void> {
      checkRange(g, from, to);
      let row = from;
      while (row < to) {
        const band = Math.floor(row / bandRows);
        for (const k of loading.keys()) if (k < band) loading.delete(k);
        const pending = get(band);
        for (let k = band + 1; k <= Math.min(bands - 1, band + prefetch); k++) get(k);
        const data = await pending;
        const bandStart = band * bandRows;
        const bandEnd = Math.min(g.rows, bandStart + bandRows, to);
        target.set(
          data.subarray((row - bandStart) * rowBytes, (bandEnd - bandStart) * rowBytes),
          (row - from) * rowBytes,
        );
        row = bandEnd;
      }
    },
    close() {
      loading.clear();
      options.release?.();
    },
  };
}

async function chunkReader(
  ctx: Hdf5FileContext,
  g: DatasetGeometry,
  sb: Superblock,
  layout: Extract<DataLayout, { kind: "chunked" }>,
): Promise<RowReader> {
  const what = describe(ctx, g);
  const chunkRows = layout.dims[0];
  const chunkCols = g.rank === 2 ? layout.dims[1] : 1;
  if (chunkRows < 1 || chunkCols < 1) throw new MilvusdmError("HDF5_INVALID", `${what} has empty chunks`);
  const chunkBytes = chunkRows * chunkCols * g.elementSize;
  if (chunkBytes > MAX_CHUNK_BYTES) {
    throw new MilvusdmError("HDF5_INVALID", `${what} has chunks of ${chunkBytes} bytes, more than ${MAX_CHUNK_BYTES}`);
  }
  const bandCount = Math.ceil(g.rows / chunkRows);
  const across = Math.ceil(g.cols / chunkCols);
  const expected = bandCount * across;
  const entryBytes = 8 + 8 * (g.rank + 1) + sb.offsetSize;
  const capacity = layout.index === "single" ? 1 : Math.floor(ctx.source.size / entryBytes) + 1;
  if (expected > capacity) {
    throw new MilvusdmError(
      "HDF5_INVALID",
      `${what} of shape [${g.rows}, ${g.cols}] in chunks of [${chunkRows}, ${chunkCols}] needs ${expected} chunks; ` +
        `its ${ctx.source.size}-byte file can index at most ${capacity} (corrupt file)`,
    );
  }
  let entries: ChunkEntry[] = [];
  if (layout.address !== null && expected > 0) {
    if (layout.index === "single") {
      entries = [{
        offsets: new Array(g.rank + 1).fill(0),
        position: sb.base + layout.address,
        size: layout.singleSize ?? chunkBytes,
        filterMask: layout.singleFilterMask ?? 0,
      }];
    } else {
      entries = await readChunkBTree(ctx.source, sb, layout.address, layout.dims, capacity);
    }
  }
  const grid: (ChunkEntry | undefined)[] = new Array(expected);
  let found = 0;
  for (const entry of entries) {
    const [r0, c0 = 0] = entry.offsets;
    if (entry.offsets[g.rank] !== 0 || r0 % chunkRows !== 0 || c0 % chunkCols !== 0) {
      throw new MilvusdmError("HDF5_INVALID", `${what} has a chunk at [${entry.offsets}], off the chunk grid`);
    }
    if (r0 >= g.rows || c0 >= g.cols) continue; // beyond the extent (after a shrink): never read
    const index = (r0 / chunkRows) * across + c0 / chunkCols;
    if (grid[index]) throw new MilvusdmError("HDF5_INVALID", `${what} has chunk [${entry.offsets}] twice`);
    if (!storedSizePlausible(g.filters, entry.filterMask, entry.size, chunkBytes)) {
      throw new MilvusdmError(
        "HDF5_INVALID",
        `${what} has chunk [${entry.offsets}] stored in ${entry.size} bytes for ${chunkBytes} (corrupt file)`,
      );
    }
    if (entry.position + entry.size > ctx.source.size) {
      throw new MilvusdmError(
        "SOURCE_TRUNCATED",
        `"${ctx.path}" is truncated: chunk [${entry.offsets}] of dataset "${g.name}" needs bytes ` +
          `${entry.position}..${entry.position + entry.size}, the file has ${ctx.source.size}`,
      );
    }
    grid[index] = entry;
    found++;
  }
  if (found < expected) {
    throw new MilvusdmError(
      "HDF5_INVALID",
      `${what} has ${expected - found} of its ${expected} chunks never written (they would read as fill values)`,
      { hint: "Write every row of the dataset, or copy it with h5py first" },
    );
  }
  const rowBytes = g.cols * g.elementSize;
  const chunkRowBytes = chunkCols * g.elementSize;
  // Decoding inline by default: measured in an H2M of 1M x 128 gzip rows (with inserts in flight), worker threads
  // raised peak RSS from 374 MB to 445-511 MB and CPU from 5.4 to 6.4-7.5 s for little or no gain in wall time;
  // `decodeThreads` opts in.
  const threads = g.filters.length === 0 ? 0 : ctx.decodeThreads ?? 0;
  const decoder = threads > 0 ? workerDecoder(threads) : inlineDecoder();
  const load = (band: number): Promise<Uint8Array> => {
    const chunks = grid.slice(band * across, (band + 1) * across).map((entry) => ({
      read: async () => {
        const stored = new Uint8Array(entry!.size);
        await ctx.source.readInto(entry!.position, stored);
        return stored;
      },
      mask: entry!.filterMask,
      what: `Chunk [${entry!.offsets}] of ${what}`,
    }));
    return decoder.decode(chunks, {
      filters: g.filters,
      elementSize: g.elementSize,
      chunkBytes,
      chunkRowBytes,
      rowBytes,
      bandRows: Math.min(chunkRows, g.rows - band * chunkRows),
    });
  };
  return bandedReader(g, chunkRows, load, {
    method: "chunks",
    fallbackReason: null,
    prefetch: 2 * threads,
    release: () => decoder.close(),
  });
}

function h5wasmReader(
  ctx: Hdf5FileContext,
  module: H5Module,
  fileId: bigint,
  g: DatasetGeometry,
  reason: string,
  bounded: boolean,
): RowReader {
  const what = describe(ctx, g);
  const rowBytes = g.cols * g.elementSize;
  const total = g.rows * rowBytes;
  // An unfiltered dataset cannot hold more bytes than its file; a filtered one no more than deflate can expand.
  const limit = ctx.source.size * (g.filters.length ? MAX_DEFLATE_RATIO : 1) + 4096;
  if (bounded && total > limit) {
    throw new MilvusdmError(
      "HDF5_INVALID",
      `${what} claims shape [${g.rows}, ${g.cols}] (${total} bytes), more than its ${ctx.source.size}-byte file can hold`,
    );
  }
  const chunkRows = g.chunks?.[0] ?? 1;
  const chunkBand = chunkRows * rowBytes;
  let bandRows: number;
  if (g.chunks && chunkBand <= MAX_H5WASM_READ) {
    bandRows = chunkRows * Math.max(1, Math.floor(H5WASM_BAND_BYTES / Math.max(1, chunkBand)));
  } else {
    bandRows = Math.max(1, Math.floor(H5WASM_BAND_BYTES / Math.max(1, rowBytes)));
  }
  let pointer = 0;
  let capacity = 0;
  const release = () => {
    if (pointer) module._free(pointer);
    pointer = 0;
    capacity = 0;
  };
  const load = (band: number): Promise<Uint8Array> => {
    const start = band * bandRows;
    const n = Math.min(bandRows, g.rows - start);
    const bytes = n * rowBytes;
    if (bytes > MAX_H5WASM_READ) {
      throw new MilvusdmError("HDF5_INVALID", `${what}: rows of ${rowBytes} bytes are too large to read`);
    }
    const failure = `${what} cannot be read (rows ${start}..${start + n})`;
    if (bytes > capacity) {
      release();
      pointer = hdf5Call(failure, () => module._malloc(Math.max(bytes, 8)), { memory: bytes });
      if (!pointer) throw new MilvusdmError("HDF5_INVALID", `${failure}: out of memory for ${bytes} bytes`);
      capacity = bytes;
    }
    const count = g.rank === 2 ? [BigInt(n), BigInt(g.cols)] : [BigInt(n)];
    const offset = g.rank === 2 ? [BigInt(start), 0n] : [BigInt(start)];
    const strides = g.rank === 2 ? [1n, 1n] : [1n];
    const status = hdf5Call(
      failure,
      () => module.get_dataset_data(fileId, g.path, count, offset, strides, BigInt(pointer)),
      { memory: g.chunks ? g.chunks.reduce((a, b) => a * b, g.elementSize) * 2 : 0 },
    );
    if (typeof status === "number" && status < 0) {
      throw new MilvusdmError("HDF5_INVALID", `${failure}: the HDF5 library returned status ${status}`);
    }
    return Promise.resolve(module.HEAPU8.slice(pointer, pointer + bytes));
  };
  return bandedReader(g, bandRows, load, { method: "h5wasm", fallbackReason: reason || null, release });
}
