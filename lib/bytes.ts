/**
 * The byte-source abstraction and the little-endian cursor every binary reader shares.
 *
 * A {@linkcode ByteSource} is anything that can return the bytes at a position: a local file read by position or
 * an in-memory buffer (an object-store range read fits the same interface). A {@linkcode Cursor} reads
 * little-endian fields from a source and checks every read, and every count used to size an allocation, against
 * the bytes that remain, so a corrupt length field gives a typed error instead of a huge allocation.
 *
 * @module
 */
import { MilvusdmError } from "./errors.ts";

/** Random-access bytes: a file, a buffer, or (one day) a ranged HTTP/S3 read. */
export interface ByteSource {
  /** Where the bytes come from, for error messages (a path or a label). */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /** Fills `target` with the bytes starting at `offset`; a read past the end is an error. */
  readInto(offset: number, target: Uint8Array): Promise<void>;
  /** Releases the underlying handle. */
  close(): void;
}

/**
 * Opens a local file read-only as a {@linkcode ByteSource}.
 *
 * @example
 * ```ts
 * const src = await openFileSource("/data/index.faiss");
 * try { console.log(src.size); } finally { src.close(); }
 * ```
 */
export function openFileSource(path: string): Promise<ByteSource> {
  // Opened synchronously, as it is read: a local open takes microseconds, while each asynchronous op waits for a
  // thread of the blocking pool (0.15 ms each here, 0.5-1 ms for the first one of a process). Errors still reject.
  try {
    return Promise.resolve(openFileSourceSync(path));
  } catch (error) {
    return Promise.reject(error);
  }
}

function openFileSourceSync(path: string): ByteSource {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true, write: false });
  } catch (error) {
    throw fileOpenError(path, error);
  }
  let stat: Deno.FileInfo;
  try {
    stat = file.statSync();
  } catch (error) {
    file.close();
    throw fileOpenError(path, error);
  }
  if (!stat.isFile) {
    file.close();
    throw new MilvusdmError("SOURCE_INVALID", `"${path}" is not a regular file`);
  }
  const size = stat.size;
  let closed = false;
  // The file position after the last read (NaN: unknown). Readers mostly read on from where they stopped (a Flat
  // index batch after batch, an inverted list's ids after its codes), which needs no seek.
  let position = NaN;
  return {
    name: path,
    size,
    readInto(offset: number, target: Uint8Array): Promise<void> {
      checkRange(path, size, offset, target.length);
      // seekSync + readSync run without yielding, so concurrent callers cannot interleave their seeks.
      const at = position;
      position = NaN; // until this read completes
      if (offset !== at) file.seekSync(offset, Deno.SeekMode.Start);
      let done = 0;
      while (done < target.length) {
        const n = file.readSync(target.subarray(done));
        if (n === null || n === 0) {
          throw new MilvusdmError("SOURCE_TRUNCATED", `"${path}" ended at byte ${offset + done} while reading`);
        }
        done += n;
      }
      position = offset + done;
      return Promise.resolve();
    },
    close(): void {
      if (!closed) {
        closed = true;
        file.close();
      }
    },
  };
}

/** Wraps bytes already in memory as a {@linkcode ByteSource}. */
export function bufferSource(bytes: Uint8Array, name = "buffer"): ByteSource {
  return {
    name,
    size: bytes.length,
    readInto(offset: number, target: Uint8Array): Promise<void> {
      checkRange(name, bytes.length, offset, target.length);
      target.set(bytes.subarray(offset, offset + target.length));
      return Promise.resolve();
    },
    close(): void {},
  };
}

/**
 * The first `size` bytes of `source` as a source of their own: reads past them fail as past the end of a file.
 * Closing it closes `source`.
 *
 * @example
 * ```ts
 * const head = sourceHead(await openFileSource("a.h5"), 4096);
 * ```
 */
export function sourceHead(source: ByteSource, size: number): ByteSource {
  if (!(Number.isSafeInteger(size) && size >= 0 && size <= source.size)) {
    throw new MilvusdmError("INTERNAL", `A head of ${size} bytes of "${source.name}" (${source.size} bytes)`);
  }
  return {
    name: source.name,
    size,
    readInto(offset: number, target: Uint8Array): Promise<void> {
      checkRange(source.name, size, offset, target.length);
      return source.readInto(offset, target);
    },
    close: () => source.close(),
  };
}

