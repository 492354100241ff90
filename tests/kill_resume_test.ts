/**
 * Crash safety: a migration of 200,000 rows is killed with SIGKILL at 10 random points (seed printed), then run
 * again with resume until it completes; the target must hold exactly the source rows (count(*) and every id), for
 * H2M, F2M and M2M. The source files' checksums must be unchanged.
 */
import { assert, assertEquals } from "./assert.ts";
import { buildMilvus1Dir } from "./milvus1_fixture.ts";
import {
  assertStoredExactly,
  countRows,
  dropIfExists,
  prng,
  randomFloats,
  runRunner,
  spawnRunner,
  tempDir,
  TEST_TARGET,
  testClient,
  uniqueName,
  writeH5WithH5py,
} from "./helpers.ts";

const client = testClient();
const opts = { sanitizeResources: false, sanitizeOps: false };
const ROWS = 200_000;
const DIM = 32;
const SEED = Number(Deno.env.get("MILVUSDM_KILL_SEED") ?? Date.now() % 100000);
console.log(`kill tests: seed ${SEED} (MILVUSDM_KILL_SEED to repeat)`);

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function checksums(paths: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const p of paths) out[p] = await sha256(p);
  return out;
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await walk(p));
    else if (e.isFile) out.push(p);
  }
  return out.sort();
}

/**
 * Runs the migration 10 times, each killed with SIGKILL at a random point (a row count reached, or a delay into the
 * finishing phase after the last row), then once more to completion. Returns the kill points.
 */
async function killAndResume(specPath: string, home: string, seed: number, rows = ROWS): Promise<string[]> {
  const random = prng(seed);
  // Eight points spread over the rows, two in the flush/index/load phase after the last row.
  const points = Array.from({ length: 8 }, () => Math.floor(random() * rows)).sort((a, b) => a - b)
    .map((at) => ({ rows: at, delay: 0 }));
  points.push({ rows, delay: Math.floor(random() * 1500) }, { rows, delay: Math.floor(random() * 3000) });
  const env = { MILVUSDM_PATH: home, NO_COLOR: "1" };
  const seen: string[] = [];
  let killed = 0;
  for (const point of points) {
    const child = spawnRunner(specPath, env);
    const stderrText = new Response(child.stderr).text();
    let reached = -1;
    const lines = child.stdout.pipeThrough(new TextDecoderStream());
    let buffer = "";
    for await (const chunk of lines) {
      buffer += chunk;
      const parts = buffer.split("\n");
      buffer = parts.pop()!;
      const last = parts.length ? Number(parts[parts.length - 1]) : NaN;
      if (Number.isFinite(last) && last >= point.rows) {
        reached = last;
        if (point.delay) await new Promise((r) => setTimeout(r, point.delay));
        try {
          child.kill("SIGKILL");
        } catch { /* already exited */ }
        break;
      }
    }
    const status = await child.status;
    const stderr = await stderrText;
    assert(status.success || status.signal === "SIGKILL", `a run failed (not killed): ${stderr}`);
    if (status.signal === "SIGKILL") killed++;
    seen.push(
      `${status.signal === "SIGKILL" ? "killed" : "finished"} at ${reached >= 0 ? reached : "end"} rows` +
        (point.delay ? ` +${point.delay} ms` : ""),
    );
  }
  // The kill points must land while the migration runs, or the test proves nothing.
  assert(killed >= 8, `only ${killed} of 10 runs were killed before they finished: ${seen.join("; ")}`);
  const final = await runRunner(specPath, env);
  assert(final.success, `the final resumed run failed: ${final.stderr}`);
  return seen;
}

function shuffledIds(seed: number): BigInt64Array {
  const r = prng(seed);
  const ids = BigInt64Array.from({ length: ROWS }, (_, i) => BigInt(i) * 7n + 100n);
  for (let i = ids.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [ids[i], ids[j]] = [ids[j], ids[i]];
  }
  return ids;
}

