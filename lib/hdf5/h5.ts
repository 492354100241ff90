/**
 * Loading h5wasm once, and opening HDF5 files safely: the file's existence and HDF5 signature are checked first,
 * because h5wasm "opens" a missing or non-HDF5 file without throwing.
 *
 * @module
 */
import h5wasm from "h5wasm/node";
import { MilvusdmError } from "../errors.ts";
import { fileOpenError } from "../bytes.ts";

/** The h5wasm module, ready. */
export async function h5(): Promise<typeof h5wasm> {
  await h5wasm.ready;
  return h5wasm;
}

const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** Whether the file at `path` starts with an HDF5 superblock signature (at 0 or a power-of-two user block). */
export async function hasHdf5Signature(path: string): Promise<boolean> {
  const file = await Deno.open(path, { read: true });
  try {
    const size = (await file.stat()).size;
    const buf = new Uint8Array(8);
    for (let offset = 0; offset + 8 <= size; offset = offset === 0 ? 512 : offset * 2) {
      file.seekSync(offset, Deno.SeekMode.Start);
      let got = 0;
      while (got < 8) {
        const n = file.readSync(buf.subarray(got));
        if (!n) break;
        got += n;
      }
      if (got === 8 && SIGNATURE.every((b, i) => buf[i] === b)) return true;
      if (offset >= 1 << 20) break;
    }
    return false;
  } finally {
    file.close();
  }
}

/** Opens an existing HDF5 file read-only, with typed errors for a missing file or one that is not HDF5. */
export async function openHdf5ReadOnly(path: string): Promise<InstanceType<typeof h5wasm.File>> {
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(path);
  } catch (error) {
    throw fileOpenError(path, error);
  }
  if (!stat.isFile) throw new MilvusdmError("SOURCE_INVALID", `"${path}" is not a file`);
  let isHdf5: boolean;
  try {
    isHdf5 = await hasHdf5Signature(path);
  } catch (error) {
    throw fileOpenError(path, error);
  }
  if (!isHdf5) {
    throw new MilvusdmError("HDF5_INVALID", `"${path}" is not an HDF5 file (no HDF5 signature)`, {
      hint: "H2M reads .h5/.hdf5 files written by h5py, HDF5 tools or milvusdm",
    });
  }
  const lib = await h5();
  try {
    return new lib.File(path, "r");
  } catch (error) {
    throw new MilvusdmError("HDF5_INVALID", `"${path}" cannot be opened as HDF5: ${String(error)}`, { cause: error });
  }
}
