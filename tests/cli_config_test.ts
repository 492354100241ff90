/**
 * Configuration mistakes through the CLI: one case per kind of mistake, each with exit status 2, the code
 * CONFIG_INVALID and a message that names the key path (and the expected value); unknown keys are warned about with a
 * suggestion; flags override keys. Nothing here reaches a server: every mistake is caught before a connection.
 */
import { assert, assertEquals } from "./assert.ts";
import { tempDir, TEST_HOST, TEST_PORT, uniqueName, writeYaml } from "./helpers.ts";
import { h5File, jsonEvents, mdm } from "./cli_support.ts";

const H2M_BASE = {
  "milvus_version": "2.3.5",
  "data_path": "\n    - /tmp/none.h5",
  "dest_host": `'${TEST_HOST}'`,
  "dest_port": `${TEST_PORT}`,
  "mode": "'append'",
  "dest_collection_name": "'cfg_never_created'",
  "dest_partition_name": "''",
};

/** An H2M YAML from the base with keys replaced (null removes a key) and raw lines added. */
function h2m(changes: Record<string, string | null> = {}, extra = ""): string {
  const keys = { ...H2M_BASE, ...changes };
  const lines = Object.entries(keys).filter(([, v]) => v !== null).map(([k, v]) => `  ${k}: ${v}`);
  return `H2M:\n${lines.join("\n")}\n${extra}`;
}

interface Case {
  name: string;
  yaml: string;
  message: RegExp;
  args?: string[];
  env?: Record<string, string>;
  hint?: RegExp;
}

const CASES: Case[] = [
  {
    name: "a value of the wrong type",
    yaml: h2m({ dest_port: "abc" }),
    message: /H2M\.dest_port: expected a port number, got "abc"/,
  },
  {
    name: "a number out of range",
    yaml: h2m({ batch_bytes: "10" }),
    message: /H2M\.batch_bytes: expected a byte count from 1024 to 50331648, got 10/,
  },
  {
    name: "a required key missing",
    yaml: h2m({ dest_collection_name: null }),
    message: /H2M\.dest_collection_name: is missing \(expected a collection name\)/,
  },
  {
    name: "a required key misspelt",
    yaml: h2m({ dest_collection_name: null, dest_colection_name: "'x'" }),
    message: /H2M\.dest_collection_name: is missing/,
    hint: /The file has "dest_colection_name": did you mean "dest_collection_name"\?/,
  },
  {
    name: "a value not among the choices",
    yaml: h2m({ mode: "'replace'" }),
    message: /H2M\.mode: expected one of skip, append, overwrite, got "replace"/,
  },
  {
    name: "a bad value in a nested mapping",
    yaml: h2m({}, "  collection_parameter:\n    dimension: 8\n    metric_type: 'L3'\n"),
    message: /H2M\.collection_parameter\.metric_type: expected one of L2, IP, COSINE, .*got "L3"/,
  },
  {
    name: "a wrong type in a nested mapping",
    yaml: h2m({}, "  collection_parameter:\n    dimension: big\n"),
    message: /H2M\.collection_parameter\.dimension: expected a dimension from 1 to 32768, got "big"/,
  },
  {
    name: "a mapping where a scalar belongs",
    yaml: h2m({ dest_host: "{ name: x }" }),
    message: /H2M\.dest_host: expected a string, got a mapping/,
  },
  {
    name: "a bad entry in a list",
    yaml: h2m({ data_path: "\n    - /tmp/a.h5\n    - [nested]" }),
    message: /H2M\.data_path\[1\]: expected a path, got a list/,
  },
  {
    name: "both of two exclusive keys",
    yaml: h2m({ data_dir: "/tmp" }),
    message: /H2M: set exactly one of data_path \(a list of files\) and data_dir \(a folder\); both are set/,
  },
  {
    name: "a key that needs its partner",
    yaml: h2m({ dest_user: "'root'" }),
    message: /H2M\.dest_password: is missing \(dest_user and dest_password go together\)/,
  },
  {
    name: "an environment variable that is not set",
    yaml: h2m({ dest_host: "'${MILVUSDM_CFG_TEST_UNSET}'" }),
    message: /H2M\.dest_host: environment variable MILVUSDM_CFG_TEST_UNSET is not set/,
  },
  {
    name: "a boolean that is not true or false",
    yaml:
      `F2M:\n  data_path: /tmp/x.faiss\n  dest_host: h\n  mode: append\n  dest_collection_name: c\n  allow_lossy: maybe\n`,
    message: /F2M\.allow_lossy: expected true or false, got "maybe"/,
  },
  {
    name: "an incomplete nested mapping (mysql_parameter)",
    yaml:
      `M2M:\n  source_milvus_path: /tmp\n  mysql_parameter:\n    user: root\n    password: x\n    database: milvus\n` +
      `  source_collection:\n    books:\n  dest_host: h\n  mode: skip\n`,
    message: /M2M\.mysql_parameter\.host: is missing \(expected the MySQL host\)/,
  },
  {
    name: "a selection of the wrong shape",
    yaml: `M2M:\n  source_milvus_path: /tmp\n  source_collection: 5\n  dest_host: h\n  mode: skip\n`,
    message: /M2M\.source_collection: expected a mapping of collection names to partition lists .*got 5/,
  },
  {
    name: "partition lists of the wrong shape",
    yaml: `M2H:\n  source_milvus_path: /tmp\n  source_collection:\n    books: { a: 1 }\n  data_dir: /tmp\n`,
    message: /M2H\.source_collection\.books: expected a list of partition tags, or nothing for every partition/,
  },
  {
    name: "a key M2M does not take",
    yaml: `M2M:\n  source_milvus_path: /tmp\n  source_collection: '*'\n  dest_host: h\n  mode: skip\n` +
      `  dest_partition_name: p\n`,
    message: /M2M\.dest_partition_name: M2M keeps the source's partitions; got "p"/,
  },
  { name: "YAML syntax", yaml: "H2M:\n  data_path: [unclosed\n", message: /is not valid YAML: .*line/ },
  {
    name: "a key given twice",
    yaml: "H2M:\n  mode: append\n  mode: skip\n",
    message: /is not valid YAML: Map keys must be unique/,
  },
  { name: "no task", yaml: "X2Y:\n  a: 1\n", message: /expected a top-level key F2M, H2M, M2M or M2H, found "X2Y"/ },
  { name: "two tasks", yaml: "H2M:\n  a: 1\nF2M:\n  b: 2\n", message: /names several tasks \(H2M, F2M\)/ },
  { name: "a task that is not a mapping", yaml: "H2M: 5\n", message: /H2M: expected a mapping of settings/ },
];

