/**
 * TLS against a real server serving one-way TLS with a certificate from a private CA (generated with openssl, a
 * second server on its own ports): the control calls and the bulk inserts both verify the server with the CA
 * given as dest_ca_cert; without it the connection is refused with a clear error.
 */
import { assert, assertEquals } from "./assert.ts";
import { PROJECT_ROOT, randomFloats, randomIds, runCli, tempDir, writeH5WithH5py, writeYaml } from "./helpers.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };

async function sh(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<void> {
  const out = await new Deno.Command(cmd, { args, cwd, env }).output();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

Deno.test(
  "TLS: https:// with a private CA works for control and inserts; without the CA a clear error",
  opts,
  async () => {
    await using dir = await tempDir();
    const tls = `${dir.path}/tls`;
    await Deno.mkdir(tls);
    await sh("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "2",
      "-subj",
      "/CN=milvusdm-test-ca",
    ], tls);
    await sh("openssl", [
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "server.key",
      "-out",
      "server.csr",
      "-subj",
      "/CN=localhost",
    ], tls);
    await Deno.writeTextFile(`${tls}/ext.cnf`, "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    await sh("openssl", [
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.pem",
      "-days",
      "2",
      "-extfile",
      "ext.cnf",
    ], tls);
    const env = {
      MILVUSDM_MILVUS_PORT: "19570",
      MILVUSDM_MILVUS_METRICS_PORT: "9121",
      MILVUSDM_MILVUS_ETCD_PORT: "2409",
      MILVUSDM_MILVUS_PORT_BASE: "19900",
      MILVUSDM_MILVUS_TLS_DIR: tls,
    };
    await writeH5WithH5py(`${dir.path}/v.h5`, {
      datasets: {
        embeddings: { data: randomFloats(2000, 8, 9), shape: [2000, 8], dtype: "float32" },
        ids: { data: randomIds(2000, 10), shape: [2000], dtype: "int64" },
      },
    });
    const yaml = (ca: boolean) =>
      `H2M:\n  data_path: ['${dir.path}/v.h5']\n  dest_uri: 'https://localhost:19570'\n` +
      (ca ? `  dest_ca_cert: '${tls}/ca.pem'\n` : "") + `  mode: 'overwrite'\n  dest_collection_name: 'tls_test'\n`;
    await sh(`${PROJECT_ROOT}/scripts/milvus`, ["start"], PROJECT_ROOT, env);
    try {
      let res = await runCli(["--yaml", await writeYaml(`${dir.path}/ok.yaml`, yaml(true)), "--json"]);
      assertEquals(res.code, 0, res.stderr);
      const summary = res.stdout.trim().split("\n").map((l) => JSON.parse(l)).find((e) => e.event === "summary");
      assertEquals(summary.targets[0].rowCount, 2000);
      res = await runCli(["--yaml", await writeYaml(`${dir.path}/noca.yaml`, yaml(false))]);
      assertEquals(res.code, 4, res.stderr);
      assert(res.stderr.includes("error [MILVUS_UNREACHABLE]") && res.stderr.includes("localhost:19570"), res.stderr);
    } finally {
      await sh(`${PROJECT_ROOT}/scripts/milvus`, ["stop"], PROJECT_ROOT, env);
    }
  },
);
