/**
 * What the CLI prints: `--json` events that parse and whose counts match the target, `--quiet`, the log file under
 * `$MILVUSDM_PATH/logs`, and secrets (a token, a MySQL password, a password in a URI) that appear in no output line,
 * no error, no stack trace and no log line of successful and failing runs.
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
import { h5File, jsonEvents, mdm, MDM_HOME } from "./cli_support.ts";

const client = testClient();
const opts = { sanitizeResources: false, sanitizeOps: false };

/** Every file under a folder, as text. */
function filesUnder(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of Deno.readDirSync(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) walk(p);
      else if (e.isFile) out.set(p, Deno.readTextFileSync(p));
    }
  };
  try {
    walk(dir);
  } catch {
    // no such folder yet
  }
  return out;
}

function todayLog(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, "0");
  return `${MDM_HOME}/logs/milvusdm-${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}.log`;
}

Deno.test("--json: one event per line; progress, unit_done and summary counts match the target", opts, async () => {
  await using dir = await tempDir();
  const name = uniqueName("json_h2m");
  await h5File(`${dir.path}/a.h5`, 3000, 32, 1);
  await h5File(`${dir.path}/b.h5`, 2000, 32, 2);
  const yaml = await writeYaml(
    `${dir.path}/h.yaml`,
    `H2M:\n  data_path: ['${dir.path}/a.h5', '${dir.path}/b.h5']\n  dest_host: '${TEST_HOST}'\n` +
      `  dest_port: ${TEST_PORT}\n  mode: overwrite\n  dest_collection_name: '${name}'\n  not_a_key: 1\n`,
  );
  try {
    const res = await mdm(["--yaml", yaml, "--json", "--batch-bytes", String(32 * 4 * 250)]);
    assertEquals(res.code, 0, res.stderr);
    const events = jsonEvents(res.stdout);
    assert(events.every((e) => typeof e.event === "string" && typeof e.time === "string"), res.stdout);
    assertEquals(events[0].event, "start");
    assertEquals([events[0].task, events[0].command], ["H2M", "run"]);
    assertEquals(events.at(-1)!.event, "summary");
    assert(
      events.some((e) => e.event === "warning" && e.message === "H2M.not_a_key: unknown key ignored"),
      res.stdout,
    );
    const progress = events.filter((e) => e.event === "progress");
    assert(progress.length >= 2, `${progress.length} progress events`);
    for (let i = 1; i < progress.length; i++) {
      assert((progress[i].rowsDone as number) >= (progress[i - 1].rowsDone as number), "rowsDone went back");
    }
    const last = progress.at(-1)!;
    assertEquals([last.rowsDone, last.rowsTotal], [5000, 5000]);
    assert(typeof last.mbPerSecond === "number", JSON.stringify(last));
    const done = events.filter((e) => e.event === "unit_done");
    assert(done.length >= 1 && done.every((e) => [`${dir.path}/a.h5`, `${dir.path}/b.h5`].includes(e.unit as string)));
    const summary = events.at(-1)! as { rows: number; targets: { rows: number; rowCount: number }[] };
    const stored = await countRows(client, name);
    assertEquals([summary.rows, summary.targets[0].rows, summary.targets[0].rowCount], [5000, 5000, stored]);
    assertEquals(stored, 5000);
    // With --json nothing but errors goes to stderr.
    assertEquals(res.stderr, "");
  } finally {
    await dropIfExists(client, name);
  }
});

Deno.test("--json of M2M: one unit_done per non-empty partition, their rows add up to the target's", opts, async () => {
  await using dir = await tempDir();
  const built = buildMilvus1Dir(dir.path, standardSpec({ seed: 23, finite: true }));
  const name = uniqueName("json_m2m");
  const yaml = await writeYaml(
    `${dir.path}/m.yaml`,
    `M2M:\n  source_milvus_path: '${dir.path}'\n  mysql_parameter: ''\n  source_collection:\n    books:\n` +
      `  dest_uri: 'http://${TEST_HOST}:${TEST_PORT}'\n  dest_collection_name: '${name}'\n  mode: overwrite\n`,
  );
  try {
    const res = await mdm(["run", yaml, "--json"]);
    assertEquals(res.code, 0, res.stderr);
    const events = jsonEvents(res.stdout);
    const expected = built.expected.filter((p) => p.collection === "books" && p.rows > 0);
    const done = events.filter((e) => e.event === "unit_done");
    assertEquals(
      done.map((e) => [e.unit, e.rows]),
      expected.map((p) => [`books/${p.tag ?? "_default"}`, p.rows]),
    );
    const summary = events.at(-1)! as {
      event: string;
      rows: number;
      targets: { partition: string; rowCount: number }[];
    };
    assertEquals(summary.event, "summary");
    const total = expected.reduce((n, p) => n + p.rows, 0);
    assertEquals([summary.rows, await countRows(client, name)], [total, total]);
    for (const t of summary.targets) assertEquals(t.rowCount, await countRows(client, name, t.partition), t.partition);
  } finally {
    await dropIfExists(client, name);
  }
});

