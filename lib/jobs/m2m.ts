/**
 * Milvus 0.7–1.1 data directory → Milvus 2.x.
 *
 * @module
 */
import { MilvusdmError } from "../errors.ts";
import { type Milvus1Source, type MysqlParameters, openMilvus1, partitionSource } from "../milvus1/mod.ts";
import { indexAndLoad, preparePartitionAppend, prepareTarget, strongCount, verifyCount } from "../milvus/sink.ts";
import { findDuplicateIds, withoutIds } from "../ids.ts";
import type { Metric } from "../types.ts";
import { Journal } from "../journal.ts";
import type { LoadUnit } from "../pipeline.ts";
import {
  checkTargetOptions,
  configForJournal,
  decideWritePath,
  type MigrationSummary,
  planJournal,
  type TargetSummary,
  type ToMilvusOptions,
  withConnection,
  writeUnits,
} from "./common.ts";
import { type CollectionSelection, selectPartitions } from "./milvus1_select.ts";

/** Rows before the run and rows loaded, per target partition. */
type PartitionTotals = Map<string, { rowsBefore: number; rows: number }>;

/** Options of {@linkcode milvusToMilvus}. */
export interface MilvusToMilvusOptions extends Omit<ToMilvusOptions, "collection" | "partition"> {
  /** The stopped Milvus 1.x server's storage path (holding `db/`), or its `db` folder. */
  sourcePath: string;
  /** MySQL metadata (`mysql_parameter`); null or absent = `db/meta.sqlite`. */
  mysql?: MysqlParameters | null;
  /** What to migrate: `{ name: [tags] | null }` (null = every partition, default included) or `"*"`. */
  collections: CollectionSelection;
  /** Collections never to migrate (a block list, for use with `"*"`). */
  exclude?: string[];
  /**
   * One target collection for everything selected (a rename, or a merge of several collections); default: each
   * collection keeps its name. Merged sources must share dimension and vector type.
   */
  targetCollection?: string;
  /**
   * Let the target generate new ids (auto_id) instead of keeping the source's: needed to merge collections whose
   * ids collide. Only for a target collection created by this run.
   */
  newIds?: boolean;
}

/**
 * Migrates collections and partitions of a stopped Milvus 0.7–1.1 server's data directory into Milvus 2.x.
 *
 * Every live row arrives once and deleted rows never; partitions are recreated with the same tags; the target
 * collection is created from the source's dimension and metric. Every selected segment is checked before anything
 * is written.
 *
 * @example
 * ```ts
 * import { milvusToMilvus } from "./mod.ts";
 * await milvusToMilvus({
 *   sourcePath: "/var/lib/milvus",
 *   collections: { test1w: null },
 *   target: { host: "127.0.0.1", port: 19530 },
 *   mode: "append",
 * });
 * ```
 */
