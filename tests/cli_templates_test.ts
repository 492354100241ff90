/**
 * The shipped templates (`yamls/*.yaml`), with only paths, addresses and names changed, run through
 * `milvusdm --yaml` against the real server; `milvusdm init` prints them exactly.
 */
import { assert, assertEquals } from "./assert.ts";
import { openHdf5Source } from "../lib/hdf5/reader.ts";
import { buildMilvus1Dir } from "./milvus1_fixture.ts";
import {
  countRows,
  diffRows,
  dropIfExists,
  readByIds,
  tempDir,
  TEST_HOST,
  TEST_PORT,
  testClient,
  uniqueName,
  writeYaml,
} from "./helpers.ts";
import { adapt, faissFlat, h5File, mdm, template, templateSpec } from "./cli_support.ts";

const client = testClient();
const opts = { sanitizeResources: false, sanitizeOps: false };
const ADDRESS: [string, string][] = [
  ['dest_host: "127.0.0.1"', `dest_host: "${TEST_HOST}"`],
  ["dest_port: 19530", `dest_port: ${TEST_PORT}`],
];

Deno.test("init prints each template exactly as shipped in yamls/", async () => {
  for (const kind of ["F2M", "H2M", "M2M", "M2H"] as const) {
    const res = await mdm(["init", kind.toLowerCase()]);
    assertEquals(res.code, 0, res.stderr);
    assertEquals(res.stdout, await template(kind));
  }
});

Deno.test("F2M.yaml (a 256-d Faiss IndexFlatL2 written by faiss) runs through --yaml", opts, async () => {
  await using dir = await tempDir();
  const collection = uniqueName("tpl_f2m");
  const { ids, vectors } = await faissFlat(`${dir.path}/faiss.index`, 300, 256, 11);
  const yaml = adapt(await template("F2M"), [
    ['"/home/data/faiss.index"', `"${dir.path}/faiss.index"`],
    ...ADDRESS,
    ['dest_collection_name: "test"', `dest_collection_name: "${collection}"`],
  ]);
  try {
    const res = await mdm(["--yaml", await writeYaml(`${dir.path}/F2M.yaml`, yaml)]);
    assertEquals(res.code, 0, res.stderr);
    assert(res.stdout.includes("F2M: 300 rows"), res.stdout);
    assertEquals(await countRows(client, collection), 300);
    assertEquals(diffRows(await readByIds(client, collection, ids), ids, vectors, 256), []);
  } finally {
    await dropIfExists(client, collection);
  }
});

Deno.test("H2M.yaml (two h5py files, a partition, overwrite) runs through --yaml", opts, async () => {
  await using dir = await tempDir();
  const collection = uniqueName("tpl_h2m");
  const a = await h5File(`${dir.path}/float_1.h5`, 500, 128, 21);
  const b = await h5File(`${dir.path}/float_2.h5`, 300, 128, 23);
  const yaml = adapt(await template("H2M"), [
    ["/data/float_1.h5", `${dir.path}/float_1.h5`],
    ["/data/float_2.h5", `${dir.path}/float_2.h5`],
    ...ADDRESS,
    ['dest_collection_name: "test_float"', `dest_collection_name: "${collection}"`],
  ]);
  try {
    const res = await mdm(["--yaml", await writeYaml(`${dir.path}/H2M.yaml`, yaml)]);
    assertEquals(res.code, 0, res.stderr);
    assertEquals(await countRows(client, collection, "partition_1"), 800);
    assertEquals(await countRows(client, collection), 800);
    for (const f of [a, b]) {
      assertEquals(diffRows(await readByIds(client, collection, f.ids), f.ids, f.vectors, 128), []);
    }
  } finally {
    await dropIfExists(client, collection);
  }
});

Deno.test("M2M.yaml (SQLite metadata: mysql_parameter emptied) runs through --yaml", opts, async () => {
  await using dir = await tempDir();
  const name = uniqueName("tpl_m2m");
  const built = buildMilvus1Dir(dir.path, templateSpec(name));
  const yaml = adapt(await template("M2M"), [
    ['source_milvus_path: "/home/user/milvus"', `source_milvus_path: "${dir.path}"`],
    [/mysql_parameter:(.*)\n( {4}.*\n)+/, "mysql_parameter:$1\n"],
    ["\n    test:\n", `\n    ${name}:\n`],
    ...ADDRESS,
  ]);
  try {
    const res = await mdm(["--yaml", await writeYaml(`${dir.path}/M2M.yaml`, yaml)]);
    assertEquals(res.code, 0, res.stderr);
    for (const tag of ["partition_1", "partition_2"]) {
      const p = built.expected.find((e) => e.tag === tag)!;
      assertEquals(await countRows(client, name, tag), p.rows, tag);
      const stored = await readByIds(client, name, p.ids, { partition: tag });
      assertEquals(
        diffRows(stored, p.ids, new Float32Array(p.vectors.buffer, p.vectors.byteOffset, p.rows * 16), 16),
        [],
      );
    }
    assertEquals(await countRows(client, name, "_default"), 0, "the default partition was not selected");
  } finally {
    await dropIfExists(client, name);
  }
});

Deno.test("M2H.yaml runs through --yaml and writes one HDF5 file per selected partition", opts, async () => {
  await using dir = await tempDir();
  await using out = await tempDir();
  const name = uniqueName("tpl_m2h");
  const built = buildMilvus1Dir(dir.path, templateSpec(name, 5));
  const yaml = adapt(await template("M2H"), [
    ['source_milvus_path: "/home/user/milvus"', `source_milvus_path: "${dir.path}"`],
    ["\n    test:\n", `\n    ${name}:\n`],
    ['data_dir: "/home/user/data"', `data_dir: "${out.path}"`],
  ]);
  const res = await mdm(["--yaml", await writeYaml(`${dir.path}/M2H.yaml`, yaml)]);
  assertEquals(res.code, 0, res.stderr);
  const runs = [...Deno.readDirSync(out.path)].map((e) => e.name);
  assertEquals(runs.length, 1);
  for (const tag of ["partition_1", "partition_2"]) {
    const source = await openHdf5Source(`${out.path}/${runs[0]}/${name}/${tag}.h5`);
    try {
      assertEquals(source.info.rows, built.expected.find((e) => e.tag === tag)!.rows, tag);
    } finally {
      source.close();
    }
  }
});
