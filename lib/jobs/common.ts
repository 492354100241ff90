/**
 * What the `*ToMilvus` jobs share: their target options, their summary, and the load of prepared units into one
 * collection or partition.
 *
 * @module
 */
import { MilvusdmError } from "../errors.ts";
import { connectMilvus, type MilvusConnection, type MilvusTarget } from "../milvus/connection.ts";
import {
  finishTarget,
  type IndexSpec,
  type Mode,
  MODES,
  type PreparedTarget,
  prepareTarget,
  serverMetric,
} from "../milvus/sink.ts";
import { type LoadOptions, type LoadUnit, loadUnits } from "../pipeline.ts";
import { BINARY_METRICS, FLOAT_METRICS, type Metric, type VectorType } from "../types.ts";

/** Options every job that writes into Milvus takes. */
export interface ToMilvusOptions extends LoadOptions {
  /** The target server. */
  target: MilvusTarget;
  /** Target collection. */
  collection: string;
  /** Target partition (empty or omitted: the default partition). */
  partition?: string;
  /** What to do when the collection or partition exists (default `append`... no: required). */
  mode: Mode;
  /** Index built after the load if the collection has none (default AUTOINDEX / BIN_FLAT); false for none. */
  index?: IndexSpec | false;
  /** Plan only: read the source's headers and the target's state, write nothing. */
  dryRun?: boolean;
  /** Informational messages (what was decided, and why). */
  onLog?: (message: string) => void;
}

/** The result of one job into Milvus. */
export interface MigrationSummary {
  /** `H2M`, `F2M` or `M2M`. */
  job: "H2M" | "F2M" | "M2M";
  /** One entry per target collection/partition. */
  targets: TargetSummary[];
  /** Rows sent in total. */
  rows: number;
  /** Seconds the job took. */
  seconds: number;
}

/** What happened to one target. */
export interface TargetSummary {
  /** Collection. */
  collection: string;
  /** Partition ("" for the default). */
  partition: string;
  /** create, append, overwrite or skip. */
  action: PreparedTarget["action"];
  /** Why. */
  reason: string;
  /** Units read (files, segments). */
  units: string[];
  /** Rows sent. */
  rows: number;
  /** Rows the target holds afterwards (collection or partition); null on a dry run or skip. */
  rowCount: number | null;
  /** Index built, if any. */
  indexBuilt: string | null;
  /** Dimension, vector type and metric used. */
  dim: number;
  vectorType: VectorType;
  metric: Metric;
}

/** Validates the options every job shares. */
export function checkTargetOptions(job: string, options: ToMilvusOptions): void {
  if (!options.collection || typeof options.collection !== "string") {
    throw new MilvusdmError("CONFIG_INVALID", `${job}.dest_collection_name: expected a collection name`);
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(options.collection)) {
    throw new MilvusdmError(
      "CONFIG_INVALID",
      `${job}.dest_collection_name: "${options.collection}" is not a valid Milvus name ` +
        `(letters, digits and underscores, not starting with a digit)`,
    );
  }
  if (options.partition && !/^[A-Za-z0-9_-]+$/.test(options.partition)) {
    throw new MilvusdmError(
      "CONFIG_INVALID",
      `${job}.dest_partition_name: "${options.partition}" is not a valid Milvus partition name`,
    );
  }
  if (!MODES.includes(options.mode)) {
    throw new MilvusdmError(
      "CONFIG_INVALID",
      `${job}.mode: expected one of skip, append, overwrite, got ${JSON.stringify(options.mode)}`,
    );
  }
}

/** Picks the metric: the user's, else the source's, else the type's default; checks it fits the vector type. */
export function chooseMetric(
  job: string,
  vectorType: VectorType,
  asked: Metric | undefined,
  recorded: Metric | null,
): Metric {
  const metric = asked ?? recorded ?? (vectorType === "float" ? "L2" : "HAMMING");
  const allowed = vectorType === "float" ? FLOAT_METRICS : BINARY_METRICS;
  if (!allowed.includes(metric)) {
    throw new MilvusdmError(
      "CONFIG_INVALID",
      `${job}.collection_parameter.metric_type: ${metric} does not apply to ${vectorType} vectors ` +
        `(use one of ${allowed.join(", ")})`,
    );
  }
  return metric;
}

/** Runs `body` with a connection that is closed afterwards. */
export async function withConnection<T>(
  target: MilvusTarget,
  body: (conn: MilvusConnection) => Promise<T>,
): Promise<T> {
  const conn = await connectMilvus(target);
  try {
    return await body(conn);
  } finally {
    await conn.close();
  }
}

/** Prepares one target under the mode, loads the units into it and finishes it (flush, count, index, load). */
export async function loadTarget(
  conn: MilvusConnection,
  spec: {
    collection: string;
    partition: string;
    mode: Mode;
    dim: number;
    vectorType: VectorType;
    metric: Metric;
    hasIds: boolean;
  },
  units: LoadUnit[],
  options: ToMilvusOptions,
): Promise<TargetSummary> {
  const log = options.onLog ?? (() => {});
  const prepared = await prepareTarget(conn, { ...spec, index: options.index }, { dryRun: options.dryRun });
  log(prepared.reason);
  if (spec.metric !== serverMetric(spec.metric)) {
    options.onWarning?.(
      `Milvus 2.x has no ${spec.metric} metric: the index uses ${serverMetric(spec.metric)}, which ranks bit vectors ` +
        `the same way`,
    );
  }
  const base: TargetSummary = {
    collection: spec.collection,
    partition: prepared.schema.partition,
    action: prepared.action,
    reason: prepared.reason,
    units: units.map((u) => u.name),
    rows: 0,
    rowCount: null,
    indexBuilt: null,
    dim: spec.dim,
    vectorType: spec.vectorType,
    metric: prepared.metric,
  };
  if (prepared.action === "skip" || options.dryRun) return base;
  const rows = await loadUnits(conn, prepared, units, options);
  const finished = await finishTarget(conn, prepared, rows, { index: options.index });
  if (finished.indexBuilt) log(`Built a ${finished.indexBuilt} index (${prepared.metric}) on "${spec.collection}"`);
  return { ...base, rows, rowCount: finished.rowCount, indexBuilt: finished.indexBuilt };
}
