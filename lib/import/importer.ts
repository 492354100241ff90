/**
 * Milvus's own bulk import: rows streamed into NumPy files (one per field, as the server's import reads them),
 * cut into file sets of bounded size, published where the server reads them (a local folder or its S3 bucket),
 * and imported one set per import task, with the next set written while the server imports the last.
 *
 * Each import task is atomic: its rows all land or none do. The journal records which file sets were imported and
 * which tasks were started, so a resumed run asks the server about the tasks in doubt and imports only the sets
 * that did not land: nothing is stored twice or lost.
 *
 * @module
 */
import type { ImportTaskState } from "../milvus/control.ts";
import { MilvusdmError, throwIfAborted } from "../errors.ts";
import { checkStatus, control, type MilvusConnection } from "../milvus/connection.ts";
import { NpyWriter } from "../milvus/npy.ts";
import type { PreparedTarget } from "../milvus/sink.ts";
import { validateBatch } from "../milvus/wire.ts";
import { hashOf, type Journal, type PendingImport, type UnitProgress } from "../journal.ts";
import { type LoadOptions, type LoadResult, type LoadUnit, rowsPerBatch, sliceBatch } from "../pipeline.ts";
import { type Batch, bytesPerVector } from "../types.ts";
import { type ImportStorage, type ImportStorageConfig, openImportStorage } from "./storage.ts";

/** How rows reach the server: `insert` requests, the server's bulk `import`, or `auto` (import for large loads). */
export type WritePath = "auto" | "insert" | "import";
/** The accepted values. */
export const WRITE_PATHS: readonly WritePath[] = ["auto", "insert", "import"];

/** `auto` imports loads of at least this many bytes of vectors (default 1 GiB). */
export const DEFAULT_IMPORT_THRESHOLD_BYTES = 1024 * 1024 * 1024;
/** Bytes of rows per file set (default 512 MiB). */
export const DEFAULT_IMPORT_FILE_BYTES = 512 * 1024 * 1024;
/** Import tasks running at once (default 2: one importing while the next set is written). */
export const DEFAULT_IMPORTS_IN_FLIGHT = 2;

/** Settings of the bulk-import path. */
export interface ImportOptions {
  /** Where the files go (default: a local folder, for a standalone server on this host). */
  storage?: ImportStorageConfig;
  /** `auto` imports when the vectors take at least this many bytes (default 1 GiB). */
  thresholdBytes?: number;
  /** Bytes of rows per file set, i.e. per import task (default 512 MiB). */
  fileBytes?: number;
  /** Keep the files after a successful import (default: removed). */
  keepFiles?: boolean;
  /** Import tasks running at once (default 2). */
  jobsInFlight?: number;
}

/** The path a load takes, and why. */
export interface WritePathChoice {
  path: "insert" | "import";
  reason: string;
}

const MB = 1024 * 1024;
const mb = (bytes: number) => `${(bytes / MB).toFixed(bytes < 10 * MB ? 1 : 0)} MB`;

/** Whether the server has the bulk-import API (Milvus 2.2 and later). */
export function serverCanImport(version: string): boolean {
  const m = /(\d+)\.(\d+)/.exec(version);
  if (!m) return true; // unknown: let the server answer
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 2 || (major === 2 && minor >= 2);
}

function isLoopback(address: string): boolean {
  const host = address.replace(/:\d+$/, "").replace(/^\[|\]$/g, "").toLowerCase();
  if (host === "localhost" || host === "::1" || /^127\./.test(host)) return true;
  try {
    return host === Deno.hostname().toLowerCase();
  } catch {
    return false;
  }
}

/**
 * Decides the write path of a load of `bytes` bytes of vectors. `auto` imports at or above the threshold when the
 * server can read the storage: a local folder only for a server on this host (or a folder the user named), and
 * only after a one-row probe import into a scratch collection succeeded.
 */
