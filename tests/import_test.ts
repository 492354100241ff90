/**
 * The bulk-import write path against the real Milvus 2.3.5 (local storage: files passed by absolute path): H2M,
 * F2M (binary) and M2M (float and binary, every partition) by import, read back row for row by id; `auto` choosing
 * insert for a small load and import over the threshold; a run killed during the import phase and resumed (also
 * with the task id lost), with exact rows and no duplicates; an import the server cannot read failing clearly.
 */
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { faissToMilvus, hdf5ToMilvus, MilvusdmError, milvusToMilvus } from "../mod.ts";
import { buildMilvus1Dir, standardSpec } from "./milvus1_fixture.ts";
import {
  assertStoredExactly,
  assertVectorsOnce,
  countRows,
  diffRows,
  dropIfExists,
  randomBits,
  randomFloats,
  readAll,
  readByIds,
  runCli,
  runRunner,
  spawnRunner,
  tempDir,
  TEST_TARGET,
  TEST_URI,
  testClient,
  uniqueName,
  writeH5WithH5py,
  writeYaml,
} from "./helpers.ts";

const client = testClient();
const opts = { sanitizeResources: false, sanitizeOps: false };

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) out.push(...await filesUnder(`${dir}/${e.name}`));
      else out.push(`${dir}/${e.name}`);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return out;
}

async function h5(path: string, rows: number, dim: number, seed: number) {
  const vectors = randomFloats(rows, dim, seed);
  const ids = BigInt64Array.from({ length: rows }, (_, i) => BigInt(i) * 1_000_003n + (1n << 55n));
  await writeH5WithH5py(path, {
    datasets: {
      embeddings: { data: vectors, shape: [rows, dim], dtype: "float32" },
      ids: { data: ids, shape: [rows], dtype: "int64" },
    },
  });
  return { vectors, ids };
}

Deno.test("H2M by import: three file sets, every row read back exactly, files removed", opts, async () => {
  await using dir = await tempDir();
  const collection = uniqueName("imp_h2m");
  const rows = 30_000, dim = 32;
  const { vectors, ids } = await h5(`${dir.path}/v.h5`, rows, dim, 41);
  const logs: string[] = [];
  try {
    const summary = await hdf5ToMilvus({
      files: [`${dir.path}/v.h5`],
      target: TEST_TARGET,
      collection,
      mode: "overwrite",
      writePath: "import",
      // 136 bytes a row: 11,029 rows a set, three sets.
      import: { storage: { type: "local", dir: `${dir.path}/imports` }, fileBytes: 1_500_000 },
      journalDir: `${dir.path}/journals`,
      onLog: (m) => logs.push(m),
    });
    assertEquals(summary.targets[0].writePath?.path, "import");
    assertEquals(summary.rows, rows);
    assertEquals(summary.targets[0].rowCount, rows);
    assert(logs.some((m) => /Writing by import: write_path is import/.test(m)), logs.join("\n"));
    await assertStoredExactly(client, collection, ids, vectors, dim);
    assertEquals(await filesUnder(`${dir.path}/imports`), [], "import files left behind");
    const journal = JSON.parse(await Deno.readTextFile((await filesUnder(`${dir.path}/journals`))[0]));
    assertEquals(journal.writePath, "import");
    assertEquals(Object.values(journal.units).map((u) => (u as { imported: number[] }).imported), [[0, 1, 2]]);
    // A completed append re-run stores nothing twice.
    const again = await hdf5ToMilvus({
      files: [`${dir.path}/v.h5`],
      target: TEST_TARGET,
      collection,
      mode: "append",
      writePath: "import",
      import: { storage: { type: "local", dir: `${dir.path}/imports` }, fileBytes: 1_500_000 },
      journalDir: `${dir.path}/journals`,
    });
    assertEquals(again.rows, 0);
    assertEquals(await countRows(client, collection), rows);
  } finally {
    await dropIfExists(client, collection);
  }
});

