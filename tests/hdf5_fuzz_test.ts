/**
 * Fuzz test of the HDF5 reader (issue 7): real files written by h5py (contiguous float32 with ids, gzip-chunked
 * float64, uint8 binary vectors, an ann-benchmarks file with a `distance` attribute, gzip chunks split across
 * columns, HDF5's newest format, attributes in dense storage) and by milvusdm's writer, truncated, with size and
 * shape fields overwritten by huge values, and with random byte mutations aimed at the metadata (fixed seed;
 * `MILVUSDM_FUZZ_CASES` raises the count, default 10,000).
 *
 * Every case must end, within a time bound, with a MilvusdmError or a correctly shaped stream (rows and dim
 * consistent, batches of the requested size), never another exception type; no typed array the reader allocates
 * may exceed a bound derived from the file size, and h5wasm's WebAssembly memory may only grow within its fixed
 * budget (a corrupt heap or string size makes the HDF5 library ask for gigabytes; the budget makes that fail).
 * h5wasm runs the HDF5 C library, which a corrupt file may crash or hang, so the cases run in workers (this same
 * module): a worker that does not answer in time is terminated and the case counted as a hang; a crashed library
 * is counted too.
 *
 * And a stream must be the right data: every mutated file that streamed is read again by h5py, and the vectors
 * and ids must be byte for byte what h5py reads from it; a file h5py refuses must not have streamed at all,
 * whether its datasets were described from its own headers (format.ts) or by h5wasm (whose HDF5 build tolerates
 * some corruption h5py's refuses, e.g. of a group's local heap: format.ts reports that itself).
 */
import nodeAssert from "node:assert/strict";
import { prng } from "../lib/random.ts";
import { MilvusdmError } from "../lib/errors.ts";
import { h5Module, HDF5_MEMORY_HEADROOM } from "../lib/hdf5/h5.ts";
import { openHdf5Source } from "../lib/hdf5/reader.ts";
import { createHdf5Writer } from "../lib/hdf5/writer.ts";

const PYTHON = new URL("../.venv/bin/python", import.meta.url).pathname;
const SEED = 20241125;
const CASES = Number(Deno.env.get("MILVUSDM_FUZZ_CASES") ?? 10_000);
const WORKERS = Math.max(1, Math.min(2, navigator.hardwareConcurrency || 1));
const MAX_ROWS = 48;
/** A case slower than this inside its worker is a failure. */
const CASE_TIME_LIMIT_MS = 5_000;
/** A worker silent for this long is hung: it is terminated. */
const HANG_TIMEOUT_MS = 20_000;
/** JS allocations may not exceed this many times the file size (plus the slack). */
const ALLOCATION_FACTOR = 16;
const SLACK = 2 << 20;

interface Fixture {
  name: string;
  bytes: Uint8Array;
  /** [start, end) ranges of raw data (mutations aim elsewhere). */
  raw: [number, number][];
  /** Dimension sizes found in the file (rows, columns, chunk dimensions): their fields are overwritten. */
  dims: number[];
}

type Mutation =
  | { kind: "truncate"; at: number }
  | { kind: "bytes"; at: number[]; values: number[] }
  | { kind: "field"; at: number; width: 4 | 8; value: string };

interface Case {
  id: number;
  fixture: number;
  mutation: Mutation;
}

interface Result {
  id: number;
  outcome: "ok" | "error" | "failure";
  code?: string;
  message?: string;
  ms: number;
  crashed?: boolean;
  /** A stream: SHA-256 of its vectors and then its ids, as they were streamed. */
  digest?: string;
  /** A stream: how the datasets were described (`headers` or `h5wasm`). */
  describedBy?: string;
}

function apply(bytes: Uint8Array, m: Mutation): Uint8Array {
  if (m.kind === "truncate") return bytes.slice(0, m.at);
  const out = bytes.slice();
  if (m.kind === "bytes") {
    m.at.forEach((p, i) => (out[p] = m.values[i]));
  } else {
    const view = new DataView(out.buffer);
    if (m.width === 8) view.setBigUint64(m.at, BigInt(m.value), true);
    else view.setUint32(m.at, Number(BigInt(m.value) & 0xffffffffn), true);
  }
  return out;
}

