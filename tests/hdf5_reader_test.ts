/**
 * Exactness of the HDF5 reader: files written by h5py (the venv's) in every layout the reader handles (contiguous,
 * chunked, gzip, shuffle, float64, uint8, int32/uint64/big-endian/2-D ids, odd row counts, chunks split across
 * columns, a user block, HDF5's newest format, milvusdm's own writer) are read with batch sizes that cross chunk
 * boundaries, on the fast paths and the h5wasm fallback, with and without decoding workers and reused batch
 * buffers, with the datasets described from the file's own headers or (when those do not suffice) by h5wasm, and
 * every value is
 * compared with what h5py reads. Also: files the reader must refuse with a typed error rather than return wrong
 * values (an unregistered filter, chunks never written, big-endian vectors).
 */
import nodeAssert from "node:assert/strict";
import { MilvusdmError } from "../lib/errors.ts";
import { openHdf5Source, type ReadMethod } from "../lib/hdf5/reader.ts";
import { createHdf5Writer } from "../lib/hdf5/writer.ts";

const PYTHON = new URL("../.venv/bin/python", import.meta.url).pathname;

/** Writes the fixtures into argv[1], with the values h5py reads (vectors as float32 or uint8, ids as int64). */
const MAKE_FIXTURES = String.raw`
import h5py, json, os, sys
import numpy as np
out = sys.argv[1]
rng = np.random.default_rng(11)
R, D = 1003, 17
f32 = rng.standard_normal((R, D), dtype=np.float32)
f64 = rng.standard_normal((R, D)) * 1e3
u8 = rng.integers(0, 256, (R, 16), dtype=np.uint8)
ids = rng.integers(-2**62, 2**62, R, dtype=np.int64)
manifest = []

def add(name, expect, emb="embeddings", with_ids=True, error=None, libver=None, userblock=0, **kw):
    path = os.path.join(out, name + ".h5")
    args = {"libver": libver} if libver else {}
    if userblock: args["userblock_size"] = userblock
    with h5py.File(path, "w", **args) as f:
        write(f)
    with h5py.File(path, "r") as f:
        entry = {"file": name + ".h5", "expect": expect, "error": error}
        if error is None:
            v = f[emb][:]
            entry["rows"] = int(v.shape[0])
            v = v if v.dtype == np.uint8 else v.astype("<f4")
            v.astype(v.dtype.newbyteorder("<")).tofile(os.path.join(out, name + ".vectors"))
            if "ids" in f and with_ids:
                f["ids"][:].reshape(-1).astype("<i8").tofile(os.path.join(out, name + ".ids"))
                entry["ids"] = True
            entry.update(kw)
        manifest.append(entry)

def write(f): f["embeddings"] = f32; f["ids"] = ids
add("contiguous", {"embeddings": "contiguous", "ids": "contiguous"})
def write(f):
    f.create_dataset("embeddings", data=f32, chunks=(100, D))
    f.create_dataset("ids", data=ids, chunks=(64,))
add("chunked", {"embeddings": "chunks", "ids": "chunks"})
def write(f):
    f.create_dataset("embeddings", data=f64, chunks=(128, 5), compression="gzip", shuffle=True)
    f.create_dataset("ids", data=ids.astype(np.int32), chunks=(300,), compression="gzip")
add("gzip_f64_columns", {"embeddings": "chunks", "ids": "chunks"})
def write(f):
    f.create_dataset("embeddings", data=f32, chunks=(250, D), compression="gzip", compression_opts=9, shuffle=True)
    f.create_dataset("ids", data=ids, compression="gzip")
add("gzip_shuffle_rows", {"embeddings": "chunks", "ids": "chunks"})
def write(f):
    f.create_dataset("embeddings", data=f32, chunks=(1000, 32), compression="gzip", maxshape=(None, 64))
add("gzip_wide_chunks", {"embeddings": "chunks", "ids": None}, with_ids=False)
def write(f):
    f.create_dataset("embeddings", data=u8, chunks=(77, 16), compression="gzip")
    f.create_dataset("ids", data=ids.astype(np.uint64) & np.uint64(2**63 - 1), chunks=(1003,))
add("uint8_gzip", {"embeddings": "chunks", "ids": "chunks"})
def write(f): f["embeddings"] = u8; f["ids"] = ids.reshape(R, 1)
add("uint8_contiguous_ids_2d", {"embeddings": "contiguous", "ids": "contiguous"})
def write(f): f["embeddings"] = f32; f["ids"] = ids.astype(">i8")
add("ids_big_endian", {"embeddings": "contiguous", "ids": "h5wasm"})
def write(f): f["embeddings"] = f64; f["ids"] = ids
add("userblock_f64", {"embeddings": "contiguous", "ids": "contiguous"}, userblock=4096)
def write(f):
    f.create_dataset("embeddings", data=f32, chunks=(100, D), compression="gzip")
    f.create_dataset("ids", data=ids, chunks=(R,), compression="gzip")
add("latest_fixed_array", {"embeddings": "h5wasm", "ids": "chunks"}, libver="latest")
def write(f):
    f.create_dataset("embeddings", data=f32, chunks=(100, D), maxshape=(None, D), compression="gzip")
    f["ids"] = ids
add("latest_extensible", {"embeddings": "h5wasm", "ids": "contiguous"}, libver="latest")
def write(f):
    f.create_dataset("embeddings", data=f32, chunks=(R, D), compression="gzip", shuffle=True)
add("latest_single_chunk", {"embeddings": "chunks", "ids": None}, with_ids=False, libver="latest")
def write(f):
    f.create_dataset("embeddings", data=f32, chunks=(100, D), fletcher32=True)
add("fletcher32", {"embeddings": "h5wasm", "ids": None}, with_ids=False)
def write(f):
    f.create_dataset("train", data=f32)
    f.create_dataset("test", data=f32[:10])
    f.attrs["distance"] = "angular"
add("ann_benchmarks", {"embeddings": "contiguous", "ids": None}, emb="train", with_ids=False, ann=True)
def write(f):
    f.create_dataset("embeddings", shape=(0, D), dtype="<f4")
    f.create_dataset("ids", shape=(0,), dtype="<i8")
add("empty", {"embeddings": "contiguous", "ids": "contiguous"})
def write(f):
    f.create_dataset("embeddings", data=f32[:1], chunks=(64, D), maxshape=(None, D), compression="gzip")
add("one_row", {"embeddings": "chunks", "ids": None}, with_ids=False)
def write(f):
    f["embeddings"] = f32
    for i in range(12):
        f.attrs["attribute_%d" % i] = "value %d" % i
    f.attrs["metric"] = "IP"
    f.attrs["dim"] = np.int32(D)
    f.attrs["scale"] = 0.5
add("dense_attributes", {"embeddings": "contiguous", "ids": None}, with_ids=False, libver="latest",
    attributes=dict([("attribute_%d" % i, "value %d" % i) for i in range(12)], metric="IP", dim=D, scale=0.5))
def write(f):
    f["embeddings"] = f32
    for i in range(100):
        f.attrs["attribute_%d" % i] = "value %d" % i
    f.attrs["count"] = np.int64(100)
    f.attrs["label"] = np.bytes_(b"many")
# too many attributes for the dense storage format.ts reads: h5wasm, without its variable-length strings
add("many_attributes", {"embeddings": "contiguous", "ids": None}, with_ids=False, libver="latest",
    attributes={"count": 100, "label": "many"})
def write(f):
    f["embeddings"] = f32
    f.attrs["metric"] = "COSINE"
    f.attrs["fixed"] = np.bytes_(b"fixed width")
    f.attrs["count"] = np.uint64(7)
    f.attrs["ratio"] = np.float32(0.25)
    f.attrs["vector"] = np.arange(3)
add("compact_attributes", {"embeddings": "contiguous", "ids": None}, with_ids=False,
    attributes={"metric": "COSINE", "fixed": "fixed width", "count": 7, "ratio": 0.25})

# refused with a typed error
def write(f):
    f.create_dataset("embeddings", data=f32, chunks=(100, D), compression="lzf")
add("lzf", None, error="lzf|filter|cannot be read")
def write(f):
    d = f.create_dataset("embeddings", shape=(R, D), dtype="<f4", chunks=(100, D))
    d[:500] = f32[:500]
add("sparse_chunks", None, error="never written")
def write(f): f["embeddings"] = f32.astype(">f4")
add("big_endian", None, error="big-endian")
def write(f):
    f.create_dataset("embeddings", shape=(R, D), dtype="<f4")
add("never_written", None, error="never written")

json.dump(manifest, open(os.path.join(out, "manifest.json"), "w"), indent=1)
`;

