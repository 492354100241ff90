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
import { H5PY_PYTHON, h5pyRead, PROJECT_ROOT, randomFloats, sha256Hex, tempDir, VENV_PYTHON } from "./helpers.ts";

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
  assertEquals(got.embeddings, { shape: [rows, dim], dtype: "<f4", chunks: null, sha256: await sha256Hex(vectors) });
  assertEquals(got.ids, { shape: [rows], dtype: "<i8", chunks: null, sha256: await sha256Hex(ids) });
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
    assertEquals([at, await sha256Hex(seenVectors), await sha256Hex(seenIds)], [
      rows,
      await sha256Hex(vectors),
      await sha256Hex(ids),
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
  assertEquals(got.embeddings, { shape: [rows, 8], dtype: "|u1", chunks: null, sha256: await sha256Hex(bits) });
  assertEquals(got.ids, { shape: [rows], dtype: "<i8", chunks: null, sha256: await sha256Hex(ids) });

  const empty = await createContiguousHdf5Writer(`${dir.path}/empty.h5`, {
    dim: 8,
    vectorType: "float",
    withIds: true,
  });
  await empty.commit();
  const none = await h5pyRead(`${dir.path}/empty.h5`);
  assertEquals([none.embeddings, none.ids, none.attrs], [
    { shape: [0, 8], dtype: "<f4", chunks: null, sha256: await sha256Hex(new Uint8Array(0)) },
    { shape: [0], dtype: "<i8", chunks: null, sha256: await sha256Hex(new Uint8Array(0)) },
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

// Extends an exported file with the HDF5 library itself (h5py "r+"): a dataset and attributes more, a string
// attribute rewritten, a group of 40 datasets (splitting the root's B-tree and symbol table nodes), one of ours
// deleted. The library allocates new space from the end-of-file address of the superblock and reuses our heaps:
// were any of them wrong, it would write over our rows or fail.
const EXTEND = String.raw`
import h5py, hashlib, numpy as np, sys
with h5py.File(sys.argv[1], "r+") as f:
    f.create_dataset("extra", data=np.arange(200_000, dtype="<i8"))
    f.attrs["metric"] = "L2"
    f.attrs["added"] = "y" * 3000
    g = f.create_group("grp")
    for i in range(40):
        g.create_dataset(f"d{i}", data=[i])
        f.create_dataset(f"r{i:02}", data=[i])
    del f["ids"]
with h5py.File(sys.argv[1], "r") as f:
    assert (f["extra"][...] == np.arange(200_000)).all()
    assert [int(f[f"r{i:02}"][0]) for i in range(40)] == list(range(40))
    assert int(f["grp/d39"][0]) == 39 and "ids" not in f
    assert f.attrs["metric"] == "L2" and f.attrs["added"] == "y" * 3000 and f.attrs["long"] == "x" * 5000
    print(hashlib.sha256(f["embeddings"][...].tobytes()).hexdigest())
`;

Deno.test("the HDF5 library can extend an exported file without touching its rows (end of file, heaps)", async () => {
  await using dir = await tempDir();
  const rows = 3001, dim = 16;
  const vectors = randomFloats(rows, dim, 9);
  const ids = BigInt64Array.from({ length: rows }, (_, i) => BigInt(i) - 1500n);
  const path = `${dir.path}/x.h5`;
  const attributes = { metric: "IP", long: "x".repeat(5000), n: -3 }; // a string beyond the 4 KiB global heap
  const w = await createContiguousHdf5Writer(path, { dim, vectorType: "float", withIds: true, attributes });
  w.append({ rows, dim, vectors, ids });
  await w.commit();
  const before = await h5pyRead(path);
  assertEquals(before.attrs, { metric: ["str", "IP"], long: ["str", "x".repeat(5000)], n: ["int64", -3] });
  assertEquals(before.ids, { shape: [rows], dtype: "<i8", chunks: null, sha256: await sha256Hex(ids) });
  for (const python of [VENV_PYTHON, H5PY_PYTHON]) {
    const copy = `${dir.path}/copy.h5`;
    await Deno.copyFile(path, copy);
    const out = await new Deno.Command(python, { args: ["-c", EXTEND, copy], stderr: "piped" }).output();
    assert(out.success, `${python} could not extend the file: ${new TextDecoder().decode(out.stderr)}`);
    assertEquals(new TextDecoder().decode(out.stdout).trim(), await sha256Hex(vectors), `embeddings after ${python}`);
  }
});

// A write that fails (here: the file size limit of `ulimit -f`, EFBIG, as a full disk fails with ENOSPC) in a
// child process, during append and during commit (the ids copied after the vectors).
const FAILING_WRITE = `
import { createContiguousHdf5Writer } from "./lib/hdf5/contiguous_writer.ts";
const [dir, rowsText] = Deno.args;
const w = await createContiguousHdf5Writer(dir + "/x.h5", { dim: 4, vectorType: "float", withIds: true });
let stage = "append";
try {
  for (let i = 0; i < Number(rowsText); i += 1000) {
    w.append({ rows: 1000, dim: 4, vectors: new Float32Array(4000), ids: new BigInt64Array(1000) });
  }
  stage = "commit";
  await w.commit();
  stage = "done";
  console.log(JSON.stringify({ stage }));
} catch (e) {
  if (stage === "append") await w.abort(); // a failed commit removes its files itself
  console.log(JSON.stringify({ stage, name: e.constructor.name, code: e.code, message: e.message }));
}
`;

Deno.test("a write that fails (file too large) is an OUTPUT_ERROR, in append or in commit, and leaves nothing", async () => {
  await using dir = await tempDir();
  // 256 KiB: 30,000 rows of 16 bytes cannot be appended; 13,000 can (208 KB after 4 KiB of metadata), but their
  // ids (104 KB) cannot follow them at commit; 5,000 rows and their ids fit.
  for (const [rows, stage] of [[30_000, "append"], [13_000, "commit"], [5_000, "done"]] as const) {
    const out = await new Deno.Command("bash", {
      args: [
        "-c",
        'trap "" XFSZ; ulimit -f 256; exec "$0" eval "$1" "$2" "$3"',
        Deno.execPath(),
        FAILING_WRITE,
        dir.path,
        String(rows),
      ],
      cwd: PROJECT_ROOT,
      stderr: "piped",
    }).output();
    assert(out.success, new TextDecoder().decode(out.stderr));
    const got = JSON.parse(new TextDecoder().decode(out.stdout));
    if (stage === "done") {
      assertEquals(got, { stage });
      assertEquals((await h5pyRead(`${dir.path}/x.h5`)).ids, {
        shape: [rows],
        dtype: "<i8",
        chunks: null,
        sha256: await sha256Hex(new BigInt64Array(rows)),
      });
      await Deno.remove(`${dir.path}/x.h5`);
    } else {
      assertEquals([got.stage, got.name, got.code], [stage, "MilvusdmError", "OUTPUT_ERROR"], JSON.stringify(got));
      assert(/^Writing ".*x\.h5\.partial" failed \(disk full\?\): .*File too large/.test(got.message), got.message);
    }
    assertEquals([...Deno.readDirSync(dir.path)], [], `left behind after ${stage}`);
  }
});
