/**
 * M2H (lib/jobs/m2h.ts) without a server: a Milvus 1.x directory with deleted rows, NaN payloads and infinities
 * exported to HDF5, then read back by two HDF5 libraries (PyPI's h5py in the venv and Debian's python3-h5py, built
 * on another HDF5 release) and by milvusdm's own reader as H2M reads the restore YAML's file. Every live row must
 * come back byte for byte, in reading order, with the attributes; fewer rows than the source's segments hold (the
 * deleted ones) and no row at all are both exercised; with SQLite metadata through the library, and with MySQL
 * metadata (the MariaDB of scripts/mariadb, as in tests/milvus1_mysql_test.ts) through the CLI. The H2M re-import
 * into a server is in tests/m2m_test.ts.
 */
import { assert, assertEquals } from "./assert.ts";
import { milvusToHdf5, parseTaskYaml } from "../mod.ts";
import { openHdf5Source, readHdf5Attributes } from "../lib/hdf5/reader.ts";
import {
  buildMilvus1Dir,
  type BuiltFixture,
  type ExpectedPartition,
  loadMetaIntoTestMysql,
  standardSpec,
} from "./milvus1_fixture.ts";
import { H5PY_PYTHON, h5pyRead, runCli, sha256Hex, tempDir, VENV_PYTHON, writeYaml } from "./helpers.ts";
import denoJson from "../deno.json" with { type: "json" };

function filesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    if (e.isDirectory) found.push(...filesUnder(`${dir}/${e.name}`).map((f) => `${e.name}/${f}`));
    else found.push(e.name);
  }
  return found.sort();
}

const EXPORTED = [
  "books/2021.h5",
  "books/_default.h5",
  "books/all_deleted.h5",
  "books/empty.h5",
  "fingerprints/_default.h5",
  "fingerprints/p.h5",
  "hamming_wide/_default.h5",
  "yamls/books/2021.yaml",
  "yamls/books/_default.yaml",
  "yamls/books/all_deleted.yaml",
  "yamls/books/empty.yaml",
  "yamls/fingerprints/_default.yaml",
  "yamls/fingerprints/p.yaml",
  "yamls/hamming_wide/_default.yaml",
];

/**
 * Checks the files of an export of books, fingerprints and hamming_wide in `runDir` against the fixture: exactly
 * the finished files and their YAMLs (no `.partial` or side file left), and every file as in {@linkcode checkFile}.
 */
async function checkExport(runDir: string, built: BuiltFixture): Promise<void> {
  assertEquals(filesUnder(runDir), EXPORTED);
  let filtered = 0;
  for (const name of EXPORTED.filter((f) => f.endsWith(".h5"))) {
    const [collection, file] = name.split("/");
    const partition = file.slice(0, -3);
    const expected = built.expected.find((p) => p.collection === collection && (p.tag ?? "_default") === partition);
    assert(expected, `no expected rows for ${name}`);
    filtered += expected.deletedRows;
    await checkFile(`${runDir}/${name}`, `${runDir}/yamls/${collection}/${partition}.yaml`, expected, built);
  }
  // The point is exports smaller than their segments: some rows were deleted, and some files hold none.
  assert(filtered > 0, "the fixture deleted no rows");
  assert(built.expected.some((p) => p.rows === 0), "no empty partition");
}

/**
 * One exported file, read by both h5py builds and by milvusdm's reader through its restore YAML: the rows of
 * `expected` byte for byte in reading order, and the attributes with their types.
 */
