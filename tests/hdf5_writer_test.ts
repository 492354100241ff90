/**
 * The HDF5 writer M2H uses (lib/hdf5/contiguous_writer.ts, no HDF5 library): what it writes is read back byte for
 * byte by h5py (the HDF5 C library, in the venv), by the HDF5 library inside h5wasm, and by milvusdm's own reader;
 * attributes keep their types; an empty export is a valid file; an aborted or failed write leaves nothing behind.
 */
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { MilvusdmError } from "../lib/errors.ts";
import { createContiguousHdf5Writer } from "../lib/hdf5/contiguous_writer.ts";
import { h5 } from "../lib/hdf5/h5.ts";
import { openHdf5Source } from "../lib/hdf5/reader.ts";
import type { Batch } from "../lib/types.ts";
import { randomFloats, tempDir, VENV_PYTHON } from "./helpers.ts";

const READ_BACK = String.raw`
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

async function h5pyRead(path: string): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(VENV_PYTHON, { args: ["-c", READ_BACK, path], stderr: "piped" }).output();
  if (!out.success) throw new Error(`h5py cannot read ${path}: ${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

async function sha256(bytes: ArrayBufferView): Promise<string> {
  const view = new Uint8Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength);
  const digest = await crypto.subtle.digest("SHA-256", view.slice());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const ATTRIBUTES = { dim: 24, metric: "IP", collection: "Sammlung ü ✓", scale: 0.25, index_file_size: 2 ** 40 };

Deno.test("float vectors and ids: h5py, h5wasm and milvusdm's reader read back every byte and the attributes", async () => {
  await using dir = await tempDir();
  const rows = 10_007, dim = 24;
  const vectors = randomFloats(rows, dim, 5);
  const ids = BigInt64Array.from({ length: rows }, (_, i) => BigInt(i) * 7_000_000_001n - 2n ** 62n);
  const path = `${dir.path}/out.h5`;
  const w = await createContiguousHdf5Writer(path, { dim, vectorType: "float", withIds: true, attributes: ATTRIBUTES });
  for (let s = 0; s < rows; s += 1000) {
    const n = Math.min(1000, rows - s);
    w.append({ rows: n, dim, vectors: vectors.subarray(s * dim, (s + n) * dim), ids: ids.subarray(s, s + n) });
  }
  assertEquals(w.rows, rows);
  await w.commit();
  assertEquals([...Deno.readDirSync(dir.path)].map((e) => e.name), ["out.h5"]);

  const got = await h5pyRead(path);
  assertEquals(got.datasets, ["embeddings", "ids"]);
  assertEquals(got.embeddings, { shape: [rows, dim], dtype: "<f4", chunks: null, sha256: await sha256(vectors) });
  assertEquals(got.ids, { shape: [rows], dtype: "<i8", chunks: null, sha256: await sha256(ids) });
  assertEquals(got.attrs, {
    dim: ["int64", 24],
    metric: ["str", "IP"],
    collection: ["str", "Sammlung ü ✓"],
    scale: ["float64", 0.25],
    index_file_size: ["int64", 2 ** 40],
  });

  // The HDF5 library inside h5wasm.
  const lib = await h5();
  const file = new lib.File(path, "r");
  try {
    const emb = file.get("embeddings") as unknown as { shape: number[]; slice: (r: number[][]) => Float32Array };
    assertEquals(emb.shape, [rows, dim]);
    assertEquals(emb.slice([[rows - 2, rows]]), vectors.slice((rows - 2) * dim));
    assertEquals(file.attrs["metric"].value, "IP");
  } finally {
    file.close();
  }

  // milvusdm's reader, as H2M reads an exported file.
  const source = await openHdf5Source(path);
  try {
    assertEquals([source.info.rows, source.info.dim, source.info.metric, source.info.hasIds], [rows, dim, "IP", true]);
    const seenVectors = new Float32Array(rows * dim);
    const seenIds = new BigInt64Array(rows);
    let at = 0;
    for await (const b of source.batches(999)) {
      seenVectors.set(b.vectors as Float32Array, at * dim);
      seenIds.set(b.ids!, at);
      at += b.rows;
    }
    assertEquals([at, await sha256(seenVectors), await sha256(seenIds)], [
      rows,
      await sha256(vectors),
      await sha256(ids),
    ]);
  } finally {
    await source.close();
  }
});

Deno.test("binary vectors as uint8 rows; an export of no rows is a valid empty file", async () => {
  await using dir = await tempDir();
  const dim = 64, rows = 333;
  const bits = Uint8Array.from({ length: rows * dim / 8 }, (_, i) => (i * 131 + 7) % 256);
  const ids = BigInt64Array.from({ length: rows }, (_, i) => BigInt(rows - i));
  const w = await createContiguousHdf5Writer(`${dir.path}/bin.h5`, {
    dim,
    vectorType: "binary",
    withIds: true,
    attributes: { vector_type: "binary" },
  });
  w.append({ rows: 100, dim, vectors: bits.subarray(0, 800), ids: ids.subarray(0, 100) });
  w.append({ rows: 233, dim, vectors: bits.subarray(800), ids: ids.subarray(100) });
  await w.commit();
  const got = await h5pyRead(`${dir.path}/bin.h5`);
  assertEquals(got.embeddings, { shape: [rows, 8], dtype: "|u1", chunks: null, sha256: await sha256(bits) });
  assertEquals(got.ids, { shape: [rows], dtype: "<i8", chunks: null, sha256: await sha256(ids) });

  const empty = await createContiguousHdf5Writer(`${dir.path}/empty.h5`, {
    dim: 8,
    vectorType: "float",
    withIds: true,
  });
  await empty.commit();
  const none = await h5pyRead(`${dir.path}/empty.h5`);
  assertEquals([none.embeddings, none.ids, none.attrs], [
    { shape: [0, 8], dtype: "<f4", chunks: null, sha256: await sha256(new Uint8Array(0)) },
    { shape: [0], dtype: "<i8", chunks: null, sha256: await sha256(new Uint8Array(0)) },
    {},
  ]);
  const noIds = await createContiguousHdf5Writer(`${dir.path}/noids.h5`, {
    dim: 8,
    vectorType: "float",
    withIds: false,
  });
  noIds.append({ rows: 1, dim: 8, vectors: new Float32Array(8).fill(1.5), ids: null });
  await noIds.commit();
  assertEquals((await h5pyRead(`${dir.path}/noids.h5`)).datasets, ["embeddings"]);
});

Deno.test("abort and failures: nothing left behind, OUTPUT_ERROR, a batch of the wrong shape refused", async () => {
  await using dir = await tempDir();
  const w = await createContiguousHdf5Writer(`${dir.path}/a.h5`, { dim: 4, vectorType: "float", withIds: true });
  const batch: Batch = { rows: 2, dim: 4, vectors: new Float32Array(8), ids: new BigInt64Array(2) };
  w.append(batch);
  await w.abort();
  assertEquals([...Deno.readDirSync(dir.path)], []);

  const error = await assertRejects(
    () => createContiguousHdf5Writer(`${dir.path}/missing/folder/x.h5`, { dim: 4, vectorType: "float", withIds: true }),
    MilvusdmError,
    "Cannot create",
  );
  assertEquals(error.code, "OUTPUT_ERROR");

  const v = await createContiguousHdf5Writer(`${dir.path}/v.h5`, { dim: 4, vectorType: "float", withIds: true });
  let refused: unknown = null;
  try {
    v.append({ rows: 3, dim: 4, vectors: new Float32Array(8), ids: new BigInt64Array(3) });
  } catch (e) {
    refused = e;
  }
  assert(refused instanceof MilvusdmError && refused.code === "INTERNAL", String(refused));
  await v.abort();
  assertEquals([...Deno.readDirSync(dir.path)], []);
});
