/**
 * Benchmark of the HDF5 reader (parse only, no Milvus): streams 1,000,000 × 128 float32 vectors and their int64
 * ids from a contiguous file and from gzip-chunked files, beside h5py reading the same datasets in 10,000-row
 * slices (the venv's Python) and a plain 4 MB `Deno.readSync` loop over the file. Each measurement runs in its own
 * process, `--repeat` times (default 3); the table shows medians of rows/s, MB/s of vector data, wall seconds, CPU
 * seconds (user + sys of the measured process, all threads, from /proc/self/stat) and peak RSS (VmHWM).
 *
 * "pooled" is how the Milvus pipeline reads: into a few request buffers used in turn (`batches(n, signal,
 * allocate)`); "fresh arrays" hands out new arrays for every batch (a consumer that keeps batches); "reused
 * buffers" is the `reuseBuffers` option. "readSync, fresh buffers" shows what fresh memory per batch costs
 * in V8 (page faults on new memory; CPython's allocator hands h5py back the slice it just freed).
 *
 * The files are written with h5py into .work/bench when missing:
 * - `hdf5_contiguous_…h5`: contiguous (h5py's default without compression);
 * - `hdf5_gzip_auto_…h5`: `compression="gzip"` with h5py's automatic chunk shape (15625 × 2 here: each 10k-row
 *   slice touches 128 chunks);
 * - `hdf5_gzip_rows_…h5`: gzip in chunks of 2048 whole rows (1 MiB, like milvusdm's own writer).
 *
 * Usage: deno run -A scripts/bench_hdf5_parse.ts [--rows 1000000] [--max-rows 10000] [--repeat 3]
 *        [--only contiguous|gzip-auto|gzip-rows]
 *
 * @module
 */
import { h5 } from "../lib/hdf5/h5.ts";
import { openHdf5Source } from "../lib/hdf5/reader.ts";
import type { BatchAllocator, BatchMemory } from "../lib/types.ts";

const BENCH_DIR = ".work/bench";
const DIM = 128;
const PYTHON = ".venv/bin/python";

interface Measurement {
  seconds: number;
  cpuSeconds: number;
  peakRssMb: number;
  rows: number;
  /** How the reader read the vectors (ours only). */
  method?: string;
}

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

/** CPU seconds (user + sys) of this process so far, all threads. */
function cpuSeconds(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state): utime is field 14, stime field 15
  return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
}

function peakRssMb(): number {
  const match = Deno.readTextFileSync("/proc/self/status").match(/VmHWM:\s+(\d+) kB/);
  return match ? Number(match[1]) / 1024 : NaN;
}

function measureReadLoop(path: string): Measurement {
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  const file = Deno.openSync(path, { read: true });
  const buffer = new Uint8Array(4 << 20);
  for (;;) {
    const n = file.readSync(buffer);
    if (n === null || n === 0) break;
  }
  file.close();
  return { seconds: (performance.now() - t0) / 1000, cpuSeconds: cpuSeconds() - cpu0, peakRssMb: peakRssMb(), rows: 0 };
}

/** A readSync loop into a fresh buffer per `rowBytes × maxRows`: what fresh memory for every batch costs. */
function measureFreshLoop(path: string, bytes: number): Measurement {
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  const file = Deno.openSync(path, { read: true });
  for (;;) {
    const n = file.readSync(new Uint8Array(bytes));
    if (n === null || n === 0) break;
  }
  file.close();
  return { seconds: (performance.now() - t0) / 1000, cpuSeconds: cpuSeconds() - cpu0, peakRssMb: peakRssMb(), rows: 0 };
}

/**
 * What the Milvus pipeline hands a source: a few request-sized buffers, used in turn (the pipeline reuses one once
 * its insert is acknowledged), vectors 8-byte aligned inside them.
 */
function pooledAllocator(maxRows: number, buffers = 3): BatchAllocator {
  const pool = Array.from({ length: buffers }, () => new ArrayBuffer(maxRows * (DIM * 4 + 8) + 64));
  let next = 0;
  return (rows: number): BatchMemory => {
    const buffer = pool[next];
    next = (next + 1) % pool.length;
    return {
      vectors: new Float32Array(buffer, 64, rows * DIM),
      ids: new BigInt64Array(buffer, 64 + maxRows * DIM * 4, rows),
    };
  };
}

