/**
 * Decoding one band of chunk rows (every chunk whose rows start at the same row) into row-major bytes: each stored
 * chunk is unfiltered (filters.ts), then its columns are placed in the band, a tile of rows at a time so the
 * copies stay in the CPU cache when chunks are narrow (h5py's automatic chunks split a 128-float row in 64).
 * Pure functions over typed arrays: they run on the calling thread or in decode_worker.ts.
 *
 * @module
 */
import { MilvusdmError } from "../errors.ts";
import { type Hdf5Filter, unfilter } from "./filters.ts";

/** How a band is laid out. */
export interface BandSpec {
  /** The dataset's filter pipeline (empty: chunks are stored as they are). */
  filters: Hdf5Filter[];
  /** Bytes per element. */
  elementSize: number;
  /** Bytes of a decoded chunk. */
  chunkBytes: number;
  /** Bytes of one row of a chunk. */
  chunkRowBytes: number;
  /** Bytes of one row of the dataset. */
  rowBytes: number;
  /** Rows of this band (the last band may have fewer than a chunk). */
  bandRows: number;
}

/** One stored chunk of a band, left to right. */
export interface StoredChunk {
  stored: Uint8Array;
  /** Filters skipped for this chunk. */
  mask: number;
  /** The chunk, for error messages. */
  what: string;
}

/** A band to decode on a worker. */
export interface BandRequest {
  id: number;
  spec: BandSpec;
  parts: StoredChunk[];
}

/** A worker's answer: the band, or the error. */
export type BandResponse =
  | { id: number; data: Uint8Array; error?: undefined }
  | { id: number; data?: undefined; error: { code: string; message: string } };

const TILE_ROWS = 256;

/**
 * Decodes a band: `bandRows × rowBytes` bytes, row-major.
 *
 * @example
 * ```ts
 * const band = decodeBand(spec, [{ stored, mask: 0, what: "chunk [0,0,0]" }]);
 * ```
 */
export function decodeBand(spec: BandSpec, parts: StoredChunk[]): Uint8Array {
  const decoded = parts.map((part) => {
    if (spec.filters.length > 0) {
      return unfilter(part.stored, spec.filters, part.mask, spec.elementSize, spec.chunkBytes, part.what);
    }
    if (part.stored.length !== spec.chunkBytes) {
      throw new MilvusdmError(
        "HDF5_INVALID",
        `${part.what} holds ${part.stored.length} bytes, expected ${spec.chunkBytes} (corrupt file)`,
      );
    }
    return part.stored;
  });
  const bytes = spec.bandRows * spec.rowBytes;
  if (decoded.length === 1 && spec.chunkRowBytes === spec.rowBytes) return decoded[0].subarray(0, bytes);
  const out = new Uint8Array(bytes);
  for (let from = 0; from < spec.bandRows; from += TILE_ROWS) {
    const to = Math.min(spec.bandRows, from + TILE_ROWS);
    decoded.forEach((data, j) => {
      const offset = j * spec.chunkRowBytes;
      const width = Math.min(spec.chunkRowBytes, spec.rowBytes - offset);
      scatter(data, spec.chunkRowBytes, out, spec.rowBytes, offset, width, from, to);
    });
  }
  return out;
}

/**
 * Copies rows `from` to `to` (exclusive) of `width` bytes from `src` (row stride `srcStride`) into `dst` (row
 * stride `dstStride`) at column byte `dstOffset`: by 32-bit words when everything is aligned, never through float
 * values (which could change NaN payloads).
 */
export function scatter(
  src: Uint8Array,
  srcStride: number,
  dst: Uint8Array,
  dstStride: number,
  dstOffset: number,
  width: number,
  from: number,
  to: number,
): void {
  if (width >= 64) {
    for (let r = from; r < to; r++) {
      dst.set(src.subarray(r * srcStride, r * srcStride + width), r * dstStride + dstOffset);
    }
    return;
  }
  const aligned = src.byteOffset % 4 === 0 && dst.byteOffset % 4 === 0 && width % 4 === 0 &&
    srcStride % 4 === 0 && dstStride % 4 === 0 && dstOffset % 4 === 0;
  if (aligned) {
    const s = new Uint32Array(src.buffer, src.byteOffset, src.byteLength >>> 2);
    const d = new Uint32Array(dst.buffer, dst.byteOffset, dst.byteLength >>> 2);
    const w = width >>> 2, ss = srcStride >>> 2, ds = dstStride >>> 2, off = dstOffset >>> 2;
    if (w === 2) {
      for (let r = from, si = from * ss, di = from * ds + off; r < to; r++, si += ss, di += ds) {
        d[di] = s[si];
        d[di + 1] = s[si + 1];
      }
      return;
    }
    for (let r = from; r < to; r++) {
      const si = r * ss, di = r * ds + off;
      for (let k = 0; k < w; k++) d[di + k] = s[si + k];
    }
    return;
  }
  for (let r = from; r < to; r++) {
    const si = r * srcStride, di = r * dstStride + dstOffset;
    for (let k = 0; k < width; k++) dst[di + k] = src[si + k];
  }
}
