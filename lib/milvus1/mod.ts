/**
 * Reads the data directory of a stopped Milvus 0.7–1.1 server: metadata from `db/meta.sqlite` or MySQL, live
 * segments from `db/tables/<table_id>/<segment_id>/`.
 *
 * Nothing in the source is created or changed. Unflushed rows that a crashed server left only in its `wal/` folder
 * are not read.
 *
 * @example
 * ```ts
 * import { openMilvus1, partitionSource } from "./lib/milvus1/mod.ts";
 *
 * const store = await openMilvus1("/var/lib/milvus");
 * for (const collection of store.collections()) {
 *   for (const partition of collection.partitions) {
 *     const source = await partitionSource(collection, partition);
 *     for await (const batch of source.batches(10_000)) console.log(collection.name, partition.tag, batch.rows);
 *   }
 * }
 * await store.close();
 * ```
 *
 * @module
 */
export type {
  Milvus1Collection,
  Milvus1Layout,
  Milvus1Partition,
  Milvus1Segment,
  MysqlParameters,
  RawMeta,
  TableFilesRow,
  TablesRow,
} from "./meta.ts";
export { ENGINE_TYPES, FILE_TYPE, LIVE_FILE_TYPES, METRIC_TYPES, partitionLabel } from "./meta.ts";
export { locateLayout, type Milvus1Store, openMilvus1, type OpenMilvus1Options } from "./store.ts";
export {
  allowsLegacyFormat,
  DELETED_DOCS,
  findSegmentFiles,
  type Milvus1Source,
  partitionSource,
  readSegment,
  readSegmentSources,
  type ScanOptions,
  scanSegment,
  scanSegmentSources,
  type SegmentFiles,
  type SegmentScan,
  type SegmentScanWithBitmap,
  segmentSource,
  type SegmentSources,
  type SourceOptions,
} from "./segment.ts";
export {
  type CollectionInspection,
  inspectMilvus1,
  type InspectOptions,
  type Milvus1Inspection,
  type PartitionInspection,
  type SegmentInspection,
} from "./inspect.ts";
