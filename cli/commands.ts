/**
 * The command-line grammar (commander). This is the one file to change to move to cliffy: it turns arguments into
 * an {@linkcode Invocation} and knows nothing else.
 *
 * @module
 */
import { Command, InvalidArgumentError } from "commander";
import denoJson from "../deno.json" with { type: "json" };
import { TASK_KINDS, type TaskKind } from "../lib/config.ts";
import { EXIT_CODES } from "../lib/errors.ts";
import { MODES } from "../lib/milvus/sink.ts";
import { WRITE_PATHS, type WritePath } from "../lib/import/importer.ts";

/** Flags every command that prints takes. */
export interface OutputFlags {
  /** One JSON event per line on stdout. */
  json?: boolean;
  /** Only errors (and the command's report). */
  quiet?: boolean;
  /** Stack traces and DEBUG lines. */
  debug?: boolean;
  /** False with `--no-color`. */
  color: boolean;
}

/** Flags of `run` and `plan`, which override YAML keys. */
export interface RunFlags extends OutputFlags {
  mode?: "skip" | "append" | "overwrite";
  batchBytes?: number;
  inFlight?: number;
  destUri?: string;
  allowLossy?: boolean;
  writePath?: WritePath;
  /** `run` only: continue an interrupted run. */
  resume?: boolean;
  /** `run` only: plan instead of running. */
  dryRun?: boolean;
}

/** Flags of `verify`. */
export interface VerifyFlags extends OutputFlags {
  sample?: number;
  all?: boolean;
  seed?: number;
  destUri?: string;
  allowLossy?: boolean;
}

/** What the user asked for. */
export type Invocation =
  | { command: "run"; file: string; flags: RunFlags }
  | { command: "plan"; file: string; flags: RunFlags }
  | { command: "verify"; file: string; flags: VerifyFlags }
  | { command: "inspect"; path: string; flags: OutputFlags }
  | { command: "init"; kind: TaskKind }
  | { command: "exit"; code: number };

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`expected a positive whole number`);
  return n;
}

function anyInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`expected a whole number`);
  return n;
}