Deno.test("F2M by import: binary vectors with their ids, exact", opts, async () => {
  await using dir = await tempDir();
  const collection = uniqueName("imp_f2m_bin");
  const rows = 5000, dim = 256;
  const bits = randomBits(rows, dim, 7);
  const ids = BigInt64Array.from({ length: rows }, (_, i) => BigInt(rows - i) * 977n - 40_000n);
  await Deno.writeFile(`${dir.path}/b.u8`, bits);
  await Deno.writeFile(`${dir.path}/i.i64`, new Uint8Array(ids.buffer));
  const py = await new Deno.Command("/usr/bin/python3", {
    args: [
      "-c",
      `import faiss, numpy as np, sys
x = np.fromfile(sys.argv[1], dtype="uint8").reshape(-1, ${dim / 8})
i = np.fromfile(sys.argv[2], dtype="int64")
index = faiss.IndexBinaryIDMap(faiss.IndexBinaryFlat(${dim}))
index.add_with_ids(x, i)
faiss.write_index_binary(index, sys.argv[3])`,
      `${dir.path}/b.u8`,
      `${dir.path}/i.i64`,
      `${dir.path}/bin.faiss`,
    ],
  }).output();
  assert(py.success, new TextDecoder().decode(py.stderr));
  try {
    const summary = await faissToMilvus({
      file: `${dir.path}/bin.faiss`,
      target: TEST_TARGET,
      collection,
      mode: "overwrite",
      writePath: "import",
      import: { storage: { type: "local", dir: `${dir.path}/imports` }, fileBytes: 60_000 },
      journalDir: false,
    });
    assertEquals(summary.targets[0].writePath?.path, "import");
    await assertStoredExactly(client, collection, ids, bits, dim / 8, { binary: true });
  } finally {
    await dropIfExists(client, collection);
  }
});

Deno.test("M2M by import: float and binary collections, every partition, row for row", opts, async () => {
  await using dir = await tempDir();
  const built = buildMilvus1Dir(`${dir.path}/src`, standardSpec({ finite: true }));
  for (const [source, dim, binary] of [["books", 16, false], ["fingerprints", 64, true]] as const) {
    const collection = uniqueName(`imp_m2m_${source}`);
    try {
      const summary = await milvusToMilvus({
        sourcePath: `${dir.path}/src`,
        collections: { [source]: null },
        target: TEST_TARGET,
        targetCollection: collection,
        mode: "overwrite",
        writePath: "import",
        import: { storage: { type: "local", dir: `${dir.path}/imports` } },
        journalDir: `${dir.path}/journals`,
      });
      const expected = built.expected.filter((p) => p.collection === source);
      assert(summary.targets.every((t) => t.writePath?.path === "import"), JSON.stringify(summary.targets));
      let total = 0;
      for (const p of expected) {
        const partition = p.tag ?? "_default";
        assertEquals(await countRows(client, collection, partition), p.rows, `count of ${partition}`);
        const vectors = binary
          ? p.vectors
          : new Float32Array(p.vectors.buffer, p.vectors.byteOffset, p.vectors.byteLength / 4);
        const stored = await readByIds(client, collection, p.ids, { binary, partition });
        assertEquals(diffRows(stored, p.ids, vectors, binary ? dim / 8 : dim), [], `rows of ${partition}`);
        total += p.rows;
      }
      assertEquals(await countRows(client, collection), total);
    } finally {
      await dropIfExists(client, collection);
    }
  }
  assertEquals(await filesUnder(`${dir.path}/imports`), []);
});

