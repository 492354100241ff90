/**
 * Writing vectors (and ids) to an HDF5 file in slices, under a temporary name that becomes the final name only
 * when the file is complete: a failed or interrupted export never leaves a partial file under its final name.
 *
 * @module
 */
import { MilvusdmError } from "../errors.ts";
import type { Batch, VectorType } from "../types.ts";
import { h5, hdf5Call } from "./h5.ts";

/** Options of {@linkcode createHdf5Writer}. */
export interface Hdf5WriterOptions {
  /** Vector dimension (bits for binary). */
  dim: number;
  /** Float or binary vectors (binary: uint8 rows of dim/8 bytes). */
  vectorType: VectorType;
  /** Whether rows carry ids (an `ids` int64 dataset). */
  withIds: boolean;
  /** File attributes (strings and numbers). */
  attributes?: Record<string, string | number>;
  /** Rows per HDF5 chunk (default: about 1 MiB of vectors). */
  chunkRows?: number;
  /** Vectors dataset name (default `embeddings`). */
  embeddingsDataset?: string;
}

/** An HDF5 file being written. */
export interface Hdf5Writer {
  /** The final path. */
  readonly path: string;
  /** Rows written so far. */
  readonly rows: number;
  /** Appends a batch. */
  append(batch: Batch): void;
  /** Completes the file and moves it to its final name. */
  commit(): Promise<void>;
  /** Closes and removes the partial file. */
  abort(): Promise<void>;
}

/**
 * Creates an HDF5 file for vectors at `path` (written as `path.partial` until {@linkcode Hdf5Writer.commit}).
 *
 * Every h5wasm call is checked (h5wasm ignores the status of a failed write): a full disk or any HDF5 error ends
 * in an `OUTPUT_ERROR`.
 *
 * @example
 * ```ts
 * const w = await createHdf5Writer("out.h5", { dim: 128, vectorType: "float", withIds: true });
 * w.append(batch);
 * await w.commit();
 * ```
 */
export async function createHdf5Writer(path: string, options: Hdf5WriterOptions): Promise<Hdf5Writer> {
  const lib = await h5();
  const partial = `${path}.partial`;
  const { dim, vectorType, withIds } = options;
  const cols = vectorType === "float" ? dim : dim / 8;
  if (!Number.isInteger(cols) || cols <= 0) {
    throw new MilvusdmError("INTERNAL", `Cannot write vectors of dimension ${dim} (${vectorType})`);
  }
  const rowBytes = vectorType === "float" ? cols * 4 : cols;
  const chunkRows = options.chunkRows ?? Math.max(1, Math.min(65536, Math.floor((1 << 20) / rowBytes)));
  await Deno.remove(partial).catch(() => {});
  const output = <T>(failure: string, fn: () => T, memory = 0): T => {
    try {
      return hdf5Call(failure, fn, { memory: memory + 2 * chunkRows * rowBytes });
    } catch (error) {
      const message = error instanceof MilvusdmError ? error.message : `${failure}: ${String(error)}`;
      throw new MilvusdmError("OUTPUT_ERROR", message, { cause: error });
    }
  };
  const file = output(`Cannot create "${partial}"`, () => {
    const created = new lib.File(partial, "w");
    if (typeof created.file_id !== "bigint" || created.file_id < 0n) throw new Error("the HDF5 library refused it");
    return created;
  });
  let open = true;
  const close = () => {
    if (open) {
      open = false;
      output(`Writing "${partial}" failed`, () => {
        const status = file.close();
        if (typeof status === "number" && status < 0) throw new Error(`closing returned status ${status}`);
      });
    }
  };
  const embName = options.embeddingsDataset ?? "embeddings";
  let emb: ReturnType<typeof file.create_dataset>;
  let ids: ReturnType<typeof file.create_dataset> | null;
  try {
    emb = output(`Cannot create "${partial}"`, () =>
      file.create_dataset({
        name: embName,
        data: vectorType === "float" ? new Float32Array(0) : new Uint8Array(0),
        shape: [0, cols],
        maxshape: [null, cols],
        chunks: [chunkRows, cols],
        dtype: vectorType === "float" ? "<f" : "<B",
      }));
    ids = withIds
      ? output(`Cannot create "${partial}"`, () =>
        file.create_dataset({
          name: "ids",
          data: new BigInt64Array(0),
          shape: [0],
          maxshape: [null],
          chunks: [Math.max(chunkRows, 1024)],
          dtype: "<q",
        }))
      : null;
    for (const [key, value] of Object.entries(options.attributes ?? {})) {
      output(`Cannot write attribute "${key}" to "${partial}"`, () => file.create_attribute(key, value));
    }
  } catch (error) {
    try {
      close();
    } catch {
      // the first error is the one to report
    }
    await Deno.remove(partial).catch(() => {});
    throw error;
  }
  let rows = 0;
  return {
    path,
    get rows() {
      return rows;
    },
    append(batch: Batch) {
      if (!checkAppend(batch, { path, open, dim, withIds })) return;
      const end = rows + batch.rows;
      const failure = `Writing "${partial}" failed (disk full?)`;
      output(failure, () => {
        emb.resize([end, cols]);
        emb.write_slice([[rows, end], [0, cols]], ownBuffer(batch.vectors));
      }, batch.vectors.byteLength * 2);
      if (ids && batch.ids) {
        const batchIds = batch.ids;
        output(failure, () => {
          ids!.resize([end]);
          ids!.write_slice([[rows, end]], ownBuffer(batchIds));
        }, batchIds.byteLength * 2);
      }
      rows = end;
    },
    async commit() {
      try {
        output(`Writing "${partial}" failed`, () => file.flush());
        close();
      } catch (error) {
        try {
          close();
        } catch {
          // the first error is the one to report
        }
        await Deno.remove(partial).catch(() => {});
        throw error;
      }
      try {
        await Deno.rename(partial, path);
      } catch (error) {
        await Deno.remove(partial).catch(() => {});
        throw new MilvusdmError("OUTPUT_ERROR", `Cannot move "${partial}" to "${path}": ${String(error)}`, {
          cause: error,
        });
      }
    },
    async abort() {
      try {
        close();
      } catch {
        // the partial file is removed anyway
      } finally {
        await Deno.remove(partial).catch(() => {});
      }
    },
  };
}

/**
 * Checks a batch an {@linkcode Hdf5Writer} is asked to append (both writers); false for an empty batch, which is
 * skipped.
 */
export function checkAppend(
  batch: Batch,
  file: { path: string; open: boolean; dim: number; withIds: boolean },
): boolean {
  if (!file.open) throw new MilvusdmError("INTERNAL", `"${file.path}" is already closed`);
  if (batch.rows === 0) return false;
  if (batch.dim !== file.dim) {
    throw new MilvusdmError("INTERNAL", `Batch of dim ${batch.dim} into a file of dim ${file.dim}`);
  }
  if (file.withIds && !batch.ids) throw new MilvusdmError("INTERNAL", `Batch without ids into "${file.path}"`);
  return true;
}

/** h5wasm writes a typed array's whole buffer from offset 0: hand it a view that owns its buffer exactly. */
function ownBuffer<T extends Float32Array | Uint8Array | BigInt64Array>(a: T): T {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : a.slice() as T;
}
