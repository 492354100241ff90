/**
 * Milvus 1.x data directory → Milvus 2.x (M2M) and → HDF5 (M2H), against the real server and, for MySQL
 * metadata, the real MariaDB started by scripts/mariadb. Rows are read back by id and compared byte for byte.
 */
import { assert, assertEquals } from "./assert.ts";
import { milvusToHdf5, milvusToMilvus, parseTaskYaml, runTask } from "../mod.ts";
import { buildMilvus1Dir, type ExpectedPartition, loadMetaIntoTestMysql, standardSpec } from "./milvus1_fixture.ts";
import {
  countRows,
  diffRows,
  dropIfExists,
  readByIds,
  runCli,
  tempDir,
  TEST_TARGET,
  TEST_URI,
  testClient,
  uniqueName,
  writeYaml,
} from "./helpers.ts";

const client = testClient();
const opts = { sanitizeResources: false, sanitizeOps: false };

function vectorsOf(p: ExpectedPartition, binary: boolean): Float32Array | Uint8Array {
  return binary ? p.vectors : new Float32Array(p.vectors.buffer, p.vectors.byteOffset, p.vectors.byteLength / 4);
}

/** Checks that `collection` holds exactly the expected partitions of one source collection. */
async function checkTarget(collection: string, expected: ExpectedPartition[], dim: number, binary: boolean) {
  const per = binary ? dim / 8 : dim;
  let total = 0;
  for (const p of expected) {
    const partition = p.tag ?? "_default";
    assertEquals(await countRows(client, collection, partition), p.rows, `count of ${partition}`);
    const stored = await readByIds(client, collection, p.ids, { binary, partition });
    assertEquals(diffRows(stored, p.ids, vectorsOf(p, binary), per), [], `rows of ${partition}`);
    total += p.rows;
  }
  assertEquals(await countRows(client, collection), total, "collection count");
  const parts = await client.listPartitions({ collection_name: collection });
  assertEquals([...parts.partition_names].sort(), expected.map((p) => p.tag ?? "_default").sort());
}

Deno.test("M2M from SQLite metadata: every live row once, deleted never, partitions recreated", opts, async () => {
  await using dir = await tempDir();
  const built = buildMilvus1Dir(dir.path, standardSpec({ finite: true }));
  const books = uniqueName("m2m_books");
  const prints = uniqueName("m2m_prints");
  try {
    const summary = await milvusToMilvus({
      sourcePath: dir.path,
      collections: { books: null },
      target: TEST_TARGET,
      targetCollection: books,
      mode: "overwrite",
      batchBytes: 16 * 4 * 10,
    });
    const expectedBooks = built.expected.filter((p) => p.collection === "books");
    assertEquals(summary.rows, expectedBooks.reduce((n, p) => n + p.rows, 0));
    await checkTarget(books, expectedBooks, 16, false);
    // Binary collection with deletes, one partition by tag plus the default.
    await milvusToMilvus({
      sourcePath: dir.path,
      collections: { fingerprints: null },
      target: TEST_TARGET,
      targetCollection: prints,
      mode: "append",
    });
    await checkTarget(prints, built.expected.filter((p) => p.collection === "fingerprints"), 64, true);
    const index = await client.describeIndex({ collection_name: prints, field_name: "embedding" });
    assertEquals(index.index_descriptions[0].params.find((p) => p.key === "metric_type")?.value, "JACCARD");
    // A second run in skip mode leaves the target alone.
    const skipped = await milvusToMilvus({
      sourcePath: dir.path,
      collections: { fingerprints: ["p"] },
      target: TEST_TARGET,
      targetCollection: prints,
      mode: "skip",
    });
    assertEquals(skipped.targets[0].action, "skip");
    const printRows = built.expected.filter((p) => p.collection === "fingerprints").reduce((n, p) => n + p.rows, 0);
    assertEquals(await countRows(client, prints), printRows);
  } finally {
    await dropIfExists(client, books);
    await dropIfExists(client, prints);
  }
});

