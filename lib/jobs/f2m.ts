/**
 * Faiss index file → Milvus.
 *
 * @module
 */
import { MilvusdmError } from "../errors.ts";
import { type FaissSource, openFaissSource } from "../faiss/mod.ts";
import type { Metric } from "../types.ts";
import { fileFingerprint } from "../journal.ts";
import {
  checkTargetOptions,
  chooseMetric,
  configForJournal,
  loadTarget,
  type MigrationSummary,
  type ToMilvusOptions,
  withConnection,
} from "./common.ts";

/** Options of {@linkcode faissToMilvus}. */
export interface FaissToMilvusOptions extends ToMilvusOptions {
  /** The Faiss index file (`data_path`). */
  file: string;
  /** Expected dimension (`collection_parameter.dimension`): an error showing both when the file differs. */
  dimension?: number;
  /** Expected metric (`collection_parameter.metric_type`): an error showing both when the file differs. */
  metric?: Metric;
  /** Accept reconstructed vectors from quantized indexes (SQ, PQ, transforms), with a warning. */
  allowLossy?: boolean;
}

/**
 * Inserts the ids and vectors of a Faiss index file into a Milvus 2.x collection. The file's own dimension and
 * metric are checked against `dimension`/`metric` when given, and used when not.
 *
 * @example
 * ```ts
 * import { faissToMilvus } from "./mod.ts";
 * await faissToMilvus({ file: "index.faiss", target: { host: "127.0.0.1" }, collection: "docs", mode: "append" });
 * ```
 */
export async function faissToMilvus(options: FaissToMilvusOptions): Promise<MigrationSummary> {
  const started = performance.now();
  checkTargetOptions("F2M", options);
  if (!options.file) throw new MilvusdmError("CONFIG_INVALID", "F2M.data_path: is missing (expected a Faiss file)");
  const source: FaissSource = await openFaissSource(options.file, {
    allowLossy: options.allowLossy,
    onWarning: options.onWarning,
  });
  try {
    const info = source.info;
    if (options.dimension !== undefined && options.dimension !== info.dim) {
      throw new MilvusdmError(
        "CONFIG_INVALID",
        `F2M.collection_parameter.dimension is ${options.dimension}, but "${options.file}" (${source.inspect.description}) ` +
          `holds vectors of dimension ${info.dim}`,
        { hint: "Fix collection_parameter.dimension or leave it out to use the file's" },
      );
    }
    if (options.metric !== undefined && info.metric !== null && options.metric !== info.metric) {
      throw new MilvusdmError(
        "CONFIG_INVALID",
        `F2M.collection_parameter.metric_type is ${options.metric}, but "${options.file}" was built with ${info.metric}`,
        { hint: "Fix collection_parameter.metric_type or leave it out to use the file's" },
      );
    }
    if (info.metric === null && options.metric === undefined) {
      options.onWarning?.(
        `"${options.file}" uses faiss metric ${source.inspect.metric}, which Milvus does not have: indexing with L2 ` +
          `(set collection_parameter.metric_type to choose)`,
      );
    }
    const metric = chooseMetric("F2M", info.vectorType, options.metric, info.metric);
    return await withConnection(options.target, async (conn) => {
      const summary = await loadTarget(
        conn,
        {
          collection: options.collection,
          partition: options.partition ?? "",
          mode: options.mode,
          dim: info.dim,
          vectorType: info.vectorType,
          metric,
          hasIds: true,
        },
        [{ name: options.file, source, fingerprint: await fileFingerprint(options.file) }],
        options,
        {
          job: "F2M",
          config: configForJournal(options, {
            file: options.file,
            metric: options.metric ?? null,
            allowLossy: options.allowLossy ?? false,
          }),
        },
      );
      return { job: "F2M", targets: [summary], rows: summary.rows, seconds: (performance.now() - started) / 1000 };
    });
  } finally {
    await source.close();
  }
}
