/**
 * Bulk import through S3: a Milvus 2.3.5 whose object storage is an S3-compatible server (moto, started by
 * scripts/s3), both on their own ports. milvusdm uploads the NumPy file sets to the server's bucket (multipart for
 * the large ones), the server imports them, the rows are read back exactly by id, and the uploads are removed.
 * The secret key comes from the environment and is never printed.
 */
import { MilvusClient } from "@zilliz/milvus2-sdk-node";
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { hdf5ToMilvus, MilvusdmError } from "../mod.ts";
import { diffRows, PROJECT_ROOT, randomFloats, runCli, tempDir, writeH5WithH5py, writeYaml } from "./helpers.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };
const S3_PORT = Deno.env.get("MILVUSDM_S3_PORT") ?? "19950";
const ENDPOINT = `http://127.0.0.1:${S3_PORT}`;
const BUCKET = "milvusdm-s3-test";
const ACCESS_KEY = "milvusdm-s3-user";
const SECRET_KEY = "s3-secret-never-printed-7f3a";
const PORTS = {
  MILVUSDM_MILVUS_PORT: "19510",
  MILVUSDM_MILVUS_METRICS_PORT: "9141",
  MILVUSDM_MILVUS_ETCD_PORT: "2429",
  MILVUSDM_MILVUS_PORT_BASE: "20100",
  MILVUSDM_MILVUS_EXTRA: [
    "common.storageType=minio",
    "minio.address=127.0.0.1",
    `minio.port=${S3_PORT}`,
    `minio.bucketName=${BUCKET}`,
    "minio.rootPath=milvus",
    `minio.accessKeyID=${ACCESS_KEY}`,
    `minio.secretAccessKey=${SECRET_KEY}`,
    "minio.useSSL=false",
  ].join(" "),
};
const URI = `http://127.0.0.1:${PORTS.MILVUSDM_MILVUS_PORT}`;

async function script(name: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const out = await new Deno.Command(`${PROJECT_ROOT}/scripts/${name}`, { args, env }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`scripts/${name} ${args.join(" ")} failed: ${text}`);
  return text;
}

