/**
 * Describes a Milvus 0.7–1.1 data directory without reading vectors: collections, partitions, segments, live and
 * deleted rows, dimensions, metrics and bytes. A damaged segment is reported with its error instead of stopping the
 * inspection.
 *
 * @module
 */
import { MilvusdmError } from "../errors.ts";
import type { Metric, VectorType } from "../types.ts";
import type { Milvus1Collection } from "./meta.ts";
import { scanSegment } from "./segment.ts";
import { type Milvus1Store, openMilvus1, type OpenMilvus1Options } from "./store.ts";

/** One segment in an inspection. */
export interface SegmentInspection {
  segmentId: string;
  /** 1 RAW, 2 TO_INDEX, 7 BACKUP. */
  fileType: number;
  dir: string;
  /** "v1" (0.7.1+ headers) or "legacy" (0.7.0); null when the segment could not be read. */
  format: "v1" | "legacy" | null;
  /** Rows in the files. */
  rows: number;
  deletedRows: number;
  liveRows: number;
  /** `TableFiles.row_count` (should equal `liveRows`). */
  metaRowCount: number;
  bytes: number;
  /** Why the segment cannot be read, when it cannot. */
  error: { code: string; message: string } | null;
}

/** One partition in an inspection. */
export interface PartitionInspection {
  tag: string | null;
  isDefault: boolean;
  tableId: string;
  rows: number;
  deletedRows: number;
  liveRows: number;
  bytes: number;
  segments: SegmentInspection[];
}

/** One collection in an inspection. */
export interface CollectionInspection {
  name: string;
  dim: number;
  metric: Metric;
  vectorType: VectorType;
  indexType: string;
  indexFileSize: number;
  version: string;
  rows: number;
  deletedRows: number;
  liveRows: number;
  bytes: number;
  partitions: PartitionInspection[];
}

/** What {@linkcode inspectMilvus1} reports. */
export interface Milvus1Inspection {
  path: string;
  dbDir: string;
  backend: "sqlite" | "mysql";
  metaLocation: string;
  collections: CollectionInspection[];
  /** Segments that cannot be read. */
  errors: number;
}

/** Options of {@linkcode inspectMilvus1}. */
export interface InspectOptions extends OpenMilvus1Options {
  /** Only these collections (all when absent). */
  collections?: string[];
}

/**
 * Inspects a data directory (or an already opened store).
 *
 * @example
 * ```ts
 * const report = await inspectMilvus1("/var/lib/milvus");
 * for (const c of report.collections) console.log(c.name, c.liveRows);
 * ```
 */
export async function inspectMilvus1(
  source: string | Milvus1Store,
  options: InspectOptions = {},
): Promise<Milvus1Inspection> {
  const store = typeof source === "string" ? await openMilvus1(source, options) : source;
  try {
    const chosen: Milvus1Collection[] = options.collections
      ? options.collections.map((name) => store.collection(name))
      : store.collections();
    const collections: CollectionInspection[] = [];
    let errors = 0;
    for (const c of chosen) {
      const partitions: PartitionInspection[] = [];
      for (const p of c.partitions) {
        const segments: SegmentInspection[] = [];
        for (const s of p.segments) {
          try {
            const scan = await scanSegment(c, s);
            segments.push({
              segmentId: s.segmentId,
              fileType: s.fileType,
              dir: s.dir,
              format: scan.format,
              rows: scan.rows,
              deletedRows: scan.deletedRows,
              liveRows: scan.liveRows,
              metaRowCount: s.metaRowCount,
              bytes: scan.bytes,
              error: null,
            });
          } catch (error) {
            if (!(error instanceof MilvusdmError)) throw error;
            errors++;
            segments.push({
              segmentId: s.segmentId,
              fileType: s.fileType,
              dir: s.dir,
              format: null,
              rows: 0,
              deletedRows: 0,
              liveRows: 0,
              metaRowCount: s.metaRowCount,
              bytes: 0,
              error: { code: error.code, message: error.message },
            });
          }
        }
        partitions.push({
          tag: p.tag,
          isDefault: p.isDefault,
          tableId: p.tableId,
          ...sums(segments),
          segments,
        });
      }
      collections.push({
        name: c.name,
        dim: c.dim,
        metric: c.metric,
        vectorType: c.vectorType,
        indexType: c.indexType,
        indexFileSize: c.indexFileSize,
        version: c.version,
        ...sums(partitions),
        partitions,
      });
    }
    return {
      path: store.layout.path,
      dbDir: store.layout.dbDir,
      backend: store.backend,
      metaLocation: store.metaLocation,
      collections,
      errors,
    };
  } finally {
    if (typeof source === "string") await store.close();
  }
}

function sums(parts: { rows: number; deletedRows: number; liveRows: number; bytes: number }[]) {
  let rows = 0, deletedRows = 0, liveRows = 0, bytes = 0;
  for (const p of parts) {
    rows += p.rows;
    deletedRows += p.deletedRows;
    liveRows += p.liveRows;
    bytes += p.bytes;
  }
  return { rows, deletedRows, liveRows, bytes };
}
