/**
 * Milvus 0.7–1.1 data directory → HDF5 files, one per collection and partition, each with a ready-to-run H2M YAML
 * that restores it.
 *
 * @module
 */
import YAML from "yaml";
import denoJson from "../../deno.json" with { type: "json" };
import { MilvusdmError, throwIfAborted } from "../errors.ts";
import { createContiguousHdf5Writer } from "../hdf5/contiguous_writer.ts";
import type { Hdf5Writer } from "../hdf5/writer.ts";
import { type Milvus1Source, type MysqlParameters, openMilvus1, partitionSource } from "../milvus1/mod.ts";
import { DEFAULT_BATCH_BYTES, type ProgressEvent, rowsPerBatch } from "../pipeline.ts";
import { type BatchAllocator, type BatchMemory, bytesPerVector, type VectorType } from "../types.ts";
import { type CollectionSelection, selectPartitions } from "./milvus1_select.ts";

/** Options of {@linkcode milvusToHdf5}. */
export interface MilvusToHdf5Options {
  /** The stopped Milvus 1.x server's storage path (holding `db/`), or its `db` folder. */
  sourcePath: string;
  /** MySQL metadata (`mysql_parameter`); null or absent = `db/meta.sqlite`. */
  mysql?: MysqlParameters | null;
  /** What to export: `{ name: [tags] | null }` (null = every partition) or `"*"`. */
  collections: CollectionSelection;
  /** Collections never to export. */
  exclude?: string[];
  /** The output folder; files go to `<dataDir>/<runId>/<collection>/<partition>.h5`. */
  dataDir: string;
  /** The run folder's name (default: the start time, `YYYYMMDD_HHMMSS`). */
  runId?: string;
  /** Where the generated H2M YAMLs point (default 127.0.0.1:19530). */
  restoreHost?: string;
  restorePort?: number;
  /** Bytes of vectors read per slice (default 4 MiB). */
  batchBytes?: number;
  /** Stops between slices; the partial file is removed. */
  signal?: AbortSignal;
  /** Progress per partition. */
  onProgress?: (event: ProgressEvent) => void;
  /** Informational messages. */
  onLog?: (message: string) => void;
  /** Warnings. */
  onWarning?: (message: string) => void;
}

/** One exported partition. */
export interface ExportedFile {
  collection: string;
  /** The partition tag, `_default` for the default partition. */
  partition: string;
  /** The HDF5 file. */
  path: string;
  /** The H2M YAML that restores it. */
  yaml: string;
  rows: number;
}

/** The result of an export. */
export interface ExportSummary {
  job: "M2H";
  /** The run folder. */
  runDir: string;
  files: ExportedFile[];
  rows: number;
  seconds: number;
}

/** An allocator that hands out the same memory every time (for a consumer done with each batch before the next). */
function reusedMemory(vectorType: VectorType, dim: number, maxRows: number): BatchAllocator {
  const vectors = vectorType === "float" ? new Float32Array(maxRows * dim) : new Uint8Array(maxRows * dim / 8);
  const ids = new BigInt64Array(maxRows);
  return (rows: number): BatchMemory => ({
    vectors: vectors.subarray(0, vectorType === "float" ? rows * dim : rows * dim / 8),
    ids: ids.subarray(0, rows),
  });
}

