/**
 * Benchmark of the Faiss reader: streams a 1,000,000 × 128 Flat and IVFFlat index and compares with a plain
 * 4 MB `readSync` loop over the same file. Reports rows/s, MB/s, the ratio to the read loop, CPU seconds
 * (user + sys from /proc/self/stat) and peak RSS (VmHWM from /proc/self/status), each measured in its own process.
 *
 * The index files are written with faiss (/usr/bin/python3 + python3-faiss) into .work/bench when missing.
 *
 * Usage: deno run -A scripts/bench_faiss_parse.ts [--rows 1000000] [--max-rows 8192] [--repeat 3]
 *
 * @module
 */
import { openFaissSource } from "../lib/faiss/mod.ts";

const BENCH_DIR = ".work/bench";
const DIM = 128;

interface Measurement {
  seconds: number;
  cpuSeconds: number;
  peakRssMb: number;
  rows: number;
  bytes: number;
}

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

/** CPU seconds (user + sys) of this process so far. */
function cpuSeconds(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state): utime is field 14, stime field 15
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100; // USER_HZ is 100 on Linux
}

function peakRssMb(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  const match = status.match(/VmHWM:\s+(\d+) kB/);
  return match ? Number(match[1]) / 1024 : NaN;
}

function measureRead(path: string): Measurement {
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  const file = Deno.openSync(path, { read: true });
  const buffer = new Uint8Array(4 << 20);
  let bytes = 0;
  for (;;) {
    const n = file.readSync(buffer);
    if (n === null || n === 0) break;
    bytes += n;
  }
  file.close();
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, cpuSeconds: cpuSeconds() - cpu0, peakRssMb: peakRssMb(), rows: 0, bytes };
}

async function measureParse(path: string, maxRows: number): Promise<Measurement> {
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  const source = await openFaissSource(path);
  let rows = 0;
  let checksum = 0;
  for await (const batch of source.batches(maxRows)) {
    rows += batch.rows;
    checksum += (batch.vectors as Float32Array)[0];
  }
  await source.close();
  const seconds = (performance.now() - t0) / 1000;
  if (!Number.isFinite(checksum)) throw new Error("bad vectors");
  const bytes = (await Deno.stat(path)).size;
  return { seconds, cpuSeconds: cpuSeconds() - cpu0, peakRssMb: peakRssMb(), rows, bytes };
}

/** Runs one measurement in a fresh process, so CPU time and peak RSS belong to it alone. */
async function inChild(args: string[]): Promise<Measurement> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "--child", ...args],
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`benchmark child failed: ${args.join(" ")}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function makeIndexes(rows: number, flatPath: string, ivfPath: string): Promise<void> {
  await Deno.mkdir(BENCH_DIR, { recursive: true });
  const script = `
import sys, faiss, numpy as np
rows, d, flat_path, ivf_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
x = np.random.default_rng(7).standard_normal((rows, d), dtype=np.float32)
flat = faiss.IndexFlatL2(d)
flat.add(x)
faiss.write_index(flat, flat_path)
del flat
q = faiss.IndexFlatL2(d)
ivf = faiss.IndexIVFFlat(q, d, 1024)
ivf.train(x[:65536])
ivf.add_with_ids(x, np.arange(rows, dtype=np.int64) * 3 + 1)
faiss.write_index(ivf, ivf_path)
`;
  console.log(`writing ${rows} × ${DIM} Flat and IVFFlat indexes into ${BENCH_DIR} with faiss ...`);
  const out = await new Deno.Command("/usr/bin/python3", {
    args: ["-c", script, String(rows), String(DIM), flatPath, ivfPath],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error("faiss could not write the benchmark indexes (apt-get install -y python3-faiss)");
}

async function main(): Promise<void> {
  if (Deno.args[0] === "--child") {
    const [, kind, path, maxRows] = Deno.args;
    const m = kind === "read" ? measureRead(path) : await measureParse(path, Number(maxRows));
    console.log(JSON.stringify(m));
    return;
  }
  const rows = flag("--rows", 1_000_000);
  const maxRows = flag("--max-rows", 8192);
  const repeat = flag("--repeat", 3);
  const flatPath = `${BENCH_DIR}/flat_${rows}x${DIM}.faiss`;
  const ivfPath = `${BENCH_DIR}/ivfflat_${rows}x${DIM}.faiss`;
  if (!(await exists(flatPath)) || !(await exists(ivfPath))) await makeIndexes(rows, flatPath, ivfPath);

  const best = (ms: Measurement[]) => ms.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  console.log(`faiss parse benchmark: ${rows} × ${DIM} float32, batches of ${maxRows} rows, best of ${repeat}`);
  for (const [label, path] of [["Flat", flatPath], ["IVFFlat", ivfPath]]) {
    const reads: Measurement[] = [];
    const parses: Measurement[] = [];
    for (let i = 0; i < repeat; i++) {
      reads.push(await inChild(["read", path]));
      parses.push(await inChild(["parse", path, String(maxRows)]));
    }
    const read = best(reads), parse = best(parses);
    if (parse.rows !== rows) throw new Error(`${label}: streamed ${parse.rows} rows, expected ${rows}`);
    const mb = parse.bytes / (1 << 20);
    console.log(
      `${label.padEnd(8)} reader: ${(parse.rows / parse.seconds / 1e6).toFixed(2)} M rows/s, ` +
        `${(mb / parse.seconds).toFixed(0)} MB/s, ${parse.seconds.toFixed(3)} s, CPU ${
          parse.cpuSeconds.toFixed(2)
        } s, ` +
        `peak RSS ${parse.peakRssMb.toFixed(0)} MB`,
    );
    console.log(
      `${"".padEnd(8)} read loop: ${(read.bytes / (1 << 20) / read.seconds).toFixed(0)} MB/s, ` +
        `${read.seconds.toFixed(3)} s, CPU ${read.cpuSeconds.toFixed(2)} s, peak RSS ${
          read.peakRssMb.toFixed(0)
        } MB; ` +
        `reader/read loop = ${(read.seconds / parse.seconds * 100).toFixed(0)}%`,
    );
  }
}

if (import.meta.main) await main();