Deno.test("write_path auto: insert for a small load, import over the threshold (after a probe)", opts, async () => {
  await using dir = await tempDir();
  const collection = uniqueName("imp_auto");
  const { vectors, ids } = await h5(`${dir.path}/v.h5`, 2000, 16, 5);
  try {
    const small = await hdf5ToMilvus({
      files: [`${dir.path}/v.h5`],
      target: TEST_TARGET,
      collection,
      mode: "overwrite",
      journalDir: false,
    });
    assertEquals(small.targets[0].writePath?.path, "insert");
    assert(/under the import threshold of 1024 MB/.test(small.targets[0].writePath!.reason));
    // The same file with a threshold under its 128,000 bytes of vectors.
    const large = await hdf5ToMilvus({
      files: [`${dir.path}/v.h5`],
      target: TEST_TARGET,
      collection,
      mode: "overwrite",
      import: { thresholdBytes: 100_000, storage: { type: "local", dir: `${dir.path}/imports` } },
      journalDir: false,
    });
    assertEquals(large.targets[0].writePath?.path, "import");
    assert(
      /over the import threshold .*probe/.test(large.targets[0].writePath!.reason),
      large.targets[0].writePath!.reason,
    );
    await assertStoredExactly(client, collection, ids, vectors, 16);
    // The probe's scratch collection is gone.
    const listed = await client.showCollections();
    assertEquals(listed.data.filter((c) => c.name.startsWith("milvusdm_probe_")), []);
    // The CLI flag and the plan say which path a run takes.
    const yaml = await writeYaml(
      `${dir.path}/H2M.yaml`,
      `H2M:
  data_path: ['${dir.path}/v.h5']
  dest_uri: ${TEST_URI}
  dest_collection_name: ${collection}
  mode: overwrite
  import_threshold_bytes: 100000
  import_storage:
    type: local
    dir: '${dir.path}/imports'
`,
    );
    const plan = await runCli(["plan", yaml]);
    assertEquals(plan.code, 0, plan.stderr);
    assert(/Write path: the server's bulk import .*over the import threshold/.test(plan.stdout), plan.stdout);
    const forced = await runCli(["run", yaml, "--write-path", "insert"]);
    assertEquals(forced.code, 0, forced.stderr);
    assert(/Writing by insert: write_path is insert/.test(forced.stderr), forced.stderr);
    const bad = await runCli(["run", yaml, "--write-path", "bulk"]);
    assertEquals(bad.code, 2);
    assert(/expected auto, insert or import/.test(bad.stderr), bad.stderr);
  } finally {
    await dropIfExists(client, collection);
  }
});

/** Waits until the journal shows an import task started (with its id), then kills the run. */
async function killDuringImport(spec: string, home: string, journalDir: string): Promise<void> {
  const child = spawnRunner(spec, { MILVUSDM_PATH: home, NO_COLOR: "1" });
  child.stdout.cancel();
  const stderr = new Response(child.stderr).text();
  const deadline = Date.now() + 120_000;
  let killed = false;
  while (Date.now() < deadline) {
    const files = (await filesUnder(journalDir)).filter((f) => f.endsWith(".json"));
    const journal = files.length ? JSON.parse(await Deno.readTextFile(files[0]).catch(() => "{}")) : {};
    const units = Object.values(journal.units ?? {}) as { pendingImports?: { task: string | null }[] }[];
    if (units.some((u) => (u.pendingImports ?? []).some((p) => p.task !== null))) {
      child.kill("SIGKILL");
      killed = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const status = await child.status;
  assert(killed && status.signal === "SIGKILL", `the run was not killed during its import: ${await stderr}`);
}

Deno.test(
  "killed during the import phase and resumed: exact rows, no duplicates (also with the task id lost)",
  opts,
  async () => {
    await using dir = await tempDir();
    const rows = 40_000, dim = 32;
    const { vectors, ids } = await h5(`${dir.path}/v.h5`, rows, dim, 99);
    for (const loseTaskId of [false, true]) {
      const collection = uniqueName("imp_kill");
      const journalDir = `${dir.path}/journals-${loseTaskId}`;
      const spec = `${dir.path}/spec-${loseTaskId}.json`;
      await Deno.writeTextFile(
        spec,
        JSON.stringify({
          job: "H2M",
          options: {
            files: [`${dir.path}/v.h5`],
            target: TEST_TARGET,
            collection,
            mode: "append",
            writePath: "import",
            // Four sets of 10,000 rows.
            import: { storage: { type: "local", dir: `${dir.path}/imports` }, fileBytes: 10_000 * 136 },
            journalDir,
          },
        }),
      );
      try {
        await killDuringImport(spec, `${dir.path}/home`, journalDir);
        const [journalPath] = (await filesUnder(journalDir)).filter((f) => f.endsWith(".json"));
        const journal = JSON.parse(await Deno.readTextFile(journalPath));
        const unit = Object.values(journal.units)[0] as { pendingImports: { task: string | null }[] };
        assert(unit.pendingImports.length > 0);
        if (loseTaskId) {
          // As if the run died between starting the task and recording its id: the resume must find it by its files.
          for (const p of unit.pendingImports) p.task = null;
          await Deno.writeTextFile(journalPath, JSON.stringify(journal));
        }
        const resumed = await runRunner(spec, { MILVUSDM_PATH: `${dir.path}/home`, NO_COLOR: "1" });
        assert(resumed.success, resumed.stderr);
        await assertStoredExactly(client, collection, ids, vectors, dim);
        const done = JSON.parse(await Deno.readTextFile(journalPath));
        assertEquals(done.state, "done");
        assertEquals((Object.values(done.units)[0] as { imported: number[] }).imported, [0, 1, 2, 3]);
      } finally {
        await dropIfExists(client, collection);
      }
    }
  },
);

Deno.test(
  "an import the server cannot read fails with IMPORT_FAILED and its reason; nothing is stored",
  opts,
  async () => {
    await using dir = await tempDir();
    const collection = uniqueName("imp_fail");
    await h5(`${dir.path}/v.h5`, 1000, 8, 3);
    try {
      const error = await assertRejects(
        () =>
          hdf5ToMilvus({
            files: [`${dir.path}/v.h5`],
            target: TEST_TARGET,
            collection,
            mode: "overwrite",
            writePath: "import",
            // The server is told a folder that does not exist, as when a container mounts it elsewhere.
            import: { storage: { type: "local", dir: `${dir.path}/imports`, serverDir: "/nonexistent/milvusdm" } },
            journalDir: false,
          }),
        MilvusdmError,
      );
      assertEquals(error.code, "IMPORT_FAILED");
      assert(/\/nonexistent\/milvusdm\/.*(no such file|not exist)/i.test(error.message), error.message);
      assert(error.hint && /atomic/.test(error.hint), error.hint);
      await client.flush({ collection_names: [collection] });
      const stats = await client.getCollectionStatistics({ collection_name: collection });
      assertEquals(Number(stats.data.row_count), 0);
    } finally {
      await dropIfExists(client, collection);
    }
  },
);

Deno.test(
  "H2M by import without ids: the collection generates them (no id file), every vector once",
  opts,
  async () => {
    await using dir = await tempDir();
    const collection = uniqueName("imp_noids");
    const rows = 3000, dim = 8;
    const vectors = randomFloats(rows, dim, 31);
    await writeH5WithH5py(`${dir.path}/n.h5`, {
      datasets: { embeddings: { data: vectors, shape: [rows, dim], dtype: "float32" } },
    });
    try {
      const summary = await hdf5ToMilvus({
        files: [`${dir.path}/n.h5`],
        target: TEST_TARGET,
        collection,
        mode: "overwrite",
        writePath: "import",
        import: { storage: { type: "local", dir: `${dir.path}/imports` }, fileBytes: 40_000 },
        journalDir: false,
      });
      assertEquals(summary.targets[0].writePath?.path, "import");
      assertVectorsOnce(await readAll(client, collection), vectors, dim);
    } finally {
      await dropIfExists(client, collection);
    }
  },
);
