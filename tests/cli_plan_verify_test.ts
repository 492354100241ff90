/**
 * `milvusdm plan` prints what a run would do and leaves the target exactly as it was; `milvusdm verify` passes after
 * a clean migration and fails, naming the rows, after a vector in the target is changed or a row removed.
 */
import { assert, assertEquals } from "./assert.ts";
import { buildMilvus1Dir, standardSpec } from "./milvus1_fixture.ts";
import {
  countRows,
  dropIfExists,
  tempDir,
  TEST_HOST,
  TEST_PORT,
  testClient,
  uniqueName,
  writeYaml,
} from "./helpers.ts";
import { h5File, jsonEvents, mdm } from "./cli_support.ts";

const client = testClient();
const opts = { sanitizeResources: false, sanitizeOps: false };

function h2mYaml(files: string[], collection: string, partition: string, mode = "append"): string {
  return `H2M:
  milvus_version: 2.3.5
  data_path:
${files.map((f) => `    - ${f}`).join("\n")}
  dest_host: '${TEST_HOST}'
  dest_port: ${TEST_PORT}
  mode: '${mode}'
  dest_collection_name: '${collection}'
  dest_partition_name: '${partition}'
`;
}

/** Everything about a collection a write could change. */
async function snapshot(collection: string): Promise<unknown> {
  const has = await client.hasCollection({ collection_name: collection });
  if (!has.value) return { exists: false };
  const parts = await client.listPartitions({ collection_name: collection });
  const names = [...parts.partition_names].sort();
  const counts: Record<string, number> = {};
  for (const p of names) counts[p] = await countRows(client, collection, p);
  const desc = await client.describeCollection({ collection_name: collection });
  const index = await client.describeIndex({ collection_name: collection, field_name: "embedding" });
  return {
    exists: true,
    id: desc.collectionID,
    fields: desc.schema.fields.map((f) => `${f.name}:${f.data_type}`),
    partitions: names,
    counts,
    index: index.index_descriptions.map((d) => `${d.index_name}:${d.indexID}`),
  };
}

function planOf(stdout: string): Record<string, unknown> & { targets: Record<string, unknown>[] } {
  const events = jsonEvents(stdout);
  const plan = events.find((e) => e.event === "plan");
  assert(plan, stdout);
  return plan as Record<string, unknown> & { targets: Record<string, unknown>[] };
}

Deno.test("plan of H2M: sources, actions and inserts as a run would do them; the target unchanged", opts, async () => {
  await using dir = await tempDir();
  const name = uniqueName("plan_h2m");
  await h5File(`${dir.path}/a.h5`, 400, 32, 1);
  await h5File(`${dir.path}/b.h5`, 250, 32, 3);
  const files = [`${dir.path}/a.h5`, `${dir.path}/b.h5`];
  const yaml = await writeYaml(`${dir.path}/h.yaml`, h2mYaml(files, name, "p1"));
  try {
    // A new collection: create, nothing written.
    let res = await mdm(["plan", yaml, "--json", "--batch-bytes", String(32 * 4 * 100)]);
    assertEquals(res.code, 0, res.stderr);
    let plan = planOf(res.stdout);
    assertEquals(plan.job, "H2M");
    assertEquals(plan.rows, 650);
    assertEquals(plan.vectorBytes, 650 * 32 * 4);
    assertEquals(plan.batches, 4 + 3);
    const units = plan.units as Record<string, unknown>[];
    assertEquals(units.map((u) => [u.name, u.rows, u.dim, u.vectorType, u.hasIds]), [
      [files[0], 400, 32, "float", true],
      [files[1], 250, 32, "float", true],
    ]);
    assertEquals(plan.targets.map((t) => [t.collection, t.partition, t.action, t.rows]), [[name, "p1", "create", 650]]);
    assert(String(plan.destination).includes(`${TEST_HOST}:${TEST_PORT}`), String(plan.destination));
    assertEquals(await snapshot(name), { exists: false });

    // The human plan says the same.
    res = await mdm(["plan", yaml]);
    assertEquals(res.code, 0, res.stderr);
    assert(/Plan of H2M .*nothing has been written/.test(res.stdout), res.stdout);
    assert(new RegExp(`${name}\\s+p1\\s+create\\s+650`).test(res.stdout), res.stdout);
    assert(/Inserts: 2 of at most/.test(res.stdout), res.stdout);
    assertEquals(await snapshot(name), { exists: false });

    // After a run, each mode's plan matches what the mode does, and nothing changes.
    res = await mdm(["--yaml", yaml]);
    assertEquals(res.code, 0, res.stderr);
    const before = await snapshot(name);
    assertEquals((before as { counts: Record<string, number> }).counts, { _default: 0, p1: 650 });
    const expected: Record<string, [string, number, RegExp]> = {
      // The same files were appended already: a run would send nothing (exactly-once re-runs), and so says the plan.
      append: ["skip", 0, /already completed/],
      overwrite: ["overwrite", 650, /drops and recreates/],
      skip: ["skip", 0, /skip leaves it/],
    };
    for (const [mode, [action, rows, reason]] of Object.entries(expected)) {
      res = await mdm(["plan", yaml, "--mode", mode, "--json"]);
      assertEquals(res.code, 0, res.stderr);
      plan = planOf(res.stdout);
      assertEquals(plan.targets.map((t) => [t.partition, t.action, t.rows]), [["p1", action, rows]], mode);
      assert(reason.test(String(plan.targets[0].reason)), String(plan.targets[0].reason));
      assertEquals(await snapshot(name), before, `plan --mode ${mode} changed the target`);
    }
    // A partition that does not exist yet in an existing collection.
    const yaml2 = await writeYaml(`${dir.path}/h2.yaml`, h2mYaml(files, name, "p2"));
    res = await mdm(["plan", yaml2, "--json"]);
    assertEquals(res.code, 0, res.stderr);
    assertEquals(planOf(res.stdout).targets.map((t) => [t.partition, t.action]), [["p2", "create"]]);
    assertEquals(await snapshot(name), before);
  } finally {
    await dropIfExists(client, name);
  }
});

