/**
 * Credentials against a real server with authentication on (a second server on its own ports): user + password
 * and a token both work for control calls and for the bulk inserts; a wrong password is a clear error that never
 * shows the password.
 */
import { MilvusClient } from "@zilliz/milvus2-sdk-node";
import { assert, assertEquals } from "./assert.ts";
import { PROJECT_ROOT, randomFloats, randomIds, runCli, tempDir, writeH5WithH5py, writeYaml } from "./helpers.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };
const PORTS = {
  MILVUSDM_MILVUS_PORT: "19560",
  MILVUSDM_MILVUS_METRICS_PORT: "9111",
  MILVUSDM_MILVUS_ETCD_PORT: "2399",
  MILVUSDM_MILVUS_PORT_BASE: "19800",
  MILVUSDM_MILVUS_AUTH: "1",
};
const URI = `http://127.0.0.1:${PORTS.MILVUSDM_MILVUS_PORT}`;

async function milvus(...args: string[]): Promise<void> {
  const out = await new Deno.Command(`${PROJECT_ROOT}/scripts/milvus`, { args, env: PORTS }).output();
  if (!out.success) throw new Error(`scripts/milvus ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
}

Deno.test(
  "authentication: user+password and token work for control and inserts; a wrong password is clear",
  opts,
  async () => {
    await using dir = await tempDir();
    await writeH5WithH5py(`${dir.path}/v.h5`, {
      datasets: {
        embeddings: { data: randomFloats(3000, 8, 5), shape: [3000, 8], dtype: "float32" },
        ids: { data: randomIds(3000, 6), shape: [3000], dtype: "int64" },
      },
    });
    const yaml = (collection: string, creds: string) =>
      `H2M:\n  data_path: ['${dir.path}/v.h5']\n  dest_uri: '${URI}'\n  mode: 'overwrite'\n` +
      `  dest_collection_name: '${collection}'\n${creds}`;
    await milvus("start");
    const client = new MilvusClient({ address: URI, username: "root", password: "Milvus", logLevel: "error" });
    try {
      let res = await runCli([
        "--yaml",
        await writeYaml(
          `${dir.path}/a.yaml`,
          yaml("auth_userpw", "  dest_user: root\n  dest_password: '${AUTH_TEST_PW}'\n"),
        ),
      ], {
        env: { AUTH_TEST_PW: "Milvus" },
      });
      assertEquals(res.code, 0, res.stderr);
      res = await runCli([
        "--yaml",
        await writeYaml(`${dir.path}/b.yaml`, yaml("auth_token", "  dest_token: 'root:Milvus'\n")),
      ]);
      assertEquals(res.code, 0, res.stderr);
      for (const name of ["auth_userpw", "auth_token"]) {
        const count = await client.query({
          collection_name: name,
          output_fields: ["count(*)"],
          consistency_level: "Strong" as never,
        });
        assertEquals(Number(count.data[0]["count(*)"]), 3000, name);
      }
      // No credentials, or a wrong password: refused, clearly, without printing the password.
      res = await runCli(["--yaml", await writeYaml(`${dir.path}/c.yaml`, yaml("auth_none", ""))]);
      assertEquals(res.code, 4, res.stderr);
      res = await runCli([
        "--yaml",
        await writeYaml(
          `${dir.path}/d.yaml`,
          yaml("auth_wrong", "  dest_user: root\n  dest_password: 'Wr0ngSecret77'\n"),
        ),
      ]);
      assertEquals(res.code, 4, res.stderr);
      assert(/credentials|auth/i.test(res.stderr), res.stderr);
      assert(!res.stderr.includes("Wr0ngSecret77") && !res.stdout.includes("Wr0ngSecret77"), res.stderr);
    } finally {
      await client.closeConnection();
      await milvus("stop");
    }
  },
);
