/**
 * Runs one migration with `resume: true` from a JSON description, for the kill tests:
 * `deno run -A tests/kill_runner.ts SPEC.json`. Exits 0 when the migration completed.
 */
import { faissToMilvus, hdf5ToMilvus, milvusToMilvus } from "../mod.ts";

const spec = JSON.parse(await Deno.readTextFile(Deno.args[0]));
// One line per acknowledged batch, for the test to pick its kill point.
const options = { ...spec.options, resume: true, onProgress: (p: { rowsDone: number }) => console.log(p.rowsDone) };
if (spec.job === "H2M") await hdf5ToMilvus(options);
else if (spec.job === "F2M") await faissToMilvus(options);
else if (spec.job === "M2M") await milvusToMilvus(options);
else throw new Error(`unknown job ${spec.job}`);