async function measureReader(
  path: string,
  maxRows: number,
  decodeThreads: number | undefined,
  mode: "fresh" | "reuse" | "pooled",
): Promise<Measurement> {
  await h5(); // the WebAssembly module is compiled at import, like `import h5py`
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  const source = await openHdf5Source(path, { decodeThreads, reuseBuffers: mode === "reuse" });
  let rows = 0;
  let checksum = 0;
  const allocate = mode === "pooled" ? pooledAllocator(maxRows) : undefined;
  for await (const batch of source.batches(maxRows, undefined, allocate)) {
    rows += batch.rows;
    checksum += (batch.vectors as Float32Array)[0] + Number(batch.ids![0] & 1n);
  }
  source.close();
  const seconds = (performance.now() - t0) / 1000;
  if (!Number.isFinite(checksum)) throw new Error("bad vectors");
  return {
    seconds,
    cpuSeconds: cpuSeconds() - cpu0,
    peakRssMb: peakRssMb(),
    rows,
    method: source.readPaths.embeddings.method,
  };
}

const H5PY_READ = `
import sys, time, h5py
def cpu():
    f = open("/proc/self/stat").read()
    f = f[f.rindex(")") + 2:].split(" ")
    return (int(f[11]) + int(f[12])) / 100
path, step = sys.argv[1], int(sys.argv[2])
c0, t0 = cpu(), time.perf_counter()
rows, checksum = 0, 0.0
with h5py.File(path, "r") as f:
    emb, ids = f["embeddings"], f["ids"]
    n = emb.shape[0]
    for s in range(0, n, step):
        v, i = emb[s:s + step], ids[s:s + step]
        rows += v.shape[0]
        checksum += float(v[0, 0]) + int(i[0] & 1)
seconds = time.perf_counter() - t0
rss = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
import json
print(json.dumps({"seconds": seconds, "cpuSeconds": cpu() - c0, "peakRssMb": int(rss) / 1024, "rows": rows}))
`;

