/**
 * Turning a parsed YAML task into a job call. The CLI and library users who keep YAML files share this:
 * {@linkcode resolveTask} reads and checks every key (flags given beside the YAML win), {@linkcode runTask} runs the
 * job.
 *
 * @module
 */
import { type DestinationConfig, KeyReader, readDestination, type TaskConfig, type TaskKind } from "./config.ts";
import { MilvusdmError } from "./errors.ts";
import type { MigrationSummary } from "./jobs/common.ts";
import { hdf5ToMilvus, type Hdf5ToMilvusOptions } from "./jobs/h2m.ts";
import type { LoadOptions } from "./pipeline.ts";
import type { Mode } from "./milvus/sink.ts";
import type { WritePath } from "./import/importer.ts";
import type { MysqlParameters } from "./milvus1/mod.ts";
import type { CollectionSelection } from "./jobs/milvus1_select.ts";
import { faissToMilvus, type FaissToMilvusOptions } from "./jobs/f2m.ts";
import { milvusToMilvus, type MilvusToMilvusOptions } from "./jobs/m2m.ts";
import { type ExportSummary, milvusToHdf5, type MilvusToHdf5Options } from "./jobs/m2h.ts";

/** Settings given beside the YAML (command-line flags win over YAML keys). */
export interface TaskOverrides {
  /** `--mode`: replaces `mode`. */
  mode?: Mode;
  /** `--batch-bytes`: replaces `batch_bytes`. */
  batchBytes?: number;
  /** `--in-flight`: replaces `in_flight`. */
  inFlight?: number;
  /** `--dest-uri`: replaces `dest_uri`/`dest_host`/`dest_port`. */
  destUri?: string;
  /** Plan only: read the source headers and the target's state, write nothing (`*ToMilvus` jobs). */
  dryRun?: boolean;
  /** `--allow-lossy` (F2M): replaces `allow_lossy`. */
  allowLossy?: boolean;
  /** `--resume` (`*ToMilvus` jobs): continue an interrupted run of the same migration. */
  resume?: boolean;
  /** `--write-path`: replaces `write_path`. */
  writePath?: WritePath;
}

/** Callbacks and the abort signal of a run. */
export interface TaskHooks extends Pick<LoadOptions, "onProgress" | "onWarning" | "signal"> {
  /** Informational messages (what was decided, and why). */
  onLog?: (message: string) => void;
}

/** A task whose keys have all been read and checked: the job to call and its options. */
export type ResolvedTask =
  | { kind: "H2M"; options: Hdf5ToMilvusOptions; warnings: string[] }
  | { kind: "F2M"; options: FaissToMilvusOptions; warnings: string[] }
  | { kind: "M2M"; options: MilvusToMilvusOptions; warnings: string[] }
  | { kind: "M2H"; options: MilvusToHdf5Options; warnings: string[] };

/** The H2M options a YAML body describes. */
export function h2mOptionsFromYaml(body: KeyReader, overrides: TaskOverrides = {}): Hdf5ToMilvusOptions {
  const dest = readDestination(body, overrides);
  const files = body.stringList("data_path");
  const dataDir = body.string("data_dir");
  if (!dest.collection) throw body.missing("dest_collection_name", "a collection name");
  return {
    files,
    dataDir,
    embeddingsDataset: body.string("embeddings_dataset"),
    idsDataset: body.string("ids_dataset"),
    ...targetSettings(dest, overrides),
    collection: dest.collection,
    partition: dest.partition,
    dimension: dest.dimension,
    metric: dest.metric,
  };
}

/** The settings every job into Milvus takes from the destination keys and the command line. */
function targetSettings(dest: DestinationConfig, overrides: TaskOverrides) {
  return {
    target: dest.target,
    mode: dest.mode,
    index: dest.index,
    batchBytes: overrides.batchBytes ?? dest.batchBytes,
    inFlight: overrides.inFlight ?? dest.inFlight,
    dryRun: overrides.dryRun,
    resume: overrides.resume,
    writePath: overrides.writePath ?? dest.writePath,
    import: dest.import,
  };
}

