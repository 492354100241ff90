/**
 * The progress bar as a user sees it: the CLI runs in a real terminal (a tmux pane on a private tmux server), and the
 * pane is captured while it runs: a bar with the unit, rows, MB/s and ETA, coloured unless NO_COLOR is set, then a ✓
 * line for the unit and the summary table.
 */
import { assert, assertEquals } from "./assert.ts";
import {
  dropIfExists,
  PROJECT_ROOT,
  tempDir,
  TEST_HOST,
  TEST_PORT,
  testClient,
  uniqueName,
  writeYaml,
} from "./helpers.ts";
import { h5File, MDM_HOME } from "./cli_support.ts";

const client = testClient();
const hasTmux = (() => {
  try {
    return new Deno.Command("tmux", { args: ["-V"], stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
})();

async function tmux(socket: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("tmux", { args: ["-L", socket, ...args], stdout: "piped", stderr: "piped" })
    .output();
  return new TextDecoder().decode(out.stdout);
}

const BAR = /\S+ [█░]{20}\s+\d+\.\d%\s+[\d,]+\/[\d,]+ rows\s+[\d.]+ MB\/s\s+ETA \S+/;
// deno-lint-ignore no-control-regex
const ESCAPES = /\x1b\[[0-9;]*m/g;

/** Runs the CLI in a tmux pane; returns every distinct capture (with escapes) until it exits, and the last one. */
async function runInTerminal(
  dir: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ captures: string[]; last: string }> {
  const socket = `milvusdm_test_${Deno.pid}_${Date.now()}`;
  const exports = Object.entries({ MILVUSDM_PATH: MDM_HOME, ...env }).map(([k, v]) => `export ${k}='${v}'`);
  const script = await writeYaml(
    `${dir}/run.sh`,
    `${exports.join("\n")}\ncd '${PROJECT_ROOT}'\n'${Deno.execPath()}' run -A cli/main.ts ${
      args.map((a) => `'${a}'`).join(" ")
    }\necho "EXIT=$?"\nsleep 600\n`,
  );
  await tmux(socket, "new-session", "-d", "-s", "milvusdm", "-x", "160", "-y", "40", `bash '${script}'`);
  const captures: string[] = [];
  let last = "";
  try {
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      const pane = await tmux(socket, "capture-pane", "-p", "-e", "-t", "milvusdm");
      if (pane !== captures.at(-1)) captures.push(pane);
      last = pane;
      if (/EXIT=\d+/.test(pane)) break;
      await new Promise((r) => setTimeout(r, 80));
    }
  } finally {
    await tmux(socket, "kill-server");
  }
  return { captures, last };
}

Deno.test({
  name: "progress bar in a real terminal (tmux): unit, rows, MB/s, ETA; colours unless NO_COLOR; ✓ and summary",
  ignore: !hasTmux,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using dir = await tempDir();
    const name = uniqueName("progress");
    await h5File(`${dir.path}/vectors.h5`, 60_000, 64, 7);
    const yaml = await writeYaml(
      `${dir.path}/h.yaml`,
      `H2M:\n  data_path: ['${dir.path}/vectors.h5']\n  dest_host: '${TEST_HOST}'\n  dest_port: ${TEST_PORT}\n` +
        `  mode: overwrite\n  dest_collection_name: '${name}'\n`,
    );
    try {
      for (const noColor of [false, true]) {
        const env: Record<string, string> = noColor ? { NO_COLOR: "1" } : {};
        const { captures, last } = await runInTerminal(dir.path, ["--yaml", yaml, "--batch-bytes", "32768"], env);
        assert(/EXIT=0/.test(last), `the run failed:\n${last}`);
        const bars = captures.filter((c) => BAR.test(c.replace(ESCAPES, "")));
        assert(bars.length > 0, `no progress bar was seen in ${captures.length} captures; last:\n${last}`);
        const midway = bars.map((c) => /(\d+\.\d)%/.exec(c.replace(ESCAPES, ""))![1]).filter((p) => Number(p) < 100);
        assert(midway.length > 0, `only complete bars were seen:\n${bars.at(-1)}`);
        const line = bars[0].replace(ESCAPES, "").split("\n").find((l) => BAR.test(l))!;
        assert(line.startsWith(`${dir.path}/vectors.h5`) || line.startsWith("…"), line);
        assert(/[\d,]+\/60,000 rows/.test(line), line);
        if (noColor) {
          assert(!captures.some((c) => c.includes("\x1b[")), "NO_COLOR output has escape sequences");
        } else {
          assert(bars.some((b) => b.includes("\x1b[36m█")), `the bar is not coloured: ${JSON.stringify(bars.at(-1))}`);
        }
        const text = last.replace(ESCAPES, "");
        assert(/✓ .*vectors\.h5: 60,000 rows in [\d.]+ s \([\d.]+ MB\/s\)/.test(text), text);
        assert(new RegExp(`${name}\\s+_default\\s+overwrite|${name}\\s+_default\\s+create`).test(text), text);
        assert(/H2M: 60,000 rows/.test(text), text);
        assert(!BAR.test(text.split("\n").filter((l) => l.includes("H2M: 60,000 rows"))[0]), "bar left behind");
      }
      assertEquals((await client.getCollectionStatistics({ collection_name: name })).data.row_count, "60000");
    } finally {
      await dropIfExists(client, name);
    }
  },
});
