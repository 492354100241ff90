/**
 * Shared test helpers: the test server's address, deterministic data, h5py-written files, reading rows back from
 * Milvus by id, and running the CLI.
 */
import { MilvusClient } from "@zilliz/milvus2-sdk-node";
import { prng } from "../lib/random.ts";
export { prng };
import type { MilvusTarget } from "../lib/milvus/connection.ts";

/** The Milvus server tests use: `MILVUSDM_TEST_URI` or the local one. */
export const TEST_URI = Deno.env.get("MILVUSDM_TEST_URI") ?? "http://127.0.0.1:19530";
/** As a target. */
export const TEST_TARGET: MilvusTarget = { uri: TEST_URI, token: Deno.env.get("MILVUSDM_TEST_TOKEN") };
/** Host and port of the test server, for YAML files. */
export const TEST_HOST = new URL(TEST_URI).hostname;
export const TEST_PORT = Number(new URL(TEST_URI).port || 19530);

const ROOT = new URL("..", import.meta.url).pathname;
/** The project root. */
export const PROJECT_ROOT = ROOT.replace(/\/$/, "");
/** The venv's Python (h5py, numpy, pymilvus from PyPI). */
export const VENV_PYTHON = `${PROJECT_ROOT}/.venv/bin/python`;
/** Debian's Python with python3-h5py: test files are written by the distribution's h5py, independent of ours. */
export const H5PY_PYTHON = Deno.env.get("MILVUSDM_H5PY_PYTHON") ?? "/usr/bin/python3";

let counter = 0;
/** A collection name unique to this test run. */
export function uniqueName(prefix: string): string {
  counter++;
  return `${prefix}_${Date.now().toString(36)}_${counter}`;
}

/** `rows × dim` random floats in [-1, 1). */
export function randomFloats(rows: number, dim: number, seed: number): Float32Array {
  const r = prng(seed);
  const out = new Float32Array(rows * dim);
  for (let i = 0; i < out.length; i++) out[i] = r() * 2 - 1;
  return out;
}

/** `rows × dim/8` random bytes; every 7th vector ends in zero bytes (the original lost those). */
export function randomBits(rows: number, dim: number, seed: number): Uint8Array {
  const r = prng(seed);
  const per = dim / 8;
  const out = new Uint8Array(rows * per);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < per; j++) out[i * per + j] = Math.floor(r() * 256);
    if (i % 7 === 0) out.fill(0, i * per + Math.floor(per / 2), (i + 1) * per);
  }
  return out;
}

/** Distinct, non-sequential int64 ids (some large, some negative-free). */
export function randomIds(rows: number, seed: number): BigInt64Array {
  const r = prng(seed);
  const ids = new BigInt64Array(rows);
  const seen = new Set<bigint>();
  for (let i = 0; i < rows; i++) {
    let id: bigint;
    do {
      id = BigInt(Math.floor(r() * 2 ** 31)) * 4096n + BigInt(i % 4096);
    } while (seen.has(id));
    seen.add(id);
    ids[i] = id;
  }
  return ids;
}

/** A fresh temporary directory, removed by the returned function. */
export async function tempDir(
  prefix = "milvusdm_test_",
): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> }> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/** What to write into an HDF5 file with h5py. */
export interface H5Spec {
  /** Dataset name → data and how to store it. */
  datasets: Record<
    string,
    {
      data: Float32Array | Uint8Array | BigInt64Array | Float64Array;
      shape: number[];
      dtype: "float32" | "float64" | "uint8" | "int64";
      chunks?: number[];
      gzip?: boolean;
    }
  >;
  /** File attributes (strings or numbers). */
  attrs?: Record<string, string | number>;
}

