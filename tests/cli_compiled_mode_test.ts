/**
 * The compiled binary's assumptions, checked without the compiler's runtime (unreachable here): the CLI runs with
 * `--cached-only` (nothing downloaded), network access only to the Milvus address, the permissions
 * scripts/compile grants, and a working directory outside the repository; it completes an H2M and an M2H.
 */
import { assert, assertEquals } from "./assert.ts";
import { buildMilvus1Dir, standardSpec } from "./milvus1_fixture.ts";
import {
  countRows,
  dropIfExists,
  PROJECT_ROOT,
  randomFloats,
  randomIds,
  tempDir,
  TEST_URI,
  testClient,
  uniqueName,
  writeH5WithH5py,
} from "./helpers.ts";

const client = testClient();
const opts = { sanitizeResources: false, sanitizeOps: false };
const address = new URL(TEST_URI).host;

async function runCompiledMode(cwd: string, yaml: string): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--cached-only",
      `--config=${PROJECT_ROOT}/deno.json`,
      "--allow-read",
      "--allow-write",
      "--allow-env",
      `--allow-net=${address}`,
      "--allow-sys",
      `${PROJECT_ROOT}/cli/main.ts`,
      "--yaml",
      yaml,
    ],
    cwd,
    env: { NO_COLOR: "1", MILVUSDM_PATH: `${cwd}/home` },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test(
  "compiled-mode assumptions: cached-only, net only to Milvus, outside the repo: H2M and M2H",
  opts,
  async () => {
    await using dir = await tempDir();
    assert(!dir.path.startsWith(PROJECT_ROOT));
    const name = uniqueName("compiled_h2m");
    await writeH5WithH5py(`${dir.path}/v.h5`, {
      datasets: {
        embeddings: { data: randomFloats(500, 8, 1), shape: [500, 8], dtype: "float32" },
        ids: { data: randomIds(500, 2), shape: [500], dtype: "int64" },
      },
    });
    await Deno.writeTextFile(
      `${dir.path}/H2M.yaml`,
      `H2M:\n  data_path: ['v.h5']\n  dest_uri: '${TEST_URI}'\n  mode: 'overwrite'\n  dest_collection_name: '${name}'\n`,
    );
    try {
      const h2m = await runCompiledMode(dir.path, "H2M.yaml");
      assertEquals(h2m.code, 0, h2m.stderr);
      assertEquals(await countRows(client, name), 500);
    } finally {
      await dropIfExists(client, name);
    }
    buildMilvus1Dir(`${dir.path}/m1`, standardSpec({ finite: true }));
    await Deno.writeTextFile(
      `${dir.path}/M2H.yaml`,
      `M2H:\n  source_milvus_path: 'm1'\n  mysql_parameter:\n  source_collection:\n    books:\n  data_dir: 'out'\n`,
    );
    const m2h = await runCompiledMode(dir.path, "M2H.yaml");
    assertEquals(m2h.code, 0, m2h.stderr);
    const runs = [...Deno.readDirSync(`${dir.path}/out`)];
    assertEquals(runs.length, 1);
    const files = [...Deno.readDirSync(`${dir.path}/out/${runs[0].name}/books`)].map((e) => e.name).sort();
    assertEquals(files, ["2021.h5", "_default.h5", "all_deleted.h5", "empty.h5"]);
  },
);
