/**
 * H2M through the CLI as a user runs it: bad input gives a clear one-paragraph error, a non-zero exit, no stack
 * trace, and nothing written to Milvus. Also files written by milvusdm's own HDF5 writer (h5wasm).
 */
import { assert, assertEquals } from "./assert.ts";
import { createHdf5Writer } from "../lib/hdf5/writer.ts";
import {
  diffRows,
  dropIfExists,
  randomFloats,
  randomIds,
  readByIds,
  runCli,
  tempDir,
  TEST_HOST,
  TEST_PORT,
  testClient,
  uniqueName,
  writeH5WithH5py,
  writeYaml,
} from "./helpers.ts";

const client = testClient();
const opts = { sanitizeResources: false, sanitizeOps: false };

function h2mYaml(
  o: { files?: string[]; dir?: string; collection: string; mode?: string; port?: number; extra?: string },
) {
  const list = o.files ? "\n" + o.files.map((f) => `    - ${f}`).join("\n") : "";
  return `H2M:
  milvus_version: 2.0.0
  data_path:${list}
  data_dir: ${o.dir ?? ""}
  dest_host: '${TEST_HOST}'
  dest_port: ${o.port ?? TEST_PORT}
  mode: '${o.mode ?? "append"}'
  dest_collection_name: '${o.collection}'
  dest_partition_name: ''
${o.extra ?? ""}`;
}

async function expectFailure(
  yamlPath: string,
  collection: string,
  expected: { code: number; errorCode: string; includes: RegExp },
) {
  const res = await runCli(["--yaml", yamlPath]);
  assertEquals(res.code, expected.code, `exit code; stderr: ${res.stderr}`);
  assert(res.stderr.includes(`error [${expected.errorCode}]`), `stderr: ${res.stderr}`);
  assert(expected.includes.test(res.stderr), `stderr should match ${expected.includes}: ${res.stderr}`);
  assert(!/^\s+at /m.test(res.stderr), `a stack trace was printed: ${res.stderr}`);
  assert(!/Successfully|Success!/i.test(res.stderr + res.stdout));
  const has = await client.hasCollection({ collection_name: collection });
  assertEquals(has.value, false, `collection ${collection} must not have been created`);
}

