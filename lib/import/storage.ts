/**
 * Where bulk-import files go so that the Milvus server can read them: a folder on this host that a local
 * standalone server reads by absolute path, or the S3-compatible bucket the server uses as its object storage.
 *
 * Files are always written to a local staging folder first (streamed, bounded memory); the S3 storage then
 * uploads each file (multipart above 8 MiB) and removes the local copy.
 *
 * @module
 */
import { MilvusdmError } from "../errors.ts";
import { milvusdmHome } from "../journal.ts";

/** A folder on this host that the (local, standalone) server reads by absolute path. */
export interface LocalImportStorage {
  type: "local";
  /** Folder the files are written to (default `$MILVUSDM_PATH/imports`, `~/milvusdm/imports`). */
  dir?: string;
  /**
   * The same folder as the server sees it, when that differs (a container's mount point); default: `dir`, made
   * absolute.
   */
  serverDir?: string;
}

/** The S3-compatible bucket the Milvus server uses as its object storage (MinIO, S3, ...). */
export interface S3ImportStorage {
  type: "s3";
  /** Endpoint URL (`http://minio:9000`); default: AWS for the region. */
  endpoint?: string;
  /** The server's bucket (`minio.bucketName` in milvus.yaml). */
  bucket: string;
  /** Key prefix the import files are written under (default `milvusdm-imports`). */
  prefix?: string;
  /** Region (default `AWS_REGION`, else `us-east-1`). */
  region?: string;
  /** Access key (default `AWS_ACCESS_KEY_ID`). */
  accessKeyId?: string;
  /** Secret key (default `AWS_SECRET_ACCESS_KEY`). */
  secretAccessKey?: string;
  /** Session token (default `AWS_SESSION_TOKEN`). */
  sessionToken?: string;
  /** Path-style addressing (default true: what MinIO and most S3-compatible servers expect). */
  forcePathStyle?: boolean;
  /** Local folder the files are staged in before upload (default `$MILVUSDM_PATH/imports`). */
  stagingDir?: string;
}

/** Either storage. */
export type ImportStorageConfig = LocalImportStorage | S3ImportStorage;

/** An open storage: files are staged locally, then published where the server reads them. */
export interface ImportStorage {
  /** `local` or `s3`, for messages. */
  readonly kind: "local" | "s3";
  /** Where files go, for messages (no credentials). */
  readonly where: string;
  /** The local folder a file set of `name` is written to (created). */
  stage(name: string): Promise<string>;
  /** Publishes a staged file set; returns the paths to pass to the server's import, in the given order. */
  publish(name: string, localDir: string, files: string[]): Promise<string[]>;
  /** Removes a published file set (and its staging folder). */
  remove(name: string, localDir: string, files: string[]): Promise<void>;
  /** Removes the folder every set of a run lives under, when empty. */
  finish(run: string): Promise<void>;
}

/** Opens the storage a configuration describes (the default: a local folder). */
export async function openImportStorage(config: ImportStorageConfig | undefined): Promise<ImportStorage> {
  const c = config ?? { type: "local" };
  if (c.type === "local") {
    const storage = localStorage(c);
    await makeDir(storage.dir);
    return storage;
  }
  if (c.type === "s3") return await s3Storage(c);
  throw new MilvusdmError(
    "CONFIG_INVALID",
    `import_storage.type: expected local or s3, got ${JSON.stringify((c as { type: unknown }).type)}`,
  );
}

