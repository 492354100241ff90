/**
 * Turning a parsed YAML task into a job call. The CLI and library users who keep YAML files share this.
 *
 * @module
 */
import { KeyReader, readDestination, type TaskConfig } from "./config.ts";
import { MilvusdmError } from "./errors.ts";
import type { MigrationSummary } from "./jobs/common.ts";
import { hdf5ToMilvus, type Hdf5ToMilvusOptions } from "./jobs/h2m.ts";
import type { LoadOptions } from "./pipeline.ts";
import type { Mode } from "./milvus/sink.ts";
import type { MysqlParameters } from "./milvus1/mod.ts";
import type { CollectionSelection } from "./jobs/milvus1_select.ts";
import { faissToMilvus, type FaissToMilvusOptions } from "./jobs/f2m.ts";
import { milvusToMilvus, type MilvusToMilvusOptions } from "./jobs/m2m.ts";
import { type ExportSummary, milvusToHdf5, type MilvusToHdf5Options } from "./jobs/m2h.ts";

/** Settings given beside the YAML (command-line flags win over YAML keys). */
export interface TaskOverrides {
  mode?: Mode;
  batchBytes?: number;
  inFlight?: number;
  destUri?: string;
  dryRun?: boolean;
}

/** Callbacks and the abort signal of a run. */
export interface TaskHooks extends Pick<LoadOptions, "onProgress" | "onWarning" | "signal"> {
  onLog?: (message: string) => void;
}

/** The H2M options a YAML body describes. */
export function h2mOptionsFromYaml(body: KeyReader, overrides: TaskOverrides = {}): Hdf5ToMilvusOptions {
  const dest = readDestination(body);
  const files = body.stringList("data_path");
  const dataDir = body.string("data_dir");
  if (!dest.collection) {
    throw new MilvusdmError("CONFIG_INVALID", `${body.path}.dest_collection_name: is missing (expected a name)`);
  }
  return {
    files,
    dataDir,
    embeddingsDataset: body.string("embeddings_dataset"),
    idsDataset: body.string("ids_dataset"),
    target: overrides.destUri ? { ...dest.target, uri: overrides.destUri } : dest.target,
    collection: dest.collection,
    partition: dest.partition,
    mode: overrides.mode ?? dest.mode,
    dimension: dest.dimension,
    metric: dest.metric,
    index: dest.index,
    batchBytes: overrides.batchBytes ?? dest.batchBytes,
    inFlight: overrides.inFlight ?? dest.inFlight,
    dryRun: overrides.dryRun,
  };
}

/** The F2M options a YAML body describes. */
export function f2mOptionsFromYaml(body: KeyReader, overrides: TaskOverrides = {}): FaissToMilvusOptions {
  const dest = readDestination(body);
  if (!dest.collection) {
    throw new MilvusdmError("CONFIG_INVALID", `${body.path}.dest_collection_name: is missing (expected a name)`);
  }
  return {
    file: body.requiredString("data_path", "the Faiss index file"),
    allowLossy: body.boolean("allow_lossy"),
    target: overrides.destUri ? { ...dest.target, uri: overrides.destUri } : dest.target,
    collection: dest.collection,
    partition: dest.partition,
    mode: overrides.mode ?? dest.mode,
    dimension: dest.dimension,
    metric: dest.metric,
    index: dest.index,
    batchBytes: overrides.batchBytes ?? dest.batchBytes,
    inFlight: overrides.inFlight ?? dest.inFlight,
    dryRun: overrides.dryRun,
  };
}

/** Reads `mysql_parameter` (empty or absent → SQLite metadata). */
function readMysql(body: KeyReader): MysqlParameters | null {
  const m = body.mapping("mysql_parameter");
  if (!m || Object.values(m.map).every((v) => v === null || v === undefined || v === "")) return null;
  const params = {
    host: m.requiredString("host", "the MySQL host"),
    port: m.port("port") ?? 3306,
    user: m.requiredString("user", "the MySQL user"),
    password: m.string("password") ?? "",
    database: m.requiredString("database", "the database named in the server's meta_uri"),
  };
  return params;
}

