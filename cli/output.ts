/**
 * What the CLI prints. Logs, warnings, progress and errors go to stderr; results (plans, reports, the summary table)
 * to stdout; with `--json`, stdout carries one JSON event per line instead. Every line is redacted of the run's
 * secrets, and also written, with DEBUG detail, to the day's log file under `$MILVUSDM_PATH/logs`.
 *
 * @module
 */
import { redact } from "../lib/config.ts";
import { exitCodeFor, MilvusdmError } from "../lib/errors.ts";
import type { MigrationSummary } from "../lib/jobs/common.ts";
import type { ExportSummary } from "../lib/jobs/m2h.ts";
import { milvusdmHome } from "../lib/journal.ts";
import type { ProgressEvent } from "../lib/pipeline.ts";
import { fmtBytes, fmtCount, fmtSeconds, table } from "./render.ts";

/** How output is shaped. */
export interface OutputOptions {
  /** One JSON event per line on stdout. */
  json: boolean;
  /** Only errors (and a command's requested report). */
  quiet: boolean;
  /** Stack traces, and DEBUG lines on stderr too. */
  debug: boolean;
  /** Colours (default: on a terminal, unless `NO_COLOR` is set). */
  color?: boolean;
  /** The log file to append to, or null for none. */
  logFile?: string | null;
}

const encoder = new TextEncoder();

interface UnitState {
  name: string;
  rows: number;
  done: number;
  start: number;
  last: number;
  bytesPerRow: number;
  reported: boolean;
}