interface Fixture {
  file: string;
  expect: { embeddings: ReadMethod; ids: ReadMethod | null } | null;
  error: string | null;
  rows?: number;
  ids?: boolean;
  ann?: boolean;
  /** The file attributes the source must report (checked when given). */
  attributes?: Record<string, string | number>;
}

async function makeFixtures(dir: string): Promise<Fixture[]> {
  const out = await new Deno.Command(PYTHON, { args: ["-c", MAKE_FIXTURES, dir], stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`h5py could not write the fixtures (${PYTHON}): ${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`));
}

async function readAll(path: string, maxRows: number, decodeThreads?: number, reuseBuffers = false) {
  const source = await openHdf5Source(path, { decodeThreads, reuseBuffers });
  try {
    const { rows, dim, vectorType } = source.info;
    const rowBytes = vectorType === "float" ? dim * 4 : dim / 8;
    const vectors = new Uint8Array(rows * rowBytes);
    const ids = new BigInt64Array(rows);
    let at = 0;
    let withIds = true;
    for await (const batch of source.batches(maxRows)) {
      nodeAssert.ok(batch.rows >= 1 && batch.rows <= maxRows, `batch of ${batch.rows} rows`);
      nodeAssert.ok(at + batch.rows === rows || batch.rows === maxRows, `short batch of ${batch.rows} before the end`);
      nodeAssert.equal(batch.dim, dim);
      const bytes = new Uint8Array(batch.vectors.buffer, batch.vectors.byteOffset, batch.vectors.byteLength);
      nodeAssert.equal(bytes.length, batch.rows * rowBytes);
      vectors.set(bytes, at * rowBytes);
      if (batch.ids) {
        nodeAssert.equal(batch.ids.length, batch.rows);
        ids.set(batch.ids, at);
      } else withIds = false;
      at += batch.rows;
    }
    nodeAssert.equal(at, rows, "rows streamed");
    return { source, vectors, ids: withIds ? ids : null };
  } finally {
    source.close();
  }
}

