/**
 * A pure-TypeScript reader of Faiss index files (no faiss library): opens an index, walks its structure, and
 * streams its (ids, vectors) in bounded batches.
 *
 * Opening parses every header, count and list offset with checked reads, so a corrupt or truncated file fails
 * at open with a typed error; vectors, codes and ids are read batch by batch afterwards. Files are opened
 * read-only.
 *
 * @example
 * ```ts
 * const source = await openFaissSource("index.faiss");
 * try {
 *   console.log(source.inspect.description, source.info.rows);
 *   for await (const batch of source.batches(10_000)) console.log(batch.rows);
 * } finally {
 *   await source.close();
 * }
 * ```
 *
 * @module
 */
import { type ByteSource, Cursor, openFileSource } from "../bytes.ts";
import { MilvusdmError, throwIfAborted } from "../errors.ts";
import type { Batch, BatchAllocator, Metric, SourceInfo, VectorSource } from "../types.ts";
import { isBinaryFourcc, parseBinaryIndex } from "./binary.ts";
import { corrupt, METRIC_NAMES } from "./header.ts";
import { type FaissNode, isExact, type ParseContext } from "./node.ts";
import { parseIndex } from "./parse.ts";

export { SUPPORTED_TYPES } from "./header.ts";

/** Options of {@linkcode openFaissSource}. */
export interface FaissOpenOptions {
  /** Export reconstructions of lossy indexes (SQ, PQ, pre-transforms); refused with `LOSSY_NOT_ALLOWED` otherwise. */
  allowLossy?: boolean;
  /** Receives messages the user should see (lossy reconstruction, a moved on-disk lists file, ...). */
  onWarning?: (message: string) => void;
  /**
   * Largest IDMap id table kept in memory, in bytes (default 64 MiB), for IDMaps over IVF indexes whose ids
   * come in list order; larger tables are read by position batch by batch.
   */
  idMapCacheBytes?: number;
}

/** What `inspect` shows about a Faiss index. */
export interface FaissInspection {
  /** The index tree, outermost first, e.g. `["IDMap (IxMp)", "HNSW (IHNf)", "Flat L2 (IxF2)"]`; side structures
   * are prefixed with their role, e.g. `quantizer: Flat L2 (IxF2)`. */
  tree: string[];
  /** The indexes on the way to the vectors, e.g. `IDMap → HNSW → Flat`. */
  description: string;
  /** Vector dimension (bits for binary indexes). */
  dim: number;
  /** Number of vectors. */
  ntotal: number;
  /** The faiss metric name, e.g. `L2`, `IP`, `L1`; `HAMMING` for binary indexes. */
  metric: string;
  /** The metric argument, for metrics that take one (Lp's p). */
  metricArg?: number;
  /** Whether the exported vectors are the stored vectors bit for bit. */
  exact: boolean;
  /** Why the vectors are approximate, when they are. */
  lossyReasons: string[];
  /** Float or binary vectors. */
  vectorType: "float" | "binary";
  /** Size of the index file in bytes. */
  bytes: number;
  /** The path as given. */
  path: string;
}

/** An open Faiss index as a milvusdm vector source. */
export interface FaissSource extends VectorSource {
  /** The structure of the index. */
  readonly inspect: FaissInspection;
}

const DEFAULT_ID_MAP_CACHE = 64 << 20;

/**
 * Opens a Faiss index file (float or binary) as a {@linkcode FaissSource}.
 *
 * Throws `SOURCE_NOT_FOUND` / `SOURCE_INVALID` / `SOURCE_TRUNCATED` for missing or corrupt files,
 * `FAISS_UNSUPPORTED_INDEX` for index types it cannot export, and `LOSSY_NOT_ALLOWED` for lossy indexes unless
 * `allowLossy` is set.
 *
 * @example
 * ```ts
 * const source = await openFaissSource("ivfpq.faiss", { allowLossy: true, onWarning: console.warn });
 * ```
 */
export async function openFaissSource(path: string, options: FaissOpenOptions = {}): Promise<FaissSource> {
  return await openFaissByteSource(await openFileSource(path), options);
}

/**
 * Opens a Faiss index from any {@linkcode ByteSource} (a buffer, a ranged read); `source.name` serves as its path,
 * e.g. to find on-disk inverted lists beside it. The source is closed with the returned source, or on failure.
 *
 * @example
 * ```ts
 * const source = await openFaissByteSource(bufferSource(bytes, "index.faiss"));
 * ```
 */
