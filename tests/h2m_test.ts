/**
 * HDF5 → Milvus against the real server: every test reads the rows back by id and compares vectors exactly.
 */
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { hdf5ToMilvus } from "../mod.ts";
import { MilvusdmError } from "../lib/errors.ts";
import {
  assertVectorsOnce,
  countRows,
  diffRows,
  dropIfExists,
  randomBits,
  randomFloats,
  randomIds,
  readAll,
  readByIds,
  tempDir,
  TEST_TARGET,
  testClient,
  uniqueName,
  writeH5WithH5py,
} from "./helpers.ts";

const client = testClient();
const opts = { sanitizeResources: false, sanitizeOps: false };

async function floatFile(
  path: string,
  rows: number,
  dim: number,
  seed: number,
  extra: { dtype?: "float32" | "float64"; gzip?: boolean; ids?: boolean } = {},
) {
  const vectors = randomFloats(rows, dim, seed);
  const ids = randomIds(rows, seed + 1);
  const datasets: Parameters<typeof writeH5WithH5py>[1]["datasets"] = {
    embeddings: {
      data: vectors,
      shape: [rows, dim],
      dtype: extra.dtype ?? "float32",
      chunks: extra.gzip ? [97, dim] : undefined,
      gzip: extra.gzip,
    },
  };
  if (extra.ids ?? true) datasets.ids = { data: ids, shape: [rows], dtype: "int64" };
  await writeH5WithH5py(path, { datasets });
  return { vectors, ids };
}

Deno.test("H2M float32 with ids into a new collection, read back by id", opts, async () => {
  await using dir = await tempDir();
  const name = uniqueName("h2m_f32");
  const { vectors, ids } = await floatFile(`${dir.path}/a.h5`, 2500, 24, 11);
  try {
    const summary = await hdf5ToMilvus({
      files: [`${dir.path}/a.h5`],
      target: TEST_TARGET,
      collection: name,
      mode: "append",
      batchBytes: 24 * 4 * 700, // several batches, the last one short
    });
    assertEquals(summary.rows, 2500);
    assertEquals(summary.targets[0].action, "create");
    assertEquals(summary.targets[0].rowCount, 2500);
    assertEquals(await countRows(client, name), 2500);
    const stored = await readByIds(client, name, ids);
    assertEquals(diffRows(stored, ids, vectors, 24), []);
    const index = await client.describeIndex({ collection_name: name, field_name: "embedding" });
    assertEquals(index.index_descriptions[0].params.find((p) => p.key === "metric_type")?.value, "L2");
  } finally {
    await dropIfExists(client, name);
  }
});

Deno.test("H2M float64 gzip-chunked h5py file, values rounded to float32 exactly", opts, async () => {
  await using dir = await tempDir();
  const name = uniqueName("h2m_f64");
  const rows = 1000, dim = 12;
  const doubles = new Float64Array(rows * dim);
  const r = randomFloats(rows, dim, 5);
  for (let i = 0; i < doubles.length; i++) doubles[i] = r[i] + 1e-9 * i; // values float32 cannot hold exactly
  const ids = randomIds(rows, 6);
  await writeH5WithH5py(`${dir.path}/d.h5`, {
    datasets: {
      embeddings: { data: doubles, shape: [rows, dim], dtype: "float64", chunks: [64, dim], gzip: true },
      ids: { data: ids, shape: [rows], dtype: "int64" },
    },
  });
  try {
    await hdf5ToMilvus({
      files: [`${dir.path}/d.h5`],
      target: TEST_TARGET,
      collection: name,
      mode: "overwrite",
      metric: "IP",
    });
    const stored = await readByIds(client, name, ids);
    assertEquals(diffRows(stored, ids, Float32Array.from(doubles), dim), []);
  } finally {
    await dropIfExists(client, name);
  }
});

