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

/** Runs a parsed task. Unknown keys are reported through `onWarning` before anything starts. */
export async function runTask(
  config: TaskConfig,
  overrides: TaskOverrides = {},
  hooks: TaskHooks = {},
): Promise<MigrationSummary> {
  const body = new KeyReader(config.kind, config.body);
  for (const w of config.warnings) hooks.onWarning?.(w);
  switch (config.kind) {
    case "H2M": {
      const options = h2mOptionsFromYaml(body, overrides);
      for (const w of body.unknownKeys()) hooks.onWarning?.(w);
      return await hdf5ToMilvus({ ...options, ...hooks });
    }
    default:
      throw new MilvusdmError("CONFIG_INVALID", `${config.kind} is not available in this version of milvusdm yet`);
  }
}