Deno.test(
  "bulk import into an S3-backed Milvus: uploaded, imported, read back exactly, uploads removed",
  opts,
  async () => {
    await using dir = await tempDir();
    const rows = 30_000, dim = 128;
    const vectors = randomFloats(rows, dim, 77);
    const ids = BigInt64Array.from({ length: rows }, (_, i) => BigInt(i) * 13n - 1_000_000n);
    await writeH5WithH5py(`${dir.path}/v.h5`, {
      datasets: {
        embeddings: { data: vectors, shape: [rows, dim], dtype: "float32" },
        ids: { data: ids, shape: [rows], dtype: "int64" },
      },
    });
    const s3Running = (await new Deno.Command(`${PROJECT_ROOT}/scripts/s3`, {
      args: ["status"],
      env: { MILVUSDM_S3_PORT: S3_PORT },
    }).output()).success;
    if (!s3Running) await script("s3", ["start"], { MILVUSDM_S3_PORT: S3_PORT });
    let client: MilvusClient | null = null;
    try {
      await script("milvus", ["start"], PORTS);
      client = new MilvusClient({ address: URI, logLevel: "error" });
      const s3 = new S3Client({
        endpoint: ENDPOINT,
        region: "us-east-1",
        forcePathStyle: true,
        credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
      });
      const storage = {
        type: "s3" as const,
        endpoint: ENDPOINT,
        bucket: BUCKET,
        prefix: "imports/test",
        accessKeyId: ACCESS_KEY,
        secretAccessKey: SECRET_KEY,
        stagingDir: `${dir.path}/staging`,
      };
      // Library call: two file sets, of 10.4 MB (over the 8 MiB part size: a multipart upload) and 5.2 MB.
      const summary = await hdf5ToMilvus({
        files: [`${dir.path}/v.h5`],
        target: { uri: URI },
        collection: "s3_import",
        mode: "overwrite",
        writePath: "import",
        import: { storage, fileBytes: 20_000 * (dim * 4 + 8) },
        journalDir: `${dir.path}/journals`,
      });
      assertEquals(summary.targets[0].writePath?.path, "import");
      assertEquals(summary.targets[0].rowCount, rows);
      const stored = new Map<bigint, Float32Array>();
      let last: bigint | null = null;
      for (;;) {
        const res = await client.query({
          collection_name: "s3_import",
          expr: last === null ? "id > -9223372036854775807" : `id > ${last}`,
          output_fields: ["id", "embedding"],
          consistency_level: "Strong" as never,
          limit: 16384,
        });
        assertEquals(res.status.error_code, "Success", res.status.reason);
        if (res.data.length === 0) break;
        for (const r of res.data) stored.set(BigInt(r.id as string), Float32Array.from(r.embedding as number[]));
        last = res.data.reduce((m, r) => (BigInt(r.id as string) > m ? BigInt(r.id as string) : m), -(2n ** 63n));
      }
      assertEquals(stored.size, rows, "rows read back");
      assertEquals(diffRows(stored, ids, vectors, dim), []);
      const left = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "imports/" }));
      assertEquals(left.Contents ?? [], [], "uploads left in the bucket");

      // The CLI, with the secret from the environment: an append of the same rows by auto (threshold 1 byte).
      const yaml = await writeYaml(
        `${dir.path}/H2M.yaml`,
        `H2M:
  data_path: ['${dir.path}/v.h5']
  dest_uri: ${URI}
  dest_collection_name: s3_import_cli
  mode: overwrite
  import_threshold_bytes: 1
  import_storage:
    type: s3
    endpoint: ${ENDPOINT}
    bucket: ${BUCKET}
    access_key_id: ${ACCESS_KEY}
    secret_access_key: \${TEST_S3_SECRET}
    staging_dir: '${dir.path}/staging'
`,
      );
      const run = await runCli(["run", yaml], {
        env: { TEST_S3_SECRET: SECRET_KEY, MILVUSDM_PATH: `${dir.path}/home` },
      });
      assertEquals(run.code, 0, run.stderr);
      assert(/Writing by import: .*probe file from the bucket/.test(run.stderr), run.stderr);
      assert(!(run.stdout + run.stderr).includes(SECRET_KEY), "the secret key was printed");
      const logs = [];
      for await (const e of Deno.readDir(`${dir.path}/home/logs`)) {
        logs.push(
          await Deno.readTextFile(`${dir.path}/home/logs/${e.name}`),
        );
      }
      assert(logs.length > 0 && !logs.join("").includes(SECRET_KEY), "the secret key is in the log file");
      const count = await client.query({
        collection_name: "s3_import_cli",
        output_fields: ["count(*)"],
        consistency_level: "Strong" as never,
      });
      assertEquals(Number(count.data[0]["count(*)"]), rows);
      const leftByCli = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "milvusdm-imports/" }));
      assertEquals(leftByCli.Contents ?? [], [], "uploads (or probe files) left in the bucket by the CLI run");

      // A bucket the credentials cannot see: a clear error before anything is written.
      const error = await assertRejects(
        () =>
          hdf5ToMilvus({
            files: [`${dir.path}/v.h5`],
            target: { uri: URI },
            collection: "s3_import_wrong",
            mode: "overwrite",
            writePath: "import",
            import: { storage: { ...storage, bucket: "no-such-bucket" } },
            journalDir: false,
          }),
        MilvusdmError,
      );
      assertEquals(error.code, "IMPORT_STORAGE_ERROR");
      assert(/no-such-bucket/.test(error.message) && !error.message.includes(SECRET_KEY), error.message);
    } finally {
      await client?.closeConnection().catch(() => {});
      await script("milvus", ["stop"], PORTS).catch((e) => console.error(e));
      if (!s3Running) await script("s3", ["stop"], { MILVUSDM_S3_PORT: S3_PORT }).catch((e) => console.error(e));
    }
  },
);