Deno.test("H2M bad input: missing file, not HDF5, no embeddings, ids length mismatch", opts, async () => {
  await using dir = await tempDir();
  const name = uniqueName("h2m_bad");
  await expectFailure(
    await writeYaml(`${dir.path}/missing.yaml`, h2mYaml({ files: [`${dir.path}/nope.h5`], collection: name })),
    name,
    { code: 3, errorCode: "SOURCE_NOT_FOUND", includes: /nope\.h5" does not exist/ },
  );
  await Deno.writeTextFile(`${dir.path}/text.h5`, "this is not an HDF5 file\n".repeat(100));
  await expectFailure(
    await writeYaml(`${dir.path}/text.yaml`, h2mYaml({ files: [`${dir.path}/text.h5`], collection: name })),
    name,
    { code: 3, errorCode: "HDF5_INVALID", includes: /is not an HDF5 file/ },
  );
  await writeH5WithH5py(`${dir.path}/noemb.h5`, {
    datasets: { vectors: { data: randomFloats(10, 4, 1), shape: [10, 4], dtype: "float32" } },
  });
  await expectFailure(
    await writeYaml(`${dir.path}/noemb.yaml`, h2mYaml({ files: [`${dir.path}/noemb.h5`], collection: name })),
    name,
    { code: 3, errorCode: "HDF5_INVALID", includes: /no dataset "embeddings" \(datasets: "vectors"\)/ },
  );
  await writeH5WithH5py(`${dir.path}/ids.h5`, {
    datasets: {
      embeddings: { data: randomFloats(10, 4, 1), shape: [10, 4], dtype: "float32" },
      ids: { data: randomIds(9, 2), shape: [9], dtype: "int64" },
    },
  });
  // A good first file and a bad second one: nothing may be written at all.
  await writeH5WithH5py(`${dir.path}/good.h5`, {
    datasets: {
      embeddings: { data: randomFloats(10, 4, 1), shape: [10, 4], dtype: "float32" },
      ids: { data: randomIds(10, 2), shape: [10], dtype: "int64" },
    },
  });
  await expectFailure(
    await writeYaml(
      `${dir.path}/ids.yaml`,
      h2mYaml({ files: [`${dir.path}/good.h5`, `${dir.path}/ids.h5`], collection: name }),
    ),
    name,
    { code: 3, errorCode: "HDF5_INVALID", includes: /has 9 ids for 10 vectors/ },
  );
});

Deno.test("H2M bad configuration: data_path and data_dir, unknown mode, YAML errors", opts, async () => {
  await using dir = await tempDir();
  const name = uniqueName("h2m_cfg");
  await expectFailure(
    await writeYaml(`${dir.path}/both.yaml`, h2mYaml({ files: [`${dir.path}/a.h5`], dir: dir.path, collection: name })),
    name,
    { code: 2, errorCode: "CONFIG_INVALID", includes: /exactly one of data_path .* both are set/ },
  );
  await expectFailure(
    await writeYaml(`${dir.path}/neither.yaml`, h2mYaml({ collection: name })),
    name,
    { code: 2, errorCode: "CONFIG_INVALID", includes: /neither is set/ },
  );
  await expectFailure(
    await writeYaml(
      `${dir.path}/mode.yaml`,
      h2mYaml({ files: [`${dir.path}/a.h5`], collection: name, mode: "replace" }),
    ),
    name,
    {
      code: 2,
      errorCode: "CONFIG_INVALID",
      includes: /H2M\.mode: expected one of skip, append, overwrite, got "replace"/,
    },
  );
  await expectFailure(
    await writeYaml(
      `${dir.path}/port.yaml`,
      h2mYaml({ files: [`${dir.path}/a.h5`], collection: name }).replace(
        `dest_port: ${TEST_PORT}`,
        "dest_port: abc",
      ),
    ),
    name,
    { code: 2, errorCode: "CONFIG_INVALID", includes: /H2M\.dest_port: expected a port number, got "abc"/ },
  );
  await expectFailure(
    await writeYaml(`${dir.path}/syntax.yaml`, "H2M:\n  data_path: [unclosed\n"),
    name,
    { code: 2, errorCode: "CONFIG_INVALID", includes: /is not valid YAML/ },
  );
  await expectFailure(
    await writeYaml(`${dir.path}/task.yaml`, "X2Y:\n  data_path: a\n"),
    name,
    { code: 2, errorCode: "CONFIG_INVALID", includes: /expected a top-level key F2M, H2M, M2M or M2H/ },
  );
  const res = await runCli(["--yaml", `${dir.path}/does-not-exist.yaml`]);
  assertEquals(res.code, 2);
  assert(res.stderr.includes("does not exist"), res.stderr);
});

Deno.test("H2M unreachable Milvus: a clear error naming the address, quickly", opts, async () => {
  await using dir = await tempDir();
  const name = uniqueName("h2m_unreach");
  await writeH5WithH5py(`${dir.path}/a.h5`, {
    datasets: { embeddings: { data: randomFloats(10, 4, 1), shape: [10, 4], dtype: "float32" } },
  });
  const started = performance.now();
  const res = await runCli([
    "--yaml",
    await writeYaml(`${dir.path}/u.yaml`, h2mYaml({ files: [`${dir.path}/a.h5`], collection: name, port: 1 })),
  ]);
  assertEquals(res.code, 4, res.stderr);
  assert(res.stderr.includes("error [MILVUS_UNREACHABLE]: Cannot reach Milvus at 127.0.0.1:1"), res.stderr);
  assert(!/^\s+at /m.test(res.stderr), res.stderr);
  assert(performance.now() - started < 30_000, "took more than 30 s");
});

Deno.test(
  "H2M dimension that does not match the existing collection: refused, collection unchanged",
  opts,
  async () => {
    await using dir = await tempDir();
    const name = uniqueName("h2m_dim");
    await writeH5WithH5py(`${dir.path}/d8.h5`, {
      datasets: {
        embeddings: { data: randomFloats(20, 8, 1), shape: [20, 8], dtype: "float32" },
        ids: { data: randomIds(20, 2), shape: [20], dtype: "int64" },
      },
    });
    await writeH5WithH5py(`${dir.path}/d6.h5`, {
      datasets: {
        embeddings: { data: randomFloats(20, 6, 1), shape: [20, 6], dtype: "float32" },
        ids: { data: randomIds(20, 3), shape: [20], dtype: "int64" },
      },
    });
    try {
      const ok = await runCli([
        "--yaml",
        await writeYaml(`${dir.path}/ok.yaml`, h2mYaml({ files: [`${dir.path}/d8.h5`], collection: name })),
      ]);
      assertEquals(ok.code, 0, ok.stderr);
      for (const mode of ["append", "skip"]) {
        const res = await runCli([
          "--yaml",
          await writeYaml(`${dir.path}/bad.yaml`, h2mYaml({ files: [`${dir.path}/d6.h5`], collection: name, mode })),
        ]);
        if (mode === "skip") {
          assertEquals(res.code, 0, res.stderr); // skip leaves an existing collection alone, whatever its schema
          continue;
        }
        assertEquals(res.code, 4, res.stderr);
        assert(res.stderr.includes("error [TARGET_SCHEMA_MISMATCH]"), res.stderr);
        assert(res.stderr.includes("its dimension is 8, the source's is 6"), res.stderr);
      }
      const yaml = h2mYaml({
        files: [`${dir.path}/d6.h5`],
        collection: name,
        extra: "  collection_parameter:\n    dimension: 8\n",
      });
      const res = await runCli(["--yaml", await writeYaml(`${dir.path}/cp.yaml`, yaml)]);
      assertEquals(res.code, 2, res.stderr);
      assert(res.stderr.includes("dimension is 8, but"), res.stderr);
      const stats = await client.getCollectionStatistics({ collection_name: name });
      assertEquals(Number(stats.data.row_count), 20);
    } finally {
      await dropIfExists(client, name);
    }
  },
);

Deno.test("H2M of a file written by milvusdm's own HDF5 writer (h5wasm)", opts, async () => {
  await using dir = await tempDir();
  const name = uniqueName("h2m_h5wasm");
  const rows = 700, dim = 10;
  const vectors = randomFloats(rows, dim, 77);
  const ids = randomIds(rows, 78);
  const w = await createHdf5Writer(`${dir.path}/w.h5`, { dim, vectorType: "float", withIds: true, chunkRows: 64 });
  for (let s = 0; s < rows; s += 300) {
    const e = Math.min(rows, s + 300);
    w.append({ ids: ids.subarray(s, e), vectors: vectors.subarray(s * dim, e * dim), dim, rows: e - s });
  }
  await w.commit();
  try {
    const res = await runCli([
      "--yaml",
      await writeYaml(`${dir.path}/w.yaml`, h2mYaml({ files: [`${dir.path}/w.h5`], collection: name })),
    ]);
    assertEquals(res.code, 0, res.stderr);
    assertEquals(diffRows(await readByIds(client, name, ids), ids, vectors, dim), []);
  } finally {
    await dropIfExists(client, name);
  }
});

Deno.test(
  "H2M of a file with NaN and infinite floats: the row is named, the refused request stored nothing, and the " +
    "error says how many rows are in the target",
  opts,
  async () => {
    await using dir = await tempDir();
    const name = uniqueName("h2m_nan");
    const rows = 3000, dim = 8;
    const vectors = randomFloats(rows, dim, 91);
    const ids = BigInt64Array.from({ length: rows }, (_, i) => BigInt(i));
    vectors[2000 * dim + 5] = NaN; // in the 16th request of 128 rows (rows 1920..2047)
    vectors[2500 * dim + 1] = -Infinity;
    await writeH5WithH5py(`${dir.path}/nan.h5`, {
      datasets: {
        embeddings: { data: vectors, shape: [rows, dim], dtype: "float32" },
        ids: { data: ids, shape: [rows], dtype: "int64" },
      },
    });
    const inf = randomFloats(10, dim, 92);
    inf[3] = Infinity;
    await writeH5WithH5py(`${dir.path}/inf.h5`, {
      datasets: { embeddings: { data: inf, shape: [10, dim], dtype: "float32" } },
    });
    try {
      const extra = "  batch_bytes: 4096\n  in_flight: 2\n  index_type: none\n";
      const res = await runCli([
        "--yaml",
        await writeYaml(`${dir.path}/nan.yaml`, h2mYaml({ files: [`${dir.path}/nan.h5`], collection: name, extra })),
      ]);
      assertEquals(res.code, 3, res.stderr);
      assert(
        res.stderr.includes(
          `error [SOURCE_INVALID]: Row 2000 of "${dir.path}/nan.h5" (id 2000) holds NaN in dimension 5, and Milvus ` +
            `accepts only finite numbers`,
        ),
        res.stderr,
      );
      assert(res.stderr.includes("Fix or remove the rows with NaN or infinite values in the source"), res.stderr);
      assert(!/^\s+at /m.test(res.stderr), res.stderr);
      const stored = /At least (\d+) rows of this migration are in "([^"]+)" \(journal /.exec(res.stderr);
      assert(stored, `the hint should say how many rows are in the target: ${res.stderr}`);
      assertEquals(stored[2], `${name}/_default`);
      assert(/once the source is fixed, run again with mode overwrite/.test(res.stderr), res.stderr);
      const n = Number(stored[1]);
      assert(n > 0 && n <= 1920 && n % 128 === 0, `rows stored: ${n}`);
      // The rows said to be there are there, exactly; none of the refused request's rows are.
      await client.createIndex({
        collection_name: name,
        field_name: "embedding",
        index_type: "FLAT",
        metric_type: "L2",
      });
      await client.loadCollectionSync({ collection_name: name });
      assertEquals(diffRows(await readByIds(client, name, ids.subarray(0, n)), ids.subarray(0, n), vectors, dim), []);
      assertEquals((await readByIds(client, name, ids.subarray(1920, 2048))).size, 0);

      // An infinity in the first request: nothing of this run is stored, so the hint is only the fix.
      const first = await runCli([
        "--yaml",
        await writeYaml(
          `${dir.path}/inf.yaml`,
          h2mYaml({ files: [`${dir.path}/inf.h5`], collection: `${name}_inf`, mode: "overwrite" }),
        ),
      ]);
      assertEquals(first.code, 3, first.stderr);
      assert(
        first.stderr.includes(`Row 0 of "${dir.path}/inf.h5" holds Infinity in dimension 3`),
        first.stderr,
      );
      assert(!first.stderr.includes("rows of this migration are in"), first.stderr);
    } finally {
      await dropIfExists(client, name);
      await dropIfExists(client, `${name}_inf`);
    }
  },
);