/** Reads `source_collection`: `{ name: [tags] | null }`, `'*'`, or a list of names. */
function readSelection(body: KeyReader): CollectionSelection {
  const raw = body.raw("source_collection");
  const path = `${body.path}.source_collection`;
  if (raw === "*") return "*";
  if (Array.isArray(raw) && raw.every((x) => typeof x === "string")) {
    return Object.fromEntries((raw as string[]).map((n) => [n, null]));
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
    throw new MilvusdmError(
      "CONFIG_INVALID",
      `${path}: expected a mapping of collection names to partition lists (or null for all), or '*'`,
    );
  }
  const out: Record<string, string[] | null> = {};
  for (const [name, tags] of Object.entries(raw as Record<string, unknown>)) {
    if (tags === null || tags === undefined || tags === "") out[name] = null;
    else if (typeof tags === "string") out[name] = [tags];
    else if (Array.isArray(tags) && tags.every((t) => typeof t === "string" || t === null)) {
      out[name] = (tags as (string | null)[]).map((t) => t ?? "_default");
    } else {
      throw new MilvusdmError("CONFIG_INVALID", `${path}.${name}: expected a list of partition tags or null`);
    }
  }
  return out;
}

/** The M2M options a YAML body describes. */
export function m2mOptionsFromYaml(body: KeyReader, overrides: TaskOverrides = {}): MilvusToMilvusOptions {
  const dest = readDestination(body);
  return {
    sourcePath: body.requiredString("source_milvus_path", "the stopped Milvus 1.x server's storage path"),
    mysql: readMysql(body),
    collections: readSelection(body),
    exclude: body.stringList("exclude_collections"),
    targetCollection: dest.collection,
    target: overrides.destUri ? { ...dest.target, uri: overrides.destUri } : dest.target,
    mode: overrides.mode ?? dest.mode,
    index: dest.index,
    batchBytes: overrides.batchBytes ?? dest.batchBytes,
    inFlight: overrides.inFlight ?? dest.inFlight,
    dryRun: overrides.dryRun,
  };
}

/** The M2H options a YAML body describes. */
export function m2hOptionsFromYaml(body: KeyReader, overrides: TaskOverrides = {}): MilvusToHdf5Options {
  body.ignore("milvus_version", "milvus-version");
  return {
    sourcePath: body.requiredString("source_milvus_path", "the stopped Milvus 1.x server's storage path"),
    mysql: readMysql(body),
    collections: readSelection(body),
    exclude: body.stringList("exclude_collections"),
    dataDir: body.requiredString("data_dir", "the folder to write HDF5 files to"),
    batchBytes: overrides.batchBytes ?? body.integer("batch_bytes", 1024, 48 * 1024 * 1024),
  };
}

/** Runs a parsed task. Unknown keys are reported through `onWarning` before anything starts. */
export async function runTask(
  config: TaskConfig,
  overrides: TaskOverrides = {},
  hooks: TaskHooks = {},
): Promise<MigrationSummary | ExportSummary> {
  const body = new KeyReader(config.kind, config.body);
  for (const w of config.warnings) hooks.onWarning?.(w);
  switch (config.kind) {
    case "H2M": {
      const options = h2mOptionsFromYaml(body, overrides);
      for (const w of body.unknownKeys()) hooks.onWarning?.(w);
      return await hdf5ToMilvus({ ...options, ...hooks });
    }
    case "F2M": {
      const options = f2mOptionsFromYaml(body, overrides);
      for (const w of body.unknownKeys()) hooks.onWarning?.(w);
      return await faissToMilvus({ ...options, ...hooks });
    }
    case "M2M": {
      const options = m2mOptionsFromYaml(body, overrides);
      for (const w of body.unknownKeys()) hooks.onWarning?.(w);
      return await milvusToMilvus({ ...options, ...hooks });
    }
    case "M2H": {
      const options = m2hOptionsFromYaml(body, overrides);
      for (const w of body.unknownKeys()) hooks.onWarning?.(w);
      return await milvusToHdf5({ ...options, ...hooks });
    }
    default:
      throw new MilvusdmError("CONFIG_INVALID", `${config.kind} is not available in this version of milvusdm yet`);
  }
}