function runIdNow(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}_${p(d.getHours())}${p(d.getMinutes())}${
    p(d.getSeconds())
  }`;
}

/**
 * Exports collections and partitions of a stopped Milvus 0.7–1.1 server's data directory to HDF5 files with
 * `embeddings`, `ids` and, as attributes, dimension, metric, vector type, collection, partition and source version.
 * The datasets are contiguous (not chunked) and written straight from the read buffers, without the HDF5 library
 * (lib/hdf5/contiguous_writer.ts); each file is written under a temporary name and renamed when complete.
 *
 * @example
 * ```ts
 * import { milvusToHdf5 } from "./mod.ts";
 * const summary = await milvusToHdf5({ sourcePath: "/var/lib/milvus", collections: "*", dataDir: "/backup" });
 * console.log(summary.files.map((f) => f.path));
 * ```
 */
export async function milvusToHdf5(options: MilvusToHdf5Options): Promise<ExportSummary> {
  const started = performance.now();
  if (!options.dataDir) {
    throw new MilvusdmError("CONFIG_INVALID", "M2H.data_dir: is missing (expected the folder to write HDF5 files to)");
  }
  const store = await openMilvus1(options.sourcePath, { mysql: options.mysql ?? null });
  const opened: Milvus1Source[] = [];
  try {
    const selected = selectPartitions(store, options.collections, options.exclude ?? []);
    const sources: Milvus1Source[] = [];
    for (const item of selected) {
      const s = await partitionSource(item.collection, item.partition, { signal: options.signal });
      opened.push(s);
      sources.push(s);
    }
    const runId = options.runId ?? runIdNow();
    const runDir = `${options.dataDir.replace(/\/+$/, "")}/${runId}`;
    const rowsTotal = sources.reduce((n, s) => n + s.info.rows, 0);
    let rowsDone = 0;
    const files: ExportedFile[] = [];
    for (let i = 0; i < selected.length; i++) {
      throwIfAborted(options.signal);
      const { collection, partition } = selected[i];
      const source = sources[i];
      const tag = partition.tag ?? "_default";
      const dir = `${runDir}/${collection.name}`;
      const yamlDir = `${runDir}/yamls/${collection.name}`;
      try {
        await Deno.mkdir(dir, { recursive: true });
        await Deno.mkdir(yamlDir, { recursive: true });
      } catch (error) {
        throw new MilvusdmError("OUTPUT_ERROR", `Cannot create folder "${dir}": ${String(error)}`, { cause: error });
      }
      const path = `${dir}/${tag}.h5`;
      const writer: Hdf5Writer = await createContiguousHdf5Writer(path, {
        dim: collection.dim,
        vectorType: collection.vectorType,
        withIds: true,
        attributes: {
          dim: collection.dim,
          metric: collection.metric,
          vector_type: collection.vectorType,
          collection: collection.name,
          partition: tag,
          source_version: collection.version,
          index_file_size: collection.indexFileSize,
          exported_by: `milvusdm ${denoJson.version}`,
        },
      });
      const unit = `${collection.name}/${tag}`;
      let unitDone = 0;
      try {
        const maxRows = rowsPerBatch(
          bytesPerVector(collection.vectorType, collection.dim),
          options.batchBytes ?? DEFAULT_BATCH_BYTES,
        );
        const reuse = reusedMemory(collection.vectorType, collection.dim, maxRows);
        // One buffer for every batch: append() has written a batch before the next is read.
        for await (const batch of source.batches(maxRows, options.signal, reuse)) {
          writer.append(batch);
          unitDone += batch.rows;
          rowsDone += batch.rows;
          options.onProgress?.({
            unit,
            unitRowsDone: unitDone,
            unitRows: source.info.rows,
            rowsDone,
            rowsTotal,
            bytesDone: rowsDone * bytesPerVector(collection.vectorType, collection.dim),
            elapsedSeconds: (performance.now() - started) / 1000,
          });
        }
        await writer.commit();
      } catch (error) {
        await writer.abort();
        throw error;
      }
      const yamlPath = `${yamlDir}/${tag}.yaml`;
      const yamlText = YAML.stringify({
        H2M: {
          data_path: [path],
          data_dir: null,
          dest_host: options.restoreHost ?? "127.0.0.1",
          dest_port: options.restorePort ?? 19530,
          mode: "append",
          dest_collection_name: collection.name,
          dest_partition_name: partition.tag ?? "",
          collection_parameter: {
            dimension: collection.dim,
            index_file_size: Math.round(collection.indexFileSize / (1024 * 1024)),
            metric_type: collection.metric,
          },
        },
      });
      try {
        await Deno.writeTextFile(
          yamlPath,
          `# Restores ${unit} (${writer.rows} rows) exported by milvusdm. Run: milvusdm --yaml ${yamlPath}\n${yamlText}`,
        );
      } catch (error) {
        throw new MilvusdmError(
          "OUTPUT_ERROR",
          `Cannot write the restore YAML "${yamlPath}" (disk full?): ${String(error)}; "${path}" is complete`,
          { cause: error },
        );
      }
      options.onLog?.(`${unit}: ${writer.rows} rows → ${path}`);
      files.push({ collection: collection.name, partition: tag, path, yaml: yamlPath, rows: writer.rows });
    }
    return { job: "M2H", runDir, files, rows: rowsDone, seconds: (performance.now() - started) / 1000 };
  } finally {
    for (const s of opened) await s.close();
    await store.close();
  }
}