/** The fixtures in HDF5's newer format (superblock 2 or 3): libver="latest", and the h5wasm writer's. */
const LATEST = new Set([
  "writer.h5",
  "latest_fixed_array.h5",
  "latest_extensible.h5",
  "latest_single_chunk.h5",
  "dense_attributes.h5",
  "many_attributes.h5",
]);

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

Deno.test("hdf5 reader: every value equals h5py's, on every read path and batch size", async () => {
  const dir = await Deno.makeTempDir({ prefix: "milvusdm_hdf5_reader_" });
  try {
    const fixtures = await makeFixtures(dir);
    // milvusdm's own writer (h5wasm), read back by h5py for the expected values
    const writerRows = 1003, writerDim = 24;
    const writerVectors = new Float32Array(writerRows * writerDim).map((_, i) => Math.sin(i) * 100);
    const writerIds = BigInt64Array.from({ length: writerRows }, (_, i) => BigInt(i) * 1_000_003n - 7n);
    const writer = await createHdf5Writer(`${dir}/writer.h5`, {
      dim: writerDim,
      vectorType: "float",
      withIds: true,
      chunkRows: 64,
      attributes: { collection: "c", metric: "IP" },
    });
    for (let at = 0; at < writerRows; at += 300) {
      const end = Math.min(writerRows, at + 300);
      writer.append({
        ids: writerIds.slice(at, end),
        vectors: writerVectors.slice(at * writerDim, end * writerDim),
        dim: writerDim,
        rows: end - at,
      });
    }
    await writer.commit();
    await Deno.writeFile(`${dir}/writer.vectors`, new Uint8Array(writerVectors.buffer));
    await Deno.writeFile(`${dir}/writer.ids`, new Uint8Array(writerIds.buffer));
    fixtures.push({
      file: "writer.h5",
      expect: { embeddings: "chunks", ids: "chunks" },
      error: null,
      rows: writerRows,
      ids: true,
    });

    let compared = 0;
    for (const f of fixtures) {
      const path = `${dir}/${f.file}`;
      if (f.error) {
        let error: unknown = null;
        try {
          await readAll(path, 64);
        } catch (e) {
          error = e;
        }
        nodeAssert.ok(error instanceof MilvusdmError, `${f.file}: expected a MilvusdmError, got ${error}`);
        nodeAssert.match(error.message, new RegExp(f.error), `${f.file}: ${error.message}`);
        continue;
      }
      const stem = f.file.replace(/\.h5$/, "");
      const expectedVectors = await Deno.readFile(`${dir}/${stem}.vectors`);
      const expectedIds = f.ids ? new BigInt64Array((await Deno.readFile(`${dir}/${stem}.ids`)).buffer) : null;
      const rows = f.rows!;
      const batchSizes = [...new Set([1, 7, 64, 100, 333, Math.max(1, rows - 1), rows + 5, 10_000])];
      for (const maxRows of batchSizes) {
        const variants: { threads?: number; reuse?: boolean }[] = [{}];
        if (f.file.includes("gzip") && maxRows === 333) variants.push({ threads: 0 }, { threads: 2 });
        if (maxRows === 64) variants.push({ reuse: true });
        for (const { threads, reuse } of variants) {
          const got = await readAll(path, maxRows, threads, reuse);
          const label = `${f.file} (batches of ${maxRows}, decodeThreads ${threads ?? "auto"}${
            reuse ? ", reused" : ""
          })`;
          nodeAssert.deepEqual(
            { embeddings: got.source.readPaths.embeddings.method, ids: got.source.readPaths.ids?.method ?? null },
            f.expect,
            `${label}: read paths ${JSON.stringify(got.source.readPaths)}`,
          );
          nodeAssert.equal(got.source.info.rows, rows, `${label}: rows`);
          // h5wasm describes the file only when it must read a dataset, or the file is in HDF5's newer format
          // (libver="latest": superblock 2/3, whose checksums format.ts does not verify)
          const viaH5wasm = f.expect!.embeddings === "h5wasm" || f.expect!.ids === "h5wasm" || LATEST.has(f.file);
          nodeAssert.equal(got.source.describedBy, viaH5wasm ? "h5wasm" : "headers", `${label}: described by`);
          if (f.attributes) nodeAssert.deepEqual(got.source.attributes, f.attributes, `${label}: attributes`);
          const at = firstDifference(got.vectors, expectedVectors);
          nodeAssert.equal(at, -1, `${label}: vectors differ from h5py's at byte ${at}`);
          if (f.ann) {
            nodeAssert.equal(got.source.info.metric, "COSINE");
            nodeAssert.deepEqual(got.ids, BigInt64Array.from({ length: rows }, (_, i) => BigInt(i)));
          } else if (expectedIds) {
            nodeAssert.deepEqual(got.ids, expectedIds, `${label}: ids differ from h5py's`);
          } else {
            nodeAssert.equal(got.source.info.hasIds, false);
          }
          compared += rows;
        }
      }
      if (f.file === "writer.h5") {
        const source = await openHdf5Source(path);
        nodeAssert.deepEqual(source.attributes, { collection: "c", metric: "IP" });
        nodeAssert.equal(source.info.metric, "IP");
        source.close();
      }
    }
    console.log(`hdf5 reader: ${fixtures.length} files, ${compared} rows compared with h5py`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
