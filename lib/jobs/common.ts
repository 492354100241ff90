/**
 * What the `*ToMilvus` jobs share: their target options, their summary, and the load of prepared units into one
 * collection or partition.
 *
 * @module
 */
import { EXIT_CODES, exitCodeFor, MilvusdmError } from "../errors.ts";
import { connectMilvus, type MilvusConnection, type MilvusTarget } from "../milvus/connection.ts";
import {
  finishTarget,
  indexAndLoad,
  type IndexSpec,
  type Mode,
  MODES,
  type PreparedTarget,
  prepareTarget,
  serverMetric,
  strongCount,
} from "../milvus/sink.ts";
import { type LoadOptions, type LoadResult, type LoadUnit, loadUnits } from "../pipeline.ts";
import { hashOf, Journal, type JournalOptions, milvusdmHome } from "../journal.ts";
import { BINARY_METRICS, bytesPerVector, FLOAT_METRICS, type Metric, type VectorType } from "../types.ts";
import {
  chooseWritePath,
  type ImportOptions,
  importUnits,
  type WritePath,
  type WritePathChoice,
} from "../import/importer.ts";

/** Options every job that writes into Milvus takes. */
export interface ToMilvusOptions extends LoadOptions, JournalOptions {
  /** The target server. */
  target: MilvusTarget;
  /** Target collection. */
  collection: string;
  /** Target partition (empty or omitted: the default partition). */
  partition?: string;
  /** What to do when the collection or partition exists (default `append`... no: required). */
  mode: Mode;
  /** Index built after the load if the collection has none (default AUTOINDEX / BIN_FLAT); false for none. */
  index?: IndexSpec | false;
  /** Plan only: read the source's headers and the target's state, write nothing. */
  dryRun?: boolean;
  /** Informational messages (what was decided, and why). */
  onLog?: (message: string) => void;
  /**
   * How rows reach the server: `insert` requests, the server's bulk `import` (files the server reads), or `auto`
   * (the default: import when the vectors take at least `import.thresholdBytes` and the server can read the files).
   */
  writePath?: WritePath;
  /** Settings of the bulk-import path. */
  import?: ImportOptions;
}

/** The result of one job into Milvus. */
export interface MigrationSummary {
  /** `H2M`, `F2M` or `M2M`. */
  job: "H2M" | "F2M" | "M2M";
  /** One entry per target collection/partition. */
  targets: TargetSummary[];
  /** Rows sent in total. */
  rows: number;
  /** Seconds the job took. */
  seconds: number;
}

/** What happened to one target. */
export interface TargetSummary {
  /** Collection. */
  collection: string;
  /** Partition ("" for the default). */
  partition: string;
  /** create, append, overwrite or skip. */
  action: PreparedTarget["action"];
  /** Why. */
  reason: string;
  /** Units read (files, segments). */
  units: string[];
  /** Rows sent. */
  rows: number;
  /** Rows skipped because an interrupted run had stored them (`--resume`). */
  rowsSkipped?: number;
  /** Rows re-sent as upserts because an interrupted run may have stored them. */
  rowsUpserted?: number;
  /** The journal file of this migration, when one is kept. */
  journal?: string;
  /** How the rows were (or, on a dry run, would be) written, and why. */
  writePath?: WritePathChoice;
  /** Rows the target holds afterwards (collection or partition); null on a dry run or skip. */
  rowCount: number | null;
  /** Index built, if any. */
  indexBuilt: string | null;
  /** Dimension, vector type and metric used. */
  dim: number;
  vectorType: VectorType;
  metric: Metric;
}

/** Validates the options every job shares. */
export function checkTargetOptions(job: string, options: ToMilvusOptions): void {
  if (!options.collection || typeof options.collection !== "string") {
    throw new MilvusdmError("CONFIG_INVALID", `${job}.dest_collection_name: expected a collection name`);
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(options.collection)) {
    throw new MilvusdmError(
      "CONFIG_INVALID",
      `${job}.dest_collection_name: "${options.collection}" is not a valid Milvus name ` +
        `(letters, digits and underscores, not starting with a digit)`,
    );
  }
  if (options.partition && !/^[A-Za-z0-9_-]+$/.test(options.partition)) {
    throw new MilvusdmError(
      "CONFIG_INVALID",
      `${job}.dest_partition_name: "${options.partition}" is not a valid Milvus partition name`,
    );
  }
  if (!MODES.includes(options.mode)) {
    throw new MilvusdmError(
      "CONFIG_INVALID",
      `${job}.mode: expected one of skip, append, overwrite, got ${JSON.stringify(options.mode)}`,
    );
  }
}

