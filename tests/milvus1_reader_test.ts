/**
 * The Milvus 0.7–1.1 data-directory reader against directories built as the server wrote them (SQLite metadata),
 * and against the real files of `shared/fixtures/milvus1x-test1w`.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { pathToFileURL } from "node:url";
import {
  inspectMilvus1,
  type Milvus1Collection,
  type Milvus1Store,
  openMilvus1,
  partitionSource,
  segmentSource,
} from "../lib/milvus1/mod.ts";
import {
  assertCode,
  buildMilvus1Dir,
  buildTest1wDir,
  type BuiltFixture,
  type ExpectedPartition,
  type FixtureSpec,
  readAll,
  snapshotDir,
  standardSpec,
  TEST1W_SEGMENT,
  writeSqliteMeta,
} from "./milvus1_fixture.ts";

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "milvusdm-m1-test-" });
}

async function withFixture(
  spec: FixtureSpec,
  fn: (built: BuiltFixture) => Promise<void>,
): Promise<void> {
  const dir = await tempDir();
  try {
    await fn(buildMilvus1Dir(dir, spec));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function partitionOf(store: Milvus1Store, e: ExpectedPartition) {
  const collection = store.collection(e.collection);
  return { collection, partition: store.partition(collection, e.tag) };
}

async function checkAllRows(store: Milvus1Store, built: BuiltFixture, maxRows: number): Promise<void> {
  for (const e of built.expected) {
    const { collection, partition } = partitionOf(store, e);
    const source = await partitionSource(collection, partition);
    assert.equal(source.info.rows, e.rows, `${e.collection}/${e.tag}: info.rows`);
    assert.equal(source.info.hasIds, true);
    const got = await readAll(source, maxRows);
    assert.equal(got.ids.length, e.rows, `${e.collection}/${e.tag}: rows`);
    assert.deepEqual(got.ids, e.ids, `${e.collection}/${e.tag}: ids in order`);
    assert.equal(new Set(got.ids).size, got.ids.length, "every live row once");
    assert.ok(!got.ids.includes(-777n), "no row of a TO_DELETE, shadow or orphan file");
    assert.deepEqual(got.vectors, e.vectors, `${e.collection}/${e.tag}: vectors byte for byte`);
  }
}

Deno.test("SQLite: the view of collections and partitions", async () => {
  await withFixture(standardSpec(), async (built) => {
    const store = await openMilvus1(built.dir);
    assert.equal(store.backend, "sqlite");
    assert.equal(store.layout.dbDir, built.dbDir);
    const names = store.collections().map((c) => c.name);
    assert.deepEqual(names, ["books", "fingerprints", "hamming_wide", "inner", "no_data"]);
    const books = store.collection("books");
    assert.equal(books.dim, 16);
    assert.equal(books.metric, "L2");
    assert.equal(books.vectorType, "float");
    assert.equal(books.indexType, "IVF_FLAT");
    assert.equal(books.indexFileSize, 256 * 1024 * 1024);
    assert.equal(books.version, "1.1.1");
    assert.deepEqual(books.partitions.map((p) => p.tag), [null, "2021", "empty", "all_deleted"]);
    assert.equal(books.partitions[0].isDefault, true);
    assert.equal(books.partitions[0].tableId, "books");
    assert.match(books.partitions[1].tableId, /^\d+$/);
    // Four segments in the default partition: the duplicate raw row and the INDEX row do not add segments.
    assert.equal(books.partitions[0].segments.length, 4);
    assert.deepEqual(books.partitions[0].segments.map((s) => s.fileType), [1, 2, 7, 7]);
    assert.equal(books.partitions[2].segments.length, 0);
    const fingerprints = store.collection("fingerprints");
    assert.equal(fingerprints.metric, "JACCARD");
    assert.equal(fingerprints.vectorType, "binary");
    assert.equal(fingerprints.indexType, "BIN_FLAT");
    assert.equal(store.collection("hamming_wide").metric, "HAMMING");
    assert.equal(store.collection("inner").metric, "IP");
    assert.equal(store.partition("books", "_default"), books.partitions[0]);
    assert.equal(store.partition(books, ""), books.partitions[0]);
    await store.close();
  });
});

Deno.test("SQLite: every live row once, deleted rows never, vectors byte for byte, any batch size", async () => {
  await withFixture(standardSpec(), async (built) => {
    const store = await openMilvus1(built.dir);
    for (const maxRows of [1, 3, 7, 64, 100_000]) await checkAllRows(store, built, maxRows);
    // Per-partition counts.
    const counts = Object.fromEntries(built.expected.map((e) => [`${e.collection}/${e.tag ?? "_default"}`, e.rows]));
    assert.deepEqual(counts, {
      "books/_default": 40 + (33 - 5) + (25 - 2) + 12,
      "books/2021": 16 + 7,
      "books/empty": 0,
      "books/all_deleted": 0,
      "fingerprints/_default": 28 + 10,
      "fingerprints/p": 7,
      "hamming_wide/_default": 6,
      "inner/_default": 1,
      "no_data/_default": 0,
    });
    await store.close();
  });
});

Deno.test("SQLite: segmentSource reads one segment; batches end at segment boundaries", async () => {
  await withFixture(standardSpec(), async (built) => {
    const store = await openMilvus1(built.dir);
    const books = store.collection("books");
    const segment = books.partitions[0].segments[1];
    const source = await segmentSource(books, segment);
    assert.equal(source.info.rows, 28);
    assert.equal(source.segments[0].rows, 33);
    assert.equal(source.segments[0].deletedEntries, 8);
    assert.equal(source.segments[0].deletedRows, 5);
    const got = await readAll(source, 10);
    assert.deepEqual(got.ids, built.expected[0].ids.slice(40, 68));
    const whole = await partitionSource(books, books.partitions[0]);
    const sizes: number[] = [];
    for await (const b of whole.batches(30)) sizes.push(b.rows);
    assert.deepEqual(sizes, [30, 10, 28, 23, 12]);
  });
});

Deno.test("SQLite: the source directory is byte-identical after reading (no -shm/-wal created)", async () => {
  for (const wal of [false, true]) {
    await withFixture(standardSpec({ wal }), async (built) => {
      const before = await snapshotDir(built.dir);
      if (wal) assert.ok(before.has("db/meta.sqlite-wal"));
      else assert.ok(!before.has("db/meta.sqlite-wal") && !before.has("db/meta.sqlite-shm"));
      const store = await openMilvus1(built.dir);
      await checkAllRows(store, built, 50);
      await inspectMilvus1(built.dir);
      await store.close();
      const after = await snapshotDir(built.dir);
      assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort(), "same file list");
      assert.deepEqual(after, before, "same checksums and modes");
    });
  }
});

Deno.test("SQLite: a WAL left by a server that stopped without a checkpoint is honoured", async () => {
  await withFixture(standardSpec({ wal: true }), async (built) => {
    // The main file alone holds no rows: a reader that ignored the WAL would see no collection.
    const url = pathToFileURL(`${built.dbDir}/meta.sqlite`);
    url.search = "?immutable=1";
    const raw = new DatabaseSync(url, { readOnly: true });
    assert.equal((raw.prepare("SELECT COUNT(*) AS n FROM Tables").get() as { n: number }).n, 0);
    raw.close();
    const tempRoot = Deno.env.get("TMPDIR") ?? "/tmp";
    const copies = () =>
      [...Deno.readDirSync(tempRoot)].filter((e) => e.name.startsWith("milvusdm-meta-")).map((e) => e.name).sort();
    const copiesBefore = copies();
    const store = await openMilvus1(built.dir);
    assert.deepEqual(store.collections().map((c) => c.name), [
      "books",
      "fingerprints",
      "hamming_wide",
      "inner",
      "no_data",
    ]);
    await checkAllRows(store, built, 13);
    assert.deepEqual(copies(), copiesBefore, "the private copy is deleted");
  });
});

Deno.test("SQLite: the db folder itself is accepted as the path", async () => {
  await withFixture(standardSpec({ seed: 3 }), async (built) => {
    const store = await openMilvus1(built.dbDir + "/");
    assert.equal(store.layout.dbDir, built.dbDir);
    await checkAllRows(store, built, 1000);
  });
});

Deno.test("inspect: collections, partitions, segments, live and deleted rows, bytes", async () => {
  await withFixture(standardSpec(), async (built) => {
    const report = await inspectMilvus1(built.dir);
    assert.equal(report.errors, 0);
    assert.equal(report.backend, "sqlite");
    const books = report.collections.find((c) => c.name === "books")!;
    assert.equal(books.partitions.length, 4);
    const def = books.partitions[0];
    assert.equal(def.rows, 40 + 33 + 25 + 12);
    assert.equal(def.deletedRows, 5 + 2);
    assert.equal(def.liveRows, 103);
    assert.equal(def.segments.length, 4);
    for (const s of def.segments) {
      assert.equal(s.format, "v1");
      assert.equal(s.liveRows, s.metaRowCount);
      assert.ok(s.bytes > 0);
    }
    assert.equal(books.liveRows, 103 + 23);
    assert.equal(books.partitions[3].liveRows, 0);
    assert.equal(books.partitions[3].deletedRows, 4);
    for (const e of built.expected) {
      const c = report.collections.find((x) => x.name === e.collection)!;
      const p = c.partitions.find((x) => x.tag === e.tag)!;
      assert.equal(p.liveRows, e.rows);
      assert.equal(p.deletedRows, e.deletedRows);
      assert.equal(p.segments.length, e.segments);
    }
    const fp = report.collections.find((c) => c.name === "fingerprints")!;
    assert.equal(fp.dim, 64);
    assert.equal(fp.vectorType, "binary");
    assert.equal(fp.partitions[0].bytes, (8 + 30 * 8) + (8 + 30 * 8) + (8 + 3 * 4) + (8 + 10 * 8) * 2 + 8);
  });
});

Deno.test("Milvus 1.x test1w: the real .uid, deleted_docs and bloom_filter are read correctly", async () => {
  const dir = await tempDir();
  try {
    buildTest1wDir(dir);
    const store = await openMilvus1(dir);
    const collection = store.collection("test1w");
    assert.equal(collection.dim, 256);
    assert.equal(collection.metric, "L2");
    const source = await partitionSource(collection, collection.partitions[0]);
    assert.equal(source.info.rows, 10_000);
    assert.equal(source.segments[0].deletedRows, 0);
    assert.equal(source.segments[0].segment.segmentId, TEST1W_SEGMENT);
    let expectedId = 1n;
    let rows = 0;
    for await (const batch of source.batches(4096)) {
      for (const id of batch.ids!) assert.equal(id, expectedId++);
      const v = batch.vectors as Float32Array;
      assert.equal(v.length, batch.rows * 256);
      assert.ok(v.every((x) => x === 1), "every component is 1.0");
      rows += batch.rows;
    }
    assert.equal(rows, 10_000);
    const report = await inspectMilvus1(store);
    assert.equal(report.collections[0].liveRows, 10_000);
    assert.equal(report.collections[0].bytes, 10_240_008 + 80_008 + 8);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Milvus 0.7.0: headerless files are read for 0.7.0 collections only", async () => {
  const spec = (version: string): FixtureSpec => ({
    seed: 11,
    junk: false,
    collections: [{
      name: "old",
      dim: 4,
      metricType: 1,
      version,
      partitions: [
        { tag: null, segments: [{ rows: 9, legacy: true, deletes: [2, 2, 8] }, { rows: 5 }] },
        { tag: "p", segments: [{ rows: 3, legacy: true }] },
      ],
    }],
  });
  await withFixture(spec("0.7.0"), async (built) => {
    const store = await openMilvus1(built.dir);
    await checkAllRows(store, built, 4);
    const report = await inspectMilvus1(store);
    assert.deepEqual(report.collections[0].partitions[0].segments.map((s) => s.format), ["legacy", "v1"]);
  });
  await withFixture(spec("1.1.1"), async (built) => {
    const store = await openMilvus1(built.dir);
    const c = store.collection("old");
    const e = await assertCode(() => partitionSource(c, c.partitions[0]), "SOURCE_TRUNCATED");
    assert.match(e.hint ?? "", /0\.7\.0/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Bad input: clear, typed errors.

Deno.test("errors: missing directory, missing or invalid metadata (never created)", async () => {
  const dir = await tempDir();
  try {
    await assertCode(() => openMilvus1(`${dir}/nope`), "SOURCE_NOT_FOUND", /does not exist/);
    const e = await assertCode(() => openMilvus1(dir), "SOURCE_NOT_FOUND", /db\/meta\.sqlite.*meta\.sqlite/);
    assert.ok(e.message.includes(dir));
    Deno.mkdirSync(`${dir}/db`);
    await assertCode(() => openMilvus1(dir), "SOURCE_NOT_FOUND");
    assert.deepEqual([...Deno.readDirSync(`${dir}/db`)], [], "no meta.sqlite was created");
    Deno.writeTextFileSync(`${dir}/db/meta.sqlite`, "this is not a database, just some text ".repeat(40));
    await assertCode(() => openMilvus1(dir), "MILVUS1_INVALID", /meta\.sqlite/);
    Deno.removeSync(`${dir}/db/meta.sqlite`);
    const db = new DatabaseSync(`${dir}/db/meta.sqlite`);
    db.exec("CREATE TABLE other(x INTEGER)");
    db.close();
    await assertCode(() => openMilvus1(dir), "MILVUS1_INVALID", /no "Tables" table/);
    Deno.removeSync(`${dir}/db/meta.sqlite`);
    const db2 = new DatabaseSync(`${dir}/db/meta.sqlite`);
    db2.exec("CREATE TABLE Tables(id INTEGER, table_id TEXT)");
    db2.exec("CREATE TABLE TableFiles(id INTEGER)");
    db2.close();
    await assertCode(() => openMilvus1(dir), "MILVUS1_INVALID", /lacks column/);
    Deno.writeTextFileSync(`${dir}/file`, "x");
    await assertCode(() => openMilvus1(`${dir}/file`), "SOURCE_INVALID");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("errors: a collection or partition that does not exist lists the ones that do", async () => {
  await withFixture(standardSpec(), async (built) => {
    const store = await openMilvus1(built.dir);
    const e = await assertCode(() => store.collection("nope"), "CONFIG_INVALID", /"nope" does not exist/);
    assert.match(e.message, /"books", "fingerprints", "hamming_wide", "inner", "no_data"/);
    await assertCode(() => store.collection("dropped_one"), "CONFIG_INVALID", /was dropped/);
    await assertCode(() => store.partition("books", "gone"), "CONFIG_INVALID", /"_default", "2021", "empty"/);
    await assertCode(() => store.partition("dropped_one", null), "CONFIG_INVALID");
  });
});

/** Builds the standard fixture, damages one file of books' second default-partition segment, expects an error. */
async function damaged(
  damage: (segmentDir: string, segmentId: string) => void,
  code: string,
  pattern?: RegExp,
): Promise<void> {
  await withFixture(standardSpec({ seed: 5 }), async (built) => {
    const store = await openMilvus1(built.dir);
    const books = store.collection("books");
    const segment = books.partitions[0].segments[1];
    damage(segment.dir, segment.segmentId);
    await assertCode(() => partitionSource(books, books.partitions[0]), code, pattern);
    // inspect reports the damaged segment and carries on.
    const report = await inspectMilvus1(store);
    assert.equal(report.errors, 1);
    const bad = report.collections[0].partitions[0].segments[1];
    assert.equal(bad.error?.code, code);
  });
}

