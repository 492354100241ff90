/**
 * Tests of the Faiss reader against files written by faiss itself (scripts/make_faiss_fixtures.py): every
 * fixture is streamed and every id and vector compared with faiss's own reconstruction.
 *
 * The fixtures dir comes from MILVUSDM_FAISS_FIXTURES (default .work/fixtures/faiss); a missing dir fails.
 */
import nodeAssert from "node:assert/strict";
import { MilvusdmError } from "../lib/errors.ts";
import { type FaissSource, inspectFaiss, openFaissSource } from "../lib/faiss/mod.ts";
import type { Batch } from "../lib/types.ts";

function assert(condition: unknown, message?: string): asserts condition {
  if (!condition) nodeAssert.fail(message ?? "assertion failed");
}

function assertEquals(actual: unknown, expected: unknown, message?: string): void {
  if (message === undefined) nodeAssert.deepStrictEqual(actual, expected);
  else nodeAssert.deepStrictEqual(actual, expected, message);
}

/** Runs `fn`, expects it to throw, and returns what it threw. */
async function assertRejects(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("Expected a rejection");
}

const DIR = Deno.env.get("MILVUSDM_FAISS_FIXTURES") ?? ".work/fixtures/faiss";

interface Fixture {
  name: string;
  file: string;
  tree: string[];
  dim: number;
  ntotal: number;
  metric: string;
  metricArg?: number;
  exact: boolean;
  vectorType: "float" | "binary";
  tolerance: number;
  expect: "ok" | "lossy" | "unsupported";
  synthetic: boolean;
  ids?: string;
  vecs?: string;
  extraFiles?: string[];
}

async function loadManifest(): Promise<Fixture[] | null> {
  try {
    return JSON.parse(await Deno.readTextFile(`${DIR}/manifest.json`)).fixtures;
  } catch {
    return null;
  }
}

const fixtures = await loadManifest();

Deno.test("faiss fixtures exist", () => {
  assert(
    fixtures !== null && fixtures.length > 0,
    `No faiss fixtures in "${DIR}": run /usr/bin/python3 scripts/make_faiss_fixtures.py ${DIR} ` +
      "(needs apt-get install -y python3-faiss) or set MILVUSDM_FAISS_FIXTURES",
  );
});

/**
 * The batches of a source. With `reuse`, the source reads into one buffer handed out again for every batch (as the
 * migrations' request buffers are), and each batch is copied out before the next is asked for.
 */
async function collect(source: FaissSource, maxRows: number, reuse = false): Promise<Batch[]> {
  const out: Batch[] = [];
  const cols = source.info.vectorType === "binary" ? source.info.dim / 8 : source.info.dim;
  const vectors = source.info.vectorType === "binary"
    ? new Uint8Array(maxRows * cols)
    : new Float32Array(maxRows * cols);
  const ids = new BigInt64Array(maxRows);
  const allocate = reuse
    ? (rows: number) => ({ vectors: vectors.subarray(0, rows * cols), ids: ids.subarray(0, rows) })
    : undefined;
  for await (const batch of source.batches(maxRows, undefined, allocate)) {
    out.push(reuse ? { ...batch, vectors: batch.vectors.slice(), ids: batch.ids?.slice() ?? null } : batch);
  }
  return out;
}

function rowSize(f: { vectorType: string; dim: number }): number {
  return f.vectorType === "binary" ? f.dim / 8 : f.dim;
}