function describe(f: Fixture, m: Mutation): string {
  if (m.kind === "truncate") return `${f.name} cut at ${m.at}`;
  if (m.kind === "bytes") return `${f.name} bytes ${m.at.map((p, i) => `${p}=${m.values[i]}`).join(",")}`;
  return `${f.name} u${m.width * 8} at ${m.at} = ${m.value}`;
}

async function sha256(parts: Uint8Array[]): Promise<string> {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("");
}

// ------------------------------------------------------------------------------------------------------------
// The worker: runs cases on files it writes to its own path.

const inWorker = typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined";

class AllocationTooLarge extends Error {}

let allocationLimit = Infinity;

function installAllocationGuard(): void {
  const g = globalThis as unknown as Record<string, unknown>;
  const ctors = [Uint8Array, Int8Array, Uint16Array, Int16Array, Uint32Array, Int32Array, Float32Array, Float64Array];
  for (const Base of [...ctors, BigInt64Array, BigUint64Array]) {
    const per = (Base as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
    const Guarded = class extends (Base as unknown as new (...args: unknown[]) => object) {
      constructor(...args: unknown[]) {
        if (typeof args[0] === "number" && args[0] * per > allocationLimit) {
          throw new AllocationTooLarge(`${Base.name}(${args[0]}): ${args[0] * per} bytes, limit ${allocationLimit}`);
        }
        super(...args);
      }
    };
    g[Base.name] = Guarded;
  }
}

async function runCase(path: string, bytes: Uint8Array): Promise<Omit<Result, "id" | "ms">> {
  await Deno.writeFile(path, bytes);
  const module = await h5Module();
  const memoryBefore = module.HEAPU8.length;
  allocationLimit = ALLOCATION_FACTOR * bytes.length + SLACK;
  let result: Omit<Result, "id" | "ms">;
  try {
    const source = await openHdf5Source(path);
    try {
      const { rows, dim, vectorType, hasIds } = source.info;
      if (!(Number.isSafeInteger(rows) && rows >= 0 && Number.isSafeInteger(dim) && dim > 0)) {
        throw new Error(`info ${JSON.stringify(source.info)}`);
      }
      const perRow = vectorType === "float" ? dim : dim / 8;
      const streamed: Uint8Array[] = [];
      const streamedIds: Uint8Array[] = [];
      let total = 0;
      for await (const batch of source.batches(MAX_ROWS)) {
        const expected = Math.min(MAX_ROWS, rows - total);
        if (batch.rows !== expected) throw new Error(`batch of ${batch.rows} rows at ${total}, expected ${expected}`);
        if (batch.dim !== dim) throw new Error(`batch dim ${batch.dim}, info dim ${dim}`);
        const type = vectorType === "float" ? Float32Array : Uint8Array;
        if (!(batch.vectors instanceof type) && batch.vectors.constructor.name !== type.name) {
          throw new Error(`${vectorType} vectors as ${batch.vectors.constructor.name}`);
        }
        if (batch.vectors.length !== batch.rows * perRow) {
          throw new Error(`${batch.vectors.length} vector elements for ${batch.rows} rows of ${perRow}`);
        }
        if (hasIds !== (batch.ids !== null) || (batch.ids && batch.ids.length !== batch.rows)) {
          throw new Error(`ids ${batch.ids?.length} for ${batch.rows} rows (hasIds ${hasIds})`);
        }
        total += batch.rows;
        const v = batch.vectors;
        streamed.push(new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice());
        if (batch.ids) {
          streamedIds.push(new Uint8Array(batch.ids.buffer, batch.ids.byteOffset, batch.ids.byteLength).slice());
        }
      }
      if (total !== rows) throw new Error(`streamed ${total} rows of ${rows}`);
      result = { outcome: "ok", digest: await sha256([...streamed, ...streamedIds]), describedBy: source.describedBy };
    } finally {
      source.close();
    }
  } catch (error) {
    if (error instanceof MilvusdmError) {
      result = { outcome: "error", code: error.code, message: error.message };
      if (/crashed/.test(error.message)) result.crashed = true;
    } else {
      const e = error as Error;
      result = { outcome: "failure", message: `${e?.constructor?.name}: ${e?.message}\n${e?.stack ?? ""}` };
    }
  } finally {
    allocationLimit = Infinity;
  }
  // h5wasm's memory may grow by its budget (a fixed headroom and emscripten's 20% step), never by what a corrupt
  // size field claims
  const growth = module.HEAPU8.length - memoryBefore;
  const budget = 0.2 * memoryBefore + HDF5_MEMORY_HEADROOM + ALLOCATION_FACTOR * bytes.length + SLACK;
  if (result.outcome !== "failure" && growth > budget) {
    result = { outcome: "failure", message: `h5wasm memory grew by ${growth} bytes for a ${bytes.length}-byte file` };
  }
  return result;
}

if (inWorker) {
  installAllocationGuard();
  const scope = globalThis as unknown as {
    postMessage(message: unknown): void;
    onmessage: ((event: MessageEvent) => void) | null;
  };
  let fixtures: Fixture[] = [];
  let path = "";
  scope.onmessage = async (event: MessageEvent) => {
    const message = event.data;
    if (message.type === "init") {
      fixtures = message.fixtures;
      path = message.path;
      await h5Module();
      scope.postMessage({ type: "ready" });
      return;
    }
    const c = message as Case;
    const t0 = performance.now();
    const result = await runCase(path, apply(fixtures[c.fixture].bytes, c.mutation));
    scope.postMessage({ type: "result", id: c.id, ms: performance.now() - t0, ...result });
  };
}

// ------------------------------------------------------------------------------------------------------------
// The test: fixtures, cases, workers.

const MAKE_FIXTURES = String.raw`
import h5py, json, os, sys
import numpy as np
out = sys.argv[1]
rng = np.random.default_rng(5)
with h5py.File(os.path.join(out, "contiguous_ids.h5"), "w") as f:
    f["embeddings"] = rng.standard_normal((200, 16), dtype=np.float32)
    f["ids"] = rng.integers(0, 2**40, 200, dtype=np.int64)
with h5py.File(os.path.join(out, "gzip_f64.h5"), "w") as f:
    f.create_dataset("embeddings", data=rng.standard_normal((150, 12)), chunks=(32, 12), compression="gzip")
    f.create_dataset("ids", data=np.arange(150, dtype=np.int64) * 5, chunks=(64,), compression="gzip")
with h5py.File(os.path.join(out, "binary_uint8.h5"), "w") as f:
    f["embeddings"] = rng.integers(0, 256, (180, 8), dtype=np.uint8)
    f["ids"] = np.arange(180, dtype=np.int64)
with h5py.File(os.path.join(out, "ann_benchmarks.h5"), "w") as f:
    f["train"] = rng.standard_normal((120, 10), dtype=np.float32)
    f["test"] = rng.standard_normal((5, 10), dtype=np.float32)
    f["neighbors"] = rng.integers(0, 120, (5, 10), dtype=np.int32)
    f.attrs["distance"] = "euclidean"
with h5py.File(os.path.join(out, "gzip_columns.h5"), "w") as f:
    f.create_dataset("embeddings", data=rng.standard_normal((100, 20), dtype=np.float32), chunks=(40, 8),
                     compression="gzip", shuffle=True)
    f.attrs["metric"] = "IP"
with h5py.File(os.path.join(out, "latest.h5"), "w", libver="latest") as f:
    f.create_dataset("embeddings", data=rng.standard_normal((90, 12), dtype=np.float32), chunks=(30, 12),
                     compression="gzip")
    f.create_dataset("ids", data=np.arange(90, dtype=np.int64), chunks=(90,), compression="gzip")
    f.attrs["metric"] = "COSINE"
with h5py.File(os.path.join(out, "dense_attributes.h5"), "w", libver="latest") as f:
    f["embeddings"] = rng.standard_normal((60, 8), dtype=np.float32)
    for i in range(10):
        f.attrs["attribute_%d" % i] = "value %d" % i
    f.attrs["metric"] = "L2"
    f.attrs["dim"] = 8
manifest = []
for name in sorted(os.listdir(out)):
    if not name.endswith(".h5"): continue
    raw, dims = [], set()
    with h5py.File(os.path.join(out, name), "r") as f:
        for key in f:
            d = f[key]
            dims.update(int(x) for x in d.shape)
            if d.chunks:
                dims.update(int(x) for x in d.chunks)
                for i in range(d.id.get_num_chunks()):
                    c = d.id.get_chunk_info(i)
                    raw.append([c.byte_offset, c.byte_offset + c.size])
            elif d.id.get_offset() is not None:
                raw.append([d.id.get_offset(), d.id.get_offset() + d.id.get_storage_size()])
    manifest.append({"name": name, "raw": raw, "dims": sorted(dims)})
json.dump(manifest, open(os.path.join(out, "manifest.json"), "w"))
`;

async function makeFixtures(dir: string): Promise<Fixture[]> {
  const writer = await createHdf5Writer(`${dir}/milvusdm_writer.h5`, {
    dim: 24,
    vectorType: "float",
    withIds: true,
    chunkRows: 32,
    attributes: { collection: "fuzz", partition: "_default", metric: "L2", dim: 24 },
  });
  for (let at = 0; at < 100; at += 40) {
    const rows = Math.min(40, 100 - at);
    writer.append({
      ids: BigInt64Array.from({ length: rows }, (_, i) => BigInt(at + i)),
      vectors: new Float32Array(rows * 24).map((_, i) => Math.cos(at * 24 + i)),
      dim: 24,
      rows,
    });
  }
  await writer.commit();
  const out = await new Deno.Command(PYTHON, { args: ["-c", MAKE_FIXTURES, dir], stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`h5py could not write the fixtures (${PYTHON}): ${new TextDecoder().decode(out.stderr)}`);
  }
  const manifest: { name: string; raw: [number, number][]; dims: number[] }[] = JSON.parse(
    await Deno.readTextFile(`${dir}/manifest.json`),
  );
  const fixtures: Fixture[] = [];
  for (const entry of manifest) {
    fixtures.push({ ...entry, bytes: await Deno.readFile(`${dir}/${entry.name}`) });
  }
  return fixtures;
}

const HUGE = [
  "18446744073709551615",
  "9223372036854775807",
  "1000000000000",
  "1099511627776",
  "4294967296",
  "4294967295",
  "2147483648",
  "9007199254740993",
  "0",
  "1",
];

/** Positions of little-endian u64 (and u32) fields holding one of `dims`, outside the raw data. */
function dimFields(f: Fixture, inRaw: (p: number) => boolean): { at: number; width: 4 | 8 }[] {
  const view = new DataView(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength);
  const wanted = new Set(f.dims);
  const out: { at: number; width: 4 | 8 }[] = [];
  for (let p = 0; p + 4 <= f.bytes.length; p++) {
    if (inRaw(p)) continue;
    const v = view.getUint32(p, true);
    if (!wanted.has(v)) continue;
    const wide = p + 8 <= f.bytes.length && view.getUint32(p + 4, true) === 0;
    out.push({ at: p, width: wide ? 8 : 4 });
  }
  return out;
}

function makeCases(fixtures: Fixture[], total: number): Case[] {
  const rand = prng(SEED);
  const cases: Case[] = [];
  const per = Math.ceil(total / fixtures.length);
  fixtures.forEach((f, fixture) => {
    const size = f.bytes.length;
    const raw = f.raw.slice().sort((a, b) => a[0] - b[0]);
    const inRaw = (p: number) => raw.some(([a, b]) => p >= a && p < b);
    const meta: number[] = [];
    for (let p = 0; p < size; p++) if (!inRaw(p)) meta.push(p);
    const push = (mutation: Mutation) => cases.push({ id: cases.length, fixture, mutation });
    const start = cases.length;
    // truncations: through the superblock, at every metadata boundary sampled, through the raw data
    const cuts = new Set<number>([0, 1, 7, 8, 9, size - 1]);
    for (let p = 8; p < Math.min(size, 96); p += 3) cuts.add(p);
    for (let i = 0; i < 60; i++) cuts.add(meta[Math.floor(rand() * meta.length)]);
    for (const [a, b] of raw.slice(0, 8)) [a, a + 1, (a + b) >> 1, b - 1, b].forEach((p) => cuts.add(p));
    for (let i = 1; i < 24; i++) cuts.add(Math.floor((size * i) / 24));
    for (const at of [...cuts].filter((p) => p >= 0 && p < size).sort((a, b) => a - b)) {
      push({ kind: "truncate", at });
    }
    // shape, chunk and size fields overwritten with huge (or zero) values
    const fields = dimFields(f, inRaw);
    for (let i = 0; i < Math.min(400, Math.floor(per / 4)); i++) {
      if (!fields.length) break;
      const field = fields[Math.floor(rand() * fields.length)];
      push({ kind: "field", ...field, value: HUGE[Math.floor(rand() * HUGE.length)] });
    }
    // random byte mutations, nine in ten in the metadata
    while (cases.length - start < per) {
      const n = 1 + Math.floor(rand() * 4);
      const at: number[] = [], values: number[] = [];
      for (let k = 0; k < n; k++) {
        at.push(rand() < 0.9 ? meta[Math.floor(rand() * meta.length)] : Math.floor(rand() * size));
        const r = rand();
        values.push(r < 0.2 ? 0 : r < 0.4 ? 0xff : Math.floor(rand() * 256));
      }
      push({ kind: "bytes", at, values });
    }
  });
  return cases;
}

/**
 * h5py's reading of cases, one JSON line each: the digest milvusdm's stream of the mutated file must have (the
 * vectors as float32, or uint8 bytes, then the ids as int64), or h5py's error. "ready" first.
 */
const READ_WITH_H5PY = String.raw`
import hashlib, json, struct, sys
import h5py
import numpy as np
manifest = json.load(open(sys.argv[1]))
scratch = manifest["scratch"]
fixtures = {name: open(path, "rb").read() for name, path in manifest["fixtures"].items()}

def apply(data, m):
    if m["kind"] == "truncate":
        return data[:m["at"]]
    out = bytearray(data)
    if m["kind"] == "bytes":
        for p, v in zip(m["at"], m["values"]):
            out[p] = v
    elif m["width"] == 8:
        struct.pack_into("<Q", out, m["at"], int(m["value"]))
    else:
        struct.pack_into("<I", out, m["at"], int(m["value"]) & 0xffffffff)
    return bytes(out)

def digest(data):
    with open(scratch, "wb") as f:
        f.write(data)
    with h5py.File(scratch, "r") as f:
        ann = "embeddings" not in f and "train" in f
        vectors = f["train" if ann else "embeddings"][()]
        if vectors.dtype.kind == "f":
            vectors = vectors.astype("<f4")
        h = hashlib.sha256(np.ascontiguousarray(vectors).tobytes())
        if ann:
            h.update(np.arange(len(vectors), dtype="<i8").tobytes())
        elif "ids" in f:
            h.update(np.ascontiguousarray(f["ids"][()].reshape(-1).astype("<i8")).tobytes())
        return h.hexdigest()

print("ready", flush=True)
for case in manifest["cases"]:
    result = {"id": case["id"]}
    try:
        result["digest"] = digest(apply(fixtures[case["fixture"]], case["mutation"]))
    except Exception as e:
        result["error"] = "%s: %s" % (type(e).__name__, e)
    print(json.dumps(result), flush=True)
`;

/** What h5py reads from a case (see {@linkcode READ_WITH_H5PY}). */
interface H5pyReading {
  id: number;
  digest?: string;
  error?: string;
}

/** h5py may take this long for all the cases that streamed. */
const H5PY_TIME_LIMIT_MS = 120_000;

/** h5py's reading of `cases`, in one Python process, started again past a case that crashes it. */
async function readWithH5py(dir: string, fixtures: Fixture[], cases: Case[]): Promise<Map<number, H5pyReading>> {
  const readings = new Map<number, H5pyReading>();
  let remaining = cases;
  while (remaining.length) {
    const manifest = {
      scratch: `${dir}/h5py_case.h5`,
      fixtures: Object.fromEntries(fixtures.map((f) => [f.name, `${dir}/${f.name}`])),
      cases: remaining.map((c) => ({ id: c.id, fixture: fixtures[c.fixture].name, mutation: c.mutation })),
    };
    await Deno.writeTextFile(`${dir}/h5py_cases.json`, JSON.stringify(manifest));
    const out = await new Deno.Command(PYTHON, {
      args: ["-c", READ_WITH_H5PY, `${dir}/h5py_cases.json`],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(H5PY_TIME_LIMIT_MS),
    }).output();
    const lines = new TextDecoder().decode(out.stdout).split("\n").filter((line) => line);
    if (lines[0] !== "ready") {
      throw new Error(`h5py could not read the cases (${PYTHON}): ${new TextDecoder().decode(out.stderr)}`);
    }
    for (const line of lines.slice(1)) {
      const reading: H5pyReading = JSON.parse(line);
      readings.set(reading.id, reading);
    }
    const rest = remaining.filter((c) => !readings.has(c.id));
    if (out.success && rest.length) throw new Error(`h5py ended without reading ${rest.length} cases`);
    if (!rest.length) break;
    // the first case without an answer ended h5py: the HDF5 library crashed on it
    readings.set(rest[0].id, { id: rest[0].id, error: `h5py ended (status ${out.code}, signal ${out.signal})` });
    remaining = rest.slice(1);
  }
  return readings;
}

interface Runner {
  worker: Worker;
  busy: Case | null;
  timer?: ReturnType<typeof setTimeout>;
}

async function runAll(
  fixtures: Fixture[],
  cases: Case[],
  dir: string,
  onResult: (c: Case, r: Result) => void,
): Promise<{ restarts: number }> {
  let next = 0;
  let restarts = 0;
  let finish: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  let remaining = cases.length;
  const runners: Runner[] = [];
  const settle = (runner: Runner, c: Case, r: Result) => {
    clearTimeout(runner.timer);
    runner.busy = null;
    onResult(c, r);
    remaining--;
    if (remaining === 0) finish();
  };
  const dispatch = (runner: Runner) => {
    if (next >= cases.length) return;
    const c = cases[next++];
    runner.busy = c;
    runner.timer = setTimeout(() => {
      // hung (or silently dead): count the case, replace the worker
      runner.worker.terminate();
      settle(runner, c, {
        id: c.id,
        outcome: "failure",
        message: `no answer in ${HANG_TIMEOUT_MS} ms`,
        ms: HANG_TIMEOUT_MS,
      });
      start(runners.indexOf(runner));
    }, HANG_TIMEOUT_MS);
    runner.worker.postMessage(c);
  };
  const start = (slot: number) => {
    if (slot > 0 || runners.length > 0) restarts++;
    const worker = new Worker(import.meta.url, { type: "module" });
    const runner: Runner = { worker, busy: null };
    runners[slot] = runner;
    worker.onmessage = (event: MessageEvent) => {
      const message = event.data;
      if (message.type === "ready") return dispatch(runner);
      const c = runner.busy!;
      settle(runner, c, message as Result);
      if (message.crashed) {
        // the HDF5 library is unusable after a crash: a fresh worker for the next case
        worker.terminate();
        start(slot);
      } else {
        dispatch(runner);
      }
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      worker.terminate();
      const c = runner.busy;
      if (c) settle(runner, c, { id: c.id, outcome: "failure", message: `worker died: ${event.message}`, ms: 0 });
      start(slot);
    };
    worker.postMessage({ type: "init", fixtures, path: `${dir}/case_${slot}_${restarts}.h5` });
  };
  for (let i = 0; i < WORKERS; i++) start(i);
  restarts = 0;
  await done;
  for (const runner of runners) {
    clearTimeout(runner.timer);
    runner.worker.terminate();
  }
  return { restarts };
}

/** File descriptors of this process open on files under `dir`. */
function openFds(dir: string): number {
  let n = 0;
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${entry.name}`).startsWith(dir)) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

if (!inWorker) {
  Deno.test("hdf5 fuzz: truncated, mutated and oversized files end in typed errors or well-shaped streams", async () => {
    const dir = await Deno.makeTempDir({ prefix: "milvusdm_hdf5_fuzz_" });
    try {
      const fixtures = await makeFixtures(dir);
      const cases = makeCases(fixtures, CASES);
      const fdsBefore = openFds(dir);
      const counts = { truncate: 0, field: 0, bytes: 0 };
      const codes = new Map<string, number>();
      const failures: string[] = [];
      const streamed: { c: Case; r: Result }[] = [];
      let ok = 0, crashes = 0, slowest = 0, slowestWhat = "";
      const started = performance.now();
      const { restarts } = await runAll(fixtures, cases, dir, (c, r) => {
        const what = describe(fixtures[c.fixture], c.mutation);
        counts[c.mutation.kind]++;
        if (r.ms > slowest) [slowest, slowestWhat] = [r.ms, what];
        if (r.crashed) crashes++;
        if (r.outcome === "ok") {
          ok++;
          streamed.push({ c, r });
        } else if (r.outcome === "error") codes.set(r.code!, (codes.get(r.code!) ?? 0) + 1);
        else failures.push(`${what}: ${r.message}`);
        if (r.outcome !== "failure" && r.ms > CASE_TIME_LIMIT_MS) failures.push(`${what}: took ${r.ms.toFixed(0)} ms`);
      });
      const seconds = (performance.now() - started) / 1000;
      const fdsAfter = openFds(dir);
      // every stream against h5py's reading of the same file
      const readings = await readWithH5py(dir, fixtures, streamed.map(({ c }) => c));
      const compared = { headers: 0, h5wasm: 0 };
      for (const { c, r } of streamed) {
        const what = describe(fixtures[c.fixture], c.mutation);
        const h5py = readings.get(c.id)!;
        const by = r.describedBy as "headers" | "h5wasm";
        compared[by]++;
        if (h5py.digest === undefined) {
          failures.push(`${what}: streamed (described by ${by}) a file h5py refuses: ${h5py.error}`);
        } else if (h5py.digest !== r.digest) {
          failures.push(`${what}: streamed other data than h5py reads (described by ${by})`);
        }
      }
      console.log(
        `hdf5 fuzz: ${cases.length} cases on ${fixtures.length} files (${counts.truncate} truncations, ${counts.field} ` +
          `huge fields, ${counts.bytes} byte mutations) in ${seconds.toFixed(1)} s with ${WORKERS} workers; ` +
          `${ok} streamed fine (${compared.headers} described from the headers, ${compared.h5wasm} by h5wasm), ` +
          `each compared with h5py's reading; errors ${JSON.stringify(Object.fromEntries(codes))}; ${crashes} ` +
          `library crashes, ${restarts} worker restarts; slowest ${slowest.toFixed(0)} ms (${slowestWhat}); files ` +
          `left open: ${fdsAfter - fdsBefore}`,
      );
      nodeAssert.ok(cases.length >= Math.min(CASES, 10_000), `only ${cases.length} cases`);
      nodeAssert.deepEqual(failures.slice(0, 20), [], `${failures.length} failures`);
      nodeAssert.equal(fdsAfter - fdsBefore, 0, "case files left open (leaked file descriptors)");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