function rewriteHeader(path: string, value: bigint): void {
  const bytes = Deno.readFileSync(path);
  new DataView(bytes.buffer).setBigUint64(0, value, true);
  Deno.writeFileSync(path, bytes);
}

Deno.test("errors: a missing segment folder or file", async () => {
  await damaged((dir) => Deno.removeSync(dir, { recursive: true }), "SOURCE_NOT_FOUND", /Segment folder/);
  await damaged((dir, id) => Deno.removeSync(`${dir}/${id}.rv`), "SOURCE_NOT_FOUND", /\.rv" does not exist/);
  await damaged((dir, id) => Deno.removeSync(`${dir}/${id}.uid`), "SOURCE_NOT_FOUND", /\.uid" does not exist/);
  await damaged((dir) => Deno.removeSync(`${dir}/deleted_docs`), "SOURCE_NOT_FOUND", /deleted_docs" does not exist/);
});

Deno.test("errors: a segment file shorter than its header says", async () => {
  await damaged(
    (dir, id) => Deno.truncateSync(`${dir}/${id}.rv`, 8 + 33 * 64 - 1),
    "SOURCE_TRUNCATED",
    /shorter than its header/,
  );
  await damaged((dir, id) => Deno.truncateSync(`${dir}/${id}.uid`, 100), "SOURCE_TRUNCATED");
  await damaged((dir, id) => Deno.truncateSync(`${dir}/${id}.uid`, 5), "SOURCE_TRUNCATED", /8-byte header/);
  await damaged((dir) => Deno.truncateSync(`${dir}/deleted_docs`, 12), "SOURCE_TRUNCATED");
  await damaged((dir, id) => rewriteHeader(`${dir}/${id}.rv`, 0xffff_ffff_ffff_fff0n), "SOURCE_TRUNCATED");
  await damaged((dir, id) => rewriteHeader(`${dir}/${id}.uid`, 1n << 62n), "SOURCE_TRUNCATED");
});

Deno.test("errors: headers that disagree with the file or with each other", async () => {
  // More bytes than the header counts.
  await damaged(
    (dir, id) => {
      const bytes = Deno.readFileSync(`${dir}/${id}.rv`);
      Deno.writeFileSync(`${dir}/${id}.rv`, new Uint8Array([...bytes, 1, 2, 3, 4]));
    },
    "MILVUS1_INVALID",
    /header counts/,
  );
  // rv holds one row fewer than uid has ids (consistent header).
  await damaged(
    (dir, id) => {
      const bytes = Deno.readFileSync(`${dir}/${id}.rv`).slice(0, 8 + 32 * 64);
      new DataView(bytes.buffer).setBigUint64(0, 32n * 64n, true);
      Deno.writeFileSync(`${dir}/${id}.rv`, bytes);
    },
    "MILVUS1_INVALID",
    /33 ids/,
  );
  // uid byte count not a multiple of 8.
  await damaged(
    (dir, id) => {
      const bytes = Deno.readFileSync(`${dir}/${id}.uid`).slice(0, 8 + 33 * 8 - 3);
      new DataView(bytes.buffer).setBigUint64(0, BigInt(33 * 8 - 3), true);
      Deno.writeFileSync(`${dir}/${id}.uid`, bytes);
    },
    "MILVUS1_INVALID",
    /multiple of 8/,
  );
  // A deleted offset beyond the rows, and a negative one.
  for (const offset of [33, -1, 0x7fffffff]) {
    await damaged(
      (dir) => {
        const bytes = Deno.readFileSync(`${dir}/deleted_docs`);
        new DataView(bytes.buffer).setInt32(8 + 4, offset, true);
        Deno.writeFileSync(`${dir}/deleted_docs`, bytes);
      },
      "MILVUS1_INVALID",
      /deletes row/,
    );
  }
  // deleted_docs byte count not a multiple of 4.
  await damaged(
    (dir) => {
      const bytes = new Uint8Array(8 + 6);
      new DataView(bytes.buffer).setBigUint64(0, 6n, true);
      Deno.writeFileSync(`${dir}/deleted_docs`, bytes);
    },
    "MILVUS1_INVALID",
    /multiple of 4/,
  );
  // Two .rv files, none named after the segment.
  await damaged(
    (dir, id) => {
      Deno.renameSync(`${dir}/${id}.rv`, `${dir}/a.rv`);
      Deno.copyFileSync(`${dir}/a.rv`, `${dir}/b.rv`);
    },
    "MILVUS1_INVALID",
    /several \.rv/,
  );
});

Deno.test("metadata: unsafe names, bad metric or dimension are refused; empty unwritten segments are zero rows", async () => {
  const dir = await tempDir();
  try {
    const built = buildMilvus1Dir(dir, { junk: false, sqlite: false, collections: [] });
    const table = (tableId: string, metric: number, dimension: number, id = 1) => ({
      id,
      table_id: tableId,
      state: 0,
      dimension,
      created_on: 1,
      flag: 0,
      index_file_size: 1024,
      engine_type: 1,
      index_params: "{}",
      metric_type: metric,
      owner_table: "",
      partition_tag: "",
      version: "1.1.1",
      flush_lsn: 0,
    });
    const file = (segment: string, rows: number, size: number) => ({
      id: 1,
      table_id: "ok",
      segment_id: segment,
      engine_type: 1,
      file_id: segment,
      file_type: 1,
      file_size: size,
      row_count: rows,
      updated_time: 1,
      created_on: 1,
      date: 1,
      flush_lsn: 0,
    });
    const cases: [ReturnType<typeof table>[], ReturnType<typeof file>[], string | null, RegExp | null][] = [
      [[table("..", 1, 8)], [], "MILVUS1_INVALID", /folder name/],
      [[table("ok", 9, 8)], [], "MILVUS1_INVALID", /metric_type is 9/],
      [[table("ok", 3, 12)], [], "MILVUS1_INVALID", /divisible by 8/],
      [[table("ok", 1, 0)], [], "MILVUS1_INVALID", /dimension is 0/],
      [[table("ok", 1, 8)], [file("../../etc", 1, 1)], "MILVUS1_INVALID", /not valid folder/],
      [[table("ok", 1, 8)], [file("123", 0, 0)], null, null],
    ];
    for (const [tables, files, code, pattern] of cases) {
      try {
        Deno.removeSync(`${built.dbDir}/meta.sqlite`);
      } catch { /* first round */ }
      writeSqliteMeta(built.dbDir, tables, files, false);
      if (code === null) {
        const store = await openMilvus1(dir);
        const c = store.collection("ok");
        const source = await partitionSource(c, c.partitions[0]);
        assert.equal(source.info.rows, 0);
        assert.equal((await readAll(source, 10)).ids.length, 0);
      } else {
        await assertCode(() => openMilvus1(dir), code, pattern ?? undefined);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sources: batch size is checked, abort stops reading, close ends iteration", async () => {
  await withFixture(standardSpec(), async (built) => {
    const store = await openMilvus1(built.dir);
    const books: Milvus1Collection = store.collection("books");
    const source = await partitionSource(books, books.partitions[0]);
    await assertCode(async () => {
      for await (const _ of source.batches(0)) { /* nothing */ }
    }, "CONFIG_INVALID");
    const controller = new AbortController();
    let n = 0;
    await assertCode(async () => {
      for await (const _ of source.batches(10, controller.signal)) {
        if (++n === 2) controller.abort();
      }
    }, "ABORTED");
    assert.equal(n, 2);
    controller.abort();
    await assertCode(() => partitionSource(books, books.partitions[0], { signal: controller.signal }), "ABORTED");
    let m = 0;
    for await (const _ of source.batches(10)) {
      m++;
      await source.close();
    }
    assert.equal(m, 1);
    await assertCode(() => partitionSource(books, store.collection("inner").partitions[0]), "CONFIG_INVALID");
  });
});

Deno.test("0.7-style metadata (nlist instead of index_params) and segments under a secondary path", async () => {
  await withFixture({
    seed: 4,
    junk: false,
    sqlite: false,
    collections: [{
      name: "v07",
      dim: 8,
      metricType: 2,
      version: "0.7.1",
      partitions: [{ tag: null, segments: [{ rows: 6, deletes: [1] }, { rows: 4 }] }],
    }],
  }, async (built) => {
    const db = new DatabaseSync(`${built.dbDir}/meta.sqlite`);
    db.exec(
      "CREATE TABLE Tables (id INTEGER PRIMARY KEY NOT NULL, table_id TEXT UNIQUE NOT NULL, state INTEGER NOT NULL, " +
        "dimension INTEGER NOT NULL, created_on INTEGER NOT NULL, flag INTEGER DEFAULT 0 NOT NULL, " +
        "index_file_size INTEGER NOT NULL, engine_type INTEGER NOT NULL, nlist INTEGER NOT NULL, " +
        "metric_type INTEGER NOT NULL, owner_table TEXT DEFAULT '' NOT NULL, partition_tag TEXT DEFAULT '' NOT NULL, " +
        "version TEXT DEFAULT '0.7.1' NOT NULL, flush_lsn INTEGER DEFAULT 0 NOT NULL)",
    );
    db.exec(
      "CREATE TABLE TableFiles (id INTEGER PRIMARY KEY NOT NULL, table_id TEXT NOT NULL, segment_id TEXT DEFAULT '' " +
        "NOT NULL, engine_type INTEGER NOT NULL, file_id TEXT NOT NULL, file_type INTEGER NOT NULL, file_size INTEGER " +
        "DEFAULT 0 NOT NULL, row_count INTEGER DEFAULT 0 NOT NULL, updated_time INTEGER NOT NULL, created_on INTEGER " +
        "NOT NULL, date INTEGER DEFAULT -1 NOT NULL, flush_lsn INTEGER DEFAULT 0 NOT NULL)",
    );
    const t = built.tables[0];
    db.prepare("INSERT INTO Tables VALUES (?, ?, 0, ?, 1, 0, ?, 1, 16384, ?, '', '', '0.7.1', 0)")
      .run(t.id, t.table_id, t.dimension, t.index_file_size, t.metric_type);
    for (const f of built.files) {
      db.prepare("INSERT INTO TableFiles VALUES (?, ?, ?, 1, ?, ?, ?, ?, 1, 1, 1, 0)")
        .run(f.id, f.table_id, f.segment_id, f.file_id, f.file_type, f.file_size, f.row_count);
    }
    db.close();
    // The second segment lives under a secondary storage path (0.7's storage_config.secondary_path).
    const secondary = await tempDir();
    try {
      const moved = built.files[1].segment_id;
      Deno.mkdirSync(`${secondary}/db/tables/v07`, { recursive: true });
      Deno.renameSync(`${built.dbDir}/tables/v07/${moved}`, `${secondary}/db/tables/v07/${moved}`);
      await assertCode(
        async () => {
          const store = await openMilvus1(built.dir);
          const c = store.collection("v07");
          await partitionSource(c, c.partitions[0]);
        },
        "SOURCE_NOT_FOUND",
        /Segment folder/,
      );
      const store = await openMilvus1(built.dir, { secondaryPaths: [secondary] });
      const c = store.collection("v07");
      assert.equal(c.indexParams, null);
      assert.equal(c.metric, "IP");
      assert.equal(c.partitions[0].segments[1].dir, `${secondary}/db/tables/v07/${moved}`);
      await checkAllRows(store, built, 4);
      await assertCode(() => openMilvus1(built.dir, { secondaryPaths: [`${secondary}/nope`] }), "SOURCE_NOT_FOUND");
    } finally {
      await Deno.remove(secondary, { recursive: true });
    }
  });
});
