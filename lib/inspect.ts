/**
 * Describing a source without migrating it: a Faiss index file, an HDF5 file or a Milvus 0.7–1.1 data directory,
 * recognised by what it is (a directory, an HDF5 signature, a Faiss fourcc), or the sources a task YAML names.
 * Nothing is written and no vectors are read.
 *
 * @module
 */
import type { Dataset, Group } from "h5wasm";
import { parseTaskYaml } from "./config.ts";
import { MilvusdmError } from "./errors.ts";
import { type FaissInspection, inspectFaiss } from "./faiss/mod.ts";
import { hasHdf5Signature, openHdf5ReadOnly } from "./hdf5/h5.ts";
import { openHdf5Source, readHdf5Attributes } from "./hdf5/reader.ts";
import { listHdf5Files } from "./jobs/h2m.ts";
import { inspectMilvus1, type Milvus1Inspection, type MysqlParameters } from "./milvus1/mod.ts";
import { hdf5TypeName } from "./sources.ts";
import { resolveTask } from "./tasks.ts";
import type { Metric, VectorType } from "./types.ts";

/** One dataset of an HDF5 file. */
export interface Hdf5DatasetInfo {
  /** Path inside the file, e.g. `embeddings` or `group/vectors`. */
  name: string;
  shape: number[];
  /** The element type, e.g. `float32`, `int64`, `uint8` (h5wasm's dtype string when unusual). */
  dtype: string;
}

/** What `inspect` shows about an HDF5 file. */
export interface Hdf5Inspection {
  kind: "hdf5";
  path: string;
  bytes: number;
  datasets: Hdf5DatasetInfo[];
  /** File attributes (strings and numbers). */
  attributes: Record<string, string | number>;
  /** How H2M reads the file, or null when it cannot (see `problem`). */
  source: {
    embeddings: string;
    ids: string | null;
    annBenchmarks: boolean;
    dtype: string;
    rows: number;
    dim: number;
    vectorType: VectorType;
    metric: Metric | null;
    hasIds: boolean;
  } | null;
  /** Why H2M cannot read the file, when it cannot. */
  problem: { code: string; message: string } | null;
}

/** What `inspect` shows about a Faiss index. */
export interface FaissFileInspection {
  kind: "faiss";
  path: string;
  bytes: number;
  faiss: FaissInspection;
}

/** What `inspect` shows about a Milvus 1.x data directory. */
export interface Milvus1DirInspection {
  kind: "milvus1";
  path: string;
  milvus1: Milvus1Inspection;
}

/** Any inspection. */
export type Inspection = FaissFileInspection | Hdf5Inspection | Milvus1DirInspection;

/** Options of {@linkcode inspectPath}. */
export interface InspectPathOptions {
  /** MySQL metadata of a Milvus 1.x directory (default: its `db/meta.sqlite`). */
  mysql?: MysqlParameters | null;
  /** Only these collections of a Milvus 1.x directory. */
  collections?: string[];
  /** H2M's `embeddings_dataset` / `ids_dataset`. */
  embeddingsDataset?: string;
  idsDataset?: string;
}

/**
 * Describes a Faiss file, an HDF5 file or a Milvus 1.x data directory.
 *
 * @example
 * ```ts
 * const report = await inspectPath("index.faiss");
 * if (report.kind === "faiss") console.log(report.faiss.description, report.faiss.ntotal);
 * ```
 */
export async function inspectPath(path: string, options: InspectPathOptions = {}): Promise<Inspection> {
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new MilvusdmError("SOURCE_NOT_FOUND", `"${path}" does not exist`, { cause: error });
    }
    throw new MilvusdmError("SOURCE_INVALID", `"${path}" cannot be read: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (stat.isDirectory) {
    const milvus1 = await inspectMilvus1(path, { mysql: options.mysql ?? null, collections: options.collections });
    return { kind: "milvus1", path, milvus1 };
  }
  if (await hasHdf5Signature(path)) return await inspectHdf5(path, stat.size, options);
  try {
    return { kind: "faiss", path, bytes: stat.size, faiss: await inspectFaiss(path) };
  } catch (error) {
    if (error instanceof MilvusdmError && /unknown fourcc/.test(error.message)) {
      throw new MilvusdmError(
        "SOURCE_UNSUPPORTED",
        `"${path}" is neither an HDF5 file nor a Faiss index, nor a Milvus 1.x data directory`,
        { cause: error, hint: "inspect reads .h5/.hdf5 files, Faiss index files and Milvus 1.x storage folders" },
      );
    }
    throw error;
  }
}

/**
 * Describes the sources a task YAML names: H2M's files, F2M's index, M2M's or M2H's data directory (with its
 * MySQL metadata and only the selected collections).
 *
 * @example
 * ```ts
 * for (const report of await inspectTaskSources(await Deno.readTextFile("M2M.yaml"), "M2M.yaml")) {
 *   console.log(report.kind, report.path);
 * }
 * ```
 */
export async function inspectTaskSources(yamlText: string, file: string): Promise<Inspection[]> {
  const task = resolveTask(parseTaskYaml(yamlText, file));
  switch (task.kind) {
    case "H2M": {
      const out: Inspection[] = [];
      for (const path of await listHdf5Files(task.options)) {
        out.push(
          await inspectPath(path, {
            embeddingsDataset: task.options.embeddingsDataset,
            idsDataset: task.options.idsDataset,
          }),
        );
      }
      return out;
    }
    case "F2M":
      return [await inspectPath(task.options.file)];
    case "M2M":
    case "M2H": {
      const selection = task.options.collections;
      return [
        await inspectPath(task.options.sourcePath, {
          mysql: task.options.mysql ?? null,
          collections: selection === "*" || "*" in selection ? undefined : Object.keys(selection),
        }),
      ];
    }
  }
}

async function inspectHdf5(path: string, bytes: number, options: InspectPathOptions): Promise<Hdf5Inspection> {
  const file = await openHdf5ReadOnly(path);
  const datasets: Hdf5DatasetInfo[] = [];
  const attributes: Record<string, string | number> = {};
  try {
    const walk = (group: Group, prefix: string) => {
      for (const key of group.keys()) {
        if (datasets.length >= 200) return;
        const item = group.get(key) as Dataset | Group | null;
        const name = prefix + key;
        if (item && (item as { type?: string }).type === "Dataset") {
          const ds = item as Dataset;
          datasets.push({ name, shape: ds.shape ?? [], dtype: hdf5TypeName(String(ds.dtype)) });
        } else if (item && (item as { type?: string }).type === "Group") {
          walk(item as Group, `${name}/`);
        }
      }
    };
    walk(file as unknown as Group, "");
  } finally {
    file.close();
  }
  // Attributes through the reader's bounded parser: h5wasm's own attribute reads can hang or abort on a corrupt
  // file's global heap.
  try {
    Object.assign(attributes, await readHdf5Attributes(path));
  } catch (error) {
    if (!(error instanceof MilvusdmError)) throw error;
  }
  try {
    const source = await openHdf5Source(path, {
      embeddingsDataset: options.embeddingsDataset,
      idsDataset: options.idsDataset,
    });
    try {
      return {
        kind: "hdf5",
        path,
        bytes,
        datasets,
        attributes,
        source: { ...source.layout, dtype: hdf5TypeName(source.layout.dtype), ...source.info },
        problem: null,
      };
    } finally {
      source.close();
    }
  } catch (error) {
    if (!(error instanceof MilvusdmError)) throw error;
    return {
      kind: "hdf5",
      path,
      bytes,
      datasets,
      attributes,
      source: null,
      problem: { code: error.code, message: error.message },
    };
  }
}
