/**
 * Faiss → Milvus end to end against the real server, for files written by real faiss (scripts/make_faiss_fixtures.py):
 * Flat, IDMap+HNSW, IVFFlat and a binary index, read back by id and compared bit for bit with faiss's own output.
 */
import { assert, assertEquals } from "./assert.ts";
import { faissToMilvus } from "../mod.ts";
import {
  diffRows,
  dropIfExists,
  runCli,
  tempDir,
  TEST_TARGET,
  TEST_URI,
  testClient,
  uniqueName,
  writeYaml,
} from "./helpers.ts";
import { readByIds } from "./helpers.ts";

const client = testClient();
const opts = { sanitizeResources: false, sanitizeOps: false };
const FIXTURES = Deno.env.get("MILVUSDM_FAISS_FIXTURES") ??
  `${new URL("..", import.meta.url).pathname}.work/fixtures/faiss`;

async function truth(name: string, binary: boolean) {
  const ids = new BigInt64Array((await Deno.readFile(`${FIXTURES}/${name}.ids.i64`)).buffer);
  const raw = await Deno.readFile(`${FIXTURES}/${name}.vecs.${binary ? "u8" : "f32"}`);
  return { ids, vectors: binary ? raw : new Float32Array(raw.buffer) };
}

for (
  const [name, binary, dim] of [["flat_l2", false, 16], ["idmap_hnsw", false, 0], ["ivfflat_hashtable", false, 0], [
    "bin_idmap",
    true,
    0,
  ]] as const
) {
  Deno.test(`F2M ${name} into the real Milvus, read back by id`, opts, async () => {
    const collection = uniqueName(`f2m_${name}`);
    const { ids, vectors } = await truth(name, binary);
    try {
      const summary = await faissToMilvus({
        file: `${FIXTURES}/${name}.faiss`,
        target: TEST_TARGET,
        collection,
        mode: "overwrite",
      });
      const t = summary.targets[0];
      assertEquals(summary.rows, ids.length);
      assertEquals(t.rowCount, ids.length);
      if (dim) assertEquals(t.dim, dim);
      const per = vectors.length / ids.length;
      assertEquals(diffRows(await readByIds(client, collection, ids, { binary }), ids, vectors, per), []);
    } finally {
      await dropIfExists(client, collection);
    }
  });
}

Deno.test("F2M YAML: dimension in collection_parameter that disagrees with the file shows both", opts, async () => {
  await using dir = await tempDir();
  const collection = uniqueName("f2m_dim");
  const yaml = await writeYaml(
    `${dir.path}/F2M.yaml`,
    `F2M:\n  milvus_version: 2.0.0\n  data_path: '${FIXTURES}/flat_l2.faiss'\n  dest_uri: '${TEST_URI}'\n  mode: 'append'\n` +
      `  dest_collection_name: '${collection}'\n  dest_partition_name: ''\n  collection_parameter:\n    dimension: 256\n` +
      `    index_file_size: 1024\n    metric_type: 'L2'\n`,
  );
  const res = await runCli(["--yaml", yaml]);
  assertEquals(res.code, 2, res.stderr);
  assert(res.stderr.includes("dimension is 256") && res.stderr.includes("dimension 16"), res.stderr);
  assertEquals((await client.hasCollection({ collection_name: collection })).value, false);
});

Deno.test("F2M YAML: a metric_type that disagrees with the file shows both, nothing written", opts, async () => {
  await using dir = await tempDir();
  const collection = uniqueName("f2m_metric");
  const yaml = await writeYaml(
    `${dir.path}/F2M.yaml`,
    `F2M:\n  data_path: '${FIXTURES}/flat_l2.faiss'\n  dest_uri: '${TEST_URI}'\n  mode: 'append'\n` +
      `  dest_collection_name: '${collection}'\n  collection_parameter:\n    metric_type: 'IP'\n`,
  );
  const res = await runCli(["--yaml", yaml]);
  assertEquals(res.code, 2, res.stderr);
  assert(res.stderr.includes("metric_type is IP") && res.stderr.includes("built with L2"), res.stderr);
  assertEquals((await client.hasCollection({ collection_name: collection })).value, false);
});
