/**
 * The milvusdm command line: `deno run -A cli/main.ts --yaml FILE`, `deno task milvusdm`, or the compiled binary.
 *
 * @module
 */
import { parseTaskYaml } from "../lib/config.ts";
import { EXIT_CODES, exitCodeFor, MilvusdmError } from "../lib/errors.ts";
import { runTask } from "../lib/tasks.ts";
import { parseCommandLine, type RunFlags } from "./commands.ts";
import { Output } from "./output.ts";

async function runFile(file: string, flags: RunFlags): Promise<number> {
  const out = new Output({ json: flags.json, quiet: flags.quiet, debug: flags.debug });
  const abort = new AbortController();
  const onSignal = () => {
    out.warn("Interrupted: stopping after the requests in flight");
    abort.abort();
  };
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (error) {
      throw new MilvusdmError(
        "CONFIG_INVALID",
        error instanceof Deno.errors.NotFound
          ? `YAML file "${file}" does not exist`
          : `YAML file "${file}" cannot be read`,
        { cause: error },
      );
    }
    const config = parseTaskYaml(text, file);
    out.addSecrets(config.secrets);
    out.start({ task: config.kind, file });
    const summary = await runTask(
      config,
      { mode: flags.mode, batchBytes: flags.batchBytes, inFlight: flags.inFlight, destUri: flags.destUri },
      {
        signal: abort.signal,
        onProgress: (p) => out.progress(p),
        onWarning: (w) => out.warn(w),
        onLog: (m) => out.log(m),
      },
    );
    out.summary(summary);
    return EXIT_CODES.ok;
  } catch (error) {
    out.failure(error);
    return exitCodeFor(error);
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
  }
}

/** Runs the CLI with the given arguments and returns the exit status. */
export async function main(args: string[]): Promise<number> {
  const invocation = await parseCommandLine(args);
  if (invocation.command === "exit") return invocation.code;
  return await runFile(invocation.file, invocation.flags);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
