/**
 * M2H (lib/jobs/m2h.ts) without a server: a Milvus 1.x directory with deleted rows, NaN payloads and infinities
 * exported to HDF5, then read back by two HDF5 libraries (PyPI's h5py in the venv and Debian's python3-h5py, built
 * on another HDF5 release) and by milvusdm's own reader as H2M reads the restore YAML's file. Every live row must
 * come back byte for byte, in reading order, with the attributes; fewer rows than the source's segments hold (the
 * deleted ones) and no row at all are both exercised. The H2M re-import into a server is in tests/m2m_test.ts.
 */
import { assert, assertEquals } from "./assert.ts";
import { milvusToHdf5, parseTaskYaml } from "../mod.ts";
import { openHdf5Source, readHdf5Attributes } from "../lib/hdf5/reader.ts";
import { buildMilvus1Dir, type ExpectedPartition, standardSpec } from "./milvus1_fixture.ts";
import { H5PY_PYTHON, tempDir, VENV_PYTHON } from "./helpers.ts";
import denoJson from "../deno.json" with { type: "json" };

const READ_BACK = String.raw`
import h5py, hashlib, json, sys
with h5py.File(sys.argv[1], "r") as f:
    out = {"datasets": sorted(f.keys()), "attrs": {}}
    for k, v in f.attrs.items():
        out["attrs"][k] = [type(v).__name__, v if isinstance(v, str) else v.item()]
    for name in f.keys():
        d = f[name]
        out[name] = {"shape": list(d.shape), "dtype": d.dtype.str,
                     "sha256": hashlib.sha256(d[...].tobytes()).hexdigest()}
print(json.dumps(out))
`;

async function h5pyRead(python: string, path: string): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(python, { args: ["-c", READ_BACK, path], stderr: "piped" }).output();
  if (!out.success) throw new Error(`${python} (h5py) cannot read ${path}: ${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

async function sha256(bytes: ArrayBufferView): Promise<string> {
  const view = new Uint8Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength);
  const digest = await crypto.subtle.digest("SHA-256", view.slice());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function filesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    if (e.isDirectory) found.push(...filesUnder(`${dir}/${e.name}`).map((f) => `${e.name}/${f}`));
    else found.push(e.name);
  }
  return found.sort();
}

Deno.test("M2H writes every live row byte for byte: float and binary, deleted rows left out, empty partitions", async () => {
  await using dir = await tempDir();
  await using out = await tempDir();
  const built = buildMilvus1Dir(dir.path, standardSpec({ seed: 11 })); // NaN payloads and infinities included
  const summary = await milvusToHdf5({
    sourcePath: dir.path,
    collections: { books: null, fingerprints: null, hamming_wide: null },
    dataDir: out.path,
    runId: "r",
    batchBytes: 16 * 4 * 7, // batches of 7 rows of books: many appends per file
  });
  // Only the finished files and their YAMLs: no `.partial` or side file left.
  assertEquals(filesUnder(`${out.path}/r`), [
    "books/2021.h5",
    "books/_default.h5",
    "books/all_deleted.h5",
    "books/empty.h5",
    "fingerprints/_default.h5",
    "fingerprints/p.h5",
    "hamming_wide/_default.h5",
    "yamls/books/2021.yaml",
    "yamls/books/_default.yaml",
    "yamls/books/all_deleted.yaml",
    "yamls/books/empty.yaml",
    "yamls/fingerprints/_default.yaml",
    "yamls/fingerprints/p.yaml",
    "yamls/hamming_wide/_default.yaml",
  ]);
  let filtered = 0;
  for (const f of summary.files) {
    const expected: ExpectedPartition | undefined = built.expected.find((p) =>
      p.collection === f.collection && (p.tag ?? "_default") === f.partition
    );
    assert(expected, `no expected rows for ${f.collection}/${f.partition}`);
    const table = built.tables.find((t) => t.table_id === f.collection)!;
    const dim = table.dimension;
    const binary = table.metric_type >= 3;
    const cols = binary ? dim / 8 : dim;
    assertEquals(f.rows, expected.rows, `rows of ${f.collection}/${f.partition}`);
    filtered += expected.deletedRows;

    const want = {
      datasets: ["embeddings", "ids"],
      embeddings: {
        shape: [expected.rows, cols],
        dtype: binary ? "|u1" : "<f4",
        sha256: await sha256(expected.vectors),
      },
      ids: { shape: [expected.rows], dtype: "<i8", sha256: await sha256(expected.ids) },
      attrs: {
        dim: ["int64", dim],
        metric: ["str", ["", "L2", "IP", "HAMMING", "JACCARD", "TANIMOTO"][table.metric_type]],
        vector_type: ["str", binary ? "binary" : "float"],
        collection: ["str", f.collection],
        partition: ["str", f.partition],
        source_version: ["str", table.version],
        index_file_size: ["int64", table.index_file_size],
        exported_by: ["str", `milvusdm ${denoJson.version}`],
      },
    };
    for (const python of [VENV_PYTHON, H5PY_PYTHON]) {
      assertEquals(await h5pyRead(python, f.path), want, `${f.path} read by ${python}`);
    }

    // What H2M reads when the restore YAML runs: the YAML's file, with milvusdm's reader.
    const task = parseTaskYaml(await Deno.readTextFile(f.yaml), f.yaml);
    assertEquals(task.kind, "H2M");
    assertEquals(task.body["data_path"], [f.path]);
    assertEquals(task.body["dest_collection_name"], f.collection);
    assertEquals(task.body["dest_partition_name"], f.partition === "_default" ? "" : f.partition);
    assertEquals(
      await readHdf5Attributes(f.path),
      Object.fromEntries(
        Object.entries(want.attrs).map(([k, [, v]]) => [k, v]),
      ),
    );
    const source = await openHdf5Source(f.path);
    try {
      assertEquals(
        [source.info.rows, source.info.dim, source.info.vectorType, source.info.metric, source.info.hasIds],
        [expected.rows, dim, binary ? "binary" : "float", want.attrs.metric[1], true],
      );
      const vectors = new Uint8Array(expected.vectors.length);
      const ids = new BigInt64Array(expected.rows);
      let at = 0;
      for await (const b of source.batches(5)) {
        const v = b.vectors;
        vectors.set(
          new Uint8Array(v.buffer, v.byteOffset, v.byteLength),
          at * expected.vectors.length / (expected.rows || 1),
        );
        ids.set(b.ids!, at);
        at += b.rows;
      }
      assertEquals(at, expected.rows);
      assertEquals(await sha256(vectors), want.embeddings.sha256, `vectors of ${f.path} through milvusdm's reader`);
      assertEquals(ids, expected.ids, `ids of ${f.path} through milvusdm's reader`);
    } finally {
      await source.close();
    }
  }
  // The test is about exports smaller than their segments: some rows were deleted, and some files hold none.
  assert(filtered > 0, "the fixture deleted no rows");
  assert(summary.files.some((f) => f.rows === 0), "no empty export");
});
