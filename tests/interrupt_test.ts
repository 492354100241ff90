/**
 * Interruptions a user causes: Ctrl-C (SIGINT) in the middle of an H2M run finishes the requests in flight, keeps
 * the journal, exits 130, and `--resume` completes it with exactly the source rows; a disk that fills up during an
 * M2H export leaves no partial file under a final name (a tmpfs of 1 MiB, mounted by the test: needs root).
 */
import { assert, assertEquals } from "./assert.ts";
import { buildMilvus1Dir } from "./milvus1_fixture.ts";
import { milvusToHdf5 } from "../mod.ts";
import { MilvusdmError } from "../lib/errors.ts";
import {
  countRows,
  dropIfExists,
  PROJECT_ROOT,
  randomFloats,
  readAll,
  tempDir,
  TEST_URI,
  testClient,
  uniqueName,
  writeH5WithH5py,
  writeYaml,
} from "./helpers.ts";

const client = testClient();
const opts = { sanitizeResources: false, sanitizeOps: false };

Deno.test("Ctrl-C mid-run: exit 130, journal kept, --resume completes with exactly the source rows", opts, async () => {
  await using dir = await tempDir();
  const rows = 30_000, dim = 32;
  const ids = BigInt64Array.from({ length: rows }, (_, i) => BigInt(i) * 11n);
  await writeH5WithH5py(`${dir.path}/v.h5`, {
    datasets: {
      embeddings: { data: randomFloats(rows, dim, 4), shape: [rows, dim], dtype: "float32" },
      ids: { data: ids, shape: [rows], dtype: "int64" },
    },
  });
  const name = uniqueName("ctrl_c");
  const yaml = await writeYaml(
    `${dir.path}/H2M.yaml`,
    `H2M:\n  data_path: ['${dir.path}/v.h5']\n  dest_uri: '${TEST_URI}'\n  mode: 'append'\n` +
      // Requests of 100 rows: 300 of them take seconds even on a fast machine, so the interruption lands mid-run.
      `  dest_collection_name: '${name}'\n  batch_bytes: ${dim * 4 * 100}\n  in_flight: 2\n`,
  );
  const env = { NO_COLOR: "1", MILVUSDM_PATH: `${dir.path}/home` };
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${PROJECT_ROOT}/cli/main.ts`, "--yaml", yaml, "--json"],
      env,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderrText = new Response(child.stderr).text();
    let interruptedAt = -1;
    let buffer = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      const lines = buffer.split("\n");
      buffer = lines.pop()!;
      for (const line of lines) {
        const event = JSON.parse(line);
        if (interruptedAt < 0 && event.event === "progress" && event.rowsDone >= 2_000) {
          interruptedAt = event.rowsDone;
          child.kill("SIGINT");
        }
      }
    }
    const status = await child.status;
    const stderr = await stderrText;
    assert(interruptedAt > 0, `the run finished before the interruption: ${stderr}`);
    assertEquals(status.code, 130, stderr);
    assert(!/^\s+at /m.test(stderr), stderr);
    const journals = [...Deno.readDirSync(`${dir.path}/home/journals`)].filter((e) => e.name.endsWith(".json"));
    assertEquals(journals.length, 1);
    const journal = JSON.parse(Deno.readTextFileSync(`${dir.path}/home/journals/${journals[0].name}`));
    assertEquals(journal.state, "running");
    const unit = Object.values(journal.units)[0] as { durable: number; sentUpTo: number };
    console.log(`interrupted at ${interruptedAt} rows; ${unit.durable} of ${rows} durable when it stopped`);
    // Every request in flight finished: nothing is in doubt.
    assertEquals(unit.durable, unit.sentUpTo);
    assert(unit.durable >= interruptedAt && unit.durable < rows, JSON.stringify(unit));
    const resumed = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${PROJECT_ROOT}/cli/main.ts`, "run", yaml, "--resume"],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(resumed.code, 0, new TextDecoder().decode(resumed.stderr));
    assertEquals(await countRows(client, name), rows);
    const stored = await readAll(client, name);
    assertEquals(stored.length, rows);
    assert(stored.every((r, i) => r.id === BigInt(i) * 11n), "ids differ");
  } finally {
    await dropIfExists(client, name);
  }
});

Deno.test("disk full during an M2H export: OUTPUT_ERROR and no partial file under a final name", opts, async () => {
  await using dir = await tempDir();
  buildMilvus1Dir(dir.path, {
    seed: 8,
    finite: true,
    junk: false,
    collections: [{
      name: "wide",
      dim: 64,
      metricType: 1,
      partitions: [{ tag: null, segments: [{ rows: 20_000 }] }, { tag: "p", segments: [{ rows: 100 }] }],
    }],
  });
  const mnt = await Deno.makeTempDir({ prefix: "milvusdm_full_" });
  const mount = await new Deno.Command("mount", { args: ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt] }).output();
  assert(
    mount.success,
    `mounting a 1 MiB tmpfs failed (the test needs root): ${new TextDecoder().decode(mount.stderr)}`,
  );
  try {
    let error: unknown = null;
    try {
      await milvusToHdf5({ sourcePath: dir.path, collections: { wide: null }, dataDir: mnt, runId: "full" });
    } catch (e) {
      error = e;
    }
    assert(error instanceof MilvusdmError && error.code === "OUTPUT_ERROR", String(error));
    console.log(`the export stopped with: ${error.message}`);
    const left: string[] = [];
    const walk = (p: string) => {
      for (const e of Deno.readDirSync(p)) {
        if (e.isDirectory) walk(`${p}/${e.name}`);
        else left.push(e.name);
      }
    };
    walk(mnt);
    assert(!left.some((f) => f.endsWith(".h5") || f.includes(".partial")), `left behind: ${left.join(", ")}`);
  } finally {
    await new Deno.Command("umount", { args: [mnt] }).output();
    await Deno.remove(mnt, { recursive: true }).catch(() => {});
  }
});