Deno.test("kill -9 at 10 points and resume: H2M ends with exactly the source rows", opts, async () => {
  await using dir = await tempDir();
  const collection = uniqueName("kill_h2m");
  const vectors = randomFloats(ROWS, DIM, SEED);
  const ids = shuffledIds(SEED + 1);
  await writeH5WithH5py(`${dir.path}/v.h5`, {
    datasets: {
      embeddings: { data: vectors, shape: [ROWS, DIM], dtype: "float32" },
      ids: { data: ids, shape: [ROWS], dtype: "int64" },
    },
  });
  const before = await checksums([`${dir.path}/v.h5`]);
  const spec = `${dir.path}/spec.json`;
  await Deno.writeTextFile(
    spec,
    JSON.stringify({
      job: "H2M",
      options: {
        files: [`${dir.path}/v.h5`],
        target: TEST_TARGET,
        collection,
        mode: "append",
        batchBytes: DIM * 4 * 1500,
      },
    }),
  );
  try {
    const points = await killAndResume(spec, `${dir.path}/home`, SEED);
    console.log(`H2M kill points: ${points.join("; ")}`);
    await assertStoredExactly(client, collection, ids, vectors, DIM);
    assertEquals(await checksums([`${dir.path}/v.h5`]), before, "the source changed");
  } finally {
    await dropIfExists(client, collection);
  }
});

Deno.test("kill -9 at 10 points and resume: F2M ends with exactly the source rows", opts, async () => {
  await using dir = await tempDir();
  const collection = uniqueName("kill_f2m");
  const vectors = randomFloats(ROWS, DIM, SEED + 2);
  const ids = shuffledIds(SEED + 3);
  await Deno.writeFile(`${dir.path}/v.f32`, new Uint8Array(vectors.buffer));
  await Deno.writeFile(`${dir.path}/i.i64`, new Uint8Array(ids.buffer));
  const py = await new Deno.Command("/usr/bin/python3", {
    args: [
      "-c",
      `import faiss, numpy as np, sys
d = ${DIM}
x = np.fromfile(sys.argv[1], dtype="float32").reshape(-1, d)
i = np.fromfile(sys.argv[2], dtype="int64")
index = faiss.IndexIDMap2(faiss.IndexFlatL2(d))
index.add_with_ids(x, i)
faiss.write_index(index, sys.argv[3])`,
      `${dir.path}/v.f32`,
      `${dir.path}/i.i64`,
      `${dir.path}/idmap.faiss`,
    ],
  }).output();
  assert(py.success, new TextDecoder().decode(py.stderr));
  const before = await checksums([`${dir.path}/idmap.faiss`]);
  const spec = `${dir.path}/spec.json`;
  await Deno.writeTextFile(
    spec,
    JSON.stringify({
      job: "F2M",
      options: {
        file: `${dir.path}/idmap.faiss`,
        target: TEST_TARGET,
        collection,
        mode: "append",
        batchBytes: DIM * 4 * 1500,
      },
    }),
  );
  try {
    const points = await killAndResume(spec, `${dir.path}/home`, SEED + 1);
    console.log(`F2M kill points: ${points.join("; ")}`);
    await assertStoredExactly(client, collection, ids, vectors, DIM);
    assertEquals(await checksums([`${dir.path}/idmap.faiss`]), before, "the source changed");
  } finally {
    await dropIfExists(client, collection);
  }
});

