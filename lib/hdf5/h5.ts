/**
 * Loading h5wasm once, and calling it safely.
 *
 * - A file's existence and HDF5 signature are checked before h5wasm sees it, because h5wasm "opens" a missing or
 *   non-HDF5 file without throwing.
 * - The HDF5 C library reports errors by printing an "HDF5-DIAG" error stack to stderr and returning a negative
 *   status, which h5wasm often ignores (a failed read returns uninitialised memory). h5wasm's optional throwing error
 *   handler unwinds through HDF5's C frames and leaks the handles and file descriptors it skips, so instead the
 *   error stack is captured here (h5wasm's stderr writes go through its `FS.write`), never printed, and
 *   {@linkcode hdf5Call} turns a thrown error, a WebAssembly trap or a captured error stack into a typed
 *   `HDF5_INVALID` error whose message is the innermost HDF5 error. Set `MILVUSDM_HDF5_DIAG=1` to print the stacks.
 *
 * @module
 */
import type H5wasmDefault from "h5wasm/node";
import { MilvusdmError } from "../errors.ts";
import { type ByteSource, fileOpenError } from "../bytes.ts";

type H5wasm = typeof H5wasmDefault;

/**
 * h5wasm, imported on first use: compiling its WebAssembly costs about 0.1 CPU s, which F2M, M2M and M2H (whose
 * writer does not use it) do not pay.
 */
let loaded: H5wasm | null = null;
async function load(): Promise<H5wasm> {
  loaded ??= (await import("h5wasm/node")).default;
  return loaded;
}

/** The h5wasm module object (the emscripten Module: `_malloc`, `HEAPU8`, `get_dataset_data`, ...). */
export type H5Module = Awaited<H5wasm["ready"]>;

const MAX_DIAGNOSTICS = 16 << 10;
/**
 * What an h5wasm call may add to its WebAssembly memory beyond what the call declares it needs (and a fifth of the
 * current size, emscripten's growth step): room for the library's metadata cache and chunk cache.
 */
export const HDF5_MEMORY_HEADROOM = 32 << 20;
let diagnostics = "";
let capturing = false;
let crashed: string | null = null;
/** The most bytes h5wasm's memory may grow to during the current guarded call. */
let memoryLimit = Infinity;
let ready: H5Module | null = null;

/** The h5wasm module, ready, with HDF5's error stack output captured instead of printed. */
export async function h5(): Promise<H5wasm> {
  const h5wasm = await load();
  const module = await h5wasm.ready;
  if (!capturing) {
    ready = module;
    captureDiagnostics(module);
    limitMemoryGrowth(module);
  }
  return h5wasm;
}

/** The ready emscripten module behind h5wasm (for calls the high-level API does not offer). */
export async function h5Module(): Promise<H5Module> {
  await h5();
  return await (await load()).ready;
}

function captureDiagnostics(module: H5Module): void {
  capturing = true;
  const echo = Deno.env.get("MILVUSDM_HDF5_DIAG") === "1";
  const fs = module.FS as unknown as { write: (...args: unknown[]) => number };
  const write = fs.write;
  const decoder = new TextDecoder();
  fs.write = function (this: unknown, ...args: unknown[]): number {
    const [stream, buffer, offset, length] = args as [{ fd?: number } | null, ArrayBufferView, number, number];
    if (stream?.fd === 2 && !echo && ArrayBuffer.isView(buffer)) {
      // emscripten passes its Int8Array heap
      diagnostics += decoder.decode(new Uint8Array(buffer.buffer, buffer.byteOffset + offset, length));
      if (diagnostics.length > MAX_DIAGNOSTICS) diagnostics = diagnostics.slice(-MAX_DIAGNOSTICS);
      return length;
    }
    return write.apply(this, args);
  };
}

/**
 * A corrupt size field (a heap, a string, a chunk) makes the HDF5 library ask for as much memory as it claims, and
 * WebAssembly memory never shrinks. During a guarded call ({@linkcode hdf5Call}) h5wasm's memory may only grow
 * by a bounded amount, so such an allocation fails inside the library (which reports an error) instead of
 * reserving gigabytes. Other WebAssembly memories are not affected.
 */
