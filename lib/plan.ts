/**
 * `plan`: what a task would do, without doing it. Reads the source headers (files, segments) and the target's state
 * through the jobs' own dry run, so the decisions shown are the ones a run would take, and writes nothing.
 *
 * @module
 */
import type { TaskKind } from "./config.ts";
import { defaultIndex } from "./milvus/sink.ts";
import { resolveAddress } from "./milvus/connection.ts";
import { DEFAULT_BATCH_BYTES, DEFAULT_IN_FLIGHT, rowsPerBatch } from "./pipeline.ts";
import { openTaskSources } from "./sources.ts";
import { type ResolvedTask, runResolvedTask } from "./tasks.ts";
import { bytesPerVector, type Metric, type VectorType } from "./types.ts";
import type { MigrationSummary } from "./jobs/common.ts";

/** One unit of the source, as read from its headers. */
export interface PlanUnit {
  /** The unit's name in progress and summaries (a path, `collection/partition`). */
  name: string;
  kind: "hdf5" | "faiss" | "milvus1";
  /** Datasets, index structure or segments. */
  description: string;
  rows: number;
  dim: number;
  vectorType: VectorType;
  /** The metric the source records, if any. */
  metric: Metric | null;
  hasIds: boolean;
  /** Bytes on disk. */
  bytes: number;
  /** Bytes of vectors to send (rows × bytes per vector). */
  vectorBytes: number;
  /** Insert requests (or HDF5 slices for M2H) it takes at the batch size. */
  batches: number;
}

/** What would happen to one target: a collection or partition in Milvus, or an HDF5 file for M2H. */
export interface PlanTarget {
  collection: string;
  /** `_default` for the default partition. */
  partition: string;
  /** `create`, `append`, `overwrite` (drop and recreate) or `skip`. */
  action: "create" | "append" | "overwrite" | "skip";
  /** Why, in words. */
  reason: string;
  /** The units whose rows go there. */
  units: string[];
  /** Rows that would be sent (0 when skipped). */
  rows: number;
  dim: number;
  vectorType: VectorType;
  /** The metric the index would use (M2H: the one recorded). */
  metric: Metric;
  /** M2H: the file that would be written. */
  file?: string;
}

/** A task's plan. */
export interface TaskPlan {
  job: TaskKind;
  /** `HDF5`, `Faiss` or `Milvus 1.x`. */
  sourceKind: string;
  units: PlanUnit[];
  /** Totals over the units. */
  rows: number;
  bytes: number;
  vectorBytes: number;
  /** `Milvus at host:port` (with the database), or the HDF5 run folder for M2H. */
  destination: string;
  targets: PlanTarget[];
  /** Inserts (M2H: slices) over the targets not skipped. */
  batches: number;
  batchBytes: number;
  inFlight: number;
  /** The index built after the load when a collection has none: a type, or `none`. */
  index: string;
  /** How rows would be written (`insert` or `import`) and why; absent for M2H and when everything is skipped. */
  writePath?: { path: "insert" | "import"; reason: string };
}

/** Hooks of {@linkcode planTask}. */
export interface PlanHooks {
  signal?: AbortSignal;
  onWarning?: (message: string) => void;
  onLog?: (message: string) => void;
}

function batchesOf(pieces: number[], maxRows: number): number {
  return pieces.reduce((n, rows) => n + Math.ceil(rows / maxRows), 0);
}

/**
 * Plans a resolved task: reads every source header and asks the target what it holds (a dry run of the job), writes
 * nothing.
 *
 * @example
 * ```ts
 * const plan = await planTask(resolveTask(parseTaskYaml(await Deno.readTextFile("H2M.yaml"))));
 * for (const t of plan.targets) console.log(t.collection, t.partition, t.action, t.rows);
 * ```
 */