/** Checks batch shapes and compares every (id, vector) with the truth files, keyed by id. */
async function compareWithTruth(f: Fixture, batches: Batch[], maxRows: number): Promise<void> {
  const truthIds = new BigInt64Array((await Deno.readFile(`${DIR}/${f.ids}`)).buffer);
  const truthBytes = await Deno.readFile(`${DIR}/${f.vecs}`);
  const truth = f.vectorType === "binary" ? truthBytes : new Float32Array(truthBytes.buffer);
  const size = rowSize(f);
  assertEquals(truthIds.length, f.ntotal, `${f.name}: truth ids`);
  const rowOf = new Map<bigint, number>();
  truthIds.forEach((id, row) => rowOf.set(id, row));
  assertEquals(rowOf.size, truthIds.length, `${f.name}: truth ids are unique`);
  const seen = new Set<bigint>();
  let total = 0, worst = 0;
  for (const batch of batches) {
    assert(batch.rows >= 1 && batch.rows <= maxRows, `${f.name}: batch of ${batch.rows} rows (max ${maxRows})`);
    assertEquals(batch.dim, f.dim);
    assert(batch.ids instanceof BigInt64Array, `${f.name}: ids are a BigInt64Array`);
    assertEquals(batch.ids!.length, batch.rows);
    assert(
      f.vectorType === "binary" ? batch.vectors instanceof Uint8Array : batch.vectors instanceof Float32Array,
      `${f.name}: vector array type`,
    );
    assertEquals(batch.vectors.length, batch.rows * size, `${f.name}: vectors length`);
    for (let r = 0; r < batch.rows; r++) {
      const id = batch.ids![r];
      const row = rowOf.get(id);
      assert(row !== undefined, `${f.name}: id ${id} is not in the truth`);
      assert(!seen.has(id), `${f.name}: id ${id} yielded twice`);
      seen.add(id);
      const got = batch.vectors.subarray(r * size, (r + 1) * size);
      const want = truth.subarray(row * size, (row + 1) * size);
      if (f.exact) {
        const a = new Uint8Array(got.buffer, got.byteOffset, got.byteLength);
        const b = new Uint8Array(want.buffer, want.byteOffset, want.byteLength);
        for (let j = 0; j < a.length; j++) {
          if (a[j] !== b[j]) throw new Error(`${f.name}: id ${id} differs at byte ${j}: ${got} vs ${want}`);
        }
      } else {
        for (let j = 0; j < size; j++) {
          const err = Math.abs(got[j] - want[j]) / (1 + Math.abs(want[j]));
          worst = Math.max(worst, err);
          if (!(err <= f.tolerance)) {
            throw new Error(`${f.name}: id ${id} dim ${j}: ${got[j]} vs faiss ${want[j]} (tolerance ${f.tolerance})`);
          }
        }
      }
    }
    total += batch.rows;
  }
  assertEquals(total, f.ntotal, `${f.name}: rows streamed`);
}

for (const f of fixtures ?? []) {
  if (f.expect === "unsupported") {
    Deno.test(`faiss ${f.name}: unsupported (${f.tree[0]}) is refused by name`, async () => {
      const error = await assertRejects(() => openFaissSource(`${DIR}/${f.file}`, { allowLossy: true }));
      assert(error instanceof MilvusdmError, `${f.name}: ${error}`);
      assertEquals(error.code, "FAISS_UNSUPPORTED_INDEX", error.message);
      const named = f.tree.some((fourcc) => error.message.includes(`"${fourcc}"`)) || f.name === "pt_pcaw";
      assert(named, `${f.name}: the message names the index type: ${error.message}`);
      assert(error.message.includes("supported:"), "the message lists what is supported");
    });
    continue;
  }
  Deno.test(`faiss ${f.name}: ${f.tree.join(" → ")} streams ${f.ntotal} vectors matching faiss`, async () => {
    const warnings: string[] = [];
    const source = await openFaissSource(`${DIR}/${f.file}`, {
      allowLossy: !f.exact,
      onWarning: (m) => warnings.push(m),
    });
    try {
      assertEquals(source.info.dim, f.dim);
      assertEquals(source.info.rows, f.ntotal);
      assertEquals(source.info.vectorType, f.vectorType);
      assertEquals(source.info.hasIds, true);
      const metric = f.vectorType === "binary" ? "HAMMING" : f.metric === "L2" || f.metric === "IP" ? f.metric : null;
      assertEquals(source.info.metric, metric);
      const inspect = source.inspect;
      assertEquals(inspect.exact, f.exact);
      assertEquals(inspect.metric, f.metric);
      assertEquals(inspect.dim, f.dim);
      assertEquals(inspect.ntotal, f.ntotal);
      if (f.metricArg !== undefined) assertEquals(inspect.metricArg, f.metricArg);
      // every fourcc of the manifest tree shows in the inspected tree, in order
      let at = 0;
      for (const fourcc of f.tree) {
        const k = inspect.tree.findIndex((line, i) => i >= at && line.includes(fourcc));
        assert(k >= 0, `${f.name}: ${fourcc} missing from ${JSON.stringify(inspect.tree)}`);
        at = k;
      }
      if (!f.exact) assert(warnings.some((w) => w.includes("reconstructions")), "lossy export warns");
      for (const maxRows of [97, 1, 100_000]) {
        await compareWithTruth(f, await collect(source, maxRows), maxRows);
      }
      await compareWithTruth(f, await collect(source, 1000, true), 1000);
    } finally {
      await source.close();
    }
  });
  if (!f.exact) {
    Deno.test(`faiss ${f.name}: lossy index refused without allowLossy`, async () => {
      const error = await assertRejects(() => openFaissSource(`${DIR}/${f.file}`));
      assert(error instanceof MilvusdmError);
      assertEquals(error.code, "LOSSY_NOT_ALLOWED", error.message);
      assert(error.message.includes(f.file), error.message);
      assert(error.hint?.includes("allow_lossy: true") && error.hint.includes("--allow-lossy"), error.hint);
    });
  }
}

