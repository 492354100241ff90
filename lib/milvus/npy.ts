/**
 * NumPy `.npy` files (format 1.0) written by streaming: the header carries the final shape, then the rows are
 * appended as they come. Used for Milvus's bulk import (one file per field).
 *
 * @module
 */
import { MilvusdmError } from "../errors.ts";

/** The dtypes milvusdm writes. */
export type NpyDtype = "<i8" | "<f4" | "|u1";

/** The bytes of a `.npy` header for an array of `shape` and `dtype`, padded to 64 bytes. */
export function npyHeader(dtype: NpyDtype, shape: number[]): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const unpadded = 10 + dict.length + 1;
  dict += " ".repeat((64 - (unpadded % 64)) % 64) + "\n";
  const out = new Uint8Array(10 + dict.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]); // \x93NUMPY v1.0
  new DataView(out.buffer).setUint16(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) out[10 + i] = dict.charCodeAt(i);
  return out;
}

/** A `.npy` file being written: create with the final shape, append rows, close (checks the row count). */
export class NpyWriter {
  readonly path: string;
  readonly #file: Deno.FsFile;
  readonly #expectedBytes: number;
  #written = 0;

  private constructor(path: string, file: Deno.FsFile, expectedBytes: number) {
    this.path = path;
    this.#file = file;
    this.#expectedBytes = expectedBytes;
  }

  /** Creates the file with its header. */
  static async create(path: string, dtype: NpyDtype, shape: number[], itemBytes: number): Promise<NpyWriter> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { write: true, create: true, truncate: true });
      await writeAll(file, npyHeader(dtype, shape));
    } catch (error) {
      throw new MilvusdmError("OUTPUT_ERROR", `Cannot write "${path}": ${String(error)}`, { cause: error });
    }
    return new NpyWriter(path, file, shape.reduce((a, b) => a * b, 1) * itemBytes);
  }

  /** Appends raw little-endian bytes. */
  async append(bytes: Uint8Array): Promise<void> {
    try {
      await writeAll(this.#file, bytes);
    } catch (error) {
      throw new MilvusdmError("OUTPUT_ERROR", `Writing "${this.path}" failed (disk full?): ${String(error)}`, {
        cause: error,
      });
    }
    this.#written += bytes.length;
  }

  /** Closes the file; the bytes written must match the header's shape. */
  close(): void {
    this.#file.close();
    if (this.#written !== this.#expectedBytes) {
      throw new MilvusdmError(
        "INTERNAL",
        `"${this.path}" got ${this.#written} bytes of data, its header says ${this.#expectedBytes}`,
      );
    }
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += await file.write(bytes.subarray(done));
}