Deno.test("kill -9 at 10 points and resume: M2M ends with exactly the source rows", opts, async () => {
  await using dir = await tempDir();
  const collection = uniqueName("kill_m2m");
  const quarter = ROWS / 4;
  const built = buildMilvus1Dir(dir.path, {
    seed: SEED,
    finite: true,
    junk: false,
    collections: [{
      name: "big",
      dim: DIM,
      metricType: 1,
      partitions: [
        { tag: null, segments: [{ rows: quarter, deletes: [1, 5, 5] }, { rows: quarter }] },
        { tag: "p1", segments: [{ rows: quarter }, { rows: quarter, deletes: [0] }] },
      ],
    }],
  });
  const files = await walk(dir.path);
  const before = await checksums(files);
  const spec = `${dir.path}/spec.json`;
  await Deno.writeTextFile(
    spec,
    JSON.stringify({
      job: "M2M",
      options: {
        sourcePath: dir.path,
        collections: { big: null },
        target: TEST_TARGET,
        targetCollection: collection,
        mode: "append",
        batchBytes: DIM * 4 * 1500,
      },
    }),
  );
  try {
    const liveRows = built.expected.reduce((n, p) => n + p.rows, 0);
    const points = await killAndResume(spec, `${dir.path}/home`, SEED + 2, liveRows);
    console.log(`M2M kill points: ${points.join("; ")}`);
    const ids = new BigInt64Array(built.expected.reduce((n, p) => n + p.rows, 0));
    const vectors = new Float32Array(ids.length * DIM);
    let at = 0;
    for (const p of built.expected) {
      ids.set(p.ids, at);
      vectors.set(new Float32Array(p.vectors.buffer, p.vectors.byteOffset, p.rows * DIM), at * DIM);
      at += p.rows;
    }
    await assertStoredExactly(client, collection, ids, vectors, DIM);
    for (const p of built.expected) assertEquals(await countRows(client, collection, p.tag ?? "_default"), p.rows);
    assertEquals(
      await checksums(files.filter((f) => !f.startsWith(`${dir.path}/home`) && !f.endsWith("spec.json"))),
      before,
    );
  } finally {
    await dropIfExists(client, collection);
  }
});

Deno.test(
  "resume refuses a changed source or configuration; without --resume a partial target is refused",
  opts,
  async () => {
    await using dir = await tempDir();
    const collection = uniqueName("resume_guard");
    const rows = 60_000;
    const vectors = randomFloats(rows, DIM, 77);
    const ids = BigInt64Array.from({ length: rows }, (_, i) => BigInt(i));
    const h5 = `${dir.path}/v.h5`;
    await writeH5WithH5py(h5, {
      datasets: {
        embeddings: { data: vectors, shape: [rows, DIM], dtype: "float32" },
        ids: { data: ids, shape: [rows], dtype: "int64" },
      },
    });
    const options = {
      files: [h5],
      target: TEST_TARGET,
      collection,
      mode: "append",
      batchBytes: DIM * 4 * 500,
      inFlight: 1,
    };
    const spec = `${dir.path}/spec.json`;
    await Deno.writeTextFile(spec, JSON.stringify({ job: "H2M", options }));
    const env = { MILVUSDM_PATH: `${dir.path}/home`, NO_COLOR: "1" };
    const run = (path: string, extra: string[] = []) => runRunner(path, env, extra);
    try {
      // Interrupt a run after its first acknowledged batches.
      const child = spawnRunner(spec, env);
      child.stderr.cancel();
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        if (chunk.split("\n").some((l) => Number(l) >= 5000)) {
          child.kill("SIGKILL");
          break;
        }
      }
      assertEquals((await child.status).signal, "SIGKILL");
      // Without resume, in append mode: refused, the partial target is not appended to.
      let res = await run(spec, ["--no-resume"]);
      assertEquals(res.code, 2, res.stderr);
      assert(res.stderr.includes("partly loaded") && res.stderr.includes("--resume"), res.stderr);
      // A changed configuration (another ids dataset name) is refused for resume.
      await Deno.writeTextFile(
        `${dir.path}/changed.json`,
        JSON.stringify({ job: "H2M", options: { ...options, idsDataset: "ids" } }),
      );
      res = await run(`${dir.path}/changed.json`);
      assertEquals(res.code, 2, res.stderr);
      assert(res.stderr.includes("configuration changed"), res.stderr);
      // A changed source is refused for resume.
      const original = await Deno.readFile(h5);
      const touched = new Date(Date.now() + 5000);
      await Deno.utime(h5, touched, touched);
      res = await run(spec);
      assertEquals(res.code, 3, res.stderr);
      assert(res.stderr.includes("changed since the interrupted run"), res.stderr);
      assertEquals(await Deno.readFile(h5), original);
    } finally {
      await dropIfExists(client, collection);
    }
  },
);
