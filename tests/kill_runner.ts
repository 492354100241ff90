/**
 * Runs one migration with `resume: true` (unless `--no-resume`) from a JSON description, for the kill and restart
 * tests: `deno run -A tests/kill_runner.ts SPEC.json`. Prints one line per acknowledged batch (rows done) so the
 * test can pick its kill point; exits 0 when the migration completed, else prints `error [CODE]: message`.
 */
import { exitCodeFor, faissToMilvus, hdf5ToMilvus, MilvusdmError, milvusToMilvus } from "../mod.ts";

const spec = JSON.parse(await Deno.readTextFile(Deno.args[0]));
const options = {
  ...spec.options,
  resume: !Deno.args.includes("--no-resume"),
  onProgress: (p: { rowsDone: number }) => console.log(p.rowsDone),
};
try {
  if (spec.job === "H2M") await hdf5ToMilvus(options);
  else if (spec.job === "F2M") await faissToMilvus(options);
  else if (spec.job === "M2M") await milvusToMilvus(options);
  else throw new Error(`unknown job ${spec.job}`);
} catch (error) {
  const code = error instanceof MilvusdmError ? error.code : "INTERNAL";
  const hint = error instanceof MilvusdmError && error.hint ? `\n  hint: ${error.hint}` : "";
  console.error(`error [${code}]: ${(error as Error).message}${hint}`);
  Deno.exit(exitCodeFor(error));
}