/** The F2M options a YAML body describes. */
export function f2mOptionsFromYaml(body: KeyReader, overrides: TaskOverrides = {}): FaissToMilvusOptions {
  const dest = readDestination(body, overrides);
  const file = body.requiredString("data_path", "the Faiss index file");
  const allowLossy = body.boolean("allow_lossy");
  if (!dest.collection) throw body.missing("dest_collection_name", "a collection name");
  return {
    file,
    allowLossy: overrides.allowLossy || allowLossy,
    ...targetSettings(dest, overrides),
    collection: dest.collection,
    partition: dest.partition,
    dimension: dest.dimension,
    metric: dest.metric,
  };
}

const MYSQL_KEYS = ["host", "port", "user", "password", "database"];

/** Reads `mysql_parameter` (empty or absent → SQLite metadata). */
function readMysql(body: KeyReader): MysqlParameters | null {
  const m = body.mapping("mysql_parameter");
  if (!m) return null;
  if (MYSQL_KEYS.every((k) => !m.has(k))) {
    m.ignore(...MYSQL_KEYS);
    return null;
  }
  return {
    host: m.requiredString("host", "the MySQL host"),
    port: m.port("port") ?? 3306,
    user: m.requiredString("user", "the MySQL user"),
    password: m.string("password") ?? "",
    database: m.requiredString("database", "the database named in the server's meta_uri"),
  };
}

/** Reads `source_collection`: `{ name: [tags] | null }`, `'*'`, or a list of names. */
function readSelection(body: KeyReader): CollectionSelection {
  const raw = body.raw("source_collection");
  const path = `${body.path}.source_collection`;
  if (raw === undefined || raw === null || raw === "") {
    throw body.missing("source_collection", "a mapping of collection names to partition lists, or '*'");
  }
  if (raw === "*") return "*";
  if (Array.isArray(raw) && raw.every((x) => typeof x === "string")) {
    return Object.fromEntries((raw as string[]).map((n) => [n, null]));
  }
  if (typeof raw !== "object" || Array.isArray(raw)) {
    throw new MilvusdmError(
      "CONFIG_INVALID",
      `${path}: expected a mapping of collection names to partition lists (or nothing for all), or '*', got ${
        typeof raw === "string" ? JSON.stringify(raw) : Array.isArray(raw) ? "a list" : String(raw)
      }`,
    );
  }
  const out: Record<string, string[] | null> = {};
  for (const [name, tags] of Object.entries(raw as Record<string, unknown>)) {
    if (tags === null || tags === undefined || tags === "") out[name] = null;
    else if (typeof tags === "string") out[name] = [tags];
    else if (Array.isArray(tags) && tags.every((t) => typeof t === "string" || t === null)) {
      out[name] = (tags as (string | null)[]).map((t) => t ?? "_default");
    } else {
      throw new MilvusdmError(
        "CONFIG_INVALID",
        `${path}.${name}: expected a list of partition tags, or nothing for every partition, got ${
          Array.isArray(tags) ? "a list with a non-text entry" : typeof tags === "object" ? "a mapping" : String(tags)
        }`,
      );
    }
  }
  return out;
}

/** The M2M options a YAML body describes. */
export function m2mOptionsFromYaml(body: KeyReader, overrides: TaskOverrides = {}): MilvusToMilvusOptions {
  const sourcePath = body.requiredString("source_milvus_path", "the stopped Milvus 1.x server's storage path");
  const mysql = readMysql(body);
  const collections = readSelection(body);
  const exclude = body.stringList("exclude_collections", "a list of collection names", "a collection name");
  const dest = readDestination(body, overrides);
  if (dest.partition) {
    throw new MilvusdmError(
      "CONFIG_INVALID",
      `${body.path}.dest_partition_name: M2M keeps the source's partitions; got ${JSON.stringify(dest.partition)}`,
      { hint: "Remove dest_partition_name; partitions are recreated with their source tags" },
    );
  }
  return {
    sourcePath,
    mysql,
    collections,
    exclude,
    targetCollection: dest.collection,
    newIds: body.boolean("new_ids"),
    ...targetSettings(dest, overrides),
  };
}