/** Today's log file: `$MILVUSDM_PATH/logs/milvusdm-YYYY-MM-DD.log` (default `~/milvusdm/logs/...`). */
export function logFilePath(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${milvusdmHome()}/logs/milvusdm-${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())}.log`;
}

/** The CLI's printer. Secrets registered with `addSecrets` never reach the terminal, stdout or the log file. */
export class Output {
  readonly options: OutputOptions;
  #secrets: string[] = [];
  #lastDraw = 0;
  #lastEvent = 0;
  #lastLoggedProgress = 0;
  #progressShown = false;
  #unit: UnitState | null = null;
  #log: Deno.FsFile | null = null;
  #logProblem: string | null = null;
  readonly #tty: boolean;
  readonly #color: boolean;

  constructor(options: OutputOptions) {
    this.options = options;
    this.#tty = Deno.stderr.isTerminal();
    this.#color = options.color ?? (this.#tty && !Deno.env.get("NO_COLOR"));
    if (options.logFile) {
      try {
        Deno.mkdirSync(options.logFile.replace(/[/\\][^/\\]*$/, ""), { recursive: true });
        this.#log = Deno.openSync(options.logFile, { append: true, create: true });
      } catch (error) {
        this.#logProblem = `Cannot write the log file "${options.logFile}" (${
          (error as Error).message
        }); continuing without it`;
      }
    }
  }

  /** Values to redact from every line. */
  addSecrets(secrets: readonly string[]): void {
    this.#secrets.push(...secrets.filter((s) => s.length > 0));
  }

  /** Warns once, after secrets are known, when the log file could not be opened. */
  reportLogProblem(): void {
    if (this.#logProblem) this.warn(this.#logProblem);
    this.#logProblem = null;
  }

  #paint(code: string, text: string): string {
    return this.#color ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  #file(level: "DEBUG" | "INFO" | "WARN" | "ERROR", text: string): void {
    if (!this.#log) return;
    const stamp = new Date().toISOString();
    const lines = redact(text, this.#secrets).split("\n").map((l) => `${stamp} ${level.padEnd(5)} ${l}`);
    try {
      this.#log.writeSync(encoder.encode(lines.join("\n") + "\n"));
    } catch {
      this.#log = null;
    }
  }

  #err(line: string): void {
    this.#clearProgress();
    Deno.stderr.writeSync(encoder.encode(redact(line, this.#secrets) + "\n"));
  }

  #out(text: string): void {
    this.#clearProgress();
    Deno.stdout.writeSync(encoder.encode(redact(text, this.#secrets) + "\n"));
  }

  /** Writes one JSON event on stdout. */
  event(event: Record<string, unknown>): void {
    const line = JSON.stringify(
      { event: event.event, time: new Date().toISOString(), ...event },
      (_k, v) => typeof v === "bigint" ? v.toString() : v,
    );
    Deno.stdout.writeSync(encoder.encode(redact(line, this.#secrets) + "\n"));
  }

  #clearProgress(): void {
    if (this.#progressShown) {
      Deno.stderr.writeSync(encoder.encode("\r\x1b[2K"));
      this.#progressShown = false;
    }
  }

  /** Detail for the log file (and stderr with `--debug`). */
  debug(message: string): void {
    this.#file("DEBUG", message);
    if (this.options.debug && !this.options.json) this.#err(this.#paint("2", `debug: ${message}`));
  }

  /** An informational line. */
  log(message: string): void {
    this.#file("INFO", message);
    if (this.options.json) this.event({ event: "log", message });
    else if (!this.options.quiet) this.#err(message);
  }

  /** A warning (shown unless --quiet). */
  warn(message: string): void {
    this.#file("WARN", message);
    if (this.options.json) this.event({ event: "warning", message });
    else if (!this.options.quiet) this.#err(`${this.#paint("33", "warning")}: ${message}`);
  }

  /** The start of a command. */
  start(details: Record<string, unknown>): void {
    this.#file("INFO", `start ${JSON.stringify(details)}`);
    if (this.options.json) this.event({ event: "start", ...details });
  }

  /** A command's result: human text on stdout, or one JSON event. Printed even with --quiet. */
  result(text: string, event: Record<string, unknown>): void {
    this.#file("INFO", text);
    if (this.options.json) this.event(event);
    else this.#out(text);
  }

  /** Progress of the running unit: a bar on a terminal, events with --json, a line now and then in the log file. */
  progress(p: ProgressEvent): void {
    const now = performance.now();
    if (!this.#unit || this.#unit.name !== p.unit) {
      if (this.#unit && !this.#unit.reported) this.#unitDone(this.#unit);
      // The first unit of a load starts with the load; a later one where the previous one stopped.
      const start = p.unitRowsDone === p.rowsDone || this.#lastEvent === 0
        ? now - p.elapsedSeconds * 1000
        : this.#lastEvent;
      this.#unit = { name: p.unit, rows: p.unitRows, done: 0, start, last: now, bytesPerRow: 0, reported: false };
    }
    const unit = this.#unit;
    unit.done = p.unitRowsDone;
    unit.rows = p.unitRows;
    unit.last = now;
    if (p.rowsDone > 0) unit.bytesPerRow = p.bytesDone / p.rowsDone;
    this.#lastEvent = now;
    const seconds = Math.max((now - unit.start) / 1000, 1e-3);
    const rate = unit.done / seconds;
    const mbs = (unit.done * unit.bytesPerRow) / 1e6 / seconds;
    const eta = rate > 0 ? (unit.rows - unit.done) / rate : Infinity;
    const overallEta = p.elapsedSeconds > 0 && p.rowsDone > 0
      ? (p.rowsTotal - p.rowsDone) / (p.rowsDone / p.elapsedSeconds)
      : Infinity;
    if (now - this.#lastLoggedProgress > 2000) {
      this.#lastLoggedProgress = now;
      this.#file(
        "DEBUG",
        `progress ${p.unit}: ${p.unitRowsDone}/${p.unitRows} rows, ${p.rowsDone}/${p.rowsTotal} in all, ` +
          `${mbs.toFixed(1)} MB/s`,
      );
    }
    const final = p.unitRowsDone >= p.unitRows;
    if (this.options.json) {
      if (final || now - this.#lastDraw >= 250) {
        this.#lastDraw = now;
        this.event({
          event: "progress",
          ...p,
          mbPerSecond: Number(mbs.toFixed(3)),
          etaSeconds: Number.isFinite(overallEta) ? Number(overallEta.toFixed(1)) : null,
        });
      }
      if (final && !unit.reported) this.#unitDone(unit);
      return;
    }
    if (final && !unit.reported) {
      this.#unitDone(unit);
      return;
    }
    if (this.options.quiet || !this.#tty || unit.reported) return;
    if (!final && now - this.#lastDraw < 100) return;
    this.#lastDraw = now;
    const pct = unit.rows ? (100 * unit.done) / unit.rows : 100;
    const width = 20;
    const filled = Math.min(width, Math.round((width * pct) / 100));
    const full = "█".repeat(filled);
    const empty = "░".repeat(width - filled);
    const name = unit.name.length > 36 ? "…" + unit.name.slice(-35) : unit.name;
    let tail = `${pct.toFixed(1).padStart(5)}%  ${fmtCount(unit.done)}/${fmtCount(unit.rows)} rows  ` +
      `${mbs.toFixed(1)} MB/s  ETA ${fmtSeconds(eta)}`;
    if (p.rowsTotal > p.unitRows) {
      tail += `  (all: ${((100 * p.rowsDone) / p.rowsTotal).toFixed(0)}%, ETA ${fmtSeconds(overallEta)})`;
    }
    let columns = 120;
    try {
      columns = Deno.consoleSize().columns;
    } catch {
      // not a console
    }
    const plain = `${name} ${full}${empty} ${tail}`;
    const line = plain.length >= columns
      ? plain.slice(0, columns - 1)
      : `${name} ${this.#paint("36", full)}${this.#paint("2", empty)} ${tail}`;
    Deno.stderr.writeSync(encoder.encode("\r\x1b[2K" + redact(line, this.#secrets)));
    this.#progressShown = true;
  }

  #unitDone(unit: UnitState): void {
    unit.reported = true;
    const seconds = (unit.last - unit.start) / 1000;
    const mbs = seconds > 0 ? (unit.rows * unit.bytesPerRow) / 1e6 / seconds : 0;
    const text = `${unit.name}: ${fmtCount(unit.rows)} rows in ${seconds.toFixed(1)} s (${mbs.toFixed(1)} MB/s)`;
    this.#file("INFO", `done ${text}`);
    if (this.options.json) {
      this.event({ event: "unit_done", unit: unit.name, rows: unit.rows, seconds: Number(seconds.toFixed(3)) });
    } else if (!this.options.quiet) {
      this.#err(`${this.#paint("32", "✓")} ${text}`);
    }
  }

  /** Ends the running unit (the last one of a command). */
  finishUnits(): void {
    if (this.#unit && !this.#unit.reported) this.#unitDone(this.#unit);
    this.#unit = null;
    this.#clearProgress();
  }

  /** The end of a run: a summary table on stdout, or a summary event. */
  summary(summary: MigrationSummary | ExportSummary): void {
    this.finishUnits();
    this.#file("INFO", `summary ${JSON.stringify(summary)}`);
    if (this.options.json) {
      this.event({ event: "summary", ...summary });
      return;
    }
    if (this.options.quiet) return;
    if (summary.job === "M2H") {
      const rows = summary.files.map((f) => [f.collection, f.partition, fmtCount(f.rows), f.path]);
      this.#out(table([["collection", "partition", "rows", "file"], ...rows], [2]));
      this.#out(`M2H: ${fmtCount(summary.rows)} rows in ${summary.seconds.toFixed(1)} s to ${summary.runDir}`);
      return;
    }
    const resumed = summary.targets.some((t) => (t.rowsSkipped ?? 0) > 0 || (t.rowsUpserted ?? 0) > 0);
    const header = ["collection", "partition", "action", "rows sent", "rows now", "vectors", "metric", "index"];
    if (resumed) header.splice(4, 0, "resumed");
    const rows = summary.targets.map((t) => {
      const row = [
        t.collection,
        t.partition || "_default",
        t.action,
        fmtCount(t.rows),
        t.rowCount === null ? "-" : fmtCount(t.rowCount),
        `${t.vectorType} × ${t.dim}`,
        t.metric,
        t.indexBuilt ?? "-",
      ];
      if (resumed) {
        row.splice(4, 0, `${fmtCount(t.rowsSkipped ?? 0)} skipped, ${fmtCount(t.rowsUpserted ?? 0)} upserted`);
      }
      return row;
    });
    this.#out(table([header, ...rows], resumed ? [3, 5] : [3, 4]));
    const rate = summary.seconds > 0 ? summary.rows / summary.seconds : 0;
    const bytes = summary.targets.reduce((n, t) => n + t.rows * (t.vectorType === "float" ? t.dim * 4 : t.dim / 8), 0);
    this.#out(
      `${summary.job}: ${fmtCount(summary.rows)} rows (${fmtBytes(bytes)} of vectors) in ${
        summary.seconds.toFixed(1)
      } s (${fmtCount(Math.round(rate))} rows/s)`,
    );
  }

  /** A failure: one paragraph on stderr (no stack trace unless --debug), an error event with --json. */
  failure(error: unknown): void {
    this.#clearProgress();
    let text: string;
    if (error instanceof MilvusdmError) {
      text = `error [${error.code}]: ${error.message}` + (error.hint ? `\n  hint: ${error.hint}` : "");
    } else {
      text = `error [INTERNAL]: ${(error as Error)?.message ?? String(error)}\n  ` +
        `This is a bug in milvusdm; run again with --debug and report the output`;
    }
    let trace = "";
    if (error instanceof Error) {
      trace = error.stack ?? "";
      for (let cause = error.cause, depth = 0; cause && depth < 5; depth++) {
        trace += `\ncaused by: ${describeCause(cause)}`;
        cause = (cause as Error)?.cause;
      }
    }
    this.#file("ERROR", text);
    if (trace) this.#file("DEBUG", trace);
    if (this.options.debug && trace) text += `\n${trace}`;
    if (this.options.json) {
      this.event({
        event: "error",
        code: error instanceof MilvusdmError ? error.code : "INTERNAL",
        message: (error as Error)?.message ?? String(error),
        hint: error instanceof MilvusdmError ? error.hint ?? null : null,
        exitCode: exitCodeFor(error),
      });
    }
    this.#err(this.#paint("31", text));
  }

  /** Closes the log file. */
  close(): void {
    this.#clearProgress();
    try {
      this.#log?.close();
    } catch {
      // already closed
    }
    this.#log = null;
  }
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) return cause.stack ?? `${cause.name}: ${cause.message}`;
  if (cause && typeof cause === "object") {
    const c = cause as { stack?: unknown; message?: unknown; code?: unknown };
    if (typeof c.stack === "string") return c.stack;
    try {
      return JSON.stringify(cause, (_k, v) => typeof v === "bigint" ? v.toString() : v);
    } catch {
      return String(c.message ?? cause);
    }
  }
  return String(cause);
}
