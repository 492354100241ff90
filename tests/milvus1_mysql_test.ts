/**
 * The Milvus 0.7–1.1 reader with MySQL metadata, against a real MariaDB (start it first: `scripts/mariadb start`).
 *
 * Connection from the environment: MILVUSDM_MYSQL_HOST (127.0.0.1), MILVUSDM_MYSQL_PORT (13306),
 * MILVUSDM_MYSQL_USER (milvusdm), MILVUSDM_MYSQL_PASSWORD (milvusdm-test-pw), MILVUSDM_MYSQL_DATABASE
 * (milvusdm_test). The tests fail, not skip, when MariaDB cannot be reached.
 */
import assert from "node:assert/strict";
import mysql from "mysql2/promise";
import { type MysqlParameters, openMilvus1, partitionSource } from "../lib/milvus1/mod.ts";
import {
  assertCode,
  buildMilvus1Dir,
  loadMetaIntoMysql,
  readAll,
  standardSpec,
  testMysqlParameters,
} from "./milvus1_fixture.ts";

const params: MysqlParameters = testMysqlParameters();

async function connect(): Promise<mysql.Connection> {
  try {
    return await mysql.createConnection({ ...params, connectTimeout: 5000 });
  } catch (error) {
    const code = (error as { code?: string }).code ?? String(error);
    throw new Error(
      `MariaDB is not reachable at ${params.host}:${params.port} as ${params.user} (database ${params.database}): ` +
        `${code}. Start it with "scripts/mariadb start" (same MILVUSDM_MYSQL_PORT / MILVUSDM_MYSQL_PASSWORD).`,
    );
  }
}

Deno.test("MySQL: the same metadata gives the same view and the same rows as SQLite", async () => {
  const connection = await connect();
  const dir = await Deno.makeTempDir({ prefix: "milvusdm-m1-mysql-" });
  try {
    const built = buildMilvus1Dir(dir, standardSpec({ seed: 21 }));
    const sqliteView = (await openMilvus1(dir)).collections();
    // A MySQL-backed server has no meta.sqlite: remove it so nothing can fall back to it.
    Deno.removeSync(`${built.dbDir}/meta.sqlite`);
    await loadMetaIntoMysql(connection, built);
    const store = await openMilvus1(dir, { mysql: params });
    assert.equal(store.backend, "mysql");
    assert.ok(!store.metaLocation.includes(params.password));
    assert.deepEqual(store.collections(), sqliteView);
    assert.deepEqual(store.collections().map((c) => c.name), [
      "books",
      "fingerprints",
      "hamming_wide",
      "inner",
      "no_data",
    ]);
    await assertCode(() => store.collection("dropped_one"), "CONFIG_INVALID", /was dropped/);
    for (const e of built.expected) {
      const collection = store.collection(e.collection);
      const source = await partitionSource(collection, store.partition(collection, e.tag));
      assert.equal(source.info.rows, e.rows);
      const got = await readAll(source, 9);
      assert.deepEqual(got.ids, e.ids, `${e.collection}/${e.tag}: ids`);
      assert.deepEqual(got.vectors, e.vectors, `${e.collection}/${e.tag}: vectors`);
    }
    // The db folder given directly works the same way.
    const direct = await openMilvus1(built.dbDir, { mysql: params });
    assert.deepEqual(direct.collections(), sqliteView);
    await store.close();
  } finally {
    await connection.end();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("MySQL: a wrong password is MYSQL_ERROR without the password in it", async () => {
  (await connect()).destroy();
  const dir = await Deno.makeTempDir({ prefix: "milvusdm-m1-mysql-" });
  try {
    buildMilvus1Dir(dir, { junk: false, sqlite: false, collections: [] });
    const wrong = "Wr0ng-pa55word-" + crypto.randomUUID();
    const e = await assertCode(() => openMilvus1(dir, { mysql: { ...params, password: wrong } }), "MYSQL_ERROR");
    assert.ok(!e.message.includes(wrong), e.message);
    assert.ok(!(e.hint ?? "").includes(wrong));
    assert.ok(!JSON.stringify(e.cause ?? null).includes(wrong));
    assert.ok(!String(e.stack).includes(wrong));
    assert.match(e.message, new RegExp(`"${params.user}"`));
    assert.match(e.message, /access denied/);
    assert.match(e.hint ?? "", /mysql_parameter\.password/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("MySQL: wrong database, missing tables, refused port, bad parameters", async () => {
  const connection = await connect();
  const dir = await Deno.makeTempDir({ prefix: "milvusdm-m1-mysql-" });
  try {
    buildMilvus1Dir(dir, { junk: false, sqlite: false, collections: [] });
    await assertCode(
      () => openMilvus1(dir, { mysql: { ...params, database: "no_such_db_milvusdm" } }),
      "MYSQL_ERROR",
      /"no_such_db_milvusdm" does not exist/,
    );
    await connection.query("CREATE DATABASE IF NOT EXISTS milvusdm_empty");
    await assertCode(
      () => openMilvus1(dir, { mysql: { ...params, database: "milvusdm_empty" } }),
      "MYSQL_ERROR",
      /has no Milvus metadata tables/,
    );
    // A port nobody listens on: find one by binding and releasing it.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const freePort = (listener.addr as Deno.NetAddr).port;
    listener.close();
    await assertCode(
      () => openMilvus1(dir, { mysql: { ...params, port: freePort } }),
      "MYSQL_ERROR",
      /connection refused/,
    );
    await assertCode(() => openMilvus1(dir, { mysql: { ...params, port: 0 } }), "CONFIG_INVALID", /port/);
    await assertCode(() => openMilvus1(`${dir}/nope`, { mysql: params }), "SOURCE_NOT_FOUND");
    const empty = await Deno.makeTempDir({ prefix: "milvusdm-m1-mysql-" });
    try {
      await assertCode(() => openMilvus1(empty, { mysql: params }), "SOURCE_NOT_FOUND", /db.*tables/);
    } finally {
      await Deno.remove(empty);
    }
  } finally {
    await connection.query("DROP DATABASE IF EXISTS milvusdm_empty");
    await connection.end();
    await Deno.remove(dir, { recursive: true });
  }
});