Deno.test("M2M from MySQL metadata in MariaDB gives the same rows", opts, async () => {
  await using dir = await tempDir();
  const built = buildMilvus1Dir(dir.path, standardSpec({ sqlite: false, seed: 99, finite: true }));
  const params = await loadMetaIntoTestMysql(built);
  const name = uniqueName("m2m_mysql");
  try {
    // Through the CLI with the original YAML keys and the password from the environment.
    const yaml = await writeYaml(
      `${dir.path}/M2M.yaml`,
      `M2M:
  milvus_version: 1.1.0
  source_milvus_path: '${dir.path}'
  mysql_parameter:
    host: '${params.host}'
    user: '${params.user}'
    port: ${params.port}
    password: '\${M2M_TEST_MYSQL_PASSWORD}'
    database: '${params.database}'
  source_collection:
    books:
  dest_uri: '${TEST_URI}'
  dest_collection_name: '${name}'
  mode: 'append'
`,
    );
    const res = await runCli(["--yaml", yaml], { env: { M2M_TEST_MYSQL_PASSWORD: params.password } });
    assertEquals(res.code, 0, res.stderr);
    assert(!res.stderr.includes(params.password), "the password was printed");
    await checkTarget(name, built.expected.filter((p) => p.collection === "books"), 16, false);
  } finally {
    await dropIfExists(client, name);
  }
});

Deno.test("M2H then H2M of the exported files reproduces the source (ids, vectors, partitions)", opts, async () => {
  await using dir = await tempDir();
  await using out = await tempDir();
  const built = buildMilvus1Dir(dir.path, standardSpec({ seed: 5, finite: true }));
  const summary = await milvusToHdf5({
    sourcePath: dir.path,
    collections: { books: null, fingerprints: null },
    dataDir: out.path,
    runId: "run1",
  });
  assertEquals(summary.files.map((f) => `${f.collection}/${f.partition}`), [
    "books/_default",
    "books/2021",
    "books/empty",
    "books/all_deleted",
    "fingerprints/_default",
    "fingerprints/p",
  ]);
  assert(summary.files.every((f) => f.path.startsWith(`${out.path}/run1/`)));
  const names = new Map([["books", uniqueName("m2h_books")], ["fingerprints", uniqueName("m2h_prints")]]);
  try {
    for (const f of summary.files) {
      const text = (await Deno.readTextFile(f.yaml)).replace(
        `dest_collection_name: ${f.collection}`,
        `dest_collection_name: ${names.get(f.collection)}`,
      );
      assert(text.includes("mode: append"), text);
      const config = parseTaskYaml(text, f.yaml);
      await runTask(config, { destUri: TEST_URI });
    }
    await checkTarget(names.get("books")!, built.expected.filter((p) => p.collection === "books"), 16, false);
    await checkTarget(
      names.get("fingerprints")!,
      built.expected.filter((p) => p.collection === "fingerprints"),
      64,
      true,
    );
  } finally {
    for (const n of names.values()) await dropIfExists(client, n);
  }
});

Deno.test("M2M bad input: missing directory, unknown collection (the existing ones listed)", opts, async () => {
  await using dir = await tempDir();
  buildMilvus1Dir(dir.path, standardSpec({ finite: true }));
  const name = uniqueName("m2m_bad");
  const yaml = (path: string, collection: string) =>
    `M2M:\n  source_milvus_path: '${path}'\n  mysql_parameter:\n  source_collection:\n    ${collection}:\n` +
    `  dest_uri: '${TEST_URI}'\n  dest_collection_name: '${name}'\n  mode: 'append'\n`;
  let res = await runCli(["--yaml", await writeYaml(`${dir.path}/a.yaml`, yaml(`${dir.path}/nope`, "books"))]);
  assertEquals(res.code, 3, res.stderr);
  assert(res.stderr.includes("error [SOURCE_NOT_FOUND]"), res.stderr);
  res = await runCli(["--yaml", await writeYaml(`${dir.path}/b.yaml`, yaml(dir.path, "novels"))]);
  assertEquals(res.code, 2, res.stderr);
  assert(/novels/.test(res.stderr) && /books/.test(res.stderr) && /fingerprints/.test(res.stderr), res.stderr);
  assert(!/^\s+at /m.test(res.stderr), res.stderr);
  assertEquals((await client.hasCollection({ collection_name: name })).value, false);
});

function mergeSpec(collide: boolean) {
  const ids = (start: number, n: number) => Array.from({ length: n }, (_, i) => BigInt(start + i));
  return {
    seed: 3,
    finite: true,
    junk: false,
    collections: [
      {
        name: "north",
        dim: 8,
        metricType: 1,
        partitions: [
          { tag: null, segments: [{ rows: 30, ids: ids(1000, 30), deletes: [2] }] },
          { tag: "shared", segments: [{ rows: 10, ids: ids(2000, 10) }] },
        ],
      },
      {
        name: "south",
        dim: 8,
        metricType: 1,
        partitions: [
          { tag: null, segments: [{ rows: 20, ids: ids(collide ? 1010 : 5000, 20) }] },
          { tag: "shared", segments: [{ rows: 5, ids: ids(6000, 5) }] },
        ],
      },
    ],
  };
}