async function run(command: string, args: string[]): Promise<Measurement> {
  const out = await new Deno.Command(command, { args, stderr: "inherit" }).output();
  if (!out.success) throw new Error(`benchmark child failed: ${command} ${args.join(" ")}`);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

function self(args: string[]): Promise<Measurement> {
  return run(Deno.execPath(), ["run", "-A", new URL(import.meta.url).pathname, "--child", ...args]);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function makeFiles(rows: number, files: Record<string, string>, contiguousOnly: boolean): Promise<void> {
  await Deno.mkdir(BENCH_DIR, { recursive: true });
  const script = `
import sys, h5py, numpy as np
rows, d = int(sys.argv[1]), int(sys.argv[2])
contiguous, gzip_auto, gzip_rows, contiguous_only = sys.argv[3:7]
x = np.random.default_rng(7).standard_normal((rows, d), dtype=np.float32)
ids = np.arange(rows, dtype=np.int64) * 3 + 1
with h5py.File(contiguous + ".tmp", "w") as f:
    f["embeddings"] = x
    f["ids"] = ids
if contiguous_only == "1":
    import os
    os.replace(contiguous + ".tmp", contiguous)
    sys.exit(0)
with h5py.File(gzip_auto + ".tmp", "w") as f:
    f.create_dataset("embeddings", data=x, compression="gzip")
    f.create_dataset("ids", data=ids, compression="gzip")
with h5py.File(gzip_rows + ".tmp", "w") as f:
    f.create_dataset("embeddings", data=x, compression="gzip", chunks=(2048, d))
    f.create_dataset("ids", data=ids, compression="gzip", chunks=(65536,))
import os
for p in (contiguous, gzip_auto, gzip_rows):
    os.replace(p + ".tmp", p)
`;
  console.log(`writing ${rows} × ${DIM} float32 HDF5 files into ${BENCH_DIR} with h5py ...`);
  const out = await new Deno.Command(PYTHON, {
    args: [
      "-c",
      script,
      String(rows),
      String(DIM),
      files.contiguous,
      files.gzipAuto,
      files.gzipRows,
      contiguousOnly ? "1" : "0",
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`h5py could not write the benchmark files (${PYTHON})`);
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function summarize(ms: Measurement[]): Measurement {
  return {
    seconds: median(ms.map((m) => m.seconds)),
    cpuSeconds: median(ms.map((m) => m.cpuSeconds)),
    peakRssMb: median(ms.map((m) => m.peakRssMb)),
    rows: ms[0].rows,
    method: ms[0].method,
  };
}

async function main(): Promise<void> {
  if (Deno.args[0] === "--child") {
    const [, kind, path, maxRows, threads] = Deno.args;
    const m = kind === "read"
      ? measureReadLoop(path)
      : kind === "fresh"
      ? measureFreshLoop(path, Number(maxRows) * DIM * 4)
      : await measureReader(
        path,
        Number(maxRows),
        threads === "auto" ? undefined : Number(threads),
        kind === "reuse" ? "reuse" : kind === "pooled" ? "pooled" : "fresh",
      );
    console.log(JSON.stringify(m));
    return;
  }
  const rows = flag("--rows", 1_000_000);
  const maxRows = flag("--max-rows", 10_000);
  const repeat = flag("--repeat", 3);
  const files = {
    contiguous: `${BENCH_DIR}/hdf5_contiguous_${rows}x${DIM}.h5`,
    gzipAuto: `${BENCH_DIR}/hdf5_gzip_auto_${rows}x${DIM}.h5`,
    gzipRows: `${BENCH_DIR}/hdf5_gzip_rows_${rows}x${DIM}.h5`,
  };
  const onlyAt = Deno.args.indexOf("--only");
  const only = onlyAt >= 0 ? Deno.args[onlyAt + 1] : null;
  const wanted = (label: string) => only === null || only === label.replace(" ", "-");
  const needed = only === "contiguous" ? [files.contiguous] : Object.values(files);
  if (!(await Promise.all(needed.map(exists))).every(Boolean)) await makeFiles(rows, files, only === "contiguous");

  const vectorMb = (rows * DIM * 4) / (1 << 20);
  console.log(
    `HDF5 parse benchmark: ${rows} × ${DIM} float32 + int64 ids, batches/slices of ${maxRows} rows, medians of ` +
      `${repeat} runs, ${navigator.hardwareConcurrency} cores; MB/s counts the ${vectorMb.toFixed(0)} MB of vectors`,
  );
  const header = ["file", "reader", "rows/s", "MB/s", "wall s", "CPU s", "peak RSS MB", "vs h5py"];
  const table: string[][] = [];
  const inputs = [["contiguous", files.contiguous], ["gzip auto", files.gzipAuto], ["gzip rows", files.gzipRows]];
  for (const [label, path] of inputs.filter(([label]) => wanted(label))) {
    const variants: [string, () => Promise<Measurement>][] = [
      ["h5py 3.x", () => run(PYTHON, ["-c", H5PY_READ, path, String(maxRows)])],
      ["milvusdm, pooled (as the pipeline)", () => self(["pooled", path, String(maxRows), "auto"])],
      ["milvusdm, fresh arrays", () => self(["parse", path, String(maxRows), "auto"])],
      ["milvusdm, reused buffers", () => self(["reuse", path, String(maxRows), "auto"])],
    ];
    if (label !== "contiguous") {
      variants.push(["milvusdm, pooled, 2 decode threads", () => self(["pooled", path, String(maxRows), "2"])]);
    } else {
      variants.push([`readSync, fresh ${maxRows}-row buffers`, () => self(["fresh", path, String(maxRows)])]);
    }
    variants.push(["4 MB readSync loop", () => self(["read", path])]);
    const results = new Map<string, Measurement[]>();
    for (let i = 0; i < repeat; i++) {
      // interleaved, so a slow moment of the machine spreads over every reader
      for (const [name, measure] of variants) results.set(name, [...(results.get(name) ?? []), await measure()]);
    }
    const h5py = summarize(results.get("h5py 3.x")!);
    for (const [name] of variants) {
      const m = summarize(results.get(name)!);
      if (m.rows && m.rows !== rows) throw new Error(`${name} read ${m.rows} rows of ${rows}`);
      table.push([
        label,
        name + (m.method ? ` (${m.method})` : ""),
        m.rows ? `${(m.rows / m.seconds / 1e6).toFixed(2)} M` : "-",
        ((name.includes("readSync") ? (await Deno.stat(path)).size / (1 << 20) : vectorMb) / m.seconds).toFixed(0),
        m.seconds.toFixed(3),
        m.cpuSeconds.toFixed(2),
        m.peakRssMb.toFixed(0),
        m.rows ? `${(h5py.seconds / m.seconds).toFixed(2)}×` : "-",
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const r of table) console.log(line(r));
}

if (import.meta.main) await main();
