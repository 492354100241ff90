/**
 * The milvusdm command line: `deno run -A cli/main.ts --yaml FILE`, `deno task milvusdm`, or the compiled binary.
 * A thin layer: the grammar is in `commands.ts`, the printing in `output.ts` and `render.ts`, the work in `lib/`.
 *
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };
import { parseTaskYaml, type TaskConfig } from "../lib/config.ts";
import { EXIT_CODES, exitCodeFor, MilvusdmError } from "../lib/errors.ts";
import { type Inspection, inspectPath, inspectTaskSources } from "../lib/inspect.ts";
import { planTask } from "../lib/plan.ts";
import { type ResolvedTask, resolveTask, runResolvedTask, type TaskOverrides } from "../lib/tasks.ts";
import { TEMPLATES } from "../lib/templates.ts";
import { verifyTask } from "../lib/verify.ts";
import { type OutputFlags, parseCommandLine, type RunFlags, type VerifyFlags } from "./commands.ts";
import { logFilePath, Output } from "./output.ts";
import { renderInspection, renderPlan, renderVerify } from "./render.ts";

function outputFor(flags: OutputFlags, logFile: boolean): Output {
  return new Output({
    json: flags.json ?? false,
    quiet: flags.quiet ?? false,
    debug: flags.debug ?? false,
    color: flags.color === false ? false : undefined,
    logFile: logFile ? logFilePath() : null,
  });
}

async function readYaml(file: string): Promise<string> {
  try {
    return await Deno.readTextFile(file);
  } catch (error) {
    throw new MilvusdmError(
      "CONFIG_INVALID",
      error instanceof Deno.errors.NotFound
        ? `YAML file "${file}" does not exist`
        : `YAML file "${file}" cannot be read`,
      { cause: error },
    );
  }
}

/** Reads, parses and checks a task, registering its secrets before anything else is printed. */
async function loadTask(
  command: string,
  file: string,
  overrides: TaskOverrides,
  out: Output,
): Promise<{ config: TaskConfig; task: ResolvedTask }> {
  const config = parseTaskYaml(await readYaml(file), file);
  out.addSecrets(config.secrets);
  out.reportLogProblem();
  out.start({ command, task: config.kind, file, version: denoJson.version });
  out.debug(
    `milvusdm ${denoJson.version}, deno ${Deno.version.deno}, ${Deno.build.target}, args ${JSON.stringify(Deno.args)}`,
  );
  out.debug(`${config.kind} settings: ${JSON.stringify(config.body)}`);
  const task = resolveTask(config, overrides);
  for (const w of task.warnings) out.warn(w);
  out.debug(`options: ${JSON.stringify(task.options)}`);
  return { config, task };
}

/** Runs `body` with Ctrl-C wired to an abort signal (a second Ctrl-C exits at once), and errors printed. */
async function guarded(out: Output, body: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const abort = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    if (interrupts > 1) {
      out.close();
      Deno.exit(EXIT_CODES.aborted);
    }
    out.warn("Interrupted: stopping after the requests in flight (Ctrl-C again to stop at once)");
    abort.abort();
  };
  try {
    Deno.addSignalListener("SIGINT", onSignal);
  } catch {
    // no signals on this platform
  }
  try {
    return await body(abort.signal);
  } catch (error) {
    out.failure(error);
    return exitCodeFor(error);
  } finally {
    try {
      Deno.removeSignalListener("SIGINT", onSignal);
    } catch {
      // never added
    }
    out.close();
  }
}

function overridesOf(flags: RunFlags | VerifyFlags): TaskOverrides {
  const run = flags as RunFlags;
  return {
    mode: run.mode,
    batchBytes: run.batchBytes,
    inFlight: run.inFlight,
    destUri: flags.destUri,
    allowLossy: flags.allowLossy,
    writePath: run.writePath,
  };
}

