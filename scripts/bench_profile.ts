/**
 * CPU profile of one milvusdm command, in-process, with V8's sampling profiler (node:inspector): the module
 * loading and the run are profiled together, and the profile is summarised by function (self time), by phase of the
 * code (startup, reading, encoding, transport, SDK, GC) and written as a `.cpuprofile` (Chrome DevTools format).
 *
 * Usage: deno run -A scripts/bench_profile.ts [--out FILE.cpuprofile] [--top 30] [--interval-us 200] -- <cli args>
 * e.g.   deno run -A scripts/bench_profile.ts -- --yaml .work/bench/h2m.yaml -q
 *
 * @module
 */
import { Session } from "node:inspector";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function flag(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
}

/** A short label for where a frame's code lives. */
function area(url: string, fn: string): string {
  if (fn === "(garbage collector)") return "GC";
  if (fn === "(program)" || fn === "(idle)" || fn === "(root)") return fn;
  if (url.includes("milvus2-sdk-node") || url.includes("grpc-js") || url.includes("protobufjs")) return "SDK/grpc";
  if (url.includes("h5wasm")) return "h5wasm";
  if (url.includes("/lib/hdf5/")) return "lib/hdf5";
  if (url.includes("/lib/faiss/")) return "lib/faiss";
  if (url.includes("/lib/milvus1/")) return "lib/milvus1";
  if (url.includes("/lib/milvus/wire")) return "wire (encode)";
  if (url.includes("/lib/milvus/transport")) return "transport";
  if (url.includes("/lib/")) return "lib/other";
  if (url.includes("/cli/")) return "cli";
  if (url.startsWith("ext:") || url.startsWith("node:")) return `deno runtime (${url.split("/")[0]})`;
  if (url === "") return "native/builtin";
  return "other";
}

async function main(): Promise<void> {
  const dash = Deno.args.indexOf("--");
  const own = dash >= 0 ? Deno.args.slice(0, dash) : [];
  const cliArgs = dash >= 0 ? Deno.args.slice(dash + 1) : Deno.args;
  const out = flag(own, "--out", ".work/profile.cpuprofile");
  const top = Number(flag(own, "--top", "30"));
  const interval = Number(flag(own, "--interval-us", "200"));

  const session = new Session();
  session.connect();
  const post = <T>(method: string, params: object = {}) =>
    new Promise<T>((resolve, reject) =>
      session.post(method, params, (error: unknown, result: unknown) => error ? reject(error) : resolve(result as T))
    );
  await post("Profiler.enable");
  await post("Profiler.setSamplingInterval", { interval });
  await post("Profiler.start");
  const t0 = performance.now();
  const cli = await import("../cli/main.ts");
  const tImported = performance.now();
  const code = await cli.main(cliArgs);
  const t1 = performance.now();
  const { profile } = await post<{ profile: Profile }>("Profiler.stop");
  session.disconnect();
  await Deno.writeTextFile(out, JSON.stringify(profile));

  // Self time per node from samples × deltas.
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
  }
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    const short = url.replace(/^.*\/(node_modules|registry\.npmjs\.org|npm)\//, "npm:").replace(
      /^file:\/\/.*\/perf\//,
      "",
    );
    const key = `${functionName || "(anonymous)"}  ${short}:${lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    const a = area(url, functionName);
    byArea.set(a, (byArea.get(a) ?? 0) + us);
    if (functionName !== "(idle)") total += us;
  }
  const ms = (us: number) => (us / 1000).toFixed(0).padStart(6);
  console.error(
    `\nexit ${code}; import ${(tImported - t0).toFixed(0)} ms, run ${(t1 - tImported).toFixed(0)} ms; ` +
      `sampled busy time ${ms(total)} ms (main thread only); profile in ${out}`,
  );
  console.error("\nby area (self ms):");
  for (const [a, us] of [...byArea].sort((x, y) => y[1] - x[1])) console.error(`${ms(us)}  ${a}`);
  console.error(`\ntop ${top} functions (self ms):`);
  for (const [k, us] of [...byFunction].sort((x, y) => y[1] - x[1]).slice(0, top)) console.error(`${ms(us)}  ${k}`);
}

if (import.meta.main) await main();
