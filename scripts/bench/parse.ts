/**
 * One parse-only measurement (no Milvus) for scripts/bench/run.py, in its own process: streams a file through one
 * of milvusdm's readers, or reads it with a plain 4 MB `Deno.readSync` loop, and prints one JSON line
 * ({@linkcode Measurement}). Only the streaming is timed: the runtime, the modules and (for HDF5) the compiled
 * WebAssembly are ready before the clock starts, as `import h5py` is for h5py. The caller warms the page cache.
 *
 *   deno run -A scripts/bench/parse.ts --kind faiss|hdf5|milvus1|read --path P [--batch-bytes 4194304] [--buffers 3]
 *
 * `--path` is the file (Faiss, HDF5, or any file for `read`) or, for `milvus1`, the storage root holding `db/`
 * (its first collection's default partition is streamed). Batches are sized as the migrations size them:
 * `--batch-bytes` of vectors (default 4 MiB, milvusdm's default), read into a few reused buffers as the migrations
 * hand them out (the requests in flight + 1). The read loop reads `--batch-bytes` at a time into as many buffers
 * (`--buffers`, default the same number), so that both write the same memory.
 *
 * @module
 */
import { openFaissSource } from "../../lib/faiss/mod.ts";
import { h5 } from "../../lib/hdf5/h5.ts";
import { openHdf5Source } from "../../lib/hdf5/reader.ts";
import { openMilvus1, partitionSource } from "../../lib/milvus1/mod.ts";
import { DEFAULT_BATCH_BYTES, DEFAULT_IN_FLIGHT, rowsPerBatch } from "../../lib/pipeline.ts";
import {
  type BatchAllocator,
  type BatchMemory,
  bytesPerVector,
  type VectorSource,
  type VectorType,
} from "../../lib/types.ts";
import { cpuSeconds, flag, type Measurement, peakRssMb } from "./measure.ts";

/**
 * A plain loop of `readSync` calls of `--batch-bytes` (default 4 MiB) over the file: the floor any reader of the file
 * is compared with. The reads go into `--buffers` buffers used in turn (default the requests in flight + 1, as many
 * as the readers are given by {@linkcode reusedBuffers}), allocated the same way, so that the loop and the readers
 * write into the same amount of memory placed alike; `--buffers 1` is a loop that rereads into one cache-warm buffer.
 */
function readLoop(path: string): Measurement {
  const batchBytes = Number(flag("batch-bytes", String(DEFAULT_BATCH_BYTES)));
  const count = Number(flag("buffers", String(DEFAULT_IN_FLIGHT + 1)));
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  const buffers = Array.from({ length: count }, () => new Uint8Array(batchBytes));
  const file = Deno.openSync(path, { read: true });
  let bytes = 0;
  for (let i = 0;; i = (i + 1) % count) {
    const n = file.readSync(buffers[i]);
    if (n === null || n === 0) break;
    bytes += n;
  }
  file.close();
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, cpuSeconds: cpuSeconds() - cpu0, peakRssMb: peakRssMb(), rows: 0, bytes };
}

/**
 * Memory the batches are read into, as the migrations hand it out: a few buffers (requests in flight + 1, the
 * default 2 + 1) reused in turn, so that the reader, not the allocator and the garbage collector, is measured.
 * Allocated once the clock runs (their pages are first touched by the first reads), like the read loop's buffers.
 */
function reusedBuffers(vectorType: VectorType, dim: number, maxRows: number): BatchAllocator {
  const count = DEFAULT_IN_FLIGHT + 1;
  const cols = vectorType === "float" ? dim : dim / 8;
  const pool = Array.from({ length: count }, () => ({
    vectors: vectorType === "float" ? new Float32Array(maxRows * cols) : new Uint8Array(maxRows * cols),
    ids: new BigInt64Array(maxRows),
  }));
  let next = 0;
  return (rows: number): BatchMemory => {
    const memory = pool[next];
    next = (next + 1) % count;
    return { vectors: memory.vectors.subarray(0, rows * cols), ids: memory.ids.subarray(0, rows) };
  };
}

/** Streams every batch of a source; `open` is timed too (headers, metadata, index structures). */
async function stream(open: () => Promise<VectorSource>, close: () => Promise<void>): Promise<Measurement> {
  const batchBytes = Number(flag("batch-bytes", String(DEFAULT_BATCH_BYTES)));
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  const source = await open();
  const { vectorType, dim } = source.info;
  const maxRows = rowsPerBatch(bytesPerVector(vectorType, dim), batchBytes);
  let rows = 0, bytes = 0, checksum = 0;
  for await (const batch of source.batches(maxRows, undefined, reusedBuffers(vectorType, dim, maxRows))) {
    rows += batch.rows;
    bytes += batch.vectors.byteLength + (batch.ids?.byteLength ?? 0);
    // Touch the data so that nothing can be skipped.
    checksum += (batch.vectors as Float32Array)[0] + (batch.ids ? Number(batch.ids[0] & 1n) : 0);
  }
  await source.close();
  await close();
  const seconds = (performance.now() - t0) / 1000;
  if (Number.isNaN(checksum)) throw new Error("The vectors read hold NaN");
  return { seconds, cpuSeconds: cpuSeconds() - cpu0, peakRssMb: peakRssMb(), rows, bytes };
}

async function main(): Promise<void> {
  const kind = flag("kind");
  const path = flag("path");
  let result: Measurement;
  if (kind === "read") {
    result = readLoop(path);
  } else if (kind === "faiss") {
    result = await stream(() => openFaissSource(path), async () => {});
  } else if (kind === "hdf5") {
    await h5(); // compiled before the clock starts, like `import h5py`
    result = await stream(() => openHdf5Source(path), async () => {});
  } else if (kind === "milvus1") {
    let store: Awaited<ReturnType<typeof openMilvus1>> | null = null;
    result = await stream(async () => {
      store = await openMilvus1(path);
      const collection = store.collections()[0];
      return await partitionSource(collection, collection.partitions[0]);
    }, async () => await store?.close());
  } else {
    throw new Error(`Unknown --kind "${kind}" (expected faiss, hdf5, milvus1 or read)`);
  }
  console.log(JSON.stringify(result));
}

if (import.meta.main) await main();
