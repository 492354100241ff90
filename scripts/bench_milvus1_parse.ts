/**
 * Parse throughput of the Milvus 1.x segment reader: a 1,000,000 × 128 float segment streamed through
 * `openMilvus1` + `partitionSource`, against a plain loop of 4 MB `Deno.readSync` calls over the same `.rv` file.
 *
 *   deno run -A scripts/bench_milvus1_parse.ts [--rows N] [--dim D] [--batch B] [--keep]
 *
 * Each phase runs in its own process so that its CPU time (/proc/self/stat utime+stime) and peak RSS
 * (/proc/self/status VmHWM) are its own. The files live in .work/bench-milvus1 (deleted unless --keep); every
 * phase reads them once first, so all phases read from the page cache.
 */
import { openMilvus1, partitionSource } from "../lib/milvus1/mod.ts";
import { writeSqliteMeta } from "../tests/milvus1_fixture.ts";

interface PhaseResult {
  phase: string;
  rows: number;
  bytes: number;
  seconds: number;
  cpuSeconds: number;
  peakRssMb: number;
  /** Peak RSS before the timed part (runtime, modules, metadata). */
  setupRssMb: number;
  checksum: number;
}

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

const ROWS = arg("rows", 1_000_000);
const DIM = arg("dim", 128);
const BATCH = arg("batch", 10_000);
const DELETED_SHARE = 0.01;
const ROOT = new URL("../.work/bench-milvus1/", import.meta.url).pathname.replace(/\/$/, "");
const SEGMENT = "1700000000000000001";
const SEGMENT_DELETES = "1700000000000000002";

function cpuSeconds(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields after the command: state is index 0, so utime (14th field overall) is index 11, stime index 12.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function peakRssMb(): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"));
  return match ? Number(match[1]) / 1024 : NaN;
}

/** Writes the segment with 4 MB chunks: ids 0..n-1, vector i = [i, i+1, …]. */
function writeSegment(dir: string, name: string, deletes: Int32Array): number {
  Deno.mkdirSync(dir, { recursive: true });
  const rvBytes = ROWS * DIM * 4;
  const rv = Deno.openSync(`${dir}/${name}.rv`, { write: true, create: true, truncate: true });
  const header = new Uint8Array(8);
  new DataView(header.buffer).setBigUint64(0, BigInt(rvBytes), true);
  rv.writeSync(header);
  const chunkRows = Math.max(1, Math.floor((4 << 20) / (DIM * 4)));
  const chunk = new Float32Array(chunkRows * DIM);
  for (let start = 0; start < ROWS; start += chunkRows) {
    const n = Math.min(chunkRows, ROWS - start);
    for (let r = 0; r < n; r++) for (let d = 0; d < DIM; d++) chunk[r * DIM + d] = start + r + d;
    const bytes = new Uint8Array(chunk.buffer, 0, n * DIM * 4);
    let done = 0;
    while (done < bytes.length) done += rv.writeSync(bytes.subarray(done));
  }
  rv.close();
  const uid = new Uint8Array(8 + ROWS * 8);
  new DataView(uid.buffer).setBigUint64(0, BigInt(ROWS * 8), true);
  const ids = new BigInt64Array(uid.buffer, 8, ROWS);
  for (let i = 0; i < ROWS; i++) ids[i] = BigInt(i);
  Deno.writeFileSync(`${dir}/${name}.uid`, uid);
  const del = new Uint8Array(8 + deletes.byteLength);
  new DataView(del.buffer).setBigUint64(0, BigInt(deletes.byteLength), true);
  del.set(new Uint8Array(deletes.buffer), 8);
  Deno.writeFileSync(`${dir}/deleted_docs`, del);
  return 8 + rvBytes;
}