/** The M2H options a YAML body describes. */
export function m2hOptionsFromYaml(body: KeyReader, overrides: TaskOverrides = {}): MilvusToHdf5Options {
  body.ignore("milvus_version", "milvus-version");
  return {
    sourcePath: body.requiredString("source_milvus_path", "the stopped Milvus 1.x server's storage path"),
    mysql: readMysql(body),
    collections: readSelection(body),
    exclude: body.stringList("exclude_collections", "a list of collection names", "a collection name"),
    dataDir: body.requiredString("data_dir", "the folder to write HDF5 files to"),
    batchBytes: overrides.batchBytes ??
      body.integer("batch_bytes", 1024, 48 * 1024 * 1024, "a byte count from 1024 to 50331648"),
  };
}

/** Flags that mean nothing to a job, as warnings. */
function unusedOverrides(kind: TaskKind, overrides: TaskOverrides): string[] {
  const unused: string[] = [];
  if (kind === "M2H") {
    if (overrides.mode) unused.push("--mode");
    if (overrides.destUri) unused.push("--dest-uri");
    if (overrides.inFlight) unused.push("--in-flight");
    if (overrides.resume) unused.push("--resume");
    if (overrides.writePath) unused.push("--write-path");
  }
  if (kind !== "F2M" && overrides.allowLossy) unused.push("--allow-lossy");
  return unused.map((flag) => `${flag} does not apply to ${kind} and is ignored`);
}

/**
 * Reads and checks every key of a parsed task (flags in `overrides` win over YAML keys). The warnings name unknown
 * keys (with a suggestion for a likely typo) and flags that do not apply.
 *
 * @example
 * ```ts
 * const task = resolveTask(parseTaskYaml(await Deno.readTextFile("H2M.yaml")), { mode: "overwrite" });
 * if (task.kind === "H2M") console.log(task.options.collection);
 * ```
 */
export function resolveTask(config: TaskConfig, overrides: TaskOverrides = {}): ResolvedTask {
  const body = new KeyReader(config.kind, config.body);
  const warnings = [...config.warnings, ...unusedOverrides(config.kind, overrides)];
  switch (config.kind) {
    case "H2M": {
      const options = h2mOptionsFromYaml(body, overrides);
      return { kind: "H2M", options, warnings: [...warnings, ...body.unknownKeys()] };
    }
    case "F2M": {
      const options = f2mOptionsFromYaml(body, overrides);
      return { kind: "F2M", options, warnings: [...warnings, ...body.unknownKeys()] };
    }
    case "M2M": {
      const options = m2mOptionsFromYaml(body, overrides);
      return { kind: "M2M", options, warnings: [...warnings, ...body.unknownKeys()] };
    }
    case "M2H": {
      const options = m2hOptionsFromYaml(body, overrides);
      return { kind: "M2H", options, warnings: [...warnings, ...body.unknownKeys()] };
    }
    default:
      throw new MilvusdmError("CONFIG_INVALID", `${config.kind} is not available in this version of milvusdm`);
  }
}

/** Runs a resolved task with the given hooks. */
export async function runResolvedTask(
  task: ResolvedTask,
  hooks: TaskHooks = {},
): Promise<MigrationSummary | ExportSummary> {
  switch (task.kind) {
    case "H2M":
      return await hdf5ToMilvus({ ...task.options, ...hooks });
    case "F2M":
      return await faissToMilvus({ ...task.options, ...hooks });
    case "M2M":
      return await milvusToMilvus({ ...task.options, ...hooks });
    case "M2H":
      return await milvusToHdf5({ ...task.options, ...hooks });
  }
}

/**
 * Runs a parsed task. Unknown keys are reported through `onWarning` before anything starts.
 *
 * @example
 * ```ts
 * const summary = await runTask(parseTaskYaml(await Deno.readTextFile("H2M.yaml")), {}, { onWarning: console.warn });
 * ```
 */
export async function runTask(
  config: TaskConfig,
  overrides: TaskOverrides = {},
  hooks: TaskHooks = {},
): Promise<MigrationSummary | ExportSummary> {
  const task = resolveTask(config, overrides);
  for (const w of task.warnings) hooks.onWarning?.(w);
  return await runResolvedTask(task, hooks);
}