/** Picks the metric: the user's, else the source's, else the type's default; checks it fits the vector type. */
export function chooseMetric(
  job: string,
  vectorType: VectorType,
  asked: Metric | undefined,
  recorded: Metric | null,
): Metric {
  const metric = asked ?? recorded ?? (vectorType === "float" ? "L2" : "HAMMING");
  const allowed = vectorType === "float" ? FLOAT_METRICS : BINARY_METRICS;
  if (!allowed.includes(metric)) {
    throw new MilvusdmError(
      "CONFIG_INVALID",
      `${job}.collection_parameter.metric_type: ${metric} does not apply to ${vectorType} vectors ` +
        `(use one of ${allowed.join(", ")})`,
    );
  }
  return metric;
}

/** Runs `body` with a connection that is closed afterwards. */
export async function withConnection<T>(
  target: MilvusTarget,
  body: (conn: MilvusConnection) => Promise<T>,
): Promise<T> {
  const conn = await connectMilvus(target);
  try {
    return await body(conn);
  } finally {
    await conn.close();
  }
}

/** The journal folder of a job, or null when journals are off. */
export function journalDirOf(options: JournalOptions): string | null {
  if (options.journalDir === false) return null;
  return options.journalDir ?? `${milvusdmHome()}/journals`;
}

/** What identifies a migration for its journal, and what must not change between a run and its resume. */
export interface JournalIdentity {
  job: string;
  /** Everything that defines the migration (sources, target, collection, partition, dataset names...). */
  config: Record<string, unknown>;
}

/** The configuration without credentials, callbacks or tuning, for hashing. */
export function configForJournal(options: ToMilvusOptions, extra: Record<string, unknown>): Record<string, unknown> {
  const t = options.target;
  return {
    ...extra,
    target: { uri: t.uri ?? null, host: t.host ?? null, port: t.port ?? null, database: t.database ?? null },
    collection: options.collection,
    partition: options.partition ?? "",
    index: options.index ?? null,
  };
}

/** What the journal says about a migration about to run. */
export interface JournalPlan {
  /** The journal folder, or null when journals are off (or on a dry run). */
  dir: string | null;
  key: string;
  configHash: string;
  /** Continuing an interrupted run. */
  resuming: boolean;
  /** The write path the interrupted run used, when resuming (runs from before write paths used insert). */
  resumedWritePath?: "insert" | "import";
  /** Set when the migration completed earlier and append would store it twice: nothing is to be sent. */
  skipReason?: string;
}

/**
 * Decides from the journal how a migration starts: a resume of an interrupted run, a refusal (an interrupted run
 * exists and neither resume nor overwrite was asked for), a skip (completed earlier, mode append, same sources),
 * or a fresh start.
 */
export async function planJournal(
  conn: MilvusConnection,
  identity: JournalIdentity,
  spec: { collection: string; partition: string; mode: Mode },
  units: LoadUnit[],
  options: ToMilvusOptions,
): Promise<JournalPlan> {
  const log = options.onLog ?? (() => {});
  const dir = journalDirOf(options);
  const key = await hashOf({
    job: identity.job,
    address: conn.address,
    database: conn.database,
    collection: spec.collection,
    partition: spec.partition,
    units: units.map((u) => u.name),
  });
  const configHash = await hashOf(identity.config);
  const prior = dir ? await Journal.peek(dir, key) : null;
  const resuming = Boolean(options.resume && prior?.state === "running");
  if (options.resume && !resuming) {
    log(
      prior?.state === "done"
        ? "Nothing to resume: this migration completed earlier"
        : "Nothing to resume: no interrupted run of this migration was found; starting from the beginning",
    );
  }
  if (prior && !resuming) {
    if (prior.state === "running" && spec.mode !== "overwrite" && !options.dryRun) {
      throw new MilvusdmError(
        "CONFIG_INVALID",
        `An interrupted run of this migration (started ${prior.createdAt}) left "${spec.collection}" partly loaded`,
        { hint: "Run again with --resume (resume: true) to finish it, or with mode overwrite to start over" },
      );
    }
    if (prior.state === "done" && spec.mode === "append") {
      const same = units.every((u) =>
        prior.units[u.name]?.fingerprint === (u.fingerprint ?? `${u.source.info.rows}`) &&
        prior.units[u.name]?.durable === u.source.info.rows
      );
      if (same) {
        const skipReason = `this migration already completed on ${prior.updatedAt}: appending it again would store ` +
          `every row twice, so nothing is sent (use mode overwrite to load it again)`;
        log(skipReason);
        return { dir, key, configHash, resuming, skipReason };
      }
    }
  }
  return { dir, key, configHash, resuming, resumedWritePath: resuming ? prior?.writePath ?? "insert" : undefined };
}