Deno.test("config mistakes: exit 2, CONFIG_INVALID, the key path and the expected value", async (t) => {
  await using dir = await tempDir();
  for (const [i, c] of CASES.entries()) {
    await t.step(c.name, async () => {
      const file = await writeYaml(`${dir.path}/case${i}.yaml`, c.yaml);
      for (const command of [["plan", file], ["--yaml", file]]) {
        const res = await mdm([...command, ...(c.args ?? [])], { env: c.env });
        assertEquals(res.code, 2, `${c.name}: ${res.stderr}`);
        assert(res.stderr.includes("error [CONFIG_INVALID]"), res.stderr);
        assert(c.message.test(res.stderr), `${c.name}: expected ${c.message}, got: ${res.stderr}`);
        if (c.hint) assert(c.hint.test(res.stderr), `${c.name}: expected hint ${c.hint}, got: ${res.stderr}`);
        assert(!/^\s+at /m.test(res.stderr), `a stack trace was printed: ${res.stderr}`);
      }
    });
  }
});

Deno.test("bad flags: exit 2 with the flag named; a missing YAML file names it", async () => {
  await using dir = await tempDir();
  const file = await writeYaml(`${dir.path}/h.yaml`, h2m());
  for (
    const [args, message] of [
      [["run", file, "--mode", "replace"], /option '--mode <mode>' argument 'replace' is invalid/],
      [["plan", file, "--batch-bytes", "0"], /option '--batch-bytes <n>' argument '0' is invalid/],
      [["verify", file, "--sample", "many"], /option '--sample <n>' argument 'many' is invalid/],
      [["run", file, "--frobnicate"], /unknown option '--frobnicate'/],
      [["frobnicate"], /unknown command 'frobnicate'/],
      [["init", "X2Y"], /expected F2M, H2M, M2M or M2H/],
      [["run"], /missing required argument 'file'/],
    ] as [string[], RegExp][]
  ) {
    const res = await mdm(args);
    assertEquals(res.code, 2, `${args.join(" ")}: ${res.stderr}`);
    assert(message.test(res.stderr), `${args.join(" ")}: ${res.stderr}`);
  }
  const res = await mdm(["run", `${dir.path}/nope.yaml`]);
  assertEquals(res.code, 2, res.stderr);
  assert(res.stderr.includes(`YAML file "${dir.path}/nope.yaml" does not exist`), res.stderr);
});

Deno.test("unknown keys are warned about (nested ones too, with a suggestion); flags override keys", async () => {
  await using dir = await tempDir();
  await h5File(`${dir.path}/a.h5`, 10, 4, 1);
  const name = uniqueName("cfg_plan");
  const yaml = await writeYaml(
    `${dir.path}/h.yaml`,
    h2m(
      {
        data_path: `\n    - ${dir.path}/a.h5`,
        dest_collection_name: `'${name}'`,
        dest_port: "1",
        mode: null,
        dest_prot: "3",
      },
      "  collection_parameter:\n    dimension: 4\n    metrik_type: L2\n",
    ),
  );
  // dest_port 1 is closed and mode is absent: --dest-uri and --mode supply them.
  const res = await mdm([
    "plan",
    yaml,
    "--json",
    "--dest-uri",
    `http://${TEST_HOST}:${TEST_PORT}`,
    "--mode",
    "overwrite",
  ]);
  assertEquals(res.code, 0, res.stderr);
  const events = jsonEvents(res.stdout);
  const warnings = events.filter((e) => e.event === "warning").map((e) => e.message);
  assert(warnings.includes('H2M.dest_prot: unknown key ignored (did you mean "dest_port"?)'), String(warnings));
  assert(
    warnings.includes('H2M.collection_parameter.metrik_type: unknown key ignored (did you mean "metric_type"?)'),
    String(warnings),
  );
  const plan = events.find((e) => e.event === "plan") as Record<string, unknown>;
  assert(String(plan.destination).endsWith(`${TEST_HOST}:${TEST_PORT}`), String(plan.destination));
  assertEquals((plan.targets as Record<string, unknown>[])[0].action, "create");
  // --allow-lossy is F2M's: elsewhere it is reported as ignored.
  const other = await mdm([
    "plan",
    yaml,
    "--allow-lossy",
    "--dest-uri",
    `http://${TEST_HOST}:${TEST_PORT}`,
    "--mode",
    "skip",
  ]);
  assertEquals(other.code, 0, other.stderr);
  assert(other.stderr.includes("warning: --allow-lossy does not apply to H2M and is ignored"), other.stderr);
});
