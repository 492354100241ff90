/**
 * The HDF5 source: `embeddings` (float32/float64, or uint8 bytes of binary vectors) and optional `ids`, or the
 * ann-benchmarks layout (`train`, ids = row index, metric from the `distance` attribute). Read in row slices.
 *
 * @module
 */
import type { Dataset } from "h5wasm";
import { MilvusdmError, throwIfAborted } from "../errors.ts";
import type { Batch, Metric, SourceInfo, VectorSource, VectorType } from "../types.ts";
import { openHdf5ReadOnly } from "./h5.ts";

/** Options of {@linkcode openHdf5Source}. */
export interface Hdf5SourceOptions {
  /** Name of the vectors dataset (default `embeddings`, or `train` in an ann-benchmarks file). */
  embeddingsDataset?: string;
  /** Name of the ids dataset (default `ids`, optional). */
  idsDataset?: string;
  /** Treat uint8 data as binary vectors (default: yes for uint8). */
  vectorType?: VectorType;
}

/** An open HDF5 source. */
export interface Hdf5Source extends VectorSource {
  /** The file. */
  readonly path: string;
  /** The datasets used and the layout recognised. */
  readonly layout: { embeddings: string; ids: string | null; annBenchmarks: boolean; dtype: string };
  /** Attributes milvusdm wrote on export (collection, partition, metric...), when present. */
  readonly attributes: Record<string, string | number>;
}

const ANN_DISTANCE: Record<string, Metric> = {
  euclidean: "L2",
  angular: "COSINE",
  cosine: "COSINE",
  dot: "IP",
  ip: "IP",
  hamming: "HAMMING",
  jaccard: "JACCARD",
};

const METRICS = new Set<string>([
  "L2",
  "IP",
  "COSINE",
  "HAMMING",
  "JACCARD",
  "TANIMOTO",
  "SUBSTRUCTURE",
  "SUPERSTRUCTURE",
]);

function attrValue(attrs: Record<string, { value: unknown }>, name: string): unknown {
  try {
    return attrs[name]?.value;
  } catch {
    return undefined;
  }
}

/**
 * Opens an HDF5 file as a vector source.
 *
 * @example
 * ```ts
 * const src = await openHdf5Source("vectors.h5");
 * for await (const batch of src.batches(10_000)) console.log(batch.rows);
 * src.close();
 * ```
 */