async function runCommand(file: string, flags: RunFlags): Promise<number> {
  const out = outputFor(flags, true);
  return await guarded(out, async (signal) => {
    const { task } = await loadTask("run", file, { ...overridesOf(flags), resume: flags.resume }, out);
    const summary = await runResolvedTask(task, {
      signal,
      onProgress: (p) => out.progress(p),
      onWarning: (w) => out.warn(w),
      onLog: (m) => out.log(m),
    }).catch((error) => {
      if (error instanceof MilvusdmError && error.code === "ABORTED" && !error.hint && task.kind !== "M2H") {
        throw new MilvusdmError("ABORTED", error.message, {
          cause: error,
          hint: "Run the same command with --resume to continue where it stopped",
        });
      }
      throw error;
    });
    out.summary(summary);
    return EXIT_CODES.ok;
  });
}

async function planCommand(file: string, flags: RunFlags): Promise<number> {
  const out = outputFor(flags, true);
  return await guarded(out, async (signal) => {
    const { task } = await loadTask("plan", file, overridesOf(flags), out);
    const plan = await planTask(task, { signal, onWarning: (w) => out.warn(w), onLog: (m) => out.debug(m) });
    out.result(renderPlan(plan, file), { event: "plan", ...plan });
    return EXIT_CODES.ok;
  });
}

async function verifyCommand(file: string, flags: VerifyFlags): Promise<number> {
  const out = outputFor(flags, true);
  return await guarded(out, async (signal) => {
    const { task } = await loadTask("verify", file, overridesOf(flags), out);
    const report = await verifyTask(task, {
      sample: flags.sample,
      all: flags.all,
      seed: flags.seed,
      signal,
      onProgress: (p) => out.progress(p),
      onWarning: (w) => out.warn(w),
      onLog: (m) => out.log(m),
    });
    out.finishUnits();
    out.result(renderVerify(report, file), { event: "verify", ...report });
    if (report.ok) return EXIT_CODES.ok;
    const failed = report.targets.filter((t) => !t.ok).map((t) => {
      const ids = t.differences.slice(0, 5).map((d) => d.id);
      const parts = [
        t.countMatches ? "" : `${t.targetRows ?? "no"} rows in the target for ${t.sourceRows} in the source`,
        t.missing ? `${t.missing} missing` : "",
        t.different ? `${t.different} with different vectors` : "",
        t.notes.length && !t.differences.length && t.countMatches ? t.notes.join("; ") : "",
      ].filter(Boolean);
      return `${t.collection}/${t.partition}: ${parts.join(", ")}${ids.length ? ` (ids ${ids.join(", ")})` : ""}`;
    });
    throw new MilvusdmError("VERIFY_FAILED", `Source and target differ: ${failed.join("; ")}`, {
      hint: "The report above lists the first differing rows; run the migration again with mode overwrite to redo it",
    });
  });
}

async function inspectCommand(path: string, flags: OutputFlags): Promise<number> {
  const out = outputFor(flags, false);
  return await guarded(out, async () => {
    let reports: Inspection[];
    if (/\.ya?ml$/i.test(path)) {
      const text = await readYaml(path);
      out.addSecrets(parseTaskYaml(text, path).secrets);
      reports = await inspectTaskSources(text, path);
    } else {
      reports = [await inspectPath(path)];
    }
    for (const [i, report] of reports.entries()) {
      out.result((i > 0 ? "\n" : "") + renderInspection(report), { event: "inspect", ...report });
    }
    const errors = reports.reduce((n, r) => n + (r.kind === "milvus1" ? r.milvus1.errors : 0), 0);
    return errors > 0 ? EXIT_CODES.source : EXIT_CODES.ok;
  });
}

async function writeAll(w: { write(p: Uint8Array): Promise<number> }, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await w.write(bytes.subarray(off));
}

/** Runs the CLI with the given arguments and returns the exit status. */
export async function main(args: string[]): Promise<number> {
  const invocation = await parseCommandLine(args);
  switch (invocation.command) {
    case "exit":
      return invocation.code;
    case "init":
      await writeAll(Deno.stdout, new TextEncoder().encode(TEMPLATES[invocation.kind]));
      return EXIT_CODES.ok;
    case "run":
      return await runCommand(invocation.file, invocation.flags);
    case "plan":
      return await planCommand(invocation.file, invocation.flags);
    case "verify":
      return await verifyCommand(invocation.file, invocation.flags);
    case "inspect":
      return await inspectCommand(invocation.path, invocation.flags);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