/**
 * Prepares one target under the mode, loads the units into it and finishes it (flush, count, index, load), keeping
 * a journal so that an interrupted run can be resumed (`resume`) without losing or doubling rows, and a completed
 * one is not loaded twice in append mode.
 */
export async function loadTarget(
  conn: MilvusConnection,
  spec: {
    collection: string;
    partition: string;
    mode: Mode;
    dim: number;
    vectorType: VectorType;
    metric: Metric;
    hasIds: boolean;
  },
  units: LoadUnit[],
  options: ToMilvusOptions,
  identity: JournalIdentity,
): Promise<TargetSummary> {
  const log = options.onLog ?? (() => {});
  const plan = await planJournal(conn, identity, spec, units, options);
  const { dir, key, resuming } = plan;
  const base = (prepared: PreparedTarget | null, action: PreparedTarget["action"], reason: string): TargetSummary => ({
    collection: spec.collection,
    partition: prepared?.schema.partition ?? spec.partition,
    action,
    reason,
    units: units.map((u) => u.name),
    rows: 0,
    rowCount: null,
    indexBuilt: null,
    dim: spec.dim,
    vectorType: spec.vectorType,
    metric: prepared?.metric ?? serverMetric(spec.metric),
    journal: dir ? `${dir}/${key}.json` : undefined,
  });
  if (plan.skipReason) return base(null, "skip", plan.skipReason);
  const totalRows = units.reduce((n, u) => n + u.source.info.rows, 0);
  // Decided (and the import storage checked) before the target is touched.
  const writePath = await decideWritePath(conn, spec, totalRows, options, plan.resumedWritePath);
  const prepared = await prepareTarget(
    conn,
    { ...spec, mode: resuming ? "append" : spec.mode, index: options.index },
    { dryRun: options.dryRun },
  );
  log(resuming ? `Resuming the interrupted run (journal ${dir}/${key}.json)` : prepared.reason);
  if (spec.metric !== serverMetric(spec.metric)) {
    options.onWarning?.(
      `Milvus 2.x has no ${spec.metric} metric: the index uses ${serverMetric(spec.metric)}, which ranks bit vectors ` +
        `the same way`,
    );
  }
  if (prepared.action === "skip") return base(prepared, prepared.action, prepared.reason);
  if (options.dryRun) return { ...base(prepared, prepared.action, prepared.reason), writePath };
  let journal: Journal | undefined;
  const target = `${spec.collection}/${prepared.schema.partition}`;
  if (dir && !options.dryRun) {
    journal = await Journal.open(key, plan.configHash, identity.job, { dir, resume: resuming });
    if (journal.data.rowsBefore[target] === undefined) journal.data.rowsBefore[target] = prepared.rowsBefore;
    journal.data.writePath = writePath.path;
    journal.save();
  }
  const rowsBefore = journal?.data.rowsBefore[target] ?? prepared.rowsBefore;
  const loaded = await writeUnits(conn, prepared, units, options, writePath, journal, key);
  if (loaded.rowsSkipped > 0) log(`Resumed: ${loaded.rowsSkipped} rows were already in the target and were skipped`);
  if (loaded.rowsUpserted > 0) log(`Resumed: ${loaded.rowsUpserted} rows that may have been stored were upserted`);
  log(`All rows sent: flushing, checking the row count, building the index and loading "${spec.collection}"`);
  let rowCount: number;
  let indexBuilt: string | null;
  if (loaded.rowsUpserted > 0 || loaded.rowsSkipped > 0) {
    // Upserts leave deleted rows that statistics still count: check with count(*) on the loaded collection.
    const finished = await indexAndLoad(conn, {
      collection: spec.collection,
      vectorField: prepared.schema.vectorField,
      vectorType: spec.vectorType,
      metric: prepared.metric,
    }, { index: options.index });
    indexBuilt = finished.indexBuilt;
    if (!finished.loaded) {
      throw new MilvusdmError(
        "TARGET_COUNT_MISMATCH",
        `Cannot check the resumed load of "${spec.collection}": it has no index, so it cannot be loaded to count`,
        { hint: "Resume with an index (index_type) so the rows can be counted" },
      );
    }
    rowCount = await strongCount(conn, spec.collection, prepared.schema.partition);
    if (rowCount !== rowsBefore + totalRows) {
      throw new MilvusdmError(
        "TARGET_COUNT_MISMATCH",
        `"${target}" holds ${rowCount} rows after the resumed load, expected ${rowsBefore + totalRows} ` +
          `(${rowsBefore} before + ${totalRows} from the source)`,
      );
    }
  } else {
    const finished = await finishTarget(conn, { ...prepared, rowsBefore }, loaded.rowsSent, { index: options.index });
    rowCount = finished.rowCount;
    indexBuilt = finished.indexBuilt;
  }
  journal?.done();
  if (indexBuilt) log(`Built the ${indexBuilt} index (${prepared.metric}) on "${spec.collection}"`);
  return {
    ...base(prepared, resuming ? "append" : prepared.action, prepared.reason),
    rows: loaded.rowsSent,
    rowsSkipped: loaded.rowsSkipped,
    rowsUpserted: loaded.rowsUpserted,
    rowCount,
    indexBuilt,
    writePath,
  };
}

