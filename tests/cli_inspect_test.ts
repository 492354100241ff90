/**
 * `milvusdm inspect` on a Faiss index, an HDF5 file, a Milvus 1.x data directory and a task YAML (human and
 * `--json`), its errors; `--help` on every command, `--version`, and no arguments at all.
 */
import { assert, assertEquals } from "./assert.ts";
import denoJson from "../deno.json" with { type: "json" };
import { buildMilvus1Dir, standardSpec } from "./milvus1_fixture.ts";
import { randomFloats, randomIds, tempDir, writeH5WithH5py, writeYaml } from "./helpers.ts";
import { jsonEvents, mdm } from "./cli_support.ts";

const FIXTURES = Deno.env.get("MILVUSDM_FAISS_FIXTURES") ??
  `${new URL("..", import.meta.url).pathname}.work/fixtures/faiss`;

Deno.test("inspect a Faiss index: structure, vectors, metric, exactness", async () => {
  let res = await mdm(["inspect", `${FIXTURES}/idmap_hnsw.faiss`]);
  assertEquals(res.code, 0, res.stderr);
  assert(/idmap_hnsw\.faiss: Faiss index, [\d.]+ kB/.test(res.stdout), res.stdout);
  assert(/structure\s+IDMap → HNSW → Flat/.test(res.stdout), res.stdout);
  assert(/vectors\s+600 float × 16/.test(res.stdout) && /exact\s+yes/.test(res.stdout), res.stdout);
  res = await mdm(["inspect", `${FIXTURES}/ivfpq_plain.faiss`, "--json"]);
  assertEquals(res.code, 0, res.stderr);
  const [event] = jsonEvents(res.stdout);
  assertEquals(event.event, "inspect");
  assertEquals(event.kind, "faiss");
  const faiss = event.faiss as Record<string, unknown>;
  assertEquals([faiss.exact, faiss.dim, faiss.ntotal, faiss.metric], [false, 16, 700, "L2"]);
  res = await mdm(["inspect", `${FIXTURES}/ivfpq_plain.faiss`]);
  assert(/exact\s+no: product quantizer/.test(res.stdout) && /needs allow_lossy/.test(res.stdout), res.stdout);
});

Deno.test("inspect an HDF5 file: datasets, attributes, what H2M reads or why it cannot", async () => {
  await using dir = await tempDir();
  await writeH5WithH5py(`${dir.path}/v.h5`, {
    datasets: {
      embeddings: { data: randomFloats(30, 6, 1), shape: [30, 6], dtype: "float64" },
      ids: { data: randomIds(30, 2), shape: [30], dtype: "int64" },
    },
    attrs: { metric: "IP", collection: "docs" },
  });
  let res = await mdm(["inspect", `${dir.path}/v.h5`]);
  assertEquals(res.code, 0, res.stderr);
  assert(/embeddings\s+\[30, 6\]\s+float64/.test(res.stdout), res.stdout);
  assert(/ids\s+\[30\]\s+int64/.test(res.stdout), res.stdout);
  assert(/metric: "IP"/.test(res.stdout) && /collection: "docs"/.test(res.stdout), res.stdout);
  assert(/H2M reads: 30 float vectors × 6 from "embeddings" \(float64\), ids from "ids", metric IP/.test(res.stdout));
  await writeH5WithH5py(`${dir.path}/other.h5`, {
    datasets: { vectors: { data: randomFloats(5, 4, 1), shape: [5, 4], dtype: "float32" } },
  });
  res = await mdm(["inspect", `${dir.path}/other.h5`, "--json"]);
  assertEquals(res.code, 0, res.stderr);
  const [event] = jsonEvents(res.stdout);
  assertEquals((event.problem as Record<string, unknown>).code, "HDF5_INVALID");
  assertEquals(event.source, null);
  res = await mdm(["inspect", `${dir.path}/other.h5`]);
  assert(/H2M cannot read it: \[HDF5_INVALID\] .*no dataset "embeddings"/.test(res.stdout), res.stdout);
});

Deno.test("inspect a Milvus 1.x data directory, and the sources of a task YAML", async () => {
  await using dir = await tempDir();
  buildMilvus1Dir(dir.path, standardSpec({ finite: true }));
  let res = await mdm(["inspect", dir.path]);
  assertEquals(res.code, 0, res.stderr);
  assert(/Milvus 1\.x data directory \(sqlite metadata/.test(res.stdout), res.stdout);
  assert(/books\s+float × 16\s+L2\s+IVF_FLAT\s+7\s+126\s+14/.test(res.stdout), res.stdout);
  assert(/\s+all_deleted\s+1\s+0\s+4/.test(res.stdout), res.stdout);
  assert(/fingerprints\s+binary × 64\s+JACCARD/.test(res.stdout), res.stdout);
  const yaml = await writeYaml(
    `${dir.path}/m.yaml`,
    `M2H:\n  source_milvus_path: '${dir.path}'\n  mysql_parameter:\n  source_collection:\n    fingerprints:\n` +
      `  data_dir: /tmp\n`,
  );
  res = await mdm(["inspect", yaml, "--json"]);
  assertEquals(res.code, 0, res.stderr);
  const [event] = jsonEvents(res.stdout);
  const m1 = event.milvus1 as { collections: { name: string; liveRows: number }[] };
  assertEquals(m1.collections.map((c) => [c.name, c.liveRows]), [["fingerprints", 45]]);
});

Deno.test("inspect errors: a missing path, a file of no known kind", async () => {
  await using dir = await tempDir();
  let res = await mdm(["inspect", `${dir.path}/nope`]);
  assertEquals(res.code, 3, res.stderr);
  assert(res.stderr.includes(`error [SOURCE_NOT_FOUND]: "${dir.path}/nope" does not exist`), res.stderr);
  await Deno.writeTextFile(`${dir.path}/notes.txt`, "hello, not vectors\n");
  res = await mdm(["inspect", `${dir.path}/notes.txt`]);
  assertEquals(res.code, 3, res.stderr);
  assert(/error \[SOURCE_UNSUPPORTED\]: ".*notes\.txt" is neither an HDF5 file nor a Faiss index/.test(res.stderr));
});

Deno.test("--help on every command shows examples; --version; no arguments shows help and exits 2", async () => {
  for (const command of [[], ["run"], ["plan"], ["verify"], ["inspect"], ["init"]]) {
    const res = await mdm([...command, "--help"]);
    assertEquals(res.code, 0, res.stderr);
    assert(res.stdout.includes("Examples:\n  milvusdm "), `${command}: ${res.stdout}`);
    assert(res.stdout.includes("Usage: milvusdm"), res.stdout);
  }
  const help = await mdm(["help", "verify"]);
  assertEquals(help.code, 0);
  assert(help.stdout.includes("--sample <n>"), help.stdout);
  const version = await mdm(["--version"]);
  assertEquals([version.code, version.stdout.trim()], [0, denoJson.version]);
  const none = await mdm([]);
  assertEquals(none.code, 2);
  assert(none.stderr.includes("Usage: milvusdm"), none.stderr);
});