function build(): void {
  try {
    Deno.removeSync(ROOT, { recursive: true });
  } catch { /* absent */ }
  const dbDir = `${ROOT}/db`;
  const deletes = new Int32Array(Math.floor(ROWS * DELETED_SHARE));
  for (let i = 0; i < deletes.length; i++) deletes[i] = Math.floor((i * 2654435761) % ROWS);
  const size = writeSegment(`${dbDir}/tables/plain/${SEGMENT}`, SEGMENT, new Int32Array(0));
  writeSegment(`${dbDir}/tables/deletes/${SEGMENT_DELETES}`, SEGMENT_DELETES, deletes);
  const table = (id: number, name: string) => ({
    id,
    table_id: name,
    state: 0,
    dimension: DIM,
    created_on: 1,
    flag: 2,
    index_file_size: 1 << 30,
    engine_type: 1,
    index_params: "{}",
    metric_type: 1,
    owner_table: "",
    partition_tag: "",
    version: "1.1.1",
    flush_lsn: 0,
  });
  const file = (id: number, name: string, segment: string, rows: number) => ({
    id,
    table_id: name,
    segment_id: segment,
    engine_type: 1,
    file_id: segment,
    file_type: 1,
    file_size: size,
    row_count: rows,
    updated_time: 1,
    created_on: 1,
    date: 1,
    flush_lsn: 0,
  });
  writeSqliteMeta(dbDir, [table(1, "plain"), table(2, "deletes")], [
    file(1, "plain", SEGMENT, ROWS),
    file(2, "deletes", SEGMENT_DELETES, ROWS - new Set(deletes).size),
  ], false);
}

function warm(path: string): void {
  const f = Deno.openSync(path);
  const buf = new Uint8Array(4 << 20);
  while ((f.readSync(buf) ?? 0) > 0) { /* read */ }
  f.close();
}

async function phase(name: string): Promise<PhaseResult> {
  const rvPath = `${ROOT}/db/tables/plain/${SEGMENT}/${SEGMENT}.rv`;
  if (name === "stream-deletes") warm(`${ROOT}/db/tables/deletes/${SEGMENT_DELETES}/${SEGMENT_DELETES}.rv`);
  else warm(rvPath);
  const store = name === "plain-read" ? null : await openMilvus1(ROOT);
  const setupRssMb = peakRssMb();
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  let rows = 0, bytes = 0, checksum = 0;
  if (store === null) {
    const f = Deno.openSync(rvPath);
    const buf = new Uint8Array(4 << 20);
    const view = new Float32Array(buf.buffer);
    for (;;) {
      const n = f.readSync(buf);
      if (n === null || n === 0) break;
      bytes += n;
      checksum += view[0];
    }
    f.close();
    rows = Math.floor((bytes - 8) / (DIM * 4));
  } else {
    const collection = store.collection(name === "stream" ? "plain" : "deletes");
    const source = await partitionSource(collection, collection.partitions[0]);
    for await (const batch of source.batches(BATCH)) {
      rows += batch.rows;
      bytes += batch.vectors.byteLength + batch.ids!.byteLength;
      checksum += (batch.vectors as Float32Array)[0];
    }
    await store.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds() - cpu0;
  return { phase: name, rows, bytes, seconds, cpuSeconds: cpu, peakRssMb: peakRssMb(), setupRssMb, checksum };
}

async function runChild(name: string): Promise<PhaseResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--phase",
      name,
      "--rows",
      String(ROWS),
      "--dim",
      String(DIM),
      "--batch",
      String(BATCH),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`Phase ${name} failed`);
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
}

const phaseIndex = Deno.args.indexOf("--phase");
if (phaseIndex >= 0) {
  console.log(JSON.stringify(await phase(Deno.args[phaseIndex + 1])));
} else {
  console.log(`Building ${ROWS.toLocaleString()} × ${DIM} float32 segments (plain, and with 1% deleted) in ${ROOT}`);
  build();
  const results: PhaseResult[] = [];
  for (const name of ["plain-read", "stream", "stream-deletes"]) {
    // Best of two runs of each phase.
    const a = await runChild(name);
    const b = await runChild(name);
    results.push(a.seconds <= b.seconds ? a : b);
  }
  const base = results[0];
  console.log(`\nphase            rows/s        MB/s     wall s   CPU s  peak RSS MB (setup)  vs plain read`);
  for (const r of results) {
    const mb = ((r.phase === "plain-read" ? r.bytes : r.rows * DIM * 4) / 2 ** 20) / r.seconds;
    console.log(
      `${r.phase.padEnd(15)} ${(r.rows / r.seconds).toFixed(0).padStart(10)} ${mb.toFixed(0).padStart(10)} ` +
        `${r.seconds.toFixed(3).padStart(9)} ${r.cpuSeconds.toFixed(2).padStart(7)} ${
          r.peakRssMb.toFixed(0).padStart(12)
        } (${r.setupRssMb.toFixed(0).padStart(3)})  ${(base.seconds / r.seconds).toFixed(2)}×`,
    );
  }
  if (!Deno.args.includes("--keep")) Deno.removeSync(ROOT, { recursive: true });
}