Deno.test("faiss inspect: tree, description, metric of chosen indexes", async () => {
  const hnsw = await inspectFaiss(`${DIR}/idmap_hnsw.faiss`);
  assertEquals(hnsw.tree.filter((l) => !l.startsWith("graph:")), ["IDMap (IxMp)", "HNSW (IHNf)", "Flat L2 (IxF2)"]);
  assertEquals(hnsw.description, "IDMap → HNSW → Flat");
  assertEquals([hnsw.dim, hnsw.ntotal, hnsw.metric, hnsw.exact, hnsw.vectorType], [16, 600, "L2", true, "float"]);

  const ivf = await inspectFaiss(`${DIR}/ivfflat_sparse.faiss`);
  assertEquals(ivf.tree[0], "IVFFlat (IwFl)");
  assertEquals(ivf.tree[1], "quantizer: Flat IP (IxFI)");
  assert(ivf.tree.some((l) => l.startsWith("lists: ilar sprs, 64 lists")), JSON.stringify(ivf.tree));
  assertEquals(ivf.metric, "IP");

  const full = await inspectFaiss(`${DIR}/ivfflat_full.faiss`);
  assert(full.tree.some((l) => l.startsWith("lists: ilar full, 16 lists")), JSON.stringify(full.tree));
  const hashtable = await inspectFaiss(`${DIR}/ivfflat_hashtable.faiss`);
  assert(hashtable.tree.includes("direct map: hashtable (600 entries, skipped)"), JSON.stringify(hashtable.tree));

  const lp = await inspectFaiss(`${DIR}/flat_lp3.faiss`);
  assertEquals([lp.metric, lp.metricArg], ["Lp", 3]);

  const pq = await inspectFaiss(`${DIR}/ivfpq_residual.faiss`);
  assertEquals([pq.exact, pq.description], [false, "IVFPQ"]);
  assert(pq.lossyReasons.length > 0);

  const pt = await inspectFaiss(`${DIR}/pt_ltra_ivfpq.faiss`);
  assertEquals(pt.description, "PreTransform → IVFPQ");
  assert(pt.tree.includes("transform: LinearTransform 16→16 (LTra)"), JSON.stringify(pt.tree));

  const bin = await inspectFaiss(`${DIR}/bin_idmap.faiss`);
  assertEquals([bin.vectorType, bin.dim, bin.metric, bin.description], [
    "binary",
    256,
    "HAMMING",
    "BinaryIDMap → BinaryFlat",
  ]);
  const st = await Deno.stat(`${DIR}/bin_idmap.faiss`);
  assertEquals(bin.bytes, st.size);
});

Deno.test("faiss IDMap over IVF: uncached id lookups give the same rows", async () => {
  const f = fixtures!.find((x) => x.name === "idmap_ivfflat")!;
  const source = await openFaissSource(`${DIR}/${f.file}`, { idMapCacheBytes: 0 });
  try {
    await compareWithTruth(f, await collect(source, 97), 97);
  } finally {
    await source.close();
  }
});

