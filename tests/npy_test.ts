/**
 * The streaming `.npy` writer (for Milvus bulk import): NumPy reads back exactly what was written, for int64 ids,
 * float32 and uint8 (binary) vectors, and a file whose data does not match its header is an error.
 */
import { assert, assertEquals } from "./assert.ts";
import { NpyWriter } from "../lib/milvus/npy.ts";
import { randomFloats, tempDir, VENV_PYTHON } from "./helpers.ts";

Deno.test("npy files written in slices are read back exactly by NumPy", async () => {
  await using dir = await tempDir();
  const rows = 1001, dim = 24;
  const ids = BigInt64Array.from({ length: rows }, (_, i) => BigInt(i) * 1_000_000_007n - 5n);
  const vectors = randomFloats(rows, dim, 3);
  const bits = Uint8Array.from({ length: rows * 4 }, (_, i) => (i * 37) % 256);
  const idw = await NpyWriter.create(`${dir.path}/id.npy`, "<i8", [rows], 8);
  const vw = await NpyWriter.create(`${dir.path}/embedding.npy`, "<f4", [rows, dim], 4);
  const bw = await NpyWriter.create(`${dir.path}/bits.npy`, "|u1", [rows, 4], 1);
  for (let s = 0; s < rows; s += 300) {
    const e = Math.min(rows, s + 300);
    await idw.append(new Uint8Array(ids.buffer, s * 8, (e - s) * 8));
    await vw.append(new Uint8Array(vectors.buffer, s * dim * 4, (e - s) * dim * 4));
    await bw.append(bits.subarray(s * 4, e * 4));
  }
  idw.close();
  vw.close();
  bw.close();
  const out = await new Deno.Command(VENV_PYTHON, {
    args: [
      "-c",
      `import numpy as np, sys, json
d = sys.argv[1]
i, v, b = np.load(d + "/id.npy"), np.load(d + "/embedding.npy"), np.load(d + "/bits.npy")
print(json.dumps([str(i.dtype), list(i.shape), str(v.dtype), list(v.shape), str(b.dtype), list(b.shape)]))
i.tofile(d + "/i.raw"); v.tofile(d + "/v.raw"); b.tofile(d + "/b.raw")`,
      dir.path,
    ],
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  assertEquals(JSON.parse(new TextDecoder().decode(out.stdout)), [
    "int64",
    [rows],
    "float32",
    [rows, dim],
    "uint8",
    [rows, 4],
  ]);
  assertEquals(new BigInt64Array((await Deno.readFile(`${dir.path}/i.raw`)).buffer), ids);
  assertEquals(new Float32Array((await Deno.readFile(`${dir.path}/v.raw`)).buffer), vectors);
  assertEquals(await Deno.readFile(`${dir.path}/b.raw`), bits);
  const short = await NpyWriter.create(`${dir.path}/short.npy`, "<i8", [10], 8);
  await short.append(new Uint8Array(72));
  let error: unknown = null;
  try {
    short.close();
  } catch (e) {
    error = e;
  }
  assert(error instanceof Error && /header says 80/.test(error.message), String(error));
});
