/**
 * Rate limiting by a real server (a second Milvus on its own ports with a 2 MB/s insert quota): the refused inserts
 * are retried with backoff, the run completes at the server's pace, and the target holds exactly the source rows.
 */
import { MilvusClient } from "@zilliz/milvus2-sdk-node";
import { assert, assertEquals } from "./assert.ts";
import { PROJECT_ROOT, randomFloats, runCli, tempDir, writeH5WithH5py, writeYaml } from "./helpers.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };
const env = {
  MILVUSDM_MILVUS_PORT: "19590",
  MILVUSDM_MILVUS_METRICS_PORT: "9131",
  MILVUSDM_MILVUS_ETCD_PORT: "2419",
  MILVUSDM_MILVUS_PORT_BASE: "20000",
  MILVUSDM_MILVUS_EXTRA: "quotaAndLimits.dml.enabled=true quotaAndLimits.dml.insertRate.max=2",
};
const URI = "http://127.0.0.1:19590";

async function milvus(...args: string[]): Promise<void> {
  const out = await new Deno.Command(`${PROJECT_ROOT}/scripts/milvus`, { args, env }).output();
  if (!out.success) throw new Error(`scripts/milvus ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
}

Deno.test("a server's insert rate limit: retried with backoff, completed, exact count", opts, async () => {
  await using dir = await tempDir();
  const rows = 24_000, dim = 128; // 12 MB at 2 MB/s
  await writeH5WithH5py(`${dir.path}/v.h5`, {
    datasets: {
      embeddings: { data: randomFloats(rows, dim, 21), shape: [rows, dim], dtype: "float32" },
      ids: { data: BigInt64Array.from({ length: rows }, (_, i) => BigInt(i)), shape: [rows], dtype: "int64" },
    },
  });
  const yaml = await writeYaml(
    `${dir.path}/H2M.yaml`,
    `H2M:\n  data_path: ['${dir.path}/v.h5']\n  dest_uri: '${URI}'\n  mode: 'overwrite'\n` +
      `  dest_collection_name: 'rate_limited'\n  batch_bytes: 1048576\n`,
  );
  await milvus("start");
  const client = new MilvusClient({ address: URI, logLevel: "error" });
  try {
    const res = await runCli(["--yaml", yaml]);
    assertEquals(res.code, 0, res.stderr);
    assert(/rate limit/i.test(res.stderr), `no rate limiting was seen: ${res.stderr}`);
    const count = await client.query({
      collection_name: "rate_limited",
      output_fields: ["count(*)"],
      consistency_level: "Strong" as never,
    });
    assertEquals(Number(count.data[0]["count(*)"]), rows);
  } finally {
    await client.closeConnection();
    await milvus("stop");
  }
});
