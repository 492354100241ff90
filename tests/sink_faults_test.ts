/**
 * Faults of the Milvus sink against the real server: a request over the server's 64 MiB limit is refused by the
 * server and split and retried by the writer; no row is lost or doubled.
 */
import { assert, assertEquals } from "./assert.ts";
import { connectMilvus } from "../lib/milvus/connection.ts";
import { finishTarget, MilvusWriter, prepareTarget } from "../lib/milvus/sink.ts";
import {
  countRows,
  diffRows,
  dropIfExists,
  randomFloats,
  readByIds,
  TEST_TARGET,
  testClient,
  uniqueName,
} from "./helpers.ts";

const client = testClient();
const opts = { sanitizeResources: false, sanitizeOps: false };

Deno.test("an insert over the server's 64 MiB limit is split and retried", opts, async () => {
  const rows = 140_000, dim = 128; // 71.7 MB of vectors: over proxy.grpc.serverMaxRecvSize
  const vectors = randomFloats(rows, dim, 3);
  const ids = BigInt64Array.from({ length: rows }, (_, i) => BigInt(i) * 3n + 1n);
  const collection = uniqueName("split");
  const conn = await connectMilvus(TEST_TARGET);
  const retries: string[] = [];
  try {
    const prepared = await prepareTarget(conn, {
      collection,
      mode: "overwrite",
      dim,
      vectorType: "float",
      metric: "L2",
      hasIds: true,
    });
    const writer = new MilvusWriter(conn, prepared.schema, { onRetry: (m) => retries.push(m) });
    await writer.write({ ids, vectors, dim, rows });
    await writer.drain();
    assertEquals(writer.rowsAcknowledged, rows);
    assert(retries.some((m) => m.includes("over the server's size limit")), retries.join("\n"));
    const finished = await finishTarget(conn, prepared, rows, { index: { type: "FLAT" } });
    assertEquals(finished.rowCount, rows);
    assertEquals(await countRows(client, collection), rows);
    const sample = BigInt64Array.from({ length: 200 }, (_, i) => ids[i * 700]);
    const sampleVectors = new Float32Array(200 * dim);
    for (let i = 0; i < 200; i++) sampleVectors.set(vectors.subarray(i * 700 * dim, (i * 700 + 1) * dim), i * dim);
    assertEquals(diffRows(await readByIds(client, collection, sample), sample, sampleVectors, dim), []);
  } finally {
    await conn.close();
    await dropIfExists(client, collection);
  }
});