/**
 * The write path of a load: the one an interrupted run started on (`resumed`), else the option's (`auto` by
 * default, decided from the bytes of vectors). Logged with its reason; the caller records it in the journal.
 */
export async function decideWritePath(
  conn: MilvusConnection,
  spec: { dim: number; vectorType: VectorType },
  rows: number,
  options: ToMilvusOptions,
  resumed: "insert" | "import" | undefined,
): Promise<WritePathChoice> {
  const choice: WritePathChoice = resumed
    ? { path: resumed, reason: `the interrupted run used ${resumed}` }
    : await chooseWritePath(conn, options.writePath, rows * bytesPerVector(spec.vectorType, spec.dim), options.import, {
      dryRun: options.dryRun,
    });
  options.onLog?.(`Writing by ${choice.path}: ${choice.reason}`);
  return choice;
}

/** Loads units by the chosen path: insert requests, or the server's bulk import. */
export function writeUnits(
  conn: MilvusConnection,
  prepared: PreparedTarget,
  units: LoadUnit[],
  options: ToMilvusOptions,
  writePath: WritePathChoice,
  journal: Journal | undefined,
  runName: string,
): Promise<LoadResult> {
  const storedBefore = storedRows(units, journal);
  const load = writePath.path === "insert"
    ? loadUnits(conn, prepared, units, options, journal)
    : importUnits(conn, prepared, units, { ...options, runName }, journal);
  return load.catch((error) => {
    throw withTargetState(error, prepared, units, journal, storedBefore);
  });
}

function storedRows(units: LoadUnit[], journal: Journal | undefined): number {
  return units.reduce((n, u) => n + (journal?.data.units[u.name]?.durable ?? 0), 0);
}

/**
 * A failure during the load, with what it left in the target: how many rows of this migration are there (as the
 * journal knows them), and how to finish (`--resume`, which the journal makes exact) or start over. An
 * interruption gets its hint from the CLI.
 */
function withTargetState(
  error: unknown,
  prepared: PreparedTarget,
  units: LoadUnit[],
  journal: Journal | undefined,
  storedBefore: number,
): unknown {
  // Without a journal (a library caller's choice) what is stored is not known.
  if (!(error instanceof MilvusdmError) || error.code === "ABORTED" || !journal) return error;
  const stored = storedRows(units, journal);
  // Nothing stored by this run (e.g. a refused resume): the error's own hint says what to do.
  if (stored === storedBefore) return error;
  const target = `"${prepared.schema.collection}/${prepared.schema.partition || "_default"}"`;
  const stays = `At least ${stored} rows of this migration are in ${target} (journal ${journal.path})`;
  const state = exitCodeFor(error) === EXIT_CODES.source
    ? `${stays}: once the source is fixed, run again with mode overwrite (--resume refuses a changed source)`
    : `${stays}: once the cause is fixed, --resume finishes the migration without doubling rows; mode overwrite ` +
      `starts over`;
  return new MilvusdmError(error.code, error.message, {
    cause: error.cause ?? error,
    hint: error.hint ? `${error.hint}. ${state}` : state,
  });
}