/** The typed error for a file that cannot be opened. */
export function fileOpenError(path: string, error: unknown): MilvusdmError {
  if (error instanceof Deno.errors.NotFound) {
    return new MilvusdmError("SOURCE_NOT_FOUND", `File "${path}" does not exist`, { cause: error });
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return new MilvusdmError("SOURCE_INVALID", `File "${path}" cannot be read: permission denied`, { cause: error });
  }
  if (error instanceof Deno.errors.IsADirectory) {
    return new MilvusdmError("SOURCE_INVALID", `"${path}" is a directory, expected a file`, { cause: error });
  }
  return new MilvusdmError("SOURCE_INVALID", `File "${path}" cannot be opened: ${String(error)}`, { cause: error });
}

function checkRange(name: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > size) {
    throw new MilvusdmError(
      "SOURCE_TRUNCATED",
      `"${name}" is too short: needed bytes ${offset}..${offset + length}, the file has ${size}`,
    );
  }
}

const WINDOW = 1 << 16;

/**
 * A little-endian reader over a {@linkcode ByteSource} with checked reads.
 *
 * Small fields are served from a read-ahead window; large arrays are read straight into their own buffer.
 *
 * @example
 * ```ts
 * const c = new Cursor(bufferSource(new Uint8Array([1, 0, 0, 0])));
 * console.log(await c.u32()); // 1
 * ```
 */
export class Cursor {
  readonly source: ByteSource;
  #pos: number;
  #win = new Uint8Array(0);
  #winStart = 0;
  #view = new DataView(this.#win.buffer);

  readonly #window: number;

  /** A cursor at `offset`; small reads load `window` bytes ahead (default 64 KiB; less for a few scattered fields). */
  constructor(source: ByteSource, offset = 0, window = WINDOW) {
    this.source = source;
    this.#pos = offset;
    this.#window = window;
  }

  /** The current position. */
  get offset(): number {
    return this.#pos;
  }

  /** Bytes left after the current position. */
  get remaining(): number {
    return this.source.size - this.#pos;
  }

  /** Moves to an absolute position (checked). */
  seek(offset: number): void {
    if (offset < 0 || offset > this.source.size) {
      throw this.#truncated(offset - this.#pos, "a seek");
    }
    this.#pos = offset;
  }

  /** Skips `n` bytes (checked). */
  skip(n: number, what = "data"): void {
    this.need(n, what);
    this.#pos += n;
  }

  /** Throws `SOURCE_TRUNCATED` unless `n` more bytes remain. */
  need(n: number, what = "data"): void {
    if (!Number.isSafeInteger(n) || n < 0 || n > this.remaining) throw this.#truncated(n, what);
  }

  /**
   * Checks a count read from the file before it sizes anything: `count * elementSize` bytes must remain.
   * Returns the count as a number.
   */
  count(count: number | bigint, elementSize: number, what: string): number {
    const n = typeof count === "bigint" ? bigToSafe(count) : count;
    if (n === null || n < 0 || !Number.isSafeInteger(n) || n * elementSize > this.remaining) {
      throw new MilvusdmError(
        "SOURCE_TRUNCATED",
        `"${this.source.name}": ${what} count ${count} at byte ${this.#pos} needs ${
          n === null || n < 0 ? "an impossible number of" : n * elementSize
        } bytes, only ${this.remaining} remain (corrupt or truncated file)`,
      );
    }
    return n;
  }