function limitMemoryGrowth(module: H5Module): void {
  const proto = WebAssembly.Memory.prototype;
  const grow = proto.grow;
  proto.grow = function (this: WebAssembly.Memory, delta: number): number {
    if (memoryLimit !== Infinity && this.buffer === module.HEAPU8.buffer) {
      const wanted = this.buffer.byteLength + delta * 65536;
      if (wanted > memoryLimit) {
        throw new RangeError(`milvusdm limits h5wasm to ${memoryLimit} bytes here, ${wanted} were asked`);
      }
    }
    return grow.call(this, delta);
  };
}

/** Whether the HDF5 library crashed (a WebAssembly trap or abort): it is not used again in this process. */
export function hdf5Crashed(): boolean {
  return crashed !== null;
}

/** Returns and clears the HDF5 error stack text captured since the last call. */
export function takeHdf5Diagnostics(): string {
  const text = diagnostics;
  diagnostics = "";
  return text;
}

/**
 * The innermost error of a captured HDF5 error stack, e.g. `truncated file: eof = 1000, ... stored_eof = 74048`,
 * or null when there is none.
 */
export function summarizeHdf5Diagnostics(text: string): string | null {
  const errors: { fn: string; message: string }[] = [];
  for (const line of text.split("\n")) {
    const match = line.match(/^\s*#\d+: .*? in ([\w.]+)\(\): (.*)$/);
    if (match) errors.push({ fn: match[1], message: match[2].trim() });
  }
  // The innermost error, but not the plugin search's complaints about its folders.
  const useful = errors.filter((e) => !e.fn.startsWith("H5PL"));
  const last = (useful.length ? useful : errors).at(-1);
  if (last) return `${last.message} (${last.fn})`;
  const first = text.split("\n").map((l) => l.trim()).find((l) => l && !l.startsWith("HDF5-DIAG"));
  return first ?? null;
}

/** Options of {@linkcode hdf5Call}. */
export interface Hdf5CallOptions {
  /** Treat an HDF5 error stack printed during the call as a failure even when the call returned (default true). */
  strict?: boolean;
  /** Bytes of h5wasm memory the call needs (a read buffer), beyond a fixed headroom for the library's own use. */
  memory?: number;
}

/**
 * Runs an h5wasm call and turns its failures into typed errors: a thrown error, a WebAssembly trap (after which
 * h5wasm is not used again in this process) or, when `strict`, an HDF5 error stack printed during the call.
 * `failure` starts the message, e.g. `Dataset "embeddings" of "a.h5" cannot be read`.
 *
 * @example
 * ```ts
 * const names = hdf5Call(`"a.h5" cannot be listed`, () => file.keys());
 * ```
 */
export function hdf5Call<T>(failure: string, fn: () => T, options: Hdf5CallOptions = {}): T {
  if (crashed !== null) {
    throw new MilvusdmError(
      "HDF5_INVALID",
      `${failure}: the HDF5 library crashed earlier in this process (${crashed}) and cannot be used again`,
    );
  }
  takeHdf5Diagnostics();
  let result: T;
  const heap = ready?.HEAPU8.length;
  if (heap !== undefined) memoryLimit = heap * 1.2 + HDF5_MEMORY_HEADROOM + (options.memory ?? 0);
  try {
    result = fn();
  } catch (error) {
    const detail = summarizeHdf5Diagnostics(takeHdf5Diagnostics());
    if (error instanceof MilvusdmError) throw error;
    if (error instanceof WebAssembly.RuntimeError) {
      crashed = `${failure}: ${error.message}`;
      throw new MilvusdmError(
        "HDF5_INVALID",
        `${failure}: the HDF5 library crashed (${error.message})${detail ? `; ${detail}` : ""}`,
        { cause: error, hint: "The file is probably corrupt; check it with h5dump or h5py" },
      );
    }
    const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new MilvusdmError("HDF5_INVALID", `${failure}: ${detail ?? message}`, {
      cause: error,
      hint: hintFor(detail),
    });
  } finally {
    memoryLimit = Infinity;
  }
  const text = takeHdf5Diagnostics();
  if (options.strict !== false && text) {
    const detail = summarizeHdf5Diagnostics(text);
    throw new MilvusdmError("HDF5_INVALID", `${failure}: ${detail ?? "HDF5 error"}`, { hint: hintFor(detail) });
  }
  return result;
}

function hintFor(detail: string | null): string | undefined {
  const filter = detail?.match(/required filter '([^']+)' is not registered/)?.[1];
  if (filter) {
    return `The file is compressed with the "${filter}" filter, which milvusdm cannot decode; rewrite it with gzip ` +
      `(e.g. h5repack -f GZIP=4 in.h5 out.h5)`;
  }
  return undefined;
}

