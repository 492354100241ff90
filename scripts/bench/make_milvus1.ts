/**
 * Builds a Milvus 1.x data directory for the benchmarks from an HDF5 file (its `embeddings` and `ids`): one
 * collection `bench` (float vectors, L2, user ids), its default partition holding one RAW segment with the file's
 * rows in order and no deleted rows, SQLite metadata as the 1.x server writes it (tests/milvus1_fixture.ts).
 *
 *   deno run -A scripts/bench/make_milvus1.ts --hdf5 FILE --out DIR
 *
 * The segment is written in 4 MiB slices into `DIR.partial`, renamed to `DIR` when complete.
 *
 * @module
 */
import { openHdf5Source } from "../../lib/hdf5/reader.ts";
import { rowsPerBatch } from "../../lib/pipeline.ts";
import { writeSqliteMeta } from "../../tests/milvus1_fixture.ts";
import { flag } from "./measure.ts";

/** The segment's id, its folder and file names. */
const SEGMENT = "1700000000000000001";
const COLLECTION = "bench";

function writeAll(file: Deno.FsFile, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += file.writeSync(bytes.subarray(done));
}

function u64(value: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value), true);
  return out;
}

async function main(): Promise<void> {
  const hdf5 = flag("hdf5");
  const out = flag("out");
  const partial = `${out}.partial`;
  await Deno.remove(partial, { recursive: true }).catch(() => {});
  const source = await openHdf5Source(hdf5);
  const { rows, dim } = source.info;
  const dir = `${partial}/db/tables/${COLLECTION}/${SEGMENT}`;
  Deno.mkdirSync(dir, { recursive: true });
  // .rv and .uid: a u64 byte count, then the row-major vectors / the int64 ids.
  const rv = Deno.openSync(`${dir}/${SEGMENT}.rv`, { write: true, create: true, truncate: true });
  const uid = Deno.openSync(`${dir}/${SEGMENT}.uid`, { write: true, create: true, truncate: true });
  writeAll(rv, u64(rows * dim * 4));
  writeAll(uid, u64(rows * 8));
  let written = 0;
  for await (const batch of source.batches(rowsPerBatch(dim * 4))) {
    if (batch.ids === null) throw new Error(`"${hdf5}" has no ids dataset`);
    writeAll(rv, new Uint8Array(batch.vectors.buffer, batch.vectors.byteOffset, batch.vectors.byteLength));
    writeAll(uid, new Uint8Array(batch.ids.buffer, batch.ids.byteOffset, batch.ids.byteLength));
    written += batch.rows;
  }
  rv.close();
  uid.close();
  source.close();
  if (written !== rows) throw new Error(`Read ${written} rows of ${rows} from "${hdf5}"`);
  Deno.writeFileSync(`${dir}/deleted_docs`, u64(0));
  writeSqliteMeta(`${partial}/db`, [{
    id: 1,
    table_id: COLLECTION,
    state: 0,
    dimension: dim,
    created_on: 1,
    flag: 2, // user ids
    index_file_size: 1 << 30,
    engine_type: 1, // FLAT
    index_params: "{}",
    metric_type: 1, // L2
    owner_table: "",
    partition_tag: "",
    version: "1.1.1",
    flush_lsn: 0,
  }], [{
    id: 1,
    table_id: COLLECTION,
    segment_id: SEGMENT,
    engine_type: 1,
    file_id: SEGMENT,
    file_type: 1, // RAW
    file_size: 8 + rows * dim * 4,
    row_count: rows,
    updated_time: 1,
    created_on: 1,
    date: 1,
    flush_lsn: 0,
  }], false);
  await Deno.rename(partial, out);
}

if (import.meta.main) await main();