Deno.test("plan of M2M: one target per source partition; nothing created, then nothing changed", opts, async () => {
  await using dir = await tempDir();
  const built = buildMilvus1Dir(dir.path, standardSpec({ finite: true }));
  const name = uniqueName("plan_m2m");
  const yaml = await writeYaml(
    `${dir.path}/m.yaml`,
    `M2M:\n  source_milvus_path: '${dir.path}'\n  mysql_parameter:\n  source_collection:\n    books:\n` +
      `  dest_host: '${TEST_HOST}'\n  dest_port: ${TEST_PORT}\n  dest_collection_name: '${name}'\n  mode: 'skip'\n`,
  );
  const books = built.expected.filter((p) => p.collection === "books");
  try {
    let res = await mdm(["plan", yaml, "--json"]);
    assertEquals(res.code, 0, res.stderr);
    let plan = planOf(res.stdout);
    assertEquals(plan.sourceKind, "Milvus 1.x");
    assertEquals(
      plan.targets.map((t) => [t.collection, t.partition, t.action, t.rows]),
      books.map((p) => [name, p.tag ?? "_default", "create", p.rows]),
    );
    assertEquals(plan.rows, books.reduce((n, p) => n + p.rows, 0));
    assertEquals(await snapshot(name), { exists: false });
    res = await mdm(["--yaml", yaml]);
    assertEquals(res.code, 0, res.stderr);
    const before = await snapshot(name);
    // append after a completed run of the same source: nothing would be sent (exactly-once), so the plan skips.
    for (const [mode, action] of [["skip", "skip"], ["overwrite", "overwrite"], ["append", "skip"]]) {
      res = await mdm(["plan", yaml, "--mode", mode, "--json"]);
      assertEquals(res.code, 0, res.stderr);
      plan = planOf(res.stdout);
      assert(plan.targets.every((t) => t.action === action), `${mode}: ${JSON.stringify(plan.targets)}`);
      assertEquals(await snapshot(name), before, `plan --mode ${mode} changed the target`);
    }
    res = await mdm(["plan", yaml, "--mode", "overwrite"]);
    assert(/drop and recreate/.test(res.stdout), res.stdout);
  } finally {
    await dropIfExists(client, name);
  }
});