  async #fill(n: number, what: string): Promise<number> {
    this.need(n, what);
    const rel = this.#pos - this.#winStart;
    if (rel >= 0 && rel + n <= this.#win.length) return rel;
    const len = Math.min(Math.max(n, this.#window), this.source.size - this.#pos);
    const win = new Uint8Array(len);
    await this.source.readInto(this.#pos, win);
    this.#win = win;
    this.#winStart = this.#pos;
    this.#view = new DataView(win.buffer);
    return 0;
  }

  /** Reads an unsigned byte. */
  async u8(what = "byte"): Promise<number> {
    const at = await this.#fill(1, what);
    this.#pos += 1;
    return this.#win[at];
  }

  /** Reads a 32-bit signed integer. */
  async i32(what = "int32"): Promise<number> {
    const at = await this.#fill(4, what);
    this.#pos += 4;
    return this.#view.getInt32(at, true);
  }

  /** Reads a 32-bit unsigned integer. */
  async u32(what = "uint32"): Promise<number> {
    const at = await this.#fill(4, what);
    this.#pos += 4;
    return this.#view.getUint32(at, true);
  }

  /** Reads a 64-bit signed integer. */
  async i64(what = "int64"): Promise<bigint> {
    const at = await this.#fill(8, what);
    this.#pos += 8;
    return this.#view.getBigInt64(at, true);
  }

  /** Reads a 64-bit unsigned integer. */
  async u64(what = "uint64"): Promise<bigint> {
    const at = await this.#fill(8, what);
    this.#pos += 8;
    return this.#view.getBigUint64(at, true);
  }

  /** Reads a 64-bit integer that must be a non-negative safe integer (a size or a count). */
  async size64(what: string): Promise<number> {
    const start = this.#pos;
    const v = await this.i64(what);
    const n = bigToSafe(v);
    if (n === null || n < 0) {
      throw new MilvusdmError(
        "SOURCE_INVALID",
        `"${this.source.name}": ${what} at byte ${start} is ${v}, expected a size (corrupt file)`,
      );
    }
    return n;
  }

  /** Reads a 32-bit float. */
  async f32(what = "float32"): Promise<number> {
    const at = await this.#fill(4, what);
    this.#pos += 4;
    return this.#view.getFloat32(at, true);
  }

  /** Reads a 64-bit float. */
  async f64(what = "float64"): Promise<number> {
    const at = await this.#fill(8, what);
    this.#pos += 8;
    return this.#view.getFloat64(at, true);
  }

  /** Reads four bytes as an ASCII tag (a Faiss fourcc). */
  async fourcc(what = "fourcc"): Promise<string> {
    const at = await this.#fill(4, what);
    this.#pos += 4;
    const w = this.#win;
    return String.fromCharCode(w[at], w[at + 1], w[at + 2], w[at + 3]);
  }

  /** Reads `n` bytes into a new array (checked before allocating). */
  async bytes(n: number, what = "bytes"): Promise<Uint8Array> {
    this.need(n, what);
    const out = new Uint8Array(n);
    await this.readInto(out, what);
    return out;
  }

  /** Fills `target` from the current position and advances (checked). */
  async readInto(target: Uint8Array, what = "bytes"): Promise<void> {
    this.need(target.length, what);
    const rel = this.#pos - this.#winStart;
    if (rel >= 0 && rel + target.length <= this.#win.length) {
      target.set(this.#win.subarray(rel, rel + target.length));
    } else {
      await this.source.readInto(this.#pos, target);
    }
    this.#pos += target.length;
  }

  /** Reads `n` little-endian float32 values. */
  async f32s(n: number, what = "float32 array"): Promise<Float32Array> {
    const out = new Float32Array(this.count(n, 4, what));
    await this.readInto(new Uint8Array(out.buffer), what);
    return out;
  }

  /** Reads `n` little-endian int64 values. */
  async i64s(n: number, what = "int64 array"): Promise<BigInt64Array> {
    const out = new BigInt64Array(this.count(n, 8, what));
    await this.readInto(new Uint8Array(out.buffer), what);
    return out;
  }

  /** Reads `n` little-endian int32 values. */
  async i32s(n: number, what = "int32 array"): Promise<Int32Array> {
    const out = new Int32Array(this.count(n, 4, what));
    await this.readInto(new Uint8Array(out.buffer), what);
    return out;
  }

  #truncated(n: number, what: string): MilvusdmError {
    return new MilvusdmError(
      "SOURCE_TRUNCATED",
      `"${this.source.name}" is truncated: ${what} at byte ${this.#pos} needs ${n} bytes, only ${this.remaining} remain`,
    );
  }
}

/** A bigint as a number when it is a safe integer, else null. */
export function bigToSafe(v: bigint): number | null {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return Number(v);
}
