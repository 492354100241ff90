/**
 * Choosing what to read from a Milvus 1.x data directory: `source_collection` (names with partition tags or null
 * for all, `*` for every collection), minus a block list.
 *
 * @module
 */
import { MilvusdmError } from "../errors.ts";
import type { Milvus1Collection, Milvus1Partition, Milvus1Store } from "../milvus1/mod.ts";

/** `{ name: [tags] | null }`, or `"*"` for every collection with all partitions. */
export type CollectionSelection = Record<string, string[] | null> | "*";

/** One source partition chosen for a run. */
export interface SelectedPartition {
  collection: Milvus1Collection;
  partition: Milvus1Partition;
}

/** Resolves a selection against the store; unknown names are errors that list what exists. */
export function selectPartitions(
  store: Milvus1Store,
  selection: CollectionSelection,
  exclude: string[] = [],
): SelectedPartition[] {
  const all = store.collections();
  let wanted: [Milvus1Collection, string[] | null][];
  if (selection === "*" || (typeof selection === "object" && "*" in selection)) {
    wanted = all.map((c) => [c, null]);
  } else {
    const names = Object.keys(selection);
    if (names.length === 0) {
      throw new MilvusdmError("CONFIG_INVALID", "source_collection names no collection", {
        hint: `Name one or more of: ${all.map((c) => c.name).join(", ") || "(the directory has none)"}, or '*'`,
      });
    }
    wanted = names.map((name) => [store.collection(name), selection[name]]);
  }
  for (const name of exclude) store.collection(name); // an unknown name in the block list is an error too
  const out: SelectedPartition[] = [];
  for (const [collection, tags] of wanted) {
    if (exclude.includes(collection.name)) continue;
    const partitions = tags === null || tags.length === 0
      ? collection.partitions
      : tags.map((tag) => store.partition(collection, tag));
    for (const partition of partitions) out.push({ collection, partition });
  }
  if (out.length === 0) {
    throw new MilvusdmError(
      "CONFIG_INVALID",
      "Nothing to migrate: the selection and the block list leave no collection",
    );
  }
  return out;
}
