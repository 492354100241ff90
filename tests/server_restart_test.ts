/**
 * The Milvus server stopped and started again in the middle of an H2M migration (a second server on its own ports,
 * so other tests are not disturbed): the run either completes after the restart or stops cleanly and completes on
 * resume; nothing is lost or doubled.
 */
import { MilvusClient } from "@zilliz/milvus2-sdk-node";
import { assert, assertEquals } from "./assert.ts";
import { PROJECT_ROOT, randomFloats, runRunner, spawnRunner, tempDir, writeH5WithH5py } from "./helpers.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };
const PORTS = {
  MILVUSDM_MILVUS_PORT: Deno.env.get("MILVUSDM_RESTART_PORT") ?? "19540",
  MILVUSDM_MILVUS_METRICS_PORT: "9101",
  MILVUSDM_MILVUS_ETCD_PORT: "2389",
  MILVUSDM_MILVUS_PORT_BASE: "19700",
};
const URI = `http://127.0.0.1:${PORTS.MILVUSDM_MILVUS_PORT}`;

async function milvus(...args: string[]): Promise<void> {
  const out = await new Deno.Command(`${PROJECT_ROOT}/scripts/milvus`, { args, env: PORTS }).output();
  if (!out.success) throw new Error(`scripts/milvus ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
}

Deno.test(
  "Milvus restarted mid-migration: the run completes (after retries or on resume), exact rows",
  opts,
  async () => {
    await using dir = await tempDir();
    const rows = 200_000, dim = 32;
    const vectors = randomFloats(rows, dim, 12);
    const ids = BigInt64Array.from({ length: rows }, (_, i) => BigInt(i) * 5n + 3n);
    await writeH5WithH5py(`${dir.path}/v.h5`, {
      datasets: {
        embeddings: { data: vectors, shape: [rows, dim], dtype: "float32" },
        ids: { data: ids, shape: [rows], dtype: "int64" },
      },
    });
    const spec = `${dir.path}/spec.json`;
    await Deno.writeTextFile(
      spec,
      JSON.stringify({
        job: "H2M",
        options: {
          files: [`${dir.path}/v.h5`],
          target: { uri: URI },
          collection: "restart_test",
          mode: "overwrite",
          batchBytes: dim * 4 * 1000,
          inFlight: 1,
        },
      }),
    );
    const env = { MILVUSDM_PATH: `${dir.path}/home`, NO_COLOR: "1" };
    await milvus("start");
    let client: MilvusClient | null = null;
    try {
      const child = spawnRunner(spec, env);
      const stderrText = new Response(child.stderr).text();
      let restarted = false;
      let buffer = "";
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        buffer += chunk;
        const lines = buffer.split("\n");
        buffer = lines.pop()!;
        const last = Number(lines[lines.length - 1]);
        if (!restarted && Number.isFinite(last) && last >= 60_000) {
          restarted = true;
          await milvus("stop");
          await milvus("start", "--keep-data");
        }
      }
      const status = await child.status;
      const stderr = await stderrText;
      assert(restarted, `the run ended before the restart point: ${stderr}`);
      let outcome = "completed after the restart";
      if (!status.success) {
        // Never a silent loss: a typed error that names what happened.
        assert(
          /MILVUS_UNREACHABLE|Lost the connection|Cannot reach|TARGET_COUNT_MISMATCH/.test(stderr),
          `exit ${status.code} signal ${status.signal}: ${stderr}`,
        );
        outcome = `stopped with: ${stderr.split("\n")[0].slice(0, 200)}`;
        // Resume first; if the server lost acknowledged rows (seen with the embedded 2.3.5 after a restart), the
        // count check fails again and the remedy is to start over with mode overwrite.
        const resumed = await runRunner(spec, env);
        if (resumed.success) outcome += "; completed on resume";
        else {
          const text = resumed.stderr;
          assert(/TARGET_COUNT_MISMATCH|MILVUS_UNREACHABLE/.test(text), text);
          const over = JSON.parse(await Deno.readTextFile(spec));
          over.options.resume = false;
          await Deno.writeTextFile(`${dir.path}/over.json`, JSON.stringify({ ...over, restart: true }));
          const again = await runRunner(`${dir.path}/over.json`, env, ["--no-resume"]);
          assert(again.success, again.stderr);
          outcome += "; resume refused by the count check; completed with mode overwrite";
        }
      }
      console.log(outcome);
      client = new MilvusClient({ address: URI, logLevel: "error" });
      const count = await client.query({
        collection_name: "restart_test",
        output_fields: ["count(*)"],
        consistency_level: "Strong" as never,
      });
      assertEquals(Number(count.data[0]["count(*)"]), rows);
      // Every id once.
      const seen = new Set<bigint>();
      let last = -1n;
      while (true) {
        const page = await client.query({
          collection_name: "restart_test",
          expr: `id > ${last}`,
          output_fields: ["id"],
          consistency_level: "Strong" as never,
          limit: 16384,
        });
        if (page.data.length === 0) break;
        for (const r of page.data) seen.add(BigInt(r.id as string));
        last = page.data.map((r) => BigInt(r.id as string)).reduce((a, b) => (a > b ? a : b));
      }
      assertEquals(seen.size, rows);
      assert(Array.from(ids).every((id) => seen.has(id)), "an id is missing");
    } finally {
      await client?.closeConnection();
      await milvus("stop");
    }
  },
);
