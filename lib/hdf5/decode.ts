/**
 * Decoding bands of chunks (band.ts) inline or on worker threads: inflating is most of the cost of reading
 * gzip-chunked data, and a few workers spread it, and the placing of narrow chunks, over the machine's cores
 * while the caller consumes the previous band.
 *
 * A worker that cannot start (e.g. in a binary compiled without its module) is not an error: its pending bands,
 * and all later ones, are decoded inline. Idle workers end after a short delay, so a source that is never closed
 * does not keep the process alive.
 *
 * @module
 */
import { type ErrorCode, MilvusdmError } from "../errors.ts";
import { type BandRequest, type BandResponse, type BandSpec, decodeBand, type StoredChunk } from "./band.ts";

/** Reads one stored chunk of a band (into a buffer of its own, which is transferred to a worker). */
export interface ChunkRead {
  read(): Promise<Uint8Array>;
  /** Filters skipped for this chunk. */
  mask: number;
  /** The chunk, for error messages. */
  what: string;
}

/** Decodes bands of stored chunks. */
export interface BandDecoder {
  /** Worker threads used (0: inline). */
  readonly threads: number;
  /** Reads the stored chunks of a band, left to right, and decodes the band. */
  decode(chunks: ChunkRead[], spec: BandSpec): Promise<Uint8Array>;
  /** Ends the workers. */
  close(): void;
}

async function readAll(chunks: ChunkRead[]): Promise<StoredChunk[]> {
  const parts: StoredChunk[] = [];
  for (const chunk of chunks) parts.push({ stored: await chunk.read(), mask: chunk.mask, what: chunk.what });
  return parts;
}

/** Decodes on the calling thread. */
export function inlineDecoder(): BandDecoder {
  return {
    threads: 0,
    async decode(chunks: ChunkRead[], spec: BandSpec): Promise<Uint8Array> {
      return decodeBand(spec, await readAll(chunks));
    },
    close() {},
  };
}

/** Workers idle this long end (a slow consumer between bands pays a restart, an unclosed source a short wait). */
const IDLE_MS = 1000;

interface Task {
  chunks: ChunkRead[];
  spec: BandSpec;
  resolve: (data: Uint8Array) => void;
  reject: (error: unknown) => void;
}

interface Thread {
  worker: Worker;
  tasks: Map<number, Task>;
}

/**
 * Decodes on up to `threads` workers (started on first use).
 *
 * @example
 * ```ts
 * const decoder = workerDecoder(2);
 * const band = await decoder.decode([{ read: () => Deno.readFile("chunk.bin"), mask: 0, what: "chunk" }], spec);
 * decoder.close();
 * ```
 */
export function workerDecoder(threads: number): BandDecoder {
  const inline = inlineDecoder();
  const pool: Thread[] = [];
  let broken = false;
  let closed = false;
  let nextId = 1;
  let idleTimer: ReturnType<typeof setTimeout> | undefined;

  const stop = () => {
    if (idleTimer !== undefined) clearTimeout(idleTimer);
    idleTimer = undefined;
    for (const thread of pool.splice(0)) {
      thread.worker.terminate();
      for (const task of thread.tasks.values()) task.reject(new MilvusdmError("ABORTED", "Decoding was stopped"));
    }
  };
  const fail = (thread: Thread) => {
    // The worker cannot run: decode its bands (read again: their bytes went to the worker), and every later one,
    // here.
    broken = true;
    thread.worker.terminate();
    const at = pool.indexOf(thread);
    if (at >= 0) pool.splice(at, 1);
    const tasks = [...thread.tasks.values()];
    thread.tasks.clear();
    for (const task of tasks) inline.decode(task.chunks, task.spec).then(task.resolve, task.reject);
  };
  const scheduleIdle = () => {
    if (idleTimer !== undefined) clearTimeout(idleTimer);
    idleTimer = undefined;
    if (pool.every((t) => t.tasks.size === 0)) idleTimer = setTimeout(stop, IDLE_MS);
  };
  const start = (): Thread => {
    const worker = new Worker(new URL("./decode_worker.ts", import.meta.url).href, { type: "module" });
    const thread: Thread = { worker, tasks: new Map() };
    worker.onmessage = (event: MessageEvent<BandResponse>) => {
      const response = event.data;
      const task = thread.tasks.get(response.id);
      if (!task) return;
      thread.tasks.delete(response.id);
      if (response.error) task.reject(new MilvusdmError(response.error.code as ErrorCode, response.error.message));
      else task.resolve(response.data!);
      scheduleIdle();
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      fail(thread);
    };
    worker.onmessageerror = () => fail(thread);
    pool.push(thread);
    return thread;
  };

  return {
    threads,
    async decode(chunks: ChunkRead[], spec: BandSpec): Promise<Uint8Array> {
      if (broken || closed) return await inline.decode(chunks, spec);
      const parts = await readAll(chunks);
      for (const part of parts) {
        const s = part.stored;
        if (s.byteOffset !== 0 || s.byteLength !== s.buffer.byteLength) part.stored = s.slice();
      }
      if (idleTimer !== undefined) clearTimeout(idleTimer);
      idleTimer = undefined;
      let thread: Thread;
      try {
        thread = pool.length < threads ? start() : pool.reduce((a, b) => (b.tasks.size < a.tasks.size ? b : a));
      } catch {
        broken = true;
        return decodeBand(spec, parts);
      }
      return await new Promise<Uint8Array>((resolve, reject) => {
        const id = nextId++;
        thread.tasks.set(id, { chunks, spec, resolve, reject });
        const request: BandRequest = { id, spec, parts };
        thread.worker.postMessage(request, parts.map((p) => p.stored.buffer as ArrayBuffer));
      });
    },
    close() {
      closed = true;
      stop();
    },
  };
}