function mode(value: string): "skip" | "append" | "overwrite" {
  const v = value.toLowerCase();
  if (!(MODES as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected skip, append or overwrite`);
  return v as "skip" | "append" | "overwrite";
}

function writePath(value: string): WritePath {
  const v = value.toLowerCase();
  if (!(WRITE_PATHS as readonly string[]).includes(v)) {
    throw new InvalidArgumentError(`expected auto, insert or import`);
  }
  return v as WritePath;
}

function taskKind(value: string): TaskKind {
  const v = value.toUpperCase();
  if (!(TASK_KINDS as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected F2M, H2M, M2M or M2H`);
  return v as TaskKind;
}

function addOutputFlags(cmd: Command): Command {
  return cmd
    .option("--json", "print one JSON event per line on stdout (start, progress, warning, unit_done, summary)")
    .option("-q, --quiet", "print only errors (and the command's report)")
    .option("--no-color", "no colours (also when NO_COLOR is set or stderr is not a terminal)")
    .option("--debug", "show DEBUG lines and the stack traces of errors");
}

function addOverrideFlags(cmd: Command): Command {
  return cmd
    .option("--mode <mode>", "override the YAML's mode: skip, append or overwrite", mode)
    .option("--batch-bytes <n>", "bytes of vectors per insert request (default 4194304)", positiveInt)
    .option("--in-flight <n>", "insert requests in flight (default 2)", positiveInt)
    .option("--dest-uri <uri>", "override the target address (http://host:port or https://host:port)")
    .option("--allow-lossy", "F2M: accept the reconstructions of lossy (quantized) Faiss indexes")
    .option(
      "--write-path <path>",
      "override the YAML's write_path: insert, import (the server's bulk import) or auto (import for large loads)",
      writePath,
    );
}

function addRunOnlyFlags(cmd: Command): Command {
  return cmd
    .option("--resume", "continue an interrupted run of the same migration where it stopped")
    .option("--dry-run", "print the plan instead of running (the same as milvusdm plan)");
}

const FOOTER = `
Exit codes: ${EXIT_CODES.ok} ok, ${EXIT_CODES.internal} internal error, ${EXIT_CODES.config} bad configuration or ` +
  `usage, ${EXIT_CODES.source} bad source, ${EXIT_CODES.target} target error,
${EXIT_CODES.verify} verification failed, ${EXIT_CODES.aborted} interrupted.
Logs: $MILVUSDM_PATH/logs/milvusdm-YYYY-MM-DD.log (default ~/milvusdm/logs), with DEBUG detail and secrets redacted.`;

/** Parses the command line. Help, version and usage errors are printed here and end in an `exit`. */
export async function parseCommandLine(args: string[]): Promise<Invocation> {
  let result: Invocation = { command: "exit", code: 0 };
  const program = new Command()
    .name("milvusdm")
    .description(
      "Move vectors into, out of and between Milvus instances: Faiss, HDF5 and Milvus 0.7–1.1 data directories → " +
        "Milvus 2.x, and Milvus 1.x → HDF5. Tasks are the original MilvusDM's YAML files.",
    )
    .version(denoJson.version, "-V, --version")
    .exitOverride()
    .enablePositionalOptions()
    .showHelpAfterError("(milvusdm --help shows the commands and their flags)")
    .usage("[--yaml FILE | command] [flags]")
    .helpCommand("help [command]", "show the help of a command")
    .option("--yaml <file>", "run the task a YAML file describes (the same as milvusdm run FILE)");
  addRunOnlyFlags(addOverrideFlags(addOutputFlags(program)));
  program.addHelpText(
    "after",
    `
Examples:
  milvusdm init H2M > H2M.yaml            write a commented template, then edit it
  milvusdm plan H2M.yaml                  what it would do: sources, targets, actions, inserts (writes nothing)
  milvusdm --yaml H2M.yaml                run it (the original MilvusDM's command line)
  milvusdm run H2M.yaml --mode overwrite  the same, replacing the target
  milvusdm verify H2M.yaml --sample 10000 compare source and target after the run
  milvusdm inspect index.faiss            describe a Faiss file, an HDF5 file or a Milvus 1.x folder
${FOOTER}`,
  );
  program.action((opts) => {
    if (program.args.length > 0) {
      const word = program.args[0];
      const near = program.commands.map((c) => c.name()).find((n) => n[0] === word[0]?.toLowerCase());
      program.error(`error: unknown command '${word}'${near ? ` (did you mean ${near}?)` : ""}`, {
        exitCode: EXIT_CODES.config,
        code: "commander.unknownCommand",
      });
    }
    if (!opts.yaml) {
      program.outputHelp({ error: true });
      result = { command: "exit", code: EXIT_CODES.config };
      return;
    }
    const { yaml, ...flags } = opts;
    result = { command: flags.dryRun ? "plan" : "run", file: yaml, flags: flags as RunFlags };
  });

  addRunOnlyFlags(addOverrideFlags(addOutputFlags(
    program.command("run")
      .description("run the task a YAML file describes (F2M, H2M, M2M or M2H)")
      .argument("<file>", "the YAML file"),
  ))).addHelpText(
    "after",
    `
Flags override the YAML's keys. Values in the YAML may be \${ENV_VAR} or \${ENV_VAR:-default}.

Examples:
  milvusdm run H2M.yaml
  milvusdm run F2M.yaml --mode append --in-flight 4 --allow-lossy
  milvusdm run M2M.yaml --dest-uri https://milvus.example.com:19530 --json > events.jsonl
  milvusdm run H2M.yaml --resume          after an interruption (Ctrl-C, a crash)
${FOOTER}`,
  ).action((file: string, opts) => {
    result = { command: opts.dryRun ? "plan" : "run", file, flags: opts as RunFlags };
  });

  addOverrideFlags(addOutputFlags(
    program.command("plan")
      .description("show what a task would do, writing nothing: sources, target actions, inserts")
      .argument("<file>", "the YAML file"),
  )).addHelpText(
    "after",
    `
Reads the source headers (files, segments) and asks the target what it holds, then prints per unit its rows,
vectors, metric and size, and per target collection or partition whether it would be created, appended to, dropped
and recreated, or skipped. Nothing is written to the target or the source.

Examples:
  milvusdm plan H2M.yaml
  milvusdm plan M2M.yaml --mode overwrite     what overwrite would drop
  milvusdm plan F2M.yaml --json
${FOOTER}`,
  ).action((file: string, opts) => {
    result = { command: "plan", file, flags: opts as RunFlags };
  });

  addOutputFlags(
    program.command("verify")
      .description("compare a task's source with its Milvus target after a migration")
      .argument("<file>", "the YAML file of the migration (F2M, H2M or M2M)")
      .option(
        "--sample <n>",
        "rows compared by id per target, spread over the whole source (default 3000)",
        positiveInt,
      )
      .option("--all", "compare every row")
      .option("--seed <n>", "seed of the sample, to repeat one", anyInt)
      .option("--dest-uri <uri>", "override the target address")
      .option("--allow-lossy", "F2M: the source is a lossy Faiss index (compare its reconstructions)"),
  ).addHelpText(
    "after",
    `
Counts every target partition (count(*), Strong consistency: rows stored twice count twice) and fetches a sample of
rows by id, comparing vectors exactly (floats bit for bit, binary vectors byte for byte). Exits with ${EXIT_CODES.verify} and
shows the first differing ids when anything differs. Sources without ids (HDF5 without an ids dataset) can only be
compared by count.

Examples:
  milvusdm verify H2M.yaml
  milvusdm verify M2M.yaml --all
  milvusdm verify F2M.yaml --sample 20000 --json
${FOOTER}`,
  ).action((file: string, opts) => {
    result = { command: "verify", file, flags: opts as VerifyFlags };
  });

  addOutputFlags(
    program.command("inspect")
      .description("describe a Faiss index, an HDF5 file, a Milvus 1.x data directory, or a task's sources")
      .argument("<path>", "a file, a folder, or a task YAML (.yaml/.yml: its sources are described)"),
  ).addHelpText(
    "after",
    `
Reads headers only. A Faiss index shows its structure, dimension, metric and whether its vectors are exact; an HDF5
file its datasets, attributes and what H2M would read; a Milvus 1.x folder its collections, partitions, segments
and live and deleted rows (SQLite metadata; for MySQL metadata inspect the M2M or M2H YAML that names it).

Examples:
  milvusdm inspect index.faiss
  milvusdm inspect vectors.h5 --json
  milvusdm inspect /var/lib/milvus
  milvusdm inspect M2M.yaml
${FOOTER}`,
  ).action((path: string, opts) => {
    result = { command: "inspect", path, flags: opts as OutputFlags };
  });

  program.command("init")
    .description("print the commented YAML template of a task")
    .addArgument(
      new Command().createArgument("<task>", "F2M, H2M, M2M or M2H").argParser(taskKind),
    )
    .addHelpText(
      "after",
      `
Examples:
  milvusdm init H2M > H2M.yaml
  milvusdm init M2M > M2M.yaml
${FOOTER}`,
    )
    .action((kind: TaskKind) => {
      result = { command: "init", kind };
    });

  // Words that are not commands reach the main action, which names them.
  program.allowExcessArguments(true);
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (error) {
    const c = (error as { code?: string }).code;
    if (c === "commander.helpDisplayed" || c === "commander.version" || c === "commander.help") {
      return { command: "exit", code: EXIT_CODES.ok };
    }
    const code = (error as { exitCode?: number }).exitCode ?? EXIT_CODES.config;
    return { command: "exit", code: code === 0 ? EXIT_CODES.ok : EXIT_CODES.config };
  }
  return result;
}