Deno.test("H2M binary vectors byte for byte, trailing zero bytes kept", opts, async () => {
  await using dir = await tempDir();
  const name = uniqueName("h2m_bin");
  const rows = 1500, dim = 128;
  const bits = randomBits(rows, dim, 9);
  const ids = randomIds(rows, 10);
  await writeH5WithH5py(`${dir.path}/b.h5`, {
    datasets: {
      embeddings: { data: bits, shape: [rows, dim / 8], dtype: "uint8" },
      ids: { data: ids, shape: [rows], dtype: "int64" },
    },
  });
  try {
    const summary = await hdf5ToMilvus({
      files: [`${dir.path}/b.h5`],
      target: TEST_TARGET,
      collection: name,
      mode: "append",
      metric: "JACCARD",
    });
    assertEquals(summary.targets[0].vectorType, "binary");
    assertEquals(summary.targets[0].dim, 128);
    const stored = await readByIds(client, name, ids, { binary: true });
    assertEquals(diffRows(stored, ids, bits, dim / 8), []);
    // Vector 0 ends in zero bytes (see randomBits); it must come back with them.
    assert(bits.subarray(8, 16).every((b) => b === 0));
    assertEquals(stored.get(ids[0]), bits.subarray(0, 16));
  } finally {
    await dropIfExists(client, name);
  }
});

Deno.test("H2M without ids: the new collection generates them; every vector arrives once", opts, async () => {
  await using dir = await tempDir();
  const name = uniqueName("h2m_noids");
  const rows = 800, dim = 8;
  const { vectors } = await floatFile(`${dir.path}/n.h5`, rows, dim, 21, { ids: false });
  try {
    const summary = await hdf5ToMilvus({
      files: [`${dir.path}/n.h5`],
      target: TEST_TARGET,
      collection: name,
      mode: "append",
    });
    assertEquals(summary.rows, rows);
    assertVectorsOnce(await readAll(client, name), vectors, dim);
    // Id-less data into a collection that needs ids is refused before anything is written.
    const withIds = uniqueName("h2m_needs_ids");
    await floatFile(`${dir.path}/i.h5`, 10, dim, 3);
    await hdf5ToMilvus({ files: [`${dir.path}/i.h5`], target: TEST_TARGET, collection: withIds, mode: "append" });
    const err = await assertRejects(
      () => hdf5ToMilvus({ files: [`${dir.path}/n.h5`], target: TEST_TARGET, collection: withIds, mode: "append" }),
      MilvusdmError,
    );
    assertEquals(err.code, "TARGET_SCHEMA_MISMATCH");
    assert(/needs ids/.test(err.message), err.message);
    assertEquals(await countRows(client, withIds), 10);
    await dropIfExists(client, withIds);
  } finally {
    await dropIfExists(client, name);
  }
});

Deno.test(
  "H2M ann-benchmarks layout: train is the data, the row index the id, the metric from distance",
  opts,
  async () => {
    await using dir = await tempDir();
    const name = uniqueName("h2m_ann");
    const rows = 600, dim = 16;
    const train = randomFloats(rows, dim, 31);
    await writeH5WithH5py(`${dir.path}/glove-16-angular.hdf5`, {
      datasets: {
        train: { data: train, shape: [rows, dim], dtype: "float32" },
        test: { data: randomFloats(10, dim, 32), shape: [10, dim], dtype: "float32" },
        neighbors: { data: new BigInt64Array(10 * 5), shape: [10, 5], dtype: "int64" },
        distances: { data: new Float32Array(10 * 5), shape: [10, 5], dtype: "float32" },
      },
      attrs: { distance: "angular", dimension: dim },
    });
    try {
      const summary = await hdf5ToMilvus({
        dataDir: dir.path,
        target: TEST_TARGET,
        collection: name,
        mode: "append",
      });
      assertEquals(summary.targets[0].metric, "COSINE");
      const ids = BigInt64Array.from({ length: rows }, (_, i) => BigInt(i));
      const stored = await readByIds(client, name, ids);
      assertEquals(diffRows(stored, ids, train, dim), []);
    } finally {
      await dropIfExists(client, name);
    }
  },
);

Deno.test("H2M modes on an existing collection: skip, append, overwrite", opts, async () => {
  await using dir = await tempDir();
  const name = uniqueName("h2m_modes");
  const first = await floatFile(`${dir.path}/1.h5`, 300, 8, 41);
  const second = await floatFile(`${dir.path}/2.h5`, 200, 8, 42);
  const run = (file: string, mode: "skip" | "append" | "overwrite") =>
    hdf5ToMilvus({ files: [`${dir.path}/${file}`], target: TEST_TARGET, collection: name, mode });
  try {
    assertEquals((await run("1.h5", "skip")).targets[0].action, "create"); // a missing target is created
    const skipped = await run("2.h5", "skip");
    assertEquals(skipped.targets[0].action, "skip");
    assertEquals(skipped.rows, 0);
    assertEquals(await countRows(client, name), 300);
    const appended = await run("2.h5", "append");
    assertEquals(appended.targets[0].rowCount, 500);
    assertEquals(await countRows(client, name), 500);
    const both = await readByIds(client, name, BigInt64Array.from([...first.ids, ...second.ids]));
    assertEquals(diffRows(both, first.ids, first.vectors, 8), []);
    assertEquals(diffRows(both, second.ids, second.vectors, 8), []);
    const overwritten = await run("2.h5", "overwrite");
    assertEquals(overwritten.targets[0].action, "overwrite");
    assertEquals(await countRows(client, name), 200);
    const only = await readByIds(client, name, first.ids);
    assertEquals(only.size, 0);
  } finally {
    await dropIfExists(client, name);
  }
});