Deno.test(
  "M2M merges collections into one target; colliding ids refused unless new ids are asked for",
  opts,
  async () => {
    await using dir = await tempDir();
    await using dir2 = await tempDir();
    const clean = buildMilvus1Dir(dir.path, mergeSpec(false));
    const merged = uniqueName("m2m_merge");
    const renumbered = uniqueName("m2m_newids");
    try {
      const summary = await milvusToMilvus({
        sourcePath: dir.path,
        collections: "*",
        target: TEST_TARGET,
        targetCollection: merged,
        mode: "append",
      });
      assertEquals(summary.rows, 29 + 10 + 20 + 5);
      assertEquals(await countRows(client, merged, "_default"), 49);
      assertEquals(await countRows(client, merged, "shared"), 15);
      for (const p of clean.expected) {
        const stored = await readByIds(client, merged, p.ids, { partition: p.tag ?? "_default" });
        assertEquals(diffRows(stored, p.ids, vectorsOf(p, false), 8), []);
      }
      // Colliding ids: refused before anything is written.
      buildMilvus1Dir(dir2.path, mergeSpec(true));
      const bad = uniqueName("m2m_collide");
      let error: unknown = null;
      try {
        await milvusToMilvus({
          sourcePath: dir2.path,
          collections: "*",
          target: TEST_TARGET,
          targetCollection: bad,
          mode: "append",
        });
      } catch (e) {
        error = e;
      }
      assert(error instanceof Error && /ids collide \(e\.g\. 1010, 1011/.test(error.message), String(error));
      assertEquals((await client.hasCollection({ collection_name: bad })).value, false);
      const renewed = await milvusToMilvus({
        sourcePath: dir2.path,
        collections: "*",
        target: TEST_TARGET,
        targetCollection: renumbered,
        mode: "append",
        newIds: true,
      });
      assertEquals(renewed.rows, 64);
      assertEquals(await countRows(client, renumbered), 64);
    } finally {
      await dropIfExists(client, merged);
      await dropIfExists(client, renumbered);
    }
  },
);

Deno.test("M2M with a segment file shorter than its header: a typed error and nothing written", opts, async () => {
  await using dir = await tempDir();
  const built = buildMilvus1Dir(dir.path, mergeSpec(false));
  const seg = built.files.find((f) => f.table_id === "south" && f.file_type === 1)!;
  const rv = `${built.dbDir}/tables/south/${seg.segment_id}/${seg.file_id}.rv`;
  const bytes = await Deno.readFile(rv);
  await Deno.writeFile(rv, bytes.subarray(0, bytes.length - 13));
  const name = uniqueName("m2m_trunc");
  const res = await runCli([
    "--yaml",
    await writeYaml(
      `${dir.path}/t.yaml`,
      `M2M:\n  source_milvus_path: '${dir.path}'\n  mysql_parameter:\n  source_collection: '*'\n` +
        `  dest_uri: '${TEST_URI}'\n  dest_collection_name: '${name}'\n  mode: 'append'\n`,
    ),
  ]);
  assertEquals(res.code, 3, res.stderr);
  assert(/SOURCE_TRUNCATED|MILVUS1_INVALID/.test(res.stderr) && res.stderr.includes(seg.segment_id), res.stderr);
  assertEquals((await client.hasCollection({ collection_name: name })).value, false);
});

Deno.test("M2H with '*' and a block list exports every other collection (no server needed)", opts, async () => {
  await using dir = await tempDir();
  await using out = await tempDir();
  buildMilvus1Dir(dir.path, standardSpec({ finite: true }));
  const summary = await milvusToHdf5({
    sourcePath: dir.path,
    collections: "*",
    exclude: ["books", "hamming_wide"],
    dataDir: out.path,
    runId: "r",
  });
  const collections = [...new Set(summary.files.map((f) => f.collection))];
  assertEquals(collections, ["fingerprints", "inner", "no_data"]);
  let error: unknown = null;
  try {
    await milvusToHdf5({ sourcePath: dir.path, collections: "*", exclude: ["nope"], dataDir: out.path });
  } catch (e) {
    error = e;
  }
  assert(error instanceof Error && /nope/.test(error.message) && /books/.test(error.message), String(error));
});
