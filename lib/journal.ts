/**
 * The migration journal: which rows of which unit (file, segment list of a partition) the target has
 * acknowledged, kept under `$MILVUSDM_PATH/journals` (default `~/milvusdm/journals`) and replaced atomically
 * (write a temporary file, then rename) after every change. A resumed run skips the durable prefix of each unit
 * and re-sends the rows that may have been partly written as upserts, so no row is lost or stored twice.
 *
 * @module
 */
import { MilvusdmError } from "./errors.ts";

/** Progress of one unit. */
export interface UnitProgress {
  /** Rows the unit holds. */
  rows: number;
  /** Fingerprint of the unit's bytes (sizes, mtimes, row counts): a changed source is refused for resume. */
  fingerprint: string;
  /** Rows from the start of the unit that the target acknowledged, with nothing missing before them. */
  durable: number;
  /** The end of the furthest row range ever sent: rows in [durable, sentUpTo) may be in the target. */
  sentUpTo: number;
  /** Bulk import: rows per file set (fixed for the migration, so a resume cuts the same sets). */
  importSetRows?: number;
  /** Bulk import: file sets whose import completed (each is atomic). */
  imported?: number[];
  /** Bulk import: file sets whose import was started and not yet seen to complete (task null: not yet known). */
  pendingImports?: PendingImport[];
}

/** A file set handed to the server's import, not yet seen to complete. */
export interface PendingImport {
  /** Index of the file set in its unit. */
  set: number;
  /** The server's import task id (a decimal int64: never a Number), or null if the reply never came. */
  task: string | null;
  /** The file paths the import was given, as the server sees them (they identify the task when its id is lost). */
  files: string[];
}

/** What a journal file holds. */
export interface JournalData {
  version: 1;
  /** The migration's key (job, target, collection, partition, sources). */
  key: string;
  /** Hash of the whole configuration: a changed YAML or option is refused for resume. */
  configHash: string;
  /** `H2M`, `F2M`, `M2M`. */
  job: string;
  /** running: interrupted or in progress; done: completed and verified. */
  state: "running" | "done";
  createdAt: string;
  updatedAt: string;
  /** How rows are written: inserts, or the server's bulk import (a resume keeps the path the run started on). */
  writePath?: "insert" | "import";
  /** Rows each target (`collection/partition`) held before the first run. */
  rowsBefore: Record<string, number>;
  /** Progress per unit, by unit name. */
  units: Record<string, UnitProgress>;
}

/** Journal settings of a job. */
export interface JournalOptions {
  /** Continue an interrupted run of the same migration. */
  resume?: boolean;
  /** Where journals live (default `$MILVUSDM_PATH/journals`, `~/milvusdm/journals`); false for none. */
  journalDir?: string | false;
}

/** The folder milvusdm keeps its journals and logs in. */
export function milvusdmHome(): string {
  const env = Deno.env.get("MILVUSDM_PATH");
  if (env) return env;
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? ".";
  return `${home}/milvusdm`;
}

/** A stable short hash of a value (SHA-256 of its canonical JSON). */
export async function hashOf(value: unknown): Promise<string> {
  const text = JSON.stringify(value, (_k, v) => {
    if (typeof v === "bigint") return v.toString();
    if (v && typeof v === "object" && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)));
    }
    return v;
  });
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest).slice(0, 12), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A file's identity for a fingerprint: path, size and modification time. */
export async function fileFingerprint(path: string): Promise<string> {
  try {
    const s = await Deno.stat(path);
    return `${path}:${s.size}:${s.mtime?.getTime() ?? 0}`;
  } catch {
    return `${path}:missing`;
  }
}

/** The most often acknowledgements are written to the journal. */
export const SAVE_INTERVAL_MS = 250;

/** Batches the in-doubt range is extended ahead by, so that it is written once per this many batches. */
export const DOUBT_WINDOW_BATCHES = 8;

/** An open journal. */
export class Journal {
  readonly path: string;
  readonly data: JournalData;
  /** Whether this run continues an interrupted one. */
  readonly resumed: boolean;

  private constructor(path: string, data: JournalData, resumed: boolean) {
    this.path = path;
    this.data = data;
    this.resumed = resumed;
  }

  /**
   * Opens the journal of a migration. With `resume`, an interrupted run's journal must exist with the same
   * configuration; without it, a fresh journal is started (an interrupted one is replaced only when the caller
   * starts over, which it decides from {@linkcode Journal.peek}).
   */
  static async open(
    key: string,
    configHash: string,
    job: string,
    options: { dir: string; resume: boolean },
  ): Promise<Journal> {
    const path = `${options.dir}/${key}.json`;
    const existing = await Journal.peek(options.dir, key);
    if (options.resume && existing && existing.state === "running") {
      if (existing.configHash !== configHash) {
        throw new MilvusdmError(
          "CONFIG_INVALID",
          `Cannot resume: the configuration changed since the interrupted run (journal ${path})`,
          { hint: "Run with the same YAML and options, or start over with mode overwrite (without --resume)" },
        );
      }
      return new Journal(path, existing, true);
    }
    const now = new Date().toISOString();
    const data: JournalData = {
      version: 1,
      key,
      configHash,
      job,
      state: "running",
      createdAt: now,
      updatedAt: now,
      rowsBefore: {},
      units: {},
    };
    try {
      await Deno.mkdir(options.dir, { recursive: true });
    } catch (error) {
      throw new MilvusdmError("OUTPUT_ERROR", `Cannot create the journal folder "${options.dir}"`, { cause: error });
    }
    return new Journal(path, data, false);
  }

