/**
 * milvusdm's M2H writer measured as scripts/bench/h5py_io.py measures h5py, for scripts/bench/run.py: a Milvus 1.x
 * segment's vectors and ids are loaded into memory first (not timed), then written with
 * lib/hdf5/contiguous_writer.ts in slices of 4 MiB of vectors, timed from creating the file to its rename.
 * Prints one JSON line ({@linkcode Measurement}). Without start-up and reading, this row compares the writers
 * alone; the CLI row is the whole export.
 *
 *   deno run -A scripts/bench/m2h_write.ts --segment SEGMENT_DIR --dim DIM --out OUT
 *
 * @module
 */
import { createContiguousHdf5Writer } from "../../lib/hdf5/contiguous_writer.ts";
import { cpuSeconds, flag, type Measurement, peakRssMb } from "./measure.ts";

const BATCH_BYTES = 4 << 20;

const segment = flag("segment").replace(/\/+$/, "");
const dim = Number(flag("dim"));
const out = flag("out");
const name = segment.slice(segment.lastIndexOf("/") + 1);
// The segment files: an 8-byte header, then int64 ids (.uid) or float32 vectors (.rv), as h5py_io.py reads them.
function readBody(path: string): ArrayBuffer {
  using file = Deno.openSync(path);
  const body = new Uint8Array(file.statSync().size - 8);
  file.seekSync(8, Deno.SeekMode.Start);
  for (let at = 0; at < body.length;) {
    const n = file.readSync(body.subarray(at));
    if (!n) throw new Error(`${path} ended early`);
    at += n;
  }
  return body.buffer;
}
const ids = new BigInt64Array(readBody(`${segment}/${name}.uid`));
const vectors = new Float32Array(readBody(`${segment}/${name}.rv`));
const rows = ids.length;
if (vectors.length !== rows * dim) throw new Error(`${segment}: ${vectors.length} floats for ${rows} ids × ${dim}`);
const step = Math.max(1, Math.floor(BATCH_BYTES / (dim * 4)));

const cpu0 = cpuSeconds();
const t0 = performance.now();
const writer = await createContiguousHdf5Writer(out, { dim, vectorType: "float", withIds: true });
for (let s = 0; s < rows; s += step) {
  const n = Math.min(step, rows - s);
  writer.append({ rows: n, dim, vectors: vectors.subarray(s * dim, (s + n) * dim), ids: ids.subarray(s, s + n) });
}
await writer.commit();
const measurement: Measurement = {
  seconds: (performance.now() - t0) / 1000,
  cpuSeconds: cpuSeconds() - cpu0,
  peakRssMb: peakRssMb(),
  rows,
  bytes: vectors.byteLength + ids.byteLength,
};
console.log(JSON.stringify(measurement));
