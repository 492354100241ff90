/**
 * One H2M or F2M load through the library (mod.ts), reporting the process's CPU (user + sys, all threads) before
 * and during the job, the job's wall time, rows/s and peak RSS: for comparing changes of the load path (journal on
 * or off, batch size, requests in flight) without the CLI. Collection `bench_load`, mode overwrite, no index.
 *
 * `--phases` runs the steps one by one instead (open, connect, prepare, load, flush + count; no journal) and
 * reports the CPU of each.
 *
 * Usage: deno run -A scripts/bench_load.ts --job h2m|f2m --file PATH [--uri http://127.0.0.1:19530]
 *        [--journal on|off] [--in-flight 2] [--batch-bytes 4194304] [--phases]
 *
 * @module
 */
import { faissToMilvus, hdf5ToMilvus } from "../mod.ts";
import { openFaissSource } from "../lib/faiss/mod.ts";
import { openHdf5Source } from "../lib/hdf5/reader.ts";
import { connectMilvus } from "../lib/milvus/connection.ts";
import { prepareTarget, verifyCount } from "../lib/milvus/sink.ts";
import { loadUnits } from "../lib/pipeline.ts";

function flag(name: string, fallback: string): string {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : fallback;
}

function cpuSeconds(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function peakRssMb(): number {
  const match = Deno.readTextFileSync("/proc/self/status").match(/VmHWM:\s+(\d+) kB/);
  return match ? Number(match[1]) / 1024 : NaN;
}

const job = flag("--job", "h2m");
const file = flag("--file", ".work/bench/h2m_1000000x128.h5");
const uri = flag("--uri", Deno.env.get("MILVUSDM_TEST_URI") ?? "http://127.0.0.1:19530");
const journal = flag("--journal", "on") === "on";
const common = {
  target: { uri },
  collection: "bench_load",
  mode: "overwrite" as const,
  index: false as const,
  inFlight: Number(flag("--in-flight", "2")),
  batchBytes: Number(flag("--batch-bytes", String(4 << 20))),
  ...(journal ? {} : { journalDir: false as const }),
};
if (Deno.args.includes("--phases")) {
  const marks: [string, number][] = [["start", cpuSeconds()]];
  const mark = (name: string) => marks.push([name, cpuSeconds()]);
  const t0 = performance.now();
  const source = job === "f2m" ? await openFaissSource(file) : await openHdf5Source(file);
  mark("open source");
  const conn = await connectMilvus({ uri });
  mark("connect (SDK client)");
  const prepared = await prepareTarget(conn, {
    collection: "bench_load",
    mode: "overwrite",
    dim: source.info.dim,
    vectorType: source.info.vectorType,
    metric: source.info.metric ?? "L2",
    hasIds: source.info.hasIds,
    index: false,
  });
  mark("prepare (drop, create)");
  const tLoad = performance.now();
  const result = await loadUnits(conn, prepared, [{ name: file, source }], {
    inFlight: common.inFlight,
    batchBytes: common.batchBytes,
  });
  const loadSeconds = (performance.now() - tLoad) / 1000;
  mark("load (read, encode, send)");
  await verifyCount(conn, prepared, result.rowsSent, { index: false });
  mark("flush + count (new SDK client)");
  await conn.close();
  await source.close();
  mark("close");
  const seconds = (performance.now() - t0) / 1000;
  for (let i = 1; i < marks.length; i++) {
    console.log(`${marks[i][0].padEnd(32)} ${(marks[i][1] - marks[i - 1][1]).toFixed(2)} CPU s`);
  }
  console.log(
    `${job} phases: ${result.rowsSent} rows, load ${loadSeconds.toFixed(1)} s (${
      (result.rowsSent / loadSeconds).toFixed(0)
    } rows/s), all ${seconds.toFixed(1)} s; CPU ${marks[0][1].toFixed(2)} s before + ${
      (marks[marks.length - 1][1] - marks[0][1]).toFixed(2)
    } s; peak RSS ${peakRssMb().toFixed(0)} MB; load ${Deno.loadavg().map((l) => l.toFixed(2)).join(" ")}`,
  );
  Deno.exit(0);
}
const c0 = cpuSeconds();
const t0 = performance.now();
const summary = job === "f2m"
  ? await faissToMilvus({ ...common, file })
  : await hdf5ToMilvus({ ...common, files: [file] });
const seconds = (performance.now() - t0) / 1000;
const c1 = cpuSeconds();
console.log(
  `${job} ${file} journal ${journal ? "on" : "off"}: ${summary.rows} rows, ${seconds.toFixed(1)} s, ` +
    `${(summary.rows / seconds).toFixed(0)} rows/s; CPU ${c0.toFixed(2)} s before the job + ${(c1 - c0).toFixed(2)} ` +
    `s in it = ${c1.toFixed(2)} s; peak RSS ${peakRssMb().toFixed(0)} MB; load ${
      Deno.loadavg().map((l) => l.toFixed(2)).join(" ")
    }`,
);