export async function milvusToMilvus(options: MilvusToMilvusOptions): Promise<MigrationSummary> {
  const started = performance.now();
  if (options.targetCollection !== undefined) {
    checkTargetOptions("M2M", { ...options, collection: options.targetCollection });
  } else {
    checkTargetOptions("M2M", { ...options, collection: "placeholder" });
  }
  const store = await openMilvus1(options.sourcePath, { mysql: options.mysql ?? null });
  const opened: Milvus1Source[] = [];
  try {
    const selected = selectPartitions(store, options.collections, options.exclude ?? []);
    // Group by target collection, checking that merged sources agree.
    const groups = new Map<string, { items: typeof selected; metric: Metric }>();
    for (const item of selected) {
      const name = options.targetCollection ?? item.collection.name;
      const group = groups.get(name);
      if (!group) {
        groups.set(name, { items: [item], metric: item.collection.metric });
        continue;
      }
      const first = group.items[0].collection;
      if (first.dim !== item.collection.dim || first.vectorType !== item.collection.vectorType) {
        throw new MilvusdmError(
          "CONFIG_INVALID",
          `Cannot merge "${item.collection.name}" (${item.collection.vectorType} × ${item.collection.dim}) into ` +
            `"${name}" with "${first.name}" (${first.vectorType} × ${first.dim}): dimensions and vector types must match`,
        );
      }
      if (first.metric !== item.collection.metric && first !== item.collection) {
        options.onWarning?.(
          `"${item.collection.name}" uses ${item.collection.metric} and "${first.name}" ${first.metric}; ` +
            `"${name}" is indexed with ${group.metric}`,
        );
      }
      group.items.push(item);
    }
    for (const name of groups.keys()) checkTargetOptions("M2M", { ...options, collection: name });
    // Check every segment before writing anything.
    const sources = new Map<(typeof selected)[number], Milvus1Source>();
    for (const item of selected) {
      const source = await partitionSource(item.collection, item.partition, { signal: options.signal });
      opened.push(source);
      sources.set(item, source);
    }
    // Merged collections must not bring the same id twice, unless new ids are asked for.
    if (!options.newIds) {
      for (const [name, group] of groups) {
        const collections = new Set(group.items.map((i) => i.collection.name));
        if (collections.size < 2) continue;
        const duplicates = await findDuplicateIds(group.items.map((i) => sources.get(i)!), { signal: options.signal });
        if (duplicates) {
          throw new MilvusdmError(
            "CONFIG_INVALID",
            `Cannot merge ${[...collections].map((c) => `"${c}"`).join(", ")} into "${name}": their ids collide ` +
              `(e.g. ${duplicates.slice(0, 5).join(", ")})`,
            { hint: "Set new_ids: true to let the target generate new ids, or migrate them into separate collections" },
          );
        }
      }
    }
    return await withConnection(options.target, async (conn) => {
      const targets: TargetSummary[] = [];
      let total = 0;
      for (const [name, group] of groups) {
        const first = group.items[0].collection;
        const spec = {
          collection: name,
          mode: options.mode,
          dim: first.dim,
          vectorType: first.vectorType,
          metric: group.metric,
          hasIds: !options.newIds,
        };
        const units: (LoadUnit & { item: (typeof selected)[number]; partition: string })[] = group.items.map((item) => {
          const source = sources.get(item)!;
          return {
            item,
            partition: item.partition.tag ?? "_default",
            name: `${item.collection.name}/${item.partition.tag ?? "_default"}`,
            source: options.newIds ? withoutIds(source) : source,
            fingerprint: JSON.stringify(
              source.segments.map((g) => [g.segment.segmentId, g.rows, g.deletedRows, g.bytes, g.format]),
            ),
          };
        });
        const plan = await planJournal(
          conn,
          {
            job: "M2M",
            config: {
              source: options.sourcePath,
              mysql: options.mysql ? { ...options.mysql, password: undefined } : null,
              newIds: options.newIds ?? false,
              target: configForJournal({ ...options, collection: name }, {}),
            },
          },
          { collection: name, partition: "", mode: options.mode },
          units,
          { ...options, collection: name },
        );
        const skipped = (reason: string, metric: Metric): TargetSummary => ({
          collection: name,
          partition: "",
          action: "skip",
          reason,
          units: units.map((u) => u.name),
          rows: 0,
          rowCount: null,
          indexBuilt: null,
          dim: spec.dim,
          vectorType: spec.vectorType,
          metric,
        });
        if (plan.skipReason) {
          targets.push(skipped(plan.skipReason, group.metric));
          continue;
        }
        // Decided (and the import storage checked) before the target is touched.
        const collectionRows = units.reduce((n, u) => n + u.source.info.rows, 0);
        const writePath = await decideWritePath(
          conn,
          spec,
          collectionRows,
          { ...options, collection: name },
          plan.resumedWritePath,
        );
        const collectionLevel = await prepareTarget(
          conn,
          { ...spec, mode: plan.resuming ? "append" : spec.mode, partition: null },
          { dryRun: options.dryRun },
        );
        options.onLog?.(plan.resuming ? `Resuming the interrupted migration into "${name}"` : collectionLevel.reason);
        if (collectionLevel.action === "skip") {
          targets.push(skipped(collectionLevel.reason, collectionLevel.metric));
          continue;
        }
        const journal = plan.dir && !options.dryRun
          ? await Journal.open(plan.key, plan.configHash, "M2M", { dir: plan.dir, resume: plan.resuming })
          : undefined;
        if (journal) {
          journal.data.writePath = writePath.path;
          journal.save();
        }
        let lastSchema = collectionLevel.schema;
        let resumedRows = 0;
        // Progress is over the whole collection (collectionRows), not per partition.
        let rowsBeforeUnit = 0;
        const firstTargets: PartitionTotals = new Map();
        for (const unit of units) {
          const prepared = await preparePartitionAppend(conn, { ...spec, partition: unit.partition }, {
            dryRun: options.dryRun,
            collectionExists: !options.dryRun || collectionLevel.action === "append",
          });
          lastSchema = prepared.schema;
          let rows = 0;
          let rowCount: number | null = null;
          if (!options.dryRun) {
            if (journal && journal.data.rowsBefore[unit.name] === undefined) {
              journal.data.rowsBefore[unit.name] = prepared.rowsBefore;
              journal.save();
            }
            const rowsBefore = journal?.data.rowsBefore[unit.name] ?? prepared.rowsBefore;
            const totals = firstTargets.get(unit.partition) ?? { rowsBefore, rows: 0 };
            totals.rows += unit.source.info.rows;
            firstTargets.set(unit.partition, totals);
            const offset = rowsBeforeUnit;
            const loaded = await writeUnits(
              conn,
              prepared,
              [unit],
              {
                ...options,
                collection: name,
                onProgress: options.onProgress
                  ? (p) => options.onProgress!({ ...p, rowsDone: offset + p.rowsDone, rowsTotal: collectionRows })
                  : undefined,
              },
              writePath,
              journal,
              plan.key,
            );
            rowsBeforeUnit += unit.source.info.rows;
            rows = loaded.rowsSent;
            resumedRows += loaded.rowsSkipped + loaded.rowsUpserted;
            if (loaded.rowsSkipped + loaded.rowsUpserted === 0 && resumedRows === 0) {
              rowCount = await verifyCount(conn, { ...prepared, rowsBefore }, rows, { index: options.index });
            }
            options.onLog?.(
              `${unit.name} → ${name}/${unit.partition}: ${rows} rows` +
                (loaded.rowsSkipped ? ` (${loaded.rowsSkipped} already there from the interrupted run)` : ""),
            );
          }
          total += rows;
          targets.push({
            collection: name,
            partition: unit.partition,
            action: collectionLevel.action === "overwrite" ? "overwrite" : prepared.action,
            reason: prepared.reason,
            units: [unit.name],
            rows,
            rowCount,
            indexBuilt: null,
            dim: spec.dim,
            vectorType: spec.vectorType,
            metric: prepared.metric,
            journal: journal?.path,
            writePath,
          });
        }
        if (!options.dryRun) {
          const { indexBuilt, loaded } = await indexAndLoad(conn, {
            collection: name,
            vectorField: lastSchema.vectorField,
            vectorType: spec.vectorType,
            metric: collectionLevel.metric,
          }, { index: options.index });
          if (indexBuilt) {
            options.onLog?.(`Built the ${indexBuilt} index (${collectionLevel.metric}) on "${name}"`);
            targets[targets.length - 1].indexBuilt = indexBuilt;
          }
          if (resumedRows > 0) {
            // Upserts leave deleted rows that statistics still count: check each partition with count(*).
            if (!loaded) {
              throw new MilvusdmError(
                "TARGET_COUNT_MISMATCH",
                `Cannot check the resumed load of "${name}": it has no index, so it cannot be loaded to count`,
              );
            }
            for (const [partition, totals] of firstTargets) {
              const count = await strongCount(conn, name, partition);
              if (count !== totals.rowsBefore + totals.rows) {
                throw new MilvusdmError(
                  "TARGET_COUNT_MISMATCH",
                  `"${name}/${partition}" holds ${count} rows after the resumed load, expected ` +
                    `${totals.rowsBefore + totals.rows}`,
                );
              }
              for (const t of targets) if (t.collection === name && t.partition === partition) t.rowCount = count;
            }
          }
          journal?.done();
        }
      }
      return { job: "M2M", targets, rows: total, seconds: (performance.now() - started) / 1000 };
    });
  } finally {
    for (const s of opened) await s.close();
    await store.close();
  }
}