export async function chooseWritePath(
  conn: MilvusConnection,
  asked: WritePath | undefined,
  bytes: number,
  options: ImportOptions = {},
  settings: { dryRun?: boolean } = {},
): Promise<WritePathChoice> {
  const wanted = asked ?? "auto";
  if (!WRITE_PATHS.includes(wanted)) {
    throw new MilvusdmError(
      "CONFIG_INVALID",
      `write_path: expected one of ${WRITE_PATHS.join(", ")}, got ${JSON.stringify(asked)}`,
    );
  }
  if (wanted === "insert") return { path: "insert", reason: "write_path is insert" };
  if (wanted === "import") {
    if (!serverCanImport(conn.serverVersion)) {
      throw new MilvusdmError(
        "CONFIG_INVALID",
        `write_path is import, but Milvus ${conn.serverVersion} at ${conn.address} has no bulk import (2.2 and later)`,
        { hint: "Use write_path: insert (or auto)" },
      );
    }
    // The storage is checked now (folder writable, bucket reachable), before the target is touched.
    if (!settings.dryRun) await openImportStorage(options.storage);
    return { path: "import", reason: "write_path is import" };
  }
  const threshold = options.thresholdBytes ?? DEFAULT_IMPORT_THRESHOLD_BYTES;
  if (bytes < threshold) {
    return {
      path: "insert",
      reason: `${mb(bytes)} of vectors is under the import threshold of ${mb(threshold)} (import_threshold_bytes)`,
    };
  }
  if (!serverCanImport(conn.serverVersion)) {
    return { path: "insert", reason: `Milvus ${conn.serverVersion} has no bulk import (2.2 and later)` };
  }
  const storage = options.storage ?? { type: "local" as const };
  if (storage.type === "local" && !storage.dir && !isLoopback(conn.address)) {
    return {
      path: "insert",
      reason: `${mb(bytes)} of vectors is over the import threshold, but the server at ${conn.address} is not on ` +
        `this host and no import_storage is set (its files must be where the server can read them)`,
    };
  }
  if (settings.dryRun) {
    return {
      path: "import",
      reason: `${mb(bytes)} of vectors is over the import threshold of ${mb(threshold)} (if the server can read the ` +
        `${storage.type === "s3" ? "bucket" : "import folder"}; the run checks with a one-row probe)`,
    };
  }
  const problem = await probeImport(conn, options);
  if (problem) {
    return {
      path: "insert",
      reason: `${mb(bytes)} of vectors is over the import threshold, but a probe import failed: ${problem}`,
    };
  }
  return {
    path: "import",
    reason: `${mb(bytes)} of vectors is over the import threshold of ${mb(threshold)} and the server read a probe ` +
      `file from the ${storage.type === "s3" ? "bucket" : "import folder"}`,
  };
}

/**
 * Imports one row into a scratch collection, to learn whether the server reads the files this storage writes.
 * Returns null when it did, else what went wrong. The scratch collection and the files are removed.
 */