Deno.test("verify: passes after H2M, fails naming the id of a changed vector and of a removed row", opts, async () => {
  await using dir = await tempDir();
  const name = uniqueName("verify_h2m");
  const a = await h5File(`${dir.path}/a.h5`, 700, 24, 31);
  await h5File(`${dir.path}/b.h5`, 500, 24, 33);
  const yaml = await writeYaml(
    `${dir.path}/h.yaml`,
    h2mYaml([`${dir.path}/a.h5`, `${dir.path}/b.h5`], name, "part_a"),
  );
  try {
    let res = await mdm(["--yaml", yaml]);
    assertEquals(res.code, 0, res.stderr);
    res = await mdm(["verify", yaml]);
    assertEquals(res.code, 0, res.stderr + res.stdout);
    assert(/source and target agree/.test(res.stdout), res.stdout);
    assert(new RegExp(`${name}\\s+part_a\\s+1,200\\s+1,200\\s+1,200\\s+0\\s+0\\s+ok`).test(res.stdout), res.stdout);
    // A sample smaller than the source is spread over both files.
    res = await mdm(["verify", yaml, "--sample", "50", "--json"]);
    assertEquals(res.code, 0, res.stderr);
    const report = jsonEvents(res.stdout).find((e) => e.event === "verify") as Record<string, unknown>;
    const target = (report.targets as Record<string, unknown>[])[0];
    assertEquals([report.ok, target.compared, target.targetRows], [true, 50, 1200]);

    // Change one vector in the target (an upsert with the same id), and remove another row.
    const changedId = a.ids[123];
    const vector = Array.from(a.vectors.subarray(123 * 24, 124 * 24));
    vector[5] += 0.5;
    const up = await client.upsert({
      collection_name: name,
      partition_name: "part_a",
      data: [{ id: Number(changedId), embedding: vector }],
    });
    assertEquals(up.status.error_code, "Success", up.status.reason);
    const removedId = a.ids[600];
    const del = await client.deleteEntities({ collection_name: name, expr: `id in [${removedId}]` });
    assertEquals(del.status.error_code, "Success", del.status.reason);

    res = await mdm(["verify", yaml]);
    assertEquals(res.code, 5, res.stderr + res.stdout);
    assert(res.stderr.includes("error [VERIFY_FAILED]"), res.stderr);
    assert(res.stderr.includes(String(changedId)) && res.stderr.includes(String(removedId)), res.stderr);
    assert(res.stderr.includes("1199 rows in the target for 1200 in the source"), res.stderr);
    assert(new RegExp(`id ${changedId} \\(.*a\\.h5, row 123\\): dimension 5: source`).test(res.stdout), res.stdout);
    assert(new RegExp(`id ${removedId} \\(.*a\\.h5, row 600\\): missing`).test(res.stdout), res.stdout);

    res = await mdm(["verify", yaml, "--all", "--json"]);
    assertEquals(res.code, 5, res.stderr);
    const events = jsonEvents(res.stdout);
    const failed = events.find((e) => e.event === "verify") as Record<string, unknown>;
    const t = (failed.targets as Record<string, unknown>[])[0];
    assertEquals([failed.ok, t.compared, t.missing, t.different, t.countMatches], [false, 1200, 1, 1, false]);
    const diffs = t.differences as Record<string, unknown>[];
    assertEquals(
      diffs.map((d) => [d.id, d.kind]).sort(),
      [[String(changedId), "vector"], [String(removedId), "missing"]].sort(),
    );
    assertEquals(events.at(-1)?.event, "error");
    assertEquals(events.at(-1)?.code, "VERIFY_FAILED");
  } finally {
    await dropIfExists(client, name);
  }
});

Deno.test(
  "verify --all of an M2M with binary vectors; a changed byte is found; no ids: counts only",
  opts,
  async () => {
    await using dir = await tempDir();
    const built = buildMilvus1Dir(dir.path, standardSpec({ seed: 17, finite: true }));
    const name = uniqueName("verify_m2m");
    const noIds = uniqueName("verify_noids");
    const yaml = await writeYaml(
      `${dir.path}/m.yaml`,
      `M2M:\n  source_milvus_path: '${dir.path}'\n  mysql_parameter:\n  source_collection:\n    fingerprints:\n` +
        `  dest_uri: 'http://${TEST_HOST}:${TEST_PORT}'\n  dest_collection_name: '${name}'\n  mode: 'append'\n`,
    );
    try {
      let res = await mdm(["--yaml", yaml]);
      assertEquals(res.code, 0, res.stderr);
      res = await mdm(["verify", yaml, "--all"]);
      assertEquals(res.code, 0, res.stderr + res.stdout);
      for (const p of built.expected.filter((e) => e.collection === "fingerprints")) {
        const row = new RegExp(
          `${name}\\s+${p.tag ?? "_default"}\\s+${p.rows}\\s+${p.rows}\\s+${p.rows}\\s+0\\s+0\\s+ok`,
        );
        assert(row.test(res.stdout), res.stdout);
      }
      const p = built.expected.find((e) => e.collection === "fingerprints" && e.tag === "p")!;
      const bytes = Array.from(p.vectors.subarray(3 * 8, 4 * 8));
      bytes[6] ^= 0x10;
      const up = await client.upsert({
        collection_name: name,
        partition_name: "p",
        data: [{ id: p.ids[3].toString(), embedding: bytes }],
      });
      assertEquals(up.status.error_code, "Success", up.status.reason);
      res = await mdm(["verify", yaml, "--all"]);
      assertEquals(res.code, 5, res.stderr + res.stdout);
      assert(new RegExp(`id ${p.ids[3]} \\(fingerprints/p, row 3\\): byte 6: source`).test(res.stdout), res.stdout);

      // HDF5 without ids: Milvus generates them, only the counts can be compared.
      await h5File(`${dir.path}/noids.h5`, 120, 8, 41, { ids: false });
      const h = await writeYaml(`${dir.path}/h.yaml`, h2mYaml([`${dir.path}/noids.h5`], noIds, ""));
      res = await mdm(["--yaml", h]);
      assertEquals(res.code, 0, res.stderr);
      res = await mdm(["verify", h]);
      assertEquals(res.code, 0, res.stderr + res.stdout);
      assert(/only the counts can be compared/.test(res.stdout), res.stdout);
      assert(new RegExp(`${noIds}\\s+_default\\s+120\\s+120\\s+no ids`).test(res.stdout), res.stdout);
    } finally {
      await dropIfExists(client, name);
      await dropIfExists(client, noIds);
    }
  },
);