Deno.test("--quiet prints nothing on success; errors still show", opts, async () => {
  await using dir = await tempDir();
  const name = uniqueName("quiet");
  await h5File(`${dir.path}/a.h5`, 50, 8, 1);
  const yaml = (port: number) =>
    `H2M:\n  data_path: ['${dir.path}/a.h5']\n  dest_host: '${TEST_HOST}'\n  dest_port: ${port}\n  mode: append\n` +
    `  dest_collection_name: '${name}'\n  unknown_key: 1\n`;
  try {
    let res = await mdm(["--yaml", await writeYaml(`${dir.path}/ok.yaml`, yaml(TEST_PORT)), "--quiet"]);
    assertEquals(res.code, 0, res.stderr);
    assertEquals([res.stdout, res.stderr], ["", ""]);
    res = await mdm(["--yaml", await writeYaml(`${dir.path}/bad.yaml`, yaml(1)), "-q"]);
    assertEquals(res.code, 4);
    assertEquals(res.stdout, "");
    assert(/^error \[MILVUS_UNREACHABLE\]/.test(res.stderr), res.stderr);
  } finally {
    await dropIfExists(client, name);
  }
});

Deno.test(
  "secrets (token, MySQL password, password in a URI) appear in no output, error or log line",
  opts,
  async () => {
    await using dir = await tempDir();
    const TOKEN = 'root:tok"SECRET\\t0ken-9f';
    const MYSQL_PW = "pw-SECRET-mysql-71";
    const URI_PW = "uriSECRETpw42";
    const env = { MDM_T_TOKEN: TOKEN, MDM_T_PW: MYSQL_PW };
    const name = uniqueName("secrets");
    await h5File(`${dir.path}/a.h5`, 40, 8, 1);
    buildMilvus1Dir(`${dir.path}/m1`, standardSpec({ finite: true }));
    // MariaDB (scripts/mariadb) refuses the password; without it, nothing listens on the port.
    const mysqlPort = Deno.env.get("MILVUSDM_MYSQL_PORT") ?? "13306";
    const h2m = (port: number, extra = "") =>
      `H2M:\n  data_path: ['${dir.path}/a.h5']\n  dest_host: '${TEST_HOST}'\n  dest_port: ${port}\n` +
      `  dest_token: '\${MDM_T_TOKEN}'\n  mode: overwrite\n  dest_collection_name: '${name}'\n${extra}`;
    const m2m = `M2M:\n  source_milvus_path: '${dir.path}/m1'\n  mysql_parameter:\n    host: 127.0.0.1\n` +
      `    port: ${mysqlPort}\n    user: milvusdm\n    password: '\${MDM_T_PW}'\n    database: milvusdm_test\n` +
      `  source_collection:\n    books:\n  dest_host: '${TEST_HOST}'\n  dest_port: ${TEST_PORT}\n` +
      `  dest_token: '\${MDM_T_TOKEN}'\n  dest_collection_name: '${name}_m'\n  mode: append\n`;
    const uri = `H2M:\n  data_path: ['${dir.path}/a.h5']\n  dest_uri: 'http://root:${URI_PW}@${TEST_HOST}:1'\n` +
      `  mode: append\n  dest_collection_name: '${name}'\n`;
    const runs: { args: string[]; code: number; expect?: RegExp }[] = [];
    const ok = await writeYaml(`${dir.path}/ok.yaml`, h2m(TEST_PORT));
    const down = await writeYaml(`${dir.path}/down.yaml`, h2m(1));
    const mysql = await writeYaml(`${dir.path}/mysql.yaml`, m2m);
    const uriYaml = await writeYaml(`${dir.path}/uri.yaml`, uri);
    for (const flags of [["--debug"], ["--json", "--debug"]]) {
      runs.push({ args: ["--yaml", ok, ...flags], code: 0 });
      runs.push({ args: ["plan", ok, ...flags], code: 0 });
      runs.push({ args: ["verify", ok, ...flags], code: 0 });
      runs.push({ args: ["--yaml", down, ...flags], code: 4, expect: /MILVUS_UNREACHABLE/ });
      runs.push({ args: ["--yaml", mysql, ...flags], code: 3, expect: /MYSQL_ERROR/ });
      runs.push({ args: ["plan", mysql, ...flags], code: 3, expect: /MYSQL_ERROR/ });
      runs.push({ args: ["inspect", mysql, ...flags], code: 3, expect: /MYSQL_ERROR/ });
      runs.push({ args: ["run", uriYaml, ...flags], code: 4, expect: /MILVUS_UNREACHABLE/ });
    }
    try {
      for (const run of runs) {
        const res = await mdm(run.args, { env });
        const all = res.stdout + res.stderr;
        assertEquals(res.code, run.code, `${run.args.join(" ")}: ${all}`);
        if (run.expect) assert(run.expect.test(all), `${run.args.join(" ")}: ${all}`);
        assert(!/SECRET/.test(all), `a secret was printed by ${run.args.join(" ")}:\n${all}`);
        if (run.args.includes("--json")) jsonEvents(res.stdout); // still valid JSON after redaction
      }
      // The log file holds DEBUG detail of every run (the settings, with *** for the secrets) and no secret.
      const log = Deno.readTextFileSync(todayLog());
      assert(/ DEBUG H2M settings: .*"dest_token":"\*\*\*"/.test(log), "the settings line of the log");
      assert(/ DEBUG M2M settings: .*"password":"\*\*\*"/.test(log), "the settings line of the log");
      assert(/ ERROR error \[MYSQL_ERROR\]/.test(log) && / INFO {2}start \{"command":"verify"/.test(log), "log lines");
      assert(/caused by:/.test(log), "the causes of errors are logged at DEBUG");
      for (const [path, text] of filesUnder(MDM_HOME)) assert(!/SECRET/.test(text), `a secret in ${path}`);
    } finally {
      await dropIfExists(client, name);
      await dropIfExists(client, `${name}_m`);
    }
  },
);