async function checkFile(path: string, yamlPath: string, expected: ExpectedPartition, built: BuiltFixture) {
  const table = built.tables.find((t) => t.table_id === expected.collection)!;
  const partition = expected.tag ?? "_default";
  const dim = table.dimension;
  const binary = table.metric_type >= 3;
  const cols = binary ? dim / 8 : dim;
  const want = {
    datasets: ["embeddings", "ids"],
    embeddings: {
      shape: [expected.rows, cols],
      dtype: binary ? "|u1" : "<f4",
      chunks: null,
      sha256: await sha256Hex(expected.vectors),
    },
    ids: { shape: [expected.rows], dtype: "<i8", chunks: null, sha256: await sha256Hex(expected.ids) },
    attrs: {
      dim: ["int64", dim],
      metric: ["str", ["", "L2", "IP", "HAMMING", "JACCARD", "TANIMOTO"][table.metric_type]],
      vector_type: ["str", binary ? "binary" : "float"],
      collection: ["str", expected.collection],
      partition: ["str", partition],
      source_version: ["str", table.version],
      index_file_size: ["int64", table.index_file_size],
      exported_by: ["str", `milvusdm ${denoJson.version}`],
    },
  };
  for (const python of [VENV_PYTHON, H5PY_PYTHON]) {
    assertEquals(await h5pyRead(path, python), want, `${path} read by ${python}`);
  }

  // What H2M reads when the restore YAML runs: the YAML's file, with milvusdm's reader.
  const task = parseTaskYaml(await Deno.readTextFile(yamlPath), yamlPath);
  assertEquals(task.kind, "H2M");
  assertEquals(task.body["data_path"], [path]);
  assertEquals(task.body["dest_collection_name"], expected.collection);
  assertEquals(task.body["dest_partition_name"], expected.tag ?? "");
  assertEquals(
    await readHdf5Attributes(path),
    Object.fromEntries(Object.entries(want.attrs).map(([k, [, v]]) => [k, v])),
  );
  const source = await openHdf5Source(path);
  try {
    assertEquals(
      [source.info.rows, source.info.dim, source.info.vectorType, source.info.metric, source.info.hasIds],
      [expected.rows, dim, binary ? "binary" : "float", want.attrs.metric[1], true],
    );
    const rowBytes = binary ? cols : cols * 4;
    const vectors = new Uint8Array(expected.vectors.length);
    const ids = new BigInt64Array(expected.rows);
    let at = 0;
    for await (const b of source.batches(5)) {
      const v = b.vectors;
      vectors.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), at * rowBytes);
      ids.set(b.ids!, at);
      at += b.rows;
    }
    assertEquals(at, expected.rows);
    assertEquals(await sha256Hex(vectors), want.embeddings.sha256, `vectors of ${path} through milvusdm's reader`);
    assertEquals(ids, expected.ids, `ids of ${path} through milvusdm's reader`);
  } finally {
    await source.close();
  }
}

const SELECTION = { books: null, fingerprints: null, hamming_wide: null };

Deno.test("M2H writes every live row byte for byte: float and binary, deleted rows left out, empty partitions", async () => {
  await using dir = await tempDir();
  await using out = await tempDir();
  const built = buildMilvus1Dir(dir.path, standardSpec({ seed: 11 })); // NaN payloads and infinities included
  const summary = await milvusToHdf5({
    sourcePath: dir.path,
    collections: SELECTION,
    dataDir: out.path,
    runId: "r",
    batchBytes: 16 * 4 * 7, // batches of 7 rows of books: many appends per file
  });
  assertEquals(summary.runDir, `${out.path}/r`);
  assertEquals(
    summary.files.map((f) => [f.path, f.yaml, f.rows]),
    built.expected.filter((p) => p.collection in SELECTION).map((p) => [
      `${out.path}/r/${p.collection}/${p.tag ?? "_default"}.h5`,
      `${out.path}/r/yamls/${p.collection}/${p.tag ?? "_default"}.yaml`,
      p.rows,
    ]),
  );
  await checkExport(summary.runDir, built);
});

Deno.test("M2H from MySQL metadata (MariaDB), through the CLI with the original YAML: the same files", async () => {
  await using dir = await tempDir();
  await using out = await tempDir();
  const built = buildMilvus1Dir(dir.path, standardSpec({ seed: 12, sqlite: false }));
  const params = await loadMetaIntoTestMysql(built);
  const yaml = await writeYaml(
    `${dir.path}/M2H.yaml`,
    `M2H:
  milvus_version: 1.1.0
  source_milvus_path: '${dir.path}'
  mysql_parameter:
    host: '${params.host}'
    user: '${params.user}'
    port: ${params.port}
    password: '${params.password}'
    database: '${params.database}'
  source_collection:
    books:
    fingerprints:
    hamming_wide:
  data_dir: '${out.path}'
`,
  );
  const res = await runCli(["--yaml", yaml, "-q"]);
  assertEquals(res.code, 0, res.stderr);
  const runs = [...Deno.readDirSync(out.path)].map((e) => e.name);
  assertEquals(runs.length, 1, runs.join(", "));
  await checkExport(`${out.path}/${runs[0]}`, built);
});