/**
 * The address of an object's header (relative to the file's base address), from an HDF5 object reference.
 * `what` names the object in messages, e.g. `Dataset "embeddings" in "a.h5"`.
 */
export function hdf5ObjectAddress(module: H5Module, fileId: bigint, path: string, what: string): number {
  const ref = hdf5Call(
    `${what} cannot be located`,
    () => module.create_object_reference(fileId, path) as unknown as ArrayLike<number>,
  );
  let address = 0;
  for (let i = Math.min(ref.length, 8) - 1; i >= 0; i--) address = address * 256 + ref[i];
  if (!Number.isSafeInteger(address) || address <= 0) {
    throw new MilvusdmError("HDF5_INVALID", `${what} has no object address`);
  }
  return address;
}

const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Where the HDF5 superblock signature is: at 0 or after a power-of-two user block of at least 512 bytes (up to
 * 1 MiB), or null when the file has none.
 */
export async function findHdf5Signature(path: string): Promise<number | null> {
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
      if (got === 8 && SIGNATURE.every((b, i) => buf[i] === b)) return offset;
      if (offset >= 1 << 20) break;
    }
    return null;
  } finally {
    file.close();
  }
}

/** {@linkcode findHdf5Signature} in an open byte source. */
export async function findHdf5SignatureIn(source: ByteSource): Promise<number | null> {
  const buf = new Uint8Array(8);
  for (let offset = 0; offset + 8 <= source.size; offset = offset === 0 ? 512 : offset * 2) {
    await source.readInto(offset, buf);
    if (SIGNATURE.every((b, i) => buf[i] === b)) return offset;
    if (offset >= 1 << 20) break;
  }
  return null;
}

/** Whether the file at `path` starts with an HDF5 superblock signature (at 0 or a power-of-two user block). */
export async function hasHdf5Signature(path: string): Promise<boolean> {
  return (await findHdf5Signature(path)) !== null;
}

/** An HDF5 file opened by {@linkcode openHdf5File}. */
export interface OpenedHdf5File {
  /** The h5wasm file. */
  file: InstanceType<H5wasm["File"]>;
  /** Where the HDF5 signature (the superblock) is: 0, or the size of a user block. */
  signatureAt: number;
}

/**
 * Opens an existing HDF5 file read-only, with typed errors for a missing file or one that is not HDF5, and says
 * where its superblock is.
 */
export async function openHdf5File(path: string): Promise<OpenedHdf5File> {
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(path);
  } catch (error) {
    throw fileOpenError(path, error);
  }
  if (!stat.isFile) throw new MilvusdmError("SOURCE_INVALID", `"${path}" is not a file`);
  let signatureAt: number | null;
  try {
    signatureAt = await findHdf5Signature(path);
  } catch (error) {
    throw fileOpenError(path, error);
  }
  if (signatureAt === null) {
    throw new MilvusdmError("HDF5_INVALID", `"${path}" is not an HDF5 file (no HDF5 signature)`, {
      hint: "H2M reads .h5/.hdf5 files written by h5py, HDF5 tools or milvusdm",
    });
  }
  const lib = await h5();
  const failure = `"${path}" cannot be opened as HDF5`;
  let refused: string | null = null;
  const file = hdf5Call(failure, () => {
    const opened = new lib.File(path, "r");
    if (typeof opened.file_id !== "bigint" || opened.file_id < 0n) {
      refused = summarizeHdf5Diagnostics(takeHdf5Diagnostics()) ?? "the HDF5 library refused it";
    }
    return opened;
  }, { strict: false });
  if (refused !== null) throw new MilvusdmError("HDF5_INVALID", `${failure}: ${refused}`);
  return { file, signatureAt };
}

/** Opens an existing HDF5 file read-only, with typed errors for a missing file or one that is not HDF5. */
export async function openHdf5ReadOnly(path: string): Promise<InstanceType<H5wasm["File"]>> {
  return (await openHdf5File(path)).file;
}
