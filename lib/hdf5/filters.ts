/**
 * Undoing the HDF5 filters the fast chunk path supports: deflate (gzip, filter 1) and shuffle (filter 2). Chunks
 * with other filters (fletcher32, szip, n-bit, scale-offset, plugins) are read through h5wasm instead.
 *
 * @module
 */
import zlib from "node:zlib";
import { MilvusdmError } from "../errors.ts";

/** A filter of a dataset's pipeline, as h5wasm describes it. */
export interface Hdf5Filter {
  id: number;
  name?: string;
  cd_values?: number[];
}

const DEFLATE = 1;
const SHUFFLE = 2;
/** The most a deflate stream can expand (1032:1), with room for a tiny stream's header. */
export const MAX_DEFLATE_RATIO = 1032;

/**
 * Whether the fast path can undo every filter of `filters`, with the parameters the HDF5 library accepts: one
 * deflate level of 0 to 9, one shuffle element size above 0 (the library refuses anything else on reading; the
 * HDF5 path then reports it).
 */
export function filtersSupported(filters: readonly Hdf5Filter[]): boolean {
  return filters.every((f) => {
    const values = f.cd_values ?? [];
    if (f.id === DEFLATE) return values.length === 1 && values[0] <= 9;
    return f.id === SHUFFLE && values.length === 1 && values[0] > 0;
  });
}

/** Whether a chunk of `chunkBytes` bytes stored in `storedBytes` bytes is possible with `filters` (and `mask`). */
export function storedSizePlausible(
  filters: readonly Hdf5Filter[],
  mask: number,
  storedBytes: number,
  chunkBytes: number,
): boolean {
  const deflated = filters.some((f, i) => f.id === DEFLATE && !(mask & (1 << i)));
  if (!deflated) return storedBytes === chunkBytes;
  return storedBytes > 0 && chunkBytes <= storedBytes * MAX_DEFLATE_RATIO + 64;
}

/**
 * Undoes the pipeline on one stored chunk; the result must be exactly `chunkBytes` long.
 *
 * @example
 * ```ts
 * const raw = unfilter(stored, [{ id: 1 }], 0, 4, 1 << 20, "chunk 0 of embeddings");
 * ```
 */
export function unfilter(
  stored: Uint8Array,
  filters: readonly Hdf5Filter[],
  mask: number,
  elementSize: number,
  chunkBytes: number,
  what: string,
): Uint8Array {
  let data = stored;
  for (let i = filters.length - 1; i >= 0; i--) {
    if (mask & (1 << i)) continue;
    const filter = filters[i];
    if (filter.id === DEFLATE) {
      try {
        // Output in one piece when the data compresses as vectors do (node's default 16 KiB pieces cost a
        // concatenation), without allocating what a corrupt chunk size claims before the data has inflated to it.
        const piece = Math.max(64, Math.min(chunkBytes, 4 * data.length + (64 << 10)));
        data = zlib.inflateSync(data, { maxOutputLength: Math.max(chunkBytes, 1), chunkSize: piece });
      } catch (error) {
        throw new MilvusdmError("HDF5_INVALID", `${what} cannot be decompressed: ${(error as Error).message}`, {
          cause: error,
        });
      }
    } else if (filter.id === SHUFFLE) {
      // the element size the shuffle was applied with, as the HDF5 library takes it
      const size = filter.cd_values?.[0] ?? elementSize;
      data = unshuffle(data, size > 0 ? size : elementSize);
    } else {
      throw new MilvusdmError("INTERNAL", `${what}: filter ${filter.id} is not supported by the fast path`);
    }
  }
  if (data.length !== chunkBytes) {
    throw new MilvusdmError(
      "HDF5_INVALID",
      `${what} holds ${data.length} bytes once decoded, expected ${chunkBytes} (corrupt file)`,
    );
  }
  return data;
}

/** The inverse of HDF5's shuffle: byte `b` of element `i` is stored at `b * count + i`. */
export function unshuffle(data: Uint8Array, size: number): Uint8Array {
  if (size <= 1 || data.length < size) return data;
  const count = Math.floor(data.length / size);
  const out = new Uint8Array(data.length);
  for (let b = 0; b < size; b++) {
    const from = b * count;
    for (let i = 0, o = b; i < count; i++, o += size) out[o] = data[from + i];
  }
  out.set(data.subarray(count * size), count * size);
  return out;
}