export async function planTask(task: ResolvedTask, hooks: PlanHooks = {}): Promise<TaskPlan> {
  const batchBytes = task.options.batchBytes ?? DEFAULT_BATCH_BYTES;
  const sources = await openTaskSources(task, { signal: hooks.signal });
  const units: PlanUnit[] = [];
  const unitTargets = new Map<string, { collection: string; partition: string }>();
  try {
    for (const u of sources.units) {
      const { info } = u.source;
      const per = bytesPerVector(info.vectorType, info.dim);
      units.push({
        name: u.name,
        kind: u.kind,
        description: u.description,
        rows: info.rows,
        dim: info.dim,
        vectorType: info.vectorType,
        metric: info.metric,
        hasIds: info.hasIds,
        bytes: u.bytes,
        vectorBytes: info.rows * per,
        batches: batchesOf(u.pieces, rowsPerBatch(per, batchBytes)),
      });
      unitTargets.set(u.name, { collection: u.collection, partition: u.partition });
    }
  } finally {
    await sources.close();
  }
  const byName = new Map(units.map((u) => [u.name, u]));
  const sourceKind = task.kind === "H2M" ? "HDF5" : task.kind === "F2M" ? "Faiss" : "Milvus 1.x";
  const totals = {
    rows: units.reduce((n, u) => n + u.rows, 0),
    bytes: units.reduce((n, u) => n + u.bytes, 0),
    vectorBytes: units.reduce((n, u) => n + u.vectorBytes, 0),
  };

  if (task.kind === "M2H") {
    const runDir = `${task.options.dataDir.replace(/\/+$/, "")}/<run id>`;
    const targets: PlanTarget[] = units.map((u) => {
      const t = unitTargets.get(u.name)!;
      return {
        collection: t.collection,
        partition: t.partition,
        action: "create",
        reason: `writes ${runDir}/${t.collection}/${t.partition}.h5 and its restore YAML`,
        units: [u.name],
        rows: u.rows,
        dim: u.dim,
        vectorType: u.vectorType,
        metric: u.metric ?? (u.vectorType === "float" ? "L2" : "HAMMING"),
        file: `${runDir}/${t.collection}/${t.partition}.h5`,
      };
    });
    return {
      job: "M2H",
      sourceKind,
      units,
      ...totals,
      destination: `HDF5 files under ${runDir}/ (the run id is the start time, YYYYMMDD_HHMMSS)`,
      targets,
      batches: units.reduce((n, u) => n + u.batches, 0),
      batchBytes,
      inFlight: 1,
      index: "none",
    };
  }

  const summary = await runResolvedTask({ ...task, options: { ...task.options, dryRun: true } } as ResolvedTask, {
    signal: hooks.signal,
    onWarning: hooks.onWarning,
    onLog: hooks.onLog,
  }) as MigrationSummary;
  const targets: PlanTarget[] = summary.targets.map((t) => {
    const rows = t.action === "skip" ? 0 : t.units.reduce((n, name) => n + (byName.get(name)?.rows ?? 0), 0);
    return {
      collection: t.collection,
      partition: t.partition || "_default",
      action: t.action,
      reason: t.reason,
      units: t.units,
      rows,
      dim: t.dim,
      vectorType: t.vectorType,
      metric: t.metric,
    };
  });
  const sent = new Set(targets.filter((t) => t.action !== "skip").flatMap((t) => t.units));
  const { target, index } = task.options;
  const { host, port, tls } = resolveAddress(target);
  const vectorType = units[0]?.vectorType ?? "float";
  return {
    job: task.kind,
    sourceKind,
    units,
    ...totals,
    destination: `Milvus at ${tls ? "https://" : ""}${host.includes(":") ? `[${host}]` : host}:${port}${
      target.database ? ` (database ${target.database})` : ""
    }`,
    targets,
    batches: units.filter((u) => sent.has(u.name)).reduce((n, u) => n + u.batches, 0),
    batchBytes,
    inFlight: task.options.inFlight ?? DEFAULT_IN_FLIGHT,
    writePath: summary.targets.find((t) => t.writePath)?.writePath,
    index: index === false
      ? "none"
      : index
      ? index.type
      : task.kind === "M2M"
      ? "AUTOINDEX (BIN_FLAT for binary vectors)"
      : defaultIndex(vectorType).type,
  };
}