/** Writes an HDF5 file with h5py (not with h5wasm), from data generated in TypeScript. */
export async function writeH5WithH5py(path: string, spec: H5Spec): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "h5spec_" });
  try {
    const manifest: Record<string, unknown> = { path, attrs: spec.attrs ?? {}, datasets: {} };
    for (const [name, d] of Object.entries(spec.datasets)) {
      const raw = `${dir}/${name}.bin`;
      await Deno.writeFile(raw, new Uint8Array(d.data.buffer, d.data.byteOffset, d.data.byteLength));
      const sourceDtype = d.data instanceof Float32Array
        ? "float32"
        : d.data instanceof Float64Array
        ? "float64"
        : d.data instanceof BigInt64Array
        ? "int64"
        : "uint8";
      (manifest.datasets as Record<string, unknown>)[name] = {
        raw,
        shape: d.shape,
        source_dtype: sourceDtype,
        dtype: d.dtype,
        chunks: d.chunks ?? null,
        gzip: d.gzip ?? false,
      };
    }
    const code = `
import json, sys, numpy as np, h5py
m = json.loads(sys.argv[1])
with h5py.File(m["path"], "w") as f:
    for name, d in m["datasets"].items():
        a = np.fromfile(d["raw"], dtype=d["source_dtype"]).reshape(d["shape"]).astype(d["dtype"])
        kw = {}
        if d["chunks"]: kw["chunks"] = tuple(d["chunks"])
        if d["gzip"]: kw["compression"] = "gzip"
        f.create_dataset(name, data=a, **kw)
    for k, v in m["attrs"].items():
        f.attrs[k] = v
`;
    const out = await new Deno.Command(H5PY_PYTHON, { args: ["-c", code, JSON.stringify(manifest)] }).output();
    if (!out.success) throw new Error(`h5py failed: ${new TextDecoder().decode(out.stderr)}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A control client for checks (closed by the caller). */
export function testClient(): MilvusClient {
  const client = new MilvusClient({ address: TEST_URI, token: TEST_TARGET.token, logLevel: "error" });
  // Report an unreachable test server through the tests that use it, not as an unhandled rejection.
  client.connectPromise.catch(() => {});
  return client;
}

/** A row read back from Milvus. */
export interface StoredRow {
  id: bigint;
  vector: Float32Array | Uint8Array;
}

function toVector(v: unknown, binary: boolean): Float32Array | Uint8Array {
  if (binary) {
    if (v instanceof Uint8Array) return v;
    if (Array.isArray(v)) return Uint8Array.from(v as number[]);
    if (v && typeof v === "object" && "data" in (v as Record<string, unknown>)) {
      return Uint8Array.from((v as { data: number[] }).data);
    }
    throw new Error(`unexpected binary vector ${typeof v}`);
  }
  return Float32Array.from(v as number[]);
}

/** Reads rows back by id (the collection must be loaded), in chunks. */
export async function readByIds(
  client: MilvusClient,
  collection: string,
  ids: BigInt64Array | bigint[],
  options: { binary?: boolean; partition?: string } = {},
): Promise<Map<bigint, Float32Array | Uint8Array>> {
  const out = new Map<bigint, Float32Array | Uint8Array>();
  const all = Array.from(ids);
  for (let i = 0; i < all.length; i += 1000) {
    const chunk = all.slice(i, i + 1000);
    const res = await client.query({
      collection_name: collection,
      expr: `id in [${chunk.join(",")}]`,
      output_fields: ["id", "embedding"],
      consistency_level: "Strong" as never,
      partition_names: options.partition ? [options.partition] : undefined,
      limit: 16384,
    });
    if (res.status.error_code !== "Success") throw new Error(`query failed: ${res.status.reason}`);
    for (const row of res.data) out.set(BigInt(row.id as string), toVector(row.embedding, options.binary ?? false));
  }
  return out;
}

/** Reads every row of a (small) collection or partition by paging on the primary key. */
export async function readAll(
  client: MilvusClient,
  collection: string,
  options: { binary?: boolean; partition?: string } = {},
): Promise<StoredRow[]> {
  const rows: StoredRow[] = [];
  let last: bigint | null = null;
  while (true) {
    const res = await client.query({
      collection_name: collection,
      expr: last === null ? "id > -9223372036854775807" : `id > ${last}`,
      output_fields: ["id", "embedding"],
      consistency_level: "Strong" as never,
      partition_names: options.partition ? [options.partition] : undefined,
      limit: 16384,
    });
    if (res.status.error_code !== "Success") throw new Error(`query failed: ${res.status.reason}`);
    if (res.data.length === 0) break;
    const page = res.data.map((r) => ({
      id: BigInt(r.id as string),
      vector: toVector(r.embedding, options.binary ?? false),
    }));
    page.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    rows.push(...page);
    last = page[page.length - 1].id;
    if (res.data.length < 16384) break;
  }
  return rows;
}

/** `count(*)` with Strong consistency (catches duplicates a query hides). */
export async function countRows(client: MilvusClient, collection: string, partition?: string): Promise<number> {
  const res = await client.query({
    collection_name: collection,
    output_fields: ["count(*)"],
    consistency_level: "Strong" as never,
    partition_names: partition ? [partition] : undefined,
  });
  if (res.status.error_code !== "Success") throw new Error(`count failed: ${res.status.reason}`);
  return Number(res.data[0]["count(*)"]);
}

/** Asserts that Milvus holds exactly `expected` (id → vector), comparing every vector exactly. */
export function diffRows(
  stored: Map<bigint, Float32Array | Uint8Array>,
  ids: BigInt64Array,
  vectors: Float32Array | Uint8Array,
  per: number,
): string[] {
  const problems: string[] = [];
  for (let i = 0; i < ids.length; i++) {
    const got = stored.get(ids[i]);
    const want = vectors.subarray(i * per, (i + 1) * per);
    if (!got) {
      problems.push(`id ${ids[i]} missing`);
    } else if (got.length !== want.length || got.some((v, j) => !Object.is(v, want[j]))) {
      problems.push(
        `id ${ids[i]} differs: got [${Array.from(got.slice(0, 4))}…] want [${Array.from(want.slice(0, 4))}…]`,
      );
    }
    if (problems.length >= 5) break;
  }
  return problems;
}

/** Drops a collection, ignoring a missing one. */
export async function dropIfExists(client: MilvusClient, collection: string): Promise<void> {
  await client.dropCollection({ collection_name: collection }).catch(() => {});
}

/** Journals and logs of CLI runs made by tests: `MILVUSDM_PATH` if set (scripts/test sets it), else a temp dir. */
export const TEST_HOME = Deno.env.get("MILVUSDM_PATH") ?? Deno.makeTempDirSync({ prefix: "milvusdm_home_" });

/** Runs the CLI as a user would; returns its exit code and output. */
export async function runCli(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const deno = Deno.execPath();
  const out = await new Deno.Command(deno, {
    args: ["run", "-A", `${PROJECT_ROOT}/cli/main.ts`, ...args],
    env: { NO_COLOR: "1", MILVUSDM_PATH: TEST_HOME, ...(options.env ?? {}) },
    cwd: options.cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Writes a YAML file. */
export async function writeYaml(path: string, text: string): Promise<string> {
  await Deno.writeTextFile(path, text);
  return path;
}

/** Starts `tests/kill_runner.ts` on a job spec (JSON) in its own process, stdout and stderr piped. */
export function spawnRunner(spec: string, env: Record<string, string>, extra: string[] = []): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${PROJECT_ROOT}/tests/kill_runner.ts`, spec, ...extra],
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Runs `tests/kill_runner.ts` on a job spec to its end; stdout (one progress line per batch) is dropped. */
export async function runRunner(
  spec: string,
  env: Record<string, string>,
  extra: string[] = [],
): Promise<{ success: boolean; code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${PROJECT_ROOT}/tests/kill_runner.ts`, spec, ...extra],
    env,
    stdout: "null",
    stderr: "piped",
  }).output();
  return { success: out.success, code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/** Asserts that id-less rows read back hold every source vector exactly once (ids generated by the target). */
export function assertVectorsOnce(stored: StoredRow[], vectors: Float32Array | Uint8Array, dim: number): void {
  const rows = vectors.length / dim;
  if (stored.length !== rows) throw new Error(`${stored.length} rows stored, the source has ${rows}`);
  const key = (v: Float32Array | Uint8Array) => Array.from(v).join(",");
  const want = new Map<string, number>();
  for (let i = 0; i < rows; i++) {
    const k = key(vectors.subarray(i * dim, (i + 1) * dim));
    want.set(k, (want.get(k) ?? 0) + 1);
  }
  for (const row of stored) {
    const k = key(row.vector);
    if (!((want.get(k) ?? 0) > 0)) throw new Error(`a stored vector is not in the source, or is there twice: ${k}`);
    want.set(k, want.get(k)! - 1);
  }
  if (new Set(stored.map((r) => r.id)).size !== rows) throw new Error("the generated ids are not unique");
}

/**
 * Asserts that a collection holds exactly the source rows: `count(*)`, every id once (none missing, none doubled)
 * and every vector bit for bit.
 */
export async function assertStoredExactly(
  client: MilvusClient,
  collection: string,
  ids: BigInt64Array,
  vectors: Float32Array | Uint8Array,
  per: number,
  options: { binary?: boolean } = {},
): Promise<void> {
  const count = await countRows(client, collection);
  if (count !== ids.length) throw new Error(`count(*) is ${count}, the source has ${ids.length} rows`);
  const stored = await readAll(client, collection, options);
  if (stored.length !== ids.length) throw new Error(`${stored.length} rows read back, the source has ${ids.length}`);
  const want = Array.from(ids).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (!stored.every((r, i) => r.id === want[i])) {
    throw new Error("the stored ids differ from the source ids (missing or doubled)");
  }
  const problems = diffRows(new Map(stored.map((r) => [r.id, r.vector])), ids, vectors, per);
  if (problems.length > 0) throw new Error(`stored vectors differ: ${problems.join("; ")}`);
}

/** h5py's view of an HDF5 file: dataset names, root attributes ([type, value]), and per dataset its shape, dtype,
 * chunk shape (null when contiguous) and the SHA-256 of its bytes. */
const H5PY_READ_BACK = String.raw`
import h5py, hashlib, json, sys
with h5py.File(sys.argv[1], "r") as f:
    out = {"datasets": sorted(f.keys()), "attrs": {}}
    for k, v in f.attrs.items():
        out["attrs"][k] = [type(v).__name__, v if isinstance(v, str) else v.item()]
    for name in f.keys():
        d = f[name]
        out[name] = {"shape": list(d.shape), "dtype": d.dtype.str, "chunks": d.chunks,
                     "sha256": hashlib.sha256(d[...].tobytes()).hexdigest()}
print(json.dumps(out))
`;

/** Reads an HDF5 file back with h5py (the venv's, or `python`'s): see {@linkcode H5PY_READ_BACK}. */
export async function h5pyRead(path: string, python = VENV_PYTHON): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(python, { args: ["-c", H5PY_READ_BACK, path], stderr: "piped" }).output();
  if (!out.success) throw new Error(`${python} (h5py) cannot read ${path}: ${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** SHA-256 of a typed array's bytes, as hex. */
export async function sha256Hex(bytes: ArrayBufferView): Promise<string> {
  const view = new Uint8Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength);
  const digest = await crypto.subtle.digest("SHA-256", view.slice());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
