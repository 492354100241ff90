/**
 * The bulk transport alone: the same pre-encoded 10,000-row × 128 float insert sent `--requests` times (default
 * 100, i.e. 1M rows) with `--in-flight` requests in flight, into a fresh collection of a running Milvus, measuring
 * the CPU (user + sys, all threads) of the sends only. Variants (`--variant`):
 *
 * - `static`: the framed request as a `Uint8Array` body (Deno's fetch copies it before sending);
 * - `stream`: the same bytes as a one-chunk `ReadableStream` body;
 * - `fresh`: `static` with a new request buffer per send (what the pipeline did before buffers were pooled).
 *
 * Usage: deno run -A scripts/bench_transport.ts --uri http://127.0.0.1:19530 [--variant static] [--requests 100]
 *
 * @module
 */
import { connectMilvus } from "../lib/milvus/connection.ts";
import { prepareTarget } from "../lib/milvus/sink.ts";
import { encodeInsertRequest } from "../lib/milvus/wire.ts";

function flag(name: string, fallback: string): string {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : fallback;
}

/** [user, sys] CPU seconds of this process so far, all threads. */
function cpuTimes(): [number, number] {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return [Number(fields[11]) / 100, Number(fields[12]) / 100];
}

const uri = flag("--uri", Deno.env.get("MILVUSDM_TEST_URI") ?? "http://127.0.0.1:19530");
const variant = flag("--variant", "static");
const requests = Number(flag("--requests", "100"));
const inFlight = Number(flag("--in-flight", "2"));
const rows = Number(flag("--rows", "10000"));
const dim = 128;

const conn = await connectMilvus({ uri });
const prepared = await prepareTarget(conn, {
  collection: "bench_transport",
  mode: "overwrite",
  dim,
  vectorType: "float",
  metric: "L2",
  hasIds: true,
  index: false,
});
const vectors = new Float32Array(rows * dim).map((_, i) => (i % 977) / 977);
const ids = new BigInt64Array(rows).map((_, i) => BigInt(i));
const framed = encodeInsertRequest({ ids, vectors, dim, rows }, prepared.schema);
const url = `${uri}/milvus.proto.milvus.MilvusService/Insert`;
const client = Deno.createHttpClient({ http1: false, http2: true });
const headers = { "content-type": "application/grpc", "te": "trailers", "grpc-timeout": "600S" };

async function send(): Promise<void> {
  let body: BodyInit;
  if (variant === "stream") {
    body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(framed);
        controller.close();
      },
    });
  } else if (variant === "fresh") {
    body = framed.slice();
  } else {
    body = framed;
  }
  const response = await fetch(url, { method: "POST", headers, body, client });
  const reply = new Uint8Array(await response.arrayBuffer());
  if (response.headers.get("grpc-status") && response.headers.get("grpc-status") !== "0") {
    throw new Error(`grpc-status ${response.headers.get("grpc-status")} ${response.headers.get("grpc-message")}`);
  }
  if (reply.length < 5) throw new Error("empty reply");
}

const c0 = cpuTimes();
const t0 = performance.now();
const pending = new Set<Promise<void>>();
for (let i = 0; i < requests; i++) {
  const p: Promise<void> = send().finally(() => pending.delete(p));
  pending.add(p);
  while (pending.size >= inFlight) await Promise.race(pending);
}
await Promise.all(pending);
const seconds = (performance.now() - t0) / 1000;
const c1 = cpuTimes();
const user = c1[0] - c0[0];
const sys = c1[1] - c0[1];
client.close();
await conn.close();
console.log(
  `${variant}: ${requests} × ${rows} rows, ${inFlight} in flight: ${seconds.toFixed(1)} s, ` +
    `${(requests * rows / seconds).toFixed(0)} rows/s, ${(user + sys).toFixed(2)} CPU s (user ${user.toFixed(2)}, sys ${
      sys.toFixed(2)
    }); load ${Deno.loadavg().map((l) => l.toFixed(2)).join(" ")}`,
);
