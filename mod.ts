/**
 * milvusdm: move vectors into, out of and between Milvus instances.
 *
 * - {@linkcode faissToMilvus}: a Faiss index file → a Milvus 2.x collection.
 * - {@linkcode hdf5ToMilvus}: HDF5 files → a Milvus 2.x collection.
 * - {@linkcode milvusToMilvus}: a stopped Milvus 0.7–1.1 data directory → Milvus 2.x.
 * - {@linkcode milvusToHdf5}: a stopped Milvus 0.7–1.1 data directory → HDF5 files (with restore YAMLs).
 *
 * @example
 * ```ts
 * import { hdf5ToMilvus } from "jsr:@milvusdm/milvusdm"; // or a path to mod.ts
 * const summary = await hdf5ToMilvus({
 *   files: ["vectors.h5"],
 *   target: { uri: "http://127.0.0.1:19530" },
 *   collection: "docs",
 *   mode: "overwrite",
 *   onProgress: (p) => console.log(`${p.rowsDone}/${p.rowsTotal}`),
 * });
 * console.log(`${summary.rows} rows in ${summary.seconds.toFixed(1)} s`);
 * ```
 *
 * @module
 */
export { faissToMilvus, type FaissToMilvusOptions } from "./lib/jobs/f2m.ts";
export { type FaissInspection, inspectFaiss, openFaissSource } from "./lib/faiss/mod.ts";
export type { ByteSource } from "./lib/bytes.ts";
export { milvusToMilvus, type MilvusToMilvusOptions } from "./lib/jobs/m2m.ts";
export { type ExportedFile, type ExportSummary, milvusToHdf5, type MilvusToHdf5Options } from "./lib/jobs/m2h.ts";
export type { CollectionSelection } from "./lib/jobs/milvus1_select.ts";
export { inspectMilvus1, type Milvus1Inspection, type MysqlParameters, openMilvus1 } from "./lib/milvus1/mod.ts";
export { createHdf5Writer, type Hdf5Writer, type Hdf5WriterOptions } from "./lib/hdf5/writer.ts";
export { hdf5ToMilvus, type Hdf5ToMilvusOptions, listHdf5Files } from "./lib/jobs/h2m.ts";
export type { MigrationSummary, TargetSummary, ToMilvusOptions } from "./lib/jobs/common.ts";
export { type Hdf5Source, type Hdf5SourceOptions, openHdf5Source } from "./lib/hdf5/reader.ts";
export { connectMilvus, type MilvusConnection, type MilvusTarget } from "./lib/milvus/connection.ts";
export type { IndexSpec, Mode } from "./lib/milvus/sink.ts";
export type { LoadOptions, ProgressEvent } from "./lib/pipeline.ts";
export { type ErrorCode, EXIT_CODES, exitCodeFor, MilvusdmError } from "./lib/errors.ts";
export type { Batch, Metric, SourceInfo, VectorSource, VectorType } from "./lib/types.ts";
export { parseTaskYaml, type TaskConfig, type TaskKind } from "./lib/config.ts";
export { runTask, type TaskHooks, type TaskOverrides } from "./lib/tasks.ts";
export { type ResolvedTask, resolveTask, runResolvedTask } from "./lib/tasks.ts";
export { type PlanHooks, type PlanTarget, planTask, type PlanUnit, type TaskPlan } from "./lib/plan.ts";
export {
  DEFAULT_SAMPLE,
  type VerifyDifference,
  type VerifyOptions,
  type VerifyReport,
  type VerifyTarget,
  verifyTask,
} from "./lib/verify.ts";
export { type Inspection, inspectPath, type InspectPathOptions, inspectTaskSources } from "./lib/inspect.ts";
export { TEMPLATES } from "./lib/templates.ts";
export { findSecrets, redact } from "./lib/config.ts";
export { type JournalOptions, milvusdmHome } from "./lib/journal.ts";