Deno.test("faiss on-disk lists: moved data file found beside the index, with a warning", async () => {
  const warnings: string[] = [];
  const source = await openFaissSource(`${DIR}/ivfflat_ondisk_moved.faiss`, { onWarning: (m) => warnings.push(m) });
  await source.close();
  assert(
    warnings.some((w) => w.includes("does not exist") && w.includes("ivfflat_ondisk_moved.ivfdata")),
    `${warnings}`,
  );
});

Deno.test("faiss on-disk lists: relative data path resolved from another working directory", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await Deno.copyFile(`${DIR}/ivfflat_ondisk.faiss`, `${tmp}/moved.faiss`);
    await Deno.copyFile(`${DIR}/ivfflat_ondisk.ivfdata`, `${tmp}/ivfflat_ondisk.ivfdata`);
    const f = fixtures!.find((x) => x.name === "ivfflat_ondisk")!;
    const source = await openFaissSource(`${tmp}/moved.faiss`);
    try {
      await compareWithTruth(f, await collect(source, 50), 50);
    } finally {
      await source.close();
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("faiss on-disk lists: missing data file is SOURCE_NOT_FOUND naming it", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await Deno.copyFile(`${DIR}/ivfflat_ondisk_moved.faiss`, `${tmp}/x.faiss`);
    // the stored absolute path does not exist and nothing is beside the copy
    const error = await assertRejects(() => openFaissSource(`${tmp}/x.faiss`));
    assert(error instanceof MilvusdmError);
    assertEquals(error.code, "SOURCE_NOT_FOUND");
    assert(error.message.includes("ivfflat_ondisk_moved.ivfdata"), error.message);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("faiss open errors: missing file, directory, empty and foreign files", async () => {
  const missing = await assertRejects(() => openFaissSource(`${DIR}/no-such.faiss`));
  assertEquals((missing as MilvusdmError).code, "SOURCE_NOT_FOUND");
  const dir = await assertRejects(() => openFaissSource(DIR));
  assertEquals((dir as MilvusdmError).code, "SOURCE_INVALID");
  const tmp = await Deno.makeTempFile();
  try {
    const empty = await assertRejects(() => openFaissSource(tmp));
    assertEquals((empty as MilvusdmError).code, "SOURCE_INVALID");
    await Deno.writeTextFile(tmp, '{"this is": "json, not faiss"}');
    const json = await assertRejects(() => openFaissSource(tmp));
    assertEquals((json as MilvusdmError).code, "FAISS_UNSUPPORTED_INDEX");
  } finally {
    await Deno.remove(tmp);
  }
});

Deno.test("faiss batches: abort signal, bad batch size, repeated streaming, empty index", async () => {
  const source = await openFaissSource(`${DIR}/ivfflat_full.faiss`);
  try {
    const controller = new AbortController();
    let seen = 0;
    const error = await assertRejects(async () => {
      for await (const _ of source.batches(100, controller.signal)) {
        seen++;
        controller.abort();
      }
    });
    assertEquals((error as MilvusdmError).code, "ABORTED");
    assertEquals(seen, 1);
    const bad = await assertRejects(async () => {
      for await (const _ of source.batches(0)) { /* nothing */ }
    });
    assertEquals((bad as MilvusdmError).code, "CONFIG_INVALID");
    const a = await collect(source, 300), b = await collect(source, 300);
    assertEquals(a.length, b.length);
    assertEquals(a[3].ids, b[3].ids);
  } finally {
    await source.close();
  }
  const empty = await openFaissSource(`${DIR}/flat_empty.faiss`);
  assertEquals((await collect(empty, 10)).length, 0);
  await empty.close();
});

Deno.test("faiss files are not modified by opening and streaming", async () => {
  for (const name of ["idmap_hnsw", "ivfflat_ondisk"]) {
    const before = await Deno.readFile(`${DIR}/${name}.faiss`);
    const statBefore = await Deno.stat(`${DIR}/${name}.faiss`);
    const source = await openFaissSource(`${DIR}/${name}.faiss`);
    await collect(source, 1000);
    await source.close();
    assertEquals(await Deno.readFile(`${DIR}/${name}.faiss`), before);
    assertEquals((await Deno.stat(`${DIR}/${name}.faiss`)).mtime, statBefore.mtime);
  }
});