export async function probeImport(conn: MilvusConnection, options: ImportOptions = {}): Promise<string | null> {
  const name = `milvusdm_probe_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  let storage: ImportStorage;
  try {
    storage = await openImportStorage(options.storage);
  } catch (error) {
    return error instanceof MilvusdmError ? error.message : String(error);
  }
  const setName = `${name}/probe`;
  let localDir = "";
  const files = ["id.npy", "vector.npy"];
  const client = conn.client;
  try {
    await control(conn, "create a probe collection", () =>
      client.createCollection({
        collection_name: name,
        fields: [
          { name: "id", data_type: 5, is_primary_key: true, autoID: false },
          { name: "vector", data_type: 101, dim: 2 },
        ],
      })).then((s) => checkStatus(s, `create the probe collection "${name}"`));
    localDir = await storage.stage(setName);
    const ids = await NpyWriter.create(`${localDir}/id.npy`, "<i8", [1], 8);
    await ids.append(new Uint8Array(8));
    ids.close();
    const vectors = await NpyWriter.create(`${localDir}/vector.npy`, "<f4", [1, 2], 4);
    await vectors.append(new Uint8Array(8));
    vectors.close();
    const paths = await storage.publish(setName, localDir, files);
    const task = await startImportTask(conn, name, "", paths);
    const state = await waitForTask(conn, task, { timeoutMs: 120_000 });
    if (state.failed) return state.reason;
    return null;
  } catch (error) {
    return error instanceof MilvusdmError ? error.message : String(error);
  } finally {
    await control(conn, "drop the probe collection", () => client.dropCollection({ collection_name: name }))
      .catch(() => {});
    if (localDir) await storage.remove(setName, localDir, files).catch(() => {});
    await storage.finish(name).catch(() => {});
  }
}

/** Starts an import task for one file set; returns its id (a decimal string: ids exceed 2^53). */
async function startImportTask(
  conn: MilvusConnection,
  collection: string,
  partition: string,
  files: string[],
): Promise<string> {
  const reply = await control(conn, "start an import", () =>
    conn.client.bulkInsert({
      collection_name: collection,
      ...(partition ? { partition_name: partition } : {}),
      files,
    }));
  checkStatus(reply.status, `import ${files.join(", ")} into "${collection}"`);
  const task = reply.tasks[0];
  if (task === undefined || task === null || !/^\d+$/.test(String(task))) {
    throw new MilvusdmError("IMPORT_FAILED", `Milvus started no import task for ${files.join(", ")}`);
  }
  return String(task);
}

/** The outcome of an import task. */
interface TaskOutcome {
  failed: boolean;
  reason: string;
  rows: number;
}

function infoOf(reply: ImportTaskState, key: string): string {
  return reply.infos.find((kv) => kv.key === key)?.value ?? "";
}

/** Polls an import task until it completes or fails, with backoff from 0.2 s to 2 s (a set finishing waits at most 2 s to be seen). */
async function waitForTask(
  conn: MilvusConnection,
  task: string,
  options: { timeoutMs?: number; signal?: AbortSignal; onPoll?: (percent: number) => void } = {},
): Promise<TaskOutcome> {
  const started = Date.now();
  let delay = 200;
  for (;;) {
    throwIfAborted(options.signal);
    const reply: ImportTaskState = await control(
      conn,
      "read an import's state",
      () => conn.client.getImportState({ task }),
    );
    checkStatus(reply.status, `read the state of import task ${task}`);
    const state = String(reply.state);
    if (state === "ImportCompleted") {
      return { failed: false, reason: "", rows: Number(reply.row_count ?? 0) };
    }
    if (state === "ImportFailed" || state === "ImportFailedAndCleaned") {
      return { failed: true, reason: infoOf(reply, "failed_reason") || state, rows: 0 };
    }
    const percent = Number(infoOf(reply, "progress_percent") || 0);
    options.onPoll?.(Number.isFinite(percent) ? percent : 0);
    if (options.timeoutMs !== undefined && Date.now() - started > options.timeoutMs) {
      return { failed: true, reason: `still ${state} after ${options.timeoutMs / 1000} s`, rows: 0 };
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(2000, Math.round(delay * 1.5));
  }
}

/** Finds an import task by the files it was given (when a run stopped before learning the task's id). */
async function findTaskByFiles(conn: MilvusConnection, collection: string, files: string[]): Promise<string | null> {
  const reply = await control(
    conn,
    "list import tasks",
    () => conn.client.listImportTasks({ collection_name: collection }),
  );
  checkStatus(reply.status, `list the import tasks of "${collection}"`);
  const wanted = files.join(",");
  const found = reply.tasks.filter((t) => infoOf(t, "files") === wanted);
  // The newest matching task decides (an earlier failed attempt may have used the same paths).
  found.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
  return found.length > 0 ? found[found.length - 1].id : null;
}

/** The NumPy files of one file set, written as rows arrive. */
class FileSet {
  readonly name: string;
  readonly localDir: string;
  readonly set: number;
  readonly rows: number;
  readonly files: string[];
  readonly #ids: NpyWriter | null;
  readonly #vectors: NpyWriter;

  private constructor(
    name: string,
    localDir: string,
    set: number,
    rows: number,
    files: string[],
    ids: NpyWriter | null,
    vectors: NpyWriter,
  ) {
    this.name = name;
    this.localDir = localDir;
    this.set = set;
    this.rows = rows;
    this.files = files;
    this.#ids = ids;
    this.#vectors = vectors;
  }

  static async open(
    storage: ImportStorage,
    name: string,
    set: number,
    rows: number,
    schema: PreparedTarget["schema"],
  ): Promise<FileSet> {
    const localDir = await storage.stage(name);
    const files: string[] = [];
    let ids: NpyWriter | null = null;
    if (schema.idField !== null) {
      files.push(`${schema.idField}.npy`);
      ids = await NpyWriter.create(`${localDir}/${schema.idField}.npy`, "<i8", [rows], 8);
    }
    files.push(`${schema.vectorField}.npy`);
    const vectors = schema.vectorType === "float"
      ? await NpyWriter.create(`${localDir}/${schema.vectorField}.npy`, "<f4", [rows, schema.dim], 4)
      : await NpyWriter.create(`${localDir}/${schema.vectorField}.npy`, "|u1", [rows, schema.dim / 8], 1);
    return new FileSet(name, localDir, set, rows, files, ids, vectors);
  }

  async append(batch: Batch): Promise<void> {
    if (this.#ids && batch.ids) {
      await this.#ids.append(new Uint8Array(batch.ids.buffer, batch.ids.byteOffset, batch.ids.byteLength));
    }
    const v = batch.vectors;
    await this.#vectors.append(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  }

  close(): void {
    this.#ids?.close();
    this.#vectors.close();
  }
}

/** Options of {@linkcode importUnits}. */
export interface ImportUnitsOptions extends LoadOptions {
  /** Import settings. */
  import?: ImportOptions;
  /** Names the run's folder of file sets (the journal key, so a resume finds its files). */
  runName: string;
  /** Informational messages. */
  onLog?: (message: string) => void;
}

/** A task started and not yet seen to finish. */
interface Started {
  fileSet: { name: string; localDir: string; set: number; rows: number; files: string[] };
  paths: string[];
  task: string;
  progress: UnitProgress | null;
  owner: Owner;
}

interface Owner {
  name: string;
  done: number;
  rows: number;
}

/**
 * Loads every unit into the prepared target through the server's bulk import, in file sets of bounded size. With a
 * journal, sets imported by an interrupted run are skipped and tasks it left in doubt are resolved with the server
 * first. Memory is bounded by one batch: rows go from the source to the files as they are read.
 */
export async function importUnits(
  conn: MilvusConnection,
  prepared: PreparedTarget,
  units: LoadUnit[],
  options: ImportUnitsOptions,
  journal?: Journal,
): Promise<LoadResult> {
  const started = performance.now();
  const log = options.onLog ?? (() => {});
  const { schema } = prepared;
  const storage = await openImportStorage(options.import?.storage);
  const vectorBytes = bytesPerVector(schema.vectorType, schema.dim);
  const rowBytes = vectorBytes + (schema.idField !== null ? 8 : 0);
  const fileBytes = options.import?.fileBytes ?? DEFAULT_IMPORT_FILE_BYTES;
  if (!(fileBytes >= 1)) {
    throw new MilvusdmError("CONFIG_INVALID", `import_file_bytes must be positive, got ${fileBytes}`);
  }
  const defaultSetRows = Math.max(1, Math.floor(fileBytes / rowBytes));
  const maxRows = rowsPerBatch(vectorBytes, options.batchBytes);
  const inFlight = Math.max(1, options.import?.jobsInFlight ?? DEFAULT_IMPORTS_IN_FLIGHT);
  const keep = options.import?.keepFiles ?? false;
  const rowsTotal = units.reduce((n, u) => n + u.source.info.rows, 0);
  let rowsDone = 0;
  let rowsSkipped = 0;
  let rowsSent = 0;
  // `partial`: rows of the set being imported that the server reports done (its progress percent).
  const emit = (owner: Owner, rows: number, partial = 0) => {
    rowsDone += rows;
    owner.done += rows;
    const done = rowsDone + rowsSkipped + partial;
    options.onProgress?.({
      unit: owner.name,
      unitRowsDone: Math.min(owner.done + partial, owner.rows),
      unitRows: owner.rows,
      rowsDone: done,
      rowsTotal,
      bytesDone: done * vectorBytes,
      elapsedSeconds: (performance.now() - started) / 1000,
    });
  };
  const pending: Started[] = [];
  const partition = schema.partition;
  log(`Importing through ${storage.kind === "s3" ? "the bucket" : "the folder"} ${storage.where}`);

  const markImported = (progress: UnitProgress | null, set: number, setRows: number) => {
    if (!progress || !journal) return;
    progress.imported = [...new Set([...(progress.imported ?? []), set])].sort((a, b) => a - b);
    progress.pendingImports = (progress.pendingImports ?? []).filter((p) => p.set !== set);
    // The durable prefix: sets imported with none missing before them.
    let durable = 0;
    const per = progress.importSetRows ?? setRows;
    for (let s = 0; progress.imported.includes(s); s++) durable = Math.min(progress.rows, (s + 1) * per);
    progress.durable = durable;
    journal.save();
  };

  const finishOldest = async () => {
    const next = pending.shift()!;
    let reported = -1;
    const outcome = await waitForTask(conn, next.task, {
      signal: options.signal,
      onPoll: (percent) => {
        const partial = Math.floor(next.fileSet.rows * Math.min(99, percent) / 100);
        if (partial > reported) {
          reported = partial;
          emit(next.owner, 0, partial);
        }
      },
    });
    if (outcome.failed) {
      if (next.progress && journal) {
        next.progress.pendingImports = (next.progress.pendingImports ?? []).filter((p) => p.set !== next.fileSet.set);
        journal.save();
      }
      throw new MilvusdmError(
        "IMPORT_FAILED",
        `Milvus failed to import ${next.paths.join(", ")} into "${schema.collection}": ${outcome.reason}`,
        {
          hint: `Nothing of this file set was stored (imports are atomic). The files were left in ${storage.where} ` +
            `for a look; a re-run with --resume imports the sets that did not land`,
        },
      );
    }
    if (outcome.rows !== next.fileSet.rows) {
      throw new MilvusdmError(
        "TARGET_COUNT_MISMATCH",
        `Milvus imported ${outcome.rows} rows from ${next.paths.join(", ")}, which hold ${next.fileSet.rows}`,
      );
    }
    rowsSent += next.fileSet.rows;
    markImported(next.progress, next.fileSet.set, next.fileSet.rows);
    emit(next.owner, next.fileSet.rows);
    if (!keep) await storage.remove(next.fileSet.name, next.fileSet.localDir, next.fileSet.files);
  };

  const start = async (fileSet: FileSet, progress: UnitProgress | null, owner: Owner) => {
    fileSet.close();
    while (pending.length >= inFlight) await finishOldest();
    throwIfAborted(options.signal);
    const paths = await storage.publish(fileSet.name, fileSet.localDir, fileSet.files);
    const record: PendingImport = { set: fileSet.set, task: null, files: paths };
    if (progress && journal) {
      progress.pendingImports = [...(progress.pendingImports ?? []).filter((p) => p.set !== fileSet.set), record];
      progress.sentUpTo = Math.max(progress.sentUpTo, Math.min(progress.rows, (fileSet.set + 1) * setRowsOf(progress)));
      journal.save();
    }
    const task = await startImportTask(conn, schema.collection, partition, paths);
    if (progress && journal) {
      record.task = task;
      journal.save();
    }
    log(`Importing ${fileSet.rows} rows of "${owner.name}" (file set ${fileSet.set + 1}, task ${task})`);
    pending.push({ fileSet, paths, task, progress, owner });
  };

  const setRowsOf = (progress: UnitProgress | null) => progress?.importSetRows ?? defaultSetRows;
  // The file set being written, closed (without its size check) if the load fails.
  let current: FileSet | null = null;

  try {
    for (const unit of units) {
      throwIfAborted(options.signal);
      // File sets are named after the unit, so sets of different units never share a folder.
      const unitTag = (await hashOf(unit.name)).slice(0, 12);
      const rows = unit.source.info.rows;
      const owner: Owner = { name: unit.name, done: 0, rows };
      const progress = journal ? journal.unit(unit.name, rows, unit.fingerprint ?? `${rows}`) : null;
      if (progress && progress.importSetRows === undefined) {
        progress.importSetRows = defaultSetRows;
        journal!.save();
      }
      const per = setRowsOf(progress);
      const imported = new Set(progress?.imported ?? []);
      // Tasks an interrupted run left in doubt: ask the server how they ended.
      for (const record of [...(progress?.pendingImports ?? [])]) {
        const task = record.task ?? await findTaskByFiles(conn, schema.collection, record.files);
        const setRows = Math.min(rows, (record.set + 1) * per) - record.set * per;
        if (task === null) {
          log(`File set ${record.set + 1} of "${unit.name}" was never imported: importing it again`);
          progress!.pendingImports = progress!.pendingImports!.filter((p) => p !== record);
          journal!.save();
          continue;
        }
        const outcome = await waitForTask(conn, task, { signal: options.signal });
        if (!outcome.failed && outcome.rows !== setRows) {
          // It landed, but not whole: importing it again would double the rows that did.
          throw new MilvusdmError(
            "TARGET_COUNT_MISMATCH",
            `Import task ${task} of the interrupted run stored ${outcome.rows} rows of file set ${record.set + 1} ` +
              `of "${unit.name}", which holds ${setRows}`,
            { hint: "Start over with mode overwrite (without --resume)" },
          );
        }
        if (!outcome.failed) {
          log(`File set ${record.set + 1} of "${unit.name}" was imported by the interrupted run (task ${task})`);
          imported.add(record.set);
          markImported(progress, record.set, setRows);
        } else {
          log(
            `File set ${record.set + 1} of "${unit.name}" did not land (task ${task}: ${outcome.reason}): ` +
              `importing it again`,
          );
          progress!.pendingImports = progress!.pendingImports!.filter((p) => p !== record);
          journal!.save();
        }
      }
      const sets = Math.ceil(rows / per);
      for (const s of imported) {
        if (s < sets) {
          const n = Math.min(rows, (s + 1) * per) - s * per;
          rowsSkipped += n;
          owner.done += n;
        }
      }
      if (imported.size >= sets) continue;
      let pos = 0;
      current = null;
      for await (const batch of unit.source.batches(maxRows, options.signal)) {
        if (batch.rows === 0) continue;
        validateBatch(batch, schema);
        let offset = 0;
        while (offset < batch.rows) {
          const set = Math.floor(pos / per);
          const setEnd = Math.min(rows, (set + 1) * per);
          const take = Math.min(batch.rows - offset, setEnd - pos);
          if (take <= 0) {
            throw new MilvusdmError("SOURCE_INVALID", `"${unit.name}" yielded more than the ${rows} rows it declared`);
          }
          if (!imported.has(set)) {
            current ??= await FileSet.open(
              storage,
              `${options.runName}/${unitTag}-${set}`,
              set,
              setEnd - set * per,
              schema,
            );
            await current.append(take === batch.rows ? batch : sliceBatch(batch, offset, offset + take));
          }
          pos += take;
          offset += take;
          if (pos === setEnd && current) {
            await start(current, progress, owner);
            current = null;
          }
        }
      }
      if (pos !== rows) {
        throw new MilvusdmError("SOURCE_TRUNCATED", `"${unit.name}" yielded ${pos} rows, its header declares ${rows}`);
      }
    }
    while (pending.length > 0) await finishOldest();
  } catch (error) {
    try {
      current?.close();
    } catch {
      // A partly written set: its files are rewritten by the next run.
    }
    // Let the tasks already started finish and be recorded, then report the first failure.
    if (!(error instanceof MilvusdmError && error.code === "ABORTED")) {
      while (pending.length > 0) await finishOldest().catch(() => {});
    }
    throw error;
  }
  if (!keep) await storage.finish(options.runName);
  else log(`Import files kept in ${storage.where}/${options.runName}`);
  return { rowsSent, rowsSkipped, rowsUpserted: 0 };
}
