/**
 * The command-line grammar (commander). This is the one file to change to move to cliffy.
 *
 * @module
 */
import { Command, InvalidArgumentError } from "commander";
import denoJson from "../deno.json" with { type: "json" };
import { MODES } from "../lib/milvus/sink.ts";

/** What the user asked for. */
export type Invocation =
  | { command: "run"; file: string; flags: RunFlags }
  | { command: "exit"; code: number };

/** Flags of `run`. */
export interface RunFlags {
  mode?: "skip" | "append" | "overwrite";
  batchBytes?: number;
  inFlight?: number;
  destUri?: string;
  json: boolean;
  quiet: boolean;
  debug: boolean;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`expected a positive whole number`);
  return n;
}

function mode(value: string): "skip" | "append" | "overwrite" {
  const v = value.toLowerCase();
  if (!(MODES as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected skip, append or overwrite`);
  return v as "skip" | "append" | "overwrite";
}

function addRunFlags(cmd: Command): Command {
  return cmd
    .option("--mode <mode>", "override the YAML's mode: skip, append or overwrite", mode)
    .option("--batch-bytes <n>", "bytes of vectors per insert request (default 8388608)", positiveInt)
    .option("--in-flight <n>", "insert requests in flight (default 2)", positiveInt)
    .option("--dest-uri <uri>", "override the target address (http://host:port or https://host:port)")
    .option("--json", "print one JSON event per line on stdout", false)
    .option("-q, --quiet", "print only errors", false)
    .option("--debug", "show stack traces of errors", false);
}

/** Parses the command line. */
export async function parseCommandLine(args: string[]): Promise<Invocation> {
  let result: Invocation = { command: "exit", code: 0 };
  const program = new Command()
    .name("milvusdm")
    .description("Move vectors into, out of and between Milvus instances (Faiss, HDF5, Milvus 1.x → Milvus 2.x).")
    .version(denoJson.version, "-V, --version")
    .exitOverride()
    .enablePositionalOptions()
    .showHelpAfterError()
    .option("--yaml <file>", "run the task a YAML file describes (the original MilvusDM format)")
    .addHelpText(
      "after",
      `
Examples:
  milvusdm --yaml H2M.yaml                 run an HDF5 → Milvus task
  milvusdm run H2M.yaml --mode overwrite   the same, replacing the target
  milvusdm run H2M.yaml --json             machine-readable progress

Exit codes: 0 ok, 1 internal error, 2 bad configuration, 3 bad source, 4 target error, 5 verification failed,
130 interrupted.`,
    );
  addRunFlags(program);
  program.action((opts) => {
    if (!opts.yaml) {
      program.outputHelp();
      result = { command: "exit", code: 2 };
      return;
    }
    result = { command: "run", file: opts.yaml, flags: opts as RunFlags };
  });
  addRunFlags(
    program.command("run")
      .description("run the task a YAML file describes")
      .argument("<file>", "the YAML file (F2M, H2M, M2M or M2H)")
      .addHelpText(
        "after",
        `\nExamples:\n  milvusdm run H2M.yaml\n  milvusdm run F2M.yaml --mode append --in-flight 4`,
      ),
  ).action((file: string, opts) => {
    result = { command: "run", file, flags: opts as RunFlags };
  });
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (error) {
    const code = (error as { exitCode?: number; code?: string }).exitCode ?? 2;
    const c = (error as { code?: string }).code;
    if (c === "commander.helpDisplayed" || c === "commander.version" || c === "commander.help") {
      return { command: "exit", code: 0 };
    }
    return { command: "exit", code: code === 0 ? 0 : 2 };
  }
  return result;
}