function absolute(path: string): string {
  if (path.startsWith("/") || /^[A-Za-z]:[\\/]/.test(path)) return path;
  return `${Deno.cwd()}/${path}`.replace(/\/\.\//g, "/");
}

async function makeDir(path: string): Promise<void> {
  try {
    await Deno.mkdir(path, { recursive: true });
  } catch (error) {
    throw new MilvusdmError("OUTPUT_ERROR", `Cannot create the import folder "${path}": ${String(error)}`, {
      cause: error,
      hint: "Set import_storage.dir to a folder you can write and the Milvus server can read",
    });
  }
}

/** The staging folder of a file set, created. */
async function stageIn(root: string, name: string): Promise<string> {
  await makeDir(`${root}/${name}`);
  return `${root}/${name}`;
}

async function removeQuietly(path: string, recursive = false): Promise<void> {
  try {
    await Deno.remove(path, { recursive });
  } catch {
    // Already gone, or not empty: nothing to do.
  }
}

function localStorage(config: LocalImportStorage): ImportStorage & { dir: string } {
  const dir = absolute((config.dir ?? `${milvusdmHome()}/imports`).replace(/\/+$/, ""));
  const serverDir = (config.serverDir ?? dir).replace(/\/+$/, "");
  return {
    dir,
    kind: "local",
    where: config.serverDir ? `${dir} (the server reads it as ${serverDir})` : dir,
    stage: (name) => stageIn(dir, name),
    publish(name, _localDir, files) {
      return Promise.resolve(files.map((f) => `${serverDir}/${name}/${f}`));
    },
    async remove(_name, localDir) {
      await removeQuietly(localDir, true);
    },
    async finish(run) {
      await removeQuietly(`${dir}/${run}`);
    },
  };
}

/** Parts above this size are uploaded as a multipart upload, in parts of this size. */
const PART_BYTES = 8 * 1024 * 1024;

async function s3Storage(config: S3ImportStorage): Promise<ImportStorage> {
  const env = (name: string) => {
    try {
      return Deno.env.get(name);
    } catch {
      return undefined;
    }
  };
  if (!config.bucket) {
    throw new MilvusdmError("CONFIG_INVALID", "import_storage.bucket: expected the bucket the Milvus server uses", {
      hint: "Set it to minio.bucketName of the server's milvus.yaml",
    });
  }
  const accessKeyId = config.accessKeyId ?? env("AWS_ACCESS_KEY_ID");
  const secretAccessKey = config.secretAccessKey ?? env("AWS_SECRET_ACCESS_KEY");
  if (!accessKeyId || !secretAccessKey) {
    throw new MilvusdmError("CONFIG_INVALID", "import_storage: no S3 credentials", {
      hint: "Set import_storage.access_key_id and secret_access_key (e.g. from ${ENV} variables), or the standard " +
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY variables",
    });
  }
  // Loaded only when S3 is used: the SDK is large and most runs never need it.
  const { S3Client, DeleteObjectsCommand, HeadBucketCommand } = await import("@aws-sdk/client-s3");
  const { Upload } = await import("@aws-sdk/lib-storage");
  const client = new S3Client({
    endpoint: config.endpoint,
    region: config.region ?? env("AWS_REGION") ?? env("AWS_DEFAULT_REGION") ?? "us-east-1",
    forcePathStyle: config.forcePathStyle ?? true,
    credentials: { accessKeyId, secretAccessKey, sessionToken: config.sessionToken ?? env("AWS_SESSION_TOKEN") },
  });
  const bucket = config.bucket;
  const prefix = (config.prefix ?? "milvusdm-imports").replace(/^\/+|\/+$/g, "");
  const staging = absolute((config.stagingDir ?? `${milvusdmHome()}/imports`).replace(/\/+$/, ""));
  const where = `s3://${bucket}/${prefix}${config.endpoint ? ` at ${config.endpoint}` : ""}`;
  const failure = (what: string, error: unknown) =>
    new MilvusdmError("IMPORT_STORAGE_ERROR", `S3 ${what} failed (${where}): ${s3Message(error)}`, {
      cause: error,
      hint: "Check import_storage (endpoint, bucket, credentials) and that the bucket is the one the server uses",
    });
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch (error) {
    throw failure(`bucket "${bucket}" check`, error);
  }
  const keyOf = (name: string, file: string) => `${prefix ? `${prefix}/` : ""}${name}/${file}`;
  return {
    kind: "s3",
    where,
    stage: (name) => stageIn(staging, name),
    async publish(name, localDir, files) {
      const keys: string[] = [];
      for (const file of files) {
        const key = keyOf(name, file);
        const handle = await Deno.open(`${localDir}/${file}`, { read: true });
        try {
          const upload = new Upload({
            client,
            params: { Bucket: bucket, Key: key, Body: handle.readable },
            partSize: PART_BYTES,
            queueSize: 2,
          });
          await upload.done();
        } catch (error) {
          throw failure(`upload of ${key}`, error);
        } finally {
          try {
            handle.close();
          } catch {
            // The readable stream closed it.
          }
        }
        keys.push(key);
      }
      await removeQuietly(localDir, true);
      return keys;
    },
    async remove(name, localDir, files) {
      await removeQuietly(localDir, true);
      try {
        await client.send(
          new DeleteObjectsCommand({
            Bucket: bucket,
            Delete: { Objects: files.map((f) => ({ Key: keyOf(name, f) })) },
          }),
        );
      } catch (error) {
        throw failure(`removal of ${keyOf(name, "")}`, error);
      }
    },
    async finish(run) {
      await removeQuietly(`${staging}/${run}`);
    },
  };
}

function s3Message(error: unknown): string {
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  const text = e?.message && e.message !== "UnknownError" ? e.message : e?.name ?? String(error);
  return `${text}${status ? ` (HTTP ${status})` : ""}`.slice(0, 300);
}
