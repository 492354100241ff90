/**
 * What the CLI tests share: running milvusdm with its home (`MILVUSDM_PATH`) in a temporary folder, adapting the
 * shipped templates (paths, addresses and names only), source files written by the real libraries (h5py, faiss),
 * and the JSON events of `--json`.
 */
import { assert } from "./assert.ts";
import { PROJECT_ROOT, randomFloats, randomIds, runCli, writeH5WithH5py } from "./helpers.ts";
import type { CollectionSpec, FixtureSpec } from "./milvus1_fixture.ts";

/** The milvusdm home of this test process (logs, journals), removed at exit. */
export const MDM_HOME = Deno.makeTempDirSync({ prefix: "milvusdm_home_" });
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(MDM_HOME, { recursive: true });
  } catch {
    // already gone
  }
});

/** Runs the CLI with `MILVUSDM_PATH` set to {@linkcode MDM_HOME} (and NO_COLOR, as `runCli` does). */
export async function mdm(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return await runCli(args, { ...options, env: { MILVUSDM_PATH: MDM_HOME, ...(options.env ?? {}) } });
}

/** The shipped template of a task. */
export async function template(kind: "F2M" | "H2M" | "M2M" | "M2H"): Promise<string> {
  return await Deno.readTextFile(`${PROJECT_ROOT}/yamls/${kind}.yaml`);
}

/** Replaces each `[from, to]` in a template, failing when one is not found (the template changed). */
export function adapt(text: string, replacements: [string | RegExp, string][]): string {
  let out = text;
  for (const [from, to] of replacements) {
    const found = typeof from === "string" ? out.includes(from) : from.test(out);
    assert(found, `template has no ${from}`);
    out = out.replace(from, to);
  }
  return out;
}

/** Parses `--json` stdout into events (every line must be JSON). */
export function jsonEvents(stdout: string): Record<string, unknown>[] {
  return stdout.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

/** An HDF5 file with `embeddings` (float32) and `ids`, written by h5py; returns its rows. */
export async function h5File(
  path: string,
  rows: number,
  dim: number,
  seed: number,
  options: { ids?: boolean } = {},
): Promise<{ ids: BigInt64Array; vectors: Float32Array }> {
  const vectors = randomFloats(rows, dim, seed);
  const ids = randomIds(rows, seed + 1);
  const datasets: Parameters<typeof writeH5WithH5py>[1]["datasets"] = {
    embeddings: { data: vectors, shape: [rows, dim], dtype: "float32" },
  };
  if (options.ids ?? true) datasets.ids = { data: ids, shape: [rows], dtype: "int64" };
  await writeH5WithH5py(path, { datasets });
  return { ids, vectors };
}

/** A Faiss `IndexFlatL2` written by the real faiss (Debian's python3-faiss); ids are 0..rows-1. */
export async function faissFlat(
  path: string,
  rows: number,
  dim: number,
  seed: number,
): Promise<{ ids: BigInt64Array; vectors: Float32Array }> {
  const vectors = randomFloats(rows, dim, seed);
  const raw = `${path}.f32`;
  await Deno.writeFile(raw, new Uint8Array(vectors.buffer));
  const code = `
import sys, numpy as np, faiss
x = np.fromfile(sys.argv[1], dtype="float32").reshape(-1, int(sys.argv[2]))
index = faiss.IndexFlatL2(int(sys.argv[2]))
index.add(x)
faiss.write_index(index, sys.argv[3])
`;
  const out = await new Deno.Command("/usr/bin/python3", { args: ["-c", code, raw, String(dim), path] }).output();
  if (!out.success) throw new Error(`faiss failed: ${new TextDecoder().decode(out.stderr)}`);
  await Deno.remove(raw);
  const ids = new BigInt64Array(rows);
  for (let i = 0; i < rows; i++) ids[i] = BigInt(i);
  return { ids, vectors };
}

/** A Milvus 1.x fixture with one float collection `name` (dim 16, L2) with partitions partition_1 and partition_2. */
export function templateSpec(name: string, seed = 3): FixtureSpec {
  const collection: CollectionSpec = {
    name,
    dim: 16,
    metricType: 1,
    partitions: [
      { tag: null, segments: [{ rows: 30 }] },
      { tag: "partition_1", segments: [{ rows: 40, deletes: [0, 7] }, { rows: 25, fileType: 2 }] },
      { tag: "partition_2", segments: [{ rows: 33 }] },
    ],
  };
  return { seed, finite: true, junk: false, collections: [collection] };
}