export async function openFaissByteSource(source: ByteSource, options: FaissOpenOptions = {}): Promise<FaissSource> {
  const { root, ctx } = await parseSource(source, options);
  const path = source.name;
  const closeAll = () => {
    ctx.source.close();
    for (const s of ctx.extraSources) s.close();
  };
  try {
    const inspect = inspection(root, ctx);
    if (!inspect.exact && !options.allowLossy) {
      throw new MilvusdmError(
        "LOSSY_NOT_ALLOWED",
        `Faiss index "${path}" (${inspect.description}) stores lossy-compressed vectors ` +
          `(${inspect.lossyReasons.join("; ")}): only approximations of the original vectors can be exported`,
        {
          hint:
            "Set allow_lossy: true in the migration config (or pass --allow-lossy) to export faiss's reconstructions",
        },
      );
    }
    const warnings = [...ctx.warnings];
    if (!inspect.exact) {
      warnings.unshift(
        `Faiss index "${path}" (${inspect.description}) is lossy (${inspect.lossyReasons.join("; ")}): ` +
          "the exported vectors are faiss's reconstructions, not the original vectors",
      );
    }
    for (const message of warnings) options.onWarning?.(message);
    const info: SourceInfo = {
      dim: root.d,
      vectorType: root.vectorType,
      metric: sourceMetric(root),
      rows: root.ntotal,
      hasIds: true,
    };
    return {
      info,
      inspect,
      batches: (maxRows: number, signal?: AbortSignal, allocate?: BatchAllocator) =>
        batches(root, path, maxRows, signal, allocate),
      close: closeAll,
    };
  } catch (error) {
    closeAll();
    throw error;
  }
}

/**
 * Describes a Faiss index without reading its vectors (lossy indexes included).
 *
 * @example
 * ```ts
 * const info = await inspectFaiss("index.faiss");
 * console.log(info.tree.join("\n"), info.exact);
 * ```
 */
export async function inspectFaiss(path: string): Promise<FaissInspection> {
  const { root, ctx } = await parseSource(await openFileSource(path), {});
  try {
    return inspection(root, ctx);
  } finally {
    ctx.source.close();
    for (const s of ctx.extraSources) s.close();
  }
}

async function parseSource(
  source: ByteSource,
  options: FaissOpenOptions,
): Promise<{ root: FaissNode; ctx: ParseContext }> {
  const path = source.name;
  const ctx: ParseContext = {
    source,
    path,
    extraSources: [],
    warnings: [],
    idMapCacheBytes: options.idMapCacheBytes ?? DEFAULT_ID_MAP_CACHE,
    parseIndex: (c, depth) => parseIndex(c, ctx, depth),
    parseBinaryIndex: (c, depth) => parseBinaryIndex(c, ctx, depth),
  };
  try {
    if (source.size < 4) throw corrupt(path, `the file has ${source.size} bytes, too few for a faiss index`);
    const c = new Cursor(source);
    const fourcc = await c.fourcc("index fourcc");
    c.seek(0);
    const root = isBinaryFourcc(fourcc) ? await parseBinaryIndex(c, ctx, 0) : await parseIndex(c, ctx, 0);
    return { root, ctx };
  } catch (error) {
    source.close();
    for (const s of ctx.extraSources) s.close();
    throw error;
  }
}

function sourceMetric(root: FaissNode): Metric | null {
  if (root.vectorType === "binary") return "HAMMING";
  return root.metricType === 0 ? "IP" : root.metricType === 1 ? "L2" : null;
}

function inspection(root: FaissNode, ctx: ParseContext): FaissInspection {
  const tree: string[] = [];
  const walk = (node: FaissNode, prefix: string) => {
    tree.push(prefix + node.label);
    for (const child of node.children) {
      const p = child.role === null ? prefix : `${prefix}${child.role}: `;
      if (child.node) walk(child.node, p);
      else tree.push(p + child.text);
    }
  };
  walk(root, "");
  const path: string[] = [];
  for (let node: FaissNode | undefined = root; node;) {
    path.push(node.short);
    node = node.children.find((child) => child.role === null)?.node;
  }
  const binary = root.vectorType === "binary";
  const result: FaissInspection = {
    tree,
    description: path.join(" → "),
    dim: root.d,
    ntotal: root.ntotal,
    metric: binary ? "HAMMING" : METRIC_NAMES[root.metricType],
    exact: isExact(root),
    lossyReasons: [...root.lossy],
    vectorType: root.vectorType,
    bytes: ctx.source.size,
    path: ctx.path,
  };
  if (!binary && root.metricType > 1) result.metricArg = root.metricArg;
  return result;
}

async function* batches(
  root: FaissNode,
  path: string,
  maxRows: number,
  signal?: AbortSignal,
  allocate?: BatchAllocator,
): AsyncGenerator<Batch> {
  if (!Number.isSafeInteger(maxRows) || maxRows < 1) {
    throw new MilvusdmError("CONFIG_INVALID", `Batch size must be a positive integer, got ${maxRows}`);
  }
  throwIfAborted(signal);
  let rows = 0;
  for await (const batch of root.stream(maxRows, allocate)) {
    throwIfAborted(signal);
    rows += batch.rows;
    yield batch;
  }
  if (rows !== root.ntotal) {
    throw corrupt(path, `the index yielded ${rows} vectors but its header says ${root.ntotal}`);
  }
}
