/**
 * HDF5 → Milvus.
 *
 * @module
 */
import { MilvusdmError } from "../errors.ts";
import { type Hdf5Source, openHdf5Source } from "../hdf5/reader.ts";
import type { Metric } from "../types.ts";
import { fileFingerprint } from "../journal.ts";
import {
  checkTargetOptions,
  chooseMetric,
  configForJournal,
  loadTarget,
  type MigrationSummary,
  type TargetSummary,
  type ToMilvusOptions,
  withConnection,
} from "./common.ts";

/** Options of {@linkcode hdf5ToMilvus}. */
export interface Hdf5ToMilvusOptions extends ToMilvusOptions {
  /** HDF5 files, in order (exclusive with `dataDir`). */
  files?: string[];
  /** A folder whose `.h5` and `.hdf5` files are read in name order (exclusive with `files`). */
  dataDir?: string;
  /** Vectors dataset name (default `embeddings`, or `train` for ann-benchmarks files). */
  embeddingsDataset?: string;
  /** Ids dataset name (default `ids`; optional in the file). */
  idsDataset?: string;
  /** Expected dimension (`collection_parameter.dimension`): an error when the files differ. */
  dimension?: number;
  /** Metric (`collection_parameter.metric_type`); default: the file's, else L2 / HAMMING. */
  metric?: Metric;
}

/** The HDF5 files an H2M job reads: `files` as given, or the `.h5`/`.hdf5` files of `dataDir` in name order. */
export async function listHdf5Files(options: { files?: string[]; dataDir?: string }, job = "H2M"): Promise<string[]> {
  const hasFiles = options.files !== undefined && options.files !== null && options.files.length > 0;
  const hasDir = options.dataDir !== undefined && options.dataDir !== null && options.dataDir !== "";
  if (hasFiles === hasDir) {
    throw new MilvusdmError(
      "CONFIG_INVALID",
      `${job}: set exactly one of data_path (a list of files) and data_dir (a folder); ${
        hasFiles ? "both are set" : "neither is set"
      }`,
    );
  }
  if (hasFiles) return [...options.files!];
  const dir = options.dataDir!;
  const found: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if ((entry.isFile || entry.isSymlink) && /\.(h5|hdf5)$/i.test(entry.name)) found.push(entry.name);
    }
  } catch (error) {
    throw new MilvusdmError(
      error instanceof Deno.errors.NotFound ? "SOURCE_NOT_FOUND" : "SOURCE_INVALID",
      `${job}.data_dir: folder "${dir}" cannot be read${
        error instanceof Deno.errors.NotFound ? ": it does not exist" : ""
      }`,
      { cause: error },
    );
  }
  if (found.length === 0) {
    throw new MilvusdmError("SOURCE_NOT_FOUND", `${job}.data_dir: folder "${dir}" has no .h5 or .hdf5 files`);
  }
  found.sort();
  return found.map((name) => `${dir.replace(/\/+$/, "")}/${name}`);
}

/**
 * Imports vectors (and ids) from HDF5 files into a Milvus 2.x collection.
 *
 * Every file is opened and checked (datasets, lengths, dimensions) before anything is written. The first file
 * uses `mode`; the rest append.
 *
 * @example
 * ```ts
 * import { hdf5ToMilvus } from "./mod.ts";
 * const summary = await hdf5ToMilvus({
 *   files: ["vectors.h5"],
 *   target: { host: "127.0.0.1", port: 19530 },
 *   collection: "docs",
 *   mode: "append",
 * });
 * console.log(summary.rows);
 * ```
 */
export async function hdf5ToMilvus(options: Hdf5ToMilvusOptions): Promise<MigrationSummary> {
  const started = performance.now();
  checkTargetOptions("H2M", options);
  const paths = await listHdf5Files(options);
  const sources: Hdf5Source[] = [];
  try {
    for (const path of paths) {
      sources.push(
        await openHdf5Source(path, { embeddingsDataset: options.embeddingsDataset, idsDataset: options.idsDataset }),
      );
    }
    const first = sources[0].info;
    for (const src of sources) {
      const i = src.info;
      if (options.dimension !== undefined && i.dim !== options.dimension) {
        throw new MilvusdmError(
          "CONFIG_INVALID",
          `H2M.collection_parameter.dimension is ${options.dimension}, but "${src.path}" holds ${i.vectorType} ` +
            `vectors of dimension ${i.dim}`,
          { hint: "Fix collection_parameter.dimension or leave it out to use the file's" },
        );
      }
      if (i.dim !== first.dim || i.vectorType !== first.vectorType) {
        throw new MilvusdmError(
          "HDF5_INVALID",
          `"${src.path}" holds ${i.vectorType} vectors of dimension ${i.dim}, but "${sources[0].path}" holds ` +
            `${first.vectorType} vectors of dimension ${first.dim}; one collection takes one kind`,
        );
      }
      if (i.hasIds !== first.hasIds) {
        throw new MilvusdmError(
          "HDF5_INVALID",
          `"${src.path}" ${i.hasIds ? "has" : "has no"} ids but "${sources[0].path}" ${
            first.hasIds ? "has" : "has no"
          }; ` +
            `all files must agree`,
        );
      }
    }
    const metric = chooseMetric("H2M", first.vectorType, options.metric, sources[0].info.metric);
    return await withConnection(options.target, async (conn) => {
      const targets: TargetSummary[] = [];
      // The first file uses the mode, the rest append; one prepare covers them all.
      const summary = await loadTarget(
        conn,
        {
          collection: options.collection,
          partition: options.partition ?? "",
          mode: options.mode,
          dim: first.dim,
          vectorType: first.vectorType,
          metric,
          hasIds: first.hasIds,
        },
        await Promise.all(sources.map(async (source) => ({
          name: source.path,
          source,
          fingerprint: await fileFingerprint(source.path),
        }))),
        options,
        {
          job: "H2M",
          config: configForJournal(options, {
            files: paths,
            embeddingsDataset: options.embeddingsDataset ?? null,
            idsDataset: options.idsDataset ?? null,
            metric: options.metric ?? null,
          }),
        },
      );
      targets.push(summary);
      return {
        job: "H2M",
        targets,
        rows: summary.rows,
        seconds: (performance.now() - started) / 1000,
      };
    });
  } finally {
    for (const src of sources) src.close();
  }
}