  /** Reads a journal without opening it (null when there is none or it is unreadable). */
  static async peek(dir: string, key: string): Promise<JournalData | null> {
    try {
      const data = JSON.parse(await Deno.readTextFile(`${dir}/${key}.json`)) as JournalData;
      return data.version === 1 && data.key === key ? data : null;
    } catch {
      return null;
    }
  }

  /** The progress of a unit, created when new; a changed unit is refused on resume. */
  unit(name: string, rows: number, fingerprint: string): UnitProgress {
    const known = this.data.units[name];
    if (known) {
      if (known.fingerprint !== fingerprint || known.rows !== rows) {
        throw new MilvusdmError(
          "SOURCE_INVALID",
          `Cannot resume: "${name}" changed since the interrupted run (${known.rows} rows then, ${rows} now)`,
          { hint: "Start over with mode overwrite (without --resume)" },
        );
      }
      return known;
    }
    const fresh: UnitProgress = { rows, fingerprint, durable: 0, sentUpTo: 0 };
    this.data.units[name] = fresh;
    return fresh;
  }

  #lastSave = 0;
  #changed = false;

  /**
   * Records a change, written at most every {@linkcode SAVE_INTERVAL_MS} (a write and a rename per batch blocked the
   * load for seconds on a busy disk). Only for changes a crash may lose safely: acknowledgements, whose rows are
   * then in doubt and re-sent as upserts. What is about to be sent is saved at once ({@linkcode Journal.save}).
   */
  saveSoon(): void {
    this.#changed = true;
    if (performance.now() - this.#lastSave >= SAVE_INTERVAL_MS) this.save();
  }

  /** Writes the changes {@linkcode Journal.saveSoon} held back. */
  saveIfChanged(): void {
    if (this.#changed) this.save();
  }

  /** Writes the journal atomically. */
  save(): void {
    this.#changed = false;
    this.#lastSave = performance.now();
    this.data.updatedAt = new Date().toISOString();
    const tmp = `${this.path}.tmp`;
    try {
      Deno.writeTextFileSync(tmp, JSON.stringify(this.data));
      Deno.renameSync(tmp, this.path);
    } catch (error) {
      throw new MilvusdmError("OUTPUT_ERROR", `Cannot write the journal "${this.path}": ${String(error)}`, {
        cause: error,
      });
    }
  }

  /** Marks the migration completed. */
  done(): void {
    this.data.state = "done";
    this.save();
  }
}

/**
 * Follows the row ranges of one unit as they are sent and acknowledged, advancing the durable prefix in order.
 */
export class UnitTracker {
  readonly #journal: Journal;
  readonly #progress: UnitProgress;
  readonly #ranges: { start: number; end: number; acked: boolean }[] = [];

  constructor(journal: Journal, progress: UnitProgress) {
    this.#journal = journal;
    this.#progress = progress;
  }

  /** Rows to skip (already durable). */
  get durable(): number {
    return this.#progress.durable;
  }

  /** Rows below this may already be in the target: they are sent as upserts. */
  get inDoubtUpTo(): number {
    return this.#progress.sentUpTo;
  }

  /**
   * Records that rows [start, end) are about to be sent: the in-doubt range is written before they leave, extended
   * a few batches ahead so that this happens once per {@linkcode DOUBT_WINDOW_BATCHES} batches (rows in the range
   * that were never sent are re-sent as upserts on resume, which stores them once).
   */
  sending(start: number, end: number): void {
    this.#ranges.push({ start, end, acked: false });
    if (end > this.#progress.sentUpTo) {
      this.#progress.sentUpTo = Math.min(
        Math.max(this.#progress.rows, end),
        end + (end - start) * (DOUBT_WINDOW_BATCHES - 1),
      );
      this.#journal.save();
    }
  }

  /**
   * After the sends settled (all acknowledged or failed): narrows the in-doubt range to what was really sent and
   * not acknowledged, so a clean stop (Ctrl-C) leaves nothing in doubt. Written with the next save.
   */
  settle(): void {
    const open = this.#ranges.filter((r) => !r.acked).reduce((m, r) => Math.max(m, r.end), 0);
    const settled = Math.max(this.#progress.durable, open);
    if (settled < this.#progress.sentUpTo) {
      this.#progress.sentUpTo = settled;
      this.#journal.saveSoon();
    }
  }

  /** Records that rows [start, end) were acknowledged. */
  acknowledged(start: number): void {
    const range = this.#ranges.find((r) => r.start === start && !r.acked);
    if (range) range.acked = true;
    let advanced = false;
    while (this.#ranges.length > 0 && this.#ranges[0].acked && this.#ranges[0].start <= this.#progress.durable) {
      this.#progress.durable = Math.max(this.#progress.durable, this.#ranges.shift()!.end);
      advanced = true;
    }
    if (advanced) {
      if (this.#progress.durable >= this.#progress.rows) this.#journal.save();
      else this.#journal.saveSoon();
    }
  }
}
