/**
 * The server's own insert ceiling, for scripts/bench/run.py: every insert request for an HDF5 file is encoded into
 * memory first (lib/milvus/wire.ts, the 4 MiB batches milvusdm sends by default), the collection is (re)created,
 * and then only sending them over HTTP/2 (lib/milvus/transport.ts, `--in-flight` requests at a time) and the flush
 * are timed. The client does next to nothing while the clock runs, so the rows/s are what the server takes.
 *
 *   deno run -A scripts/bench/ceiling.ts --hdf5 FILE --uri http://127.0.0.1:19530 --collection NAME
 *     [--in-flight 2] [--batch-bytes 4194304]
 *
 * Prints one JSON line: rows, seconds (send + flush), sendSeconds, flushSeconds, encodeSeconds, requests,
 * cpuSeconds (of the timed part), peakRssMb (the whole process, which holds every request) and rowCount (the
 * server's count after the flush). The collection is dropped at the end.
 *
 * @module
 */
import { openHdf5Source } from "../../lib/hdf5/reader.ts";
import { connectMilvus } from "../../lib/milvus/connection.ts";
import { prepareTarget, targetRowCount } from "../../lib/milvus/sink.ts";
import type { BulkTransport } from "../../lib/milvus/transport.ts";
import { encodeInsertRequest } from "../../lib/milvus/wire.ts";
import { DEFAULT_BATCH_BYTES, rowsPerBatch } from "../../lib/pipeline.ts";
import { cpuSeconds, flag, peakRssMb } from "./measure.ts";

/** Sends every request, `inFlight` at a time; returns the rows the server acknowledged. */
async function replay(transport: BulkTransport, requests: Uint8Array<ArrayBuffer>[], inFlight: number) {
  let next = 0, inserted = 0;
  const lane = async () => {
    while (next < requests.length) {
      const status = await transport.mutate("Insert", requests[next++]);
      inserted += status.insertCount;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return inserted;
}

async function main(): Promise<void> {
  const hdf5 = flag("hdf5");
  const uri = flag("uri");
  const collection = flag("collection");
  const inFlight = Number(flag("in-flight", "2"));
  const batchBytes = Number(flag("batch-bytes", String(DEFAULT_BATCH_BYTES)));

  const conn = await connectMilvus({ uri });
  try {
    const source = await openHdf5Source(hdf5);
    const { rows, dim, vectorType } = source.info;
    const prepared = await prepareTarget(conn, {
      collection,
      mode: "overwrite",
      dim,
      vectorType,
      metric: "L2",
      hasIds: source.info.hasIds,
      index: false,
    });
    // Encode everything up front (not timed).
    const e0 = performance.now();
    const requests: Uint8Array<ArrayBuffer>[] = [];
    for await (const batch of source.batches(rowsPerBatch(dim * 4, batchBytes))) {
      requests.push(encodeInsertRequest(batch, prepared.schema));
    }
    source.close();
    const encodeSeconds = (performance.now() - e0) / 1000;

    // Timed: the sends, `inFlight` at a time over one HTTP/2 connection, then the flush.
    const cpu0 = cpuSeconds();
    const t0 = performance.now();
    const inserted = await replay(conn.transport, requests, inFlight);
    const sendSeconds = (performance.now() - t0) / 1000;
    const rowCount = await targetRowCount(conn, collection, "", { flush: true });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds() - cpu0;
    if (inserted !== rows) throw new Error(`The server acknowledged ${inserted} rows of ${rows}`);
    await conn.client.dropCollection({ collection_name: collection });
    console.log(JSON.stringify({
      rows,
      seconds,
      sendSeconds,
      flushSeconds: seconds - sendSeconds,
      encodeSeconds,
      requests: requests.length,
      inFlight,
      cpuSeconds: cpu,
      peakRssMb: peakRssMb(),
      rowCount,
    }));
  } finally {
    await conn.close();
  }
}

if (import.meta.main) await main();
