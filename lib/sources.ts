/**
 * The sources a task reads, opened as the job opens them and labelled with the target each one goes to: the common
 * ground of `plan` (headers only) and `verify` (rows).
 *
 * @module
 */
import { MilvusdmError } from "./errors.ts";
import { openFaissSource } from "./faiss/mod.ts";
import { openHdf5Source } from "./hdf5/reader.ts";
import { listHdf5Files } from "./jobs/h2m.ts";
import { selectPartitions } from "./jobs/milvus1_select.ts";
import { type Milvus1Source, openMilvus1, partitionSource } from "./milvus1/mod.ts";
import type { ResolvedTask } from "./tasks.ts";
import type { VectorSource } from "./types.ts";

const HDF5_TYPES: Record<string, string> = {
  "<f": "float32",
  "<d": "float64",
  ">f": "float32 big-endian",
  ">d": "float64 big-endian",
  "<q": "int64",
  "<Q": "uint64",
  "<i": "int32",
  "<I": "uint32",
  "|u1": "uint8",
  "|b1": "int8",
  "B": "uint8",
  "b": "int8",
};

/** A readable name for an h5wasm dtype string (`<f` → `float32`). */
export function hdf5TypeName(dtype: string): string {
  return HDF5_TYPES[dtype] ?? dtype;
}

/** One unit of a task's source (a file, a partition), open. */
export interface SourceUnit {
  /** The name the job gives it in progress and summaries (a path, `collection/partition`). */
  name: string;
  /** What it is. */
  kind: "hdf5" | "faiss" | "milvus1";
  /** A short description: datasets, index structure, segments. */
  description: string;
  /** The open source. */
  source: VectorSource;
  /** Bytes on disk (the file, or the segment files). */
  bytes: number;
  /** Rows per piece the reader yields separately (segments), for counting inserts; one piece for a file. */
  pieces: number[];
  /** The collection the rows go to (M2H: the source collection). */
  collection: string;
  /** The partition the rows go to, `_default` for the default one. */
  partition: string;
}

/** A task's opened sources. */
export interface TaskSources {
  units: SourceUnit[];
  /** Closes every source (and the Milvus 1.x store). */
  close(): Promise<void>;
}

/**
 * Opens every source unit of a task, checking them as the job does (headers, lengths, segments).
 *
 * @example
 * ```ts
 * const sources = await openTaskSources(resolveTask(config));
 * try {
 *   for (const u of sources.units) console.log(u.name, u.source.info.rows);
 * } finally {
 *   await sources.close();
 * }
 * ```
 */
export async function openTaskSources(
  task: ResolvedTask,
  options: { signal?: AbortSignal; onWarning?: (message: string) => void } = {},
): Promise<TaskSources> {
  const units: SourceUnit[] = [];
  const closers: (() => void | Promise<void>)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await c();
  };
  try {
    switch (task.kind) {
      case "H2M": {
        const o = task.options;
        for (const path of await listHdf5Files(o)) {
          const source = await openHdf5Source(path, {
            embeddingsDataset: o.embeddingsDataset,
            idsDataset: o.idsDataset,
          });
          closers.push(() => source.close());
          const { layout } = source;
          units.push({
            name: source.path,
            kind: "hdf5",
            description: `HDF5 ${layout.embeddings} (${hdf5TypeName(layout.dtype)})${
              layout.annBenchmarks ? ", ann-benchmarks layout, ids = row numbers" : layout.ids ? ` + ${layout.ids}` : ""
            }`,
            source,
            bytes: (await Deno.stat(path)).size,
            pieces: [source.info.rows],
            collection: o.collection,
            partition: o.partition || "_default",
          });
        }
        break;
      }
      case "F2M": {
        const o = task.options;
        const source = await openFaissSource(o.file, { allowLossy: o.allowLossy, onWarning: options.onWarning });
        closers.push(() => source.close());
        units.push({
          name: o.file,
          kind: "faiss",
          description: `Faiss ${source.inspect.description}${source.inspect.exact ? "" : " (lossy: reconstructions)"}`,
          source,
          bytes: source.inspect.bytes,
          pieces: [source.info.rows],
          collection: o.collection,
          partition: o.partition || "_default",
        });
        break;
      }
      case "M2M":
      case "M2H": {
        const o = task.options;
        const store = await openMilvus1(o.sourcePath, { mysql: o.mysql ?? null });
        closers.push(() => store.close());
        const targetCollection = task.kind === "M2M" ? task.options.targetCollection : undefined;
        for (const item of selectPartitions(store, o.collections, o.exclude ?? [])) {
          const source: Milvus1Source = await partitionSource(item.collection, item.partition, {
            signal: options.signal,
          });
          closers.push(() => source.close());
          const tag = item.partition.tag ?? "_default";
          const segments = source.segments;
          const deleted = segments.reduce((n, s) => n + s.deletedRows, 0);
          units.push({
            name: `${item.collection.name}/${tag}`,
            kind: "milvus1",
            description: `Milvus ${item.collection.version} ${item.collection.indexType}, ${segments.length} segment${
              segments.length === 1 ? "" : "s"
            }${deleted ? `, ${deleted} deleted row${deleted === 1 ? "" : "s"} left out` : ""}`,
            source,
            bytes: segments.reduce((n, s) => n + s.bytes, 0),
            pieces: segments.map((s) => s.liveRows),
            collection: targetCollection ?? item.collection.name,
            partition: tag,
          });
        }
        break;
      }
      default:
        throw new MilvusdmError("INTERNAL", `Unknown task kind`);
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { units, close };
}
