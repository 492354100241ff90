/**
 * What the CLI prints: logs and warnings on stderr (redacted), a progress line on a terminal, JSON events on
 * stdout with `--json`, and the final summary.
 *
 * @module
 */
import { redact } from "../lib/config.ts";
import { MilvusdmError } from "../lib/errors.ts";
import type { MigrationSummary } from "../lib/jobs/common.ts";
import type { ExportSummary } from "../lib/jobs/m2h.ts";
import type { ProgressEvent } from "../lib/pipeline.ts";

/** How output is shaped. */
export interface OutputOptions {
  json: boolean;
  quiet: boolean;
  debug: boolean;
}

const encoder = new TextEncoder();

/** The CLI's printer. Secrets registered with `addSecrets` never reach the output. */
export class Output {
  readonly options: OutputOptions;
  #secrets: string[] = [];
  #lastProgress = 0;
  #progressShown = false;
  readonly #tty: boolean;
  readonly #color: boolean;

  constructor(options: OutputOptions) {
    this.options = options;
    this.#tty = Deno.stderr.isTerminal();
    this.#color = this.#tty && !Deno.env.get("NO_COLOR");
  }

  /** Values to redact from every line. */
  addSecrets(secrets: readonly string[]): void {
    this.#secrets.push(...secrets.filter((s) => s.length > 0));
  }

  #err(line: string): void {
    this.#clearProgress();
    Deno.stderr.writeSync(encoder.encode(redact(line, this.#secrets) + "\n"));
  }

  #event(event: Record<string, unknown>): void {
    Deno.stdout.writeSync(encoder.encode(redact(JSON.stringify(event), this.#secrets) + "\n"));
  }

  #clearProgress(): void {
    if (this.#progressShown) {
      Deno.stderr.writeSync(encoder.encode("\r\x1b[2K"));
      this.#progressShown = false;
    }
  }

  /** An informational line. */
  log(message: string): void {
    if (this.options.json) this.#event({ event: "log", message });
    else if (!this.options.quiet) this.#err(message);
  }

  /** A warning (always shown unless --quiet). */
  warn(message: string): void {
    if (this.options.json) this.#event({ event: "warning", message });
    else if (!this.options.quiet) this.#err(this.#color ? `\x1b[33mwarning\x1b[0m: ${message}` : `warning: ${message}`);
  }

  /** A start event. */
  start(details: Record<string, unknown>): void {
    if (this.options.json) this.#event({ event: "start", ...details });
  }

  /** Progress, throttled to a few updates a second. */
  progress(p: ProgressEvent): void {
    const now = performance.now();
    const final = p.rowsDone >= p.rowsTotal;
    if (!final && now - this.#lastProgress < 250) return;
    this.#lastProgress = now;
    if (this.options.json) {
      this.#event({ event: "progress", ...p });
      return;
    }
    if (this.options.quiet || !this.#tty) return;
    const pct = p.rowsTotal ? (100 * p.rowsDone / p.rowsTotal) : 100;
    const rate = p.elapsedSeconds > 0 ? p.rowsDone / p.elapsedSeconds : 0;
    const mbs = p.elapsedSeconds > 0 ? p.bytesDone / 1e6 / p.elapsedSeconds : 0;
    const eta = rate > 0 ? (p.rowsTotal - p.rowsDone) / rate : 0;
    const width = 24;
    const filled = Math.round(width * pct / 100);
    const bar = "█".repeat(filled) + "░".repeat(width - filled);
    const unit = p.unit.length > 40 ? "…" + p.unit.slice(-39) : p.unit;
    const line = `${bar} ${pct.toFixed(1).padStart(5)}% ${p.rowsDone.toLocaleString("en-US")}/${
      p.rowsTotal.toLocaleString("en-US")
    } rows  ${fmtRate(rate)} rows/s  ${mbs.toFixed(1)} MB/s  ETA ${fmtSeconds(eta)}  ${unit}`;
    Deno.stderr.writeSync(encoder.encode("\r\x1b[2K" + redact(line, this.#secrets)));
    this.#progressShown = true;
  }

  /** The end of a run: a summary table, or a summary event. */
  summary(summary: MigrationSummary | ExportSummary): void {
    if (this.options.json) {
      this.#event({ event: "summary", ...summary });
      return;
    }
    this.#clearProgress();
    if (this.options.quiet) return;
    if (summary.job === "M2H") {
      const rows = summary.files.map((f) => [f.collection, f.partition, String(f.rows), f.path]);
      this.#err(table([["collection", "partition", "rows", "file"], ...rows]));
      this.#err(
        `M2H: ${summary.rows.toLocaleString("en-US")} rows in ${summary.seconds.toFixed(1)} s to ${summary.runDir}`,
      );
      return;
    }
    const rows = summary.targets.map((t) => [
      t.collection,
      t.partition || "_default",
      t.action,
      String(t.rows),
      t.rowCount === null ? "-" : String(t.rowCount),
      `${t.vectorType}×${t.dim}`,
      t.metric,
    ]);
    const header = ["collection", "partition", "action", "rows sent", "rows now", "vectors", "metric"];
    this.#err(table([header, ...rows]));
    const rate = summary.seconds > 0 ? summary.rows / summary.seconds : 0;
    this.#err(
      `${summary.job}: ${summary.rows.toLocaleString("en-US")} rows in ${summary.seconds.toFixed(1)} s (${
        fmtRate(rate)
      } rows/s)`,
    );
  }

  /** A failure: one paragraph, no stack trace unless --debug. */
  failure(error: unknown): void {
    let text: string;
    if (error instanceof MilvusdmError) {
      text = `error [${error.code}]: ${error.message}` + (error.hint ? `\n  hint: ${error.hint}` : "");
    } else {
      text = `error [INTERNAL]: ${(error as Error)?.message ?? String(error)}\n  ` +
        `This is a bug in milvusdm; run again with --debug and report the output`;
    }
    if (this.options.debug && error instanceof Error) {
      text += `\n${error.stack ?? ""}`;
      if (error.cause) text += `\ncaused by: ${(error.cause as Error)?.stack ?? String(error.cause)}`;
    }
    if (this.options.json) {
      this.#event({
        event: "error",
        code: error instanceof MilvusdmError ? error.code : "INTERNAL",
        message: (error as Error)?.message ?? String(error),
      });
    }
    this.#err(this.#color ? `\x1b[31m${text}\x1b[0m` : text);
  }
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}

function fmtRate(n: number): string {
  return n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0);
}

function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${Math.round(s)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
}