export async function openHdf5Source(path: string, options: Hdf5SourceOptions = {}): Promise<Hdf5Source> {
  const file = await openHdf5ReadOnly(path);
  try {
    const names = file.keys();
    const listed = names.length ? names.map((n) => `"${n}"`).join(", ") : "none";
    let embeddingsName = options.embeddingsDataset;
    let annBenchmarks = false;
    if (!embeddingsName) {
      if (names.includes("embeddings")) embeddingsName = "embeddings";
      else if (names.includes("train")) {
        embeddingsName = "train";
        annBenchmarks = true;
      } else {
        throw new MilvusdmError("HDF5_INVALID", `"${path}" has no dataset "embeddings" (datasets: ${listed})`, {
          hint: "Name the vectors dataset with embeddings_dataset",
        });
      }
    }
    const emb = file.get(embeddingsName);
    if (!emb || (emb as { type?: string }).type !== "Dataset") {
      throw new MilvusdmError("HDF5_INVALID", `"${path}" has no dataset "${embeddingsName}" (datasets: ${listed})`);
    }
    const ds = emb as Dataset;
    const shape = ds.shape ?? [];
    const meta = ds.metadata;
    if (shape.length !== 2) {
      throw new MilvusdmError(
        "HDF5_INVALID",
        `Dataset "${embeddingsName}" in "${path}" has shape [${shape.join(", ")}], expected 2-D (rows, dim)`,
      );
    }
    const [rows, cols] = shape;
    let vectorType: VectorType;
    let dim: number;
    if (meta.type === 1 && (meta.size === 4 || meta.size === 8)) {
      vectorType = "float";
      dim = cols;
      if (options.vectorType === "binary") {
        throw new MilvusdmError(
          "HDF5_INVALID",
          `Dataset "${embeddingsName}" holds floats, binary vectors were asked for`,
        );
      }
    } else if (meta.type === 0 && meta.size === 1 && !meta.signed) {
      vectorType = "binary";
      dim = cols * 8;
    } else {
      throw new MilvusdmError(
        "HDF5_INVALID",
        `Dataset "${embeddingsName}" in "${path}" has type ${ds.dtype}; expected float32, float64 (float vectors) or ` +
          `uint8 (binary vectors, dim/8 bytes per row)`,
      );
    }
    if (!meta.littleEndian && meta.size > 1) {
      throw new MilvusdmError("HDF5_INVALID", `Dataset "${embeddingsName}" is big-endian; only little-endian is read`);
    }
    if (cols === 0) {
      throw new MilvusdmError("HDF5_INVALID", `Dataset "${embeddingsName}" in "${path}" has 0 columns`);
    }

    let idsName: string | null = null;
    let idsDs: Dataset | null = null;
    if (!annBenchmarks) {
      const wanted = options.idsDataset ?? "ids";
      const got = names.includes(wanted) ? file.get(wanted) : null;
      if (options.idsDataset && !got) {
        throw new MilvusdmError("HDF5_INVALID", `"${path}" has no dataset "${wanted}" (datasets: ${listed})`);
      }
      if (got) {
        idsName = wanted;
        idsDs = got as Dataset;
        const ishape = idsDs.shape ?? [];
        const imeta = idsDs.metadata;
        const length = ishape[0];
        if (!(ishape.length === 1 || (ishape.length === 2 && ishape[1] === 1))) {
          throw new MilvusdmError(
            "HDF5_INVALID",
            `Dataset "${wanted}" in "${path}" has shape [${ishape.join(", ")}], expected one id per row`,
          );
        }
        if (imeta.type !== 0) {
          throw new MilvusdmError(
            "HDF5_INVALID",
            `Dataset "${wanted}" in "${path}" has type ${idsDs.dtype}, expected int64`,
          );
        }
        if (length !== rows) {
          throw new MilvusdmError(
            "HDF5_INVALID",
            `Dataset "${wanted}" in "${path}" has ${length} ids for ${rows} vectors; the lengths must match`,
          );
        }
      }
    }

    const attributes: Record<string, string | number> = {};
    for (const key of Object.keys(file.attrs)) {
      const v = attrValue(file.attrs, key);
      if (typeof v === "string" || typeof v === "number") attributes[key] = v;
      else if (typeof v === "bigint") attributes[key] = Number(v);
    }
    let metric: Metric | null = null;
    const recorded = String(attributes["metric"] ?? attributes["metric_type"] ?? "").toUpperCase();
    if (METRICS.has(recorded)) metric = recorded as Metric;
    if (annBenchmarks) {
      const distance = String(attributes["distance"] ?? "").toLowerCase();
      metric = ANN_DISTANCE[distance] ?? null;
    }

    const info: SourceInfo = { dim, vectorType, metric, rows, hasIds: annBenchmarks || idsDs !== null };
    const dtype = String(ds.dtype);
    let closed = false;
    return {
      path,
      info,
      attributes,
      layout: { embeddings: embeddingsName, ids: idsName, annBenchmarks, dtype },
      async *batches(maxRows: number, signal?: AbortSignal): AsyncGenerator<Batch> {
        const step = Math.max(1, Math.floor(maxRows));
        for (let start = 0; start < rows; start += step) {
          throwIfAborted(signal);
          const end = Math.min(rows, start + step);
          const n = end - start;
          const raw = ds.slice([[start, end]]);
          let vectors: Float32Array | Uint8Array;
          if (raw instanceof Float32Array) vectors = raw;
          else if (raw instanceof Float64Array) vectors = new Float32Array(raw);
          else if (raw instanceof Uint8Array) vectors = raw;
          else throw new MilvusdmError("HDF5_INVALID", `Unexpected data type reading "${embeddingsName}" of "${path}"`);
          let ids: BigInt64Array | null = null;
          if (annBenchmarks) {
            ids = new BigInt64Array(n);
            for (let i = 0; i < n; i++) ids[i] = BigInt(start + i);
          } else if (idsDs) {
            const rawIds = idsDs.slice([[start, end]]);
            ids = rawIds instanceof BigInt64Array ? rawIds : toBigInt64(rawIds, idsName!, path);
          }
          yield { ids, vectors, dim, rows: n };
          // Let other work (inserts in flight) run between slices.
          await Promise.resolve();
        }
      },
      close() {
        if (!closed) {
          closed = true;
          file.close();
        }
      },
    };
  } catch (error) {
    file.close();
    throw error;
  }
}

function toBigInt64(raw: unknown, name: string, path: string): BigInt64Array {
  if (raw instanceof BigUint64Array) {
    const out = new BigInt64Array(raw.length);
    for (let i = 0; i < raw.length; i++) {
      if (raw[i] > 0x7fffffffffffffffn) {
        throw new MilvusdmError("HDF5_INVALID", `Dataset "${name}" in "${path}" has id ${raw[i]} beyond int64`);
      }
      out[i] = BigInt.asIntN(64, raw[i]);
    }
    return out;
  }
  if (
    raw instanceof Int32Array || raw instanceof Uint32Array || raw instanceof Int16Array ||
    raw instanceof Uint16Array ||
    raw instanceof Int8Array || raw instanceof Uint8Array
  ) {
    const out = new BigInt64Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = BigInt(raw[i]);
    return out;
  }
  throw new MilvusdmError("HDF5_INVALID", `Dataset "${name}" in "${path}" does not hold integers`);
}