Deno.test(
  "H2M into named partitions: created, appended, and overwrite replaces only that partition",
  opts,
  async () => {
    await using dir = await tempDir();
    const name = uniqueName("h2m_part");
    const a = await floatFile(`${dir.path}/a.h5`, 250, 8, 51);
    const b = await floatFile(`${dir.path}/b.h5`, 150, 8, 52);
    const c = await floatFile(`${dir.path}/c.h5`, 100, 8, 53);
    const run = (file: string, partition: string, mode: "skip" | "append" | "overwrite") =>
      hdf5ToMilvus({ files: [`${dir.path}/${file}`], target: TEST_TARGET, collection: name, partition, mode });
    try {
      assertEquals((await run("a.h5", "p_a", "overwrite")).targets[0].action, "create");
      assertEquals((await run("b.h5", "p_b", "append")).targets[0].action, "create");
      assertEquals(await countRows(client, name, "p_a"), 250);
      assertEquals(await countRows(client, name, "p_b"), 150);
      const skipped = await run("c.h5", "p_a", "skip");
      assertEquals(skipped.targets[0].action, "skip");
      assertEquals(await countRows(client, name, "p_a"), 250);
      const replaced = await run("c.h5", "p_a", "overwrite");
      assertEquals(replaced.targets[0].action, "overwrite");
      assertEquals(await countRows(client, name, "p_a"), 100);
      assertEquals(await countRows(client, name, "p_b"), 150);
      const inA = await readByIds(client, name, c.ids, { partition: "p_a" });
      assertEquals(diffRows(inA, c.ids, c.vectors, 8), []);
      const inB = await readByIds(client, name, b.ids, { partition: "p_b" });
      assertEquals(diffRows(inB, b.ids, b.vectors, 8), []);
      assertEquals((await readByIds(client, name, a.ids)).size, 0);
      await run("a.h5", "p_b", "append");
      assertEquals(await countRows(client, name, "p_b"), 400);
    } finally {
      await dropIfExists(client, name);
    }
  },
);

Deno.test("H2M several files: data_path list and data_dir (.h5 and .hdf5, name order)", opts, async () => {
  await using dir = await tempDir();
  const name = uniqueName("h2m_multi");
  const files = [
    await floatFile(`${dir.path}/part1.h5`, 120, 8, 61),
    await floatFile(`${dir.path}/part2.hdf5`, 130, 8, 62),
    await floatFile(`${dir.path}/part3.h5`, 140, 8, 63),
  ];
  await Deno.writeTextFile(`${dir.path}/notes.txt`, "not a vector file");
  try {
    const byDir = await hdf5ToMilvus({ dataDir: dir.path, target: TEST_TARGET, collection: name, mode: "overwrite" });
    assertEquals(byDir.rows, 390);
    assertEquals(byDir.targets[0].units.map((u) => u.split("/").pop()), ["part1.h5", "part2.hdf5", "part3.h5"]);
    // The list form, with overwrite: the first file replaces, the others append.
    const byList = await hdf5ToMilvus({
      files: [`${dir.path}/part3.h5`, `${dir.path}/part1.h5`],
      target: TEST_TARGET,
      collection: name,
      mode: "overwrite",
    });
    assertEquals(byList.rows, 260);
    assertEquals(await countRows(client, name), 260);
    for (const f of [files[0], files[2]]) {
      assertEquals(diffRows(await readByIds(client, name, f.ids), f.ids, f.vectors, 8), []);
    }
    assertEquals((await readByIds(client, name, files[1].ids)).size, 0);
  } finally {
    await dropIfExists(client, name);
  }
});
