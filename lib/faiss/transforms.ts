/**
 * `IxPT` (IndexPreTransform): a chain of vector transforms applied before a nested index. The stored vectors are
 * transformed, so exporting them means reversing the chain the way faiss's `reverse_transform` does:
 * - linear transforms (`LTra` incl. OPQ, `rrot`, PCA `Pcam`/`PcAm`/`PCAm`, `Viqm`) only when orthonormal:
 *   x = Aᵀ(y − b). A dimension-reducing PCA gives the projection back (what faiss reconstructs);
 * - `RmDT` puts the kept dimensions back in place (dropped ones are 0); `VCnt` adds the mean back;
 * - `VNrm` cannot be undone: vectors come out normalized, as faiss reconstructs them.
 * Other transforms (`Viqt`, `HRot`, whitening PCA) are refused.
 *
 * @module
 */
import type { Cursor } from "../bytes.ts";
import type { Batch } from "../types.ts";
import {
  corrupt,
  MAX_DIM,
  readFloatHeader,
  readFloatVector,
  skipVector,
  unsupported,
  unsupportedFourcc,
} from "./header.ts";
import type { FaissChild, FaissNode, ParseContext, VectorArray } from "./node.ts";
import { allocVectors, streamRows } from "./node.ts";

/** A parsed transform that can be reversed. */
export interface Transform {
  /** The fourcc, e.g. `Pcam`. */
  fourcc: string;
  /** How it shows in `inspect`. */
  label: string;
  /** Input dimension (the user's vectors). */
  dIn: number;
  /** Output dimension (what the nested index stores). */
  dOut: number;
  /** Why reversing it does not give the original vectors back. */
  lossy: string;
  /** A warning for the user, when reversing loses more than rounding. */
  warning?: string;
  /** Maps `rows` vectors of dOut floats back to dIn floats. */
  reverse(input: Float32Array, rows: number, out: Float32Array): void;
}

const LINEAR = ["LTra", "rrot", "Pcam", "PcAm", "PCAm", "Viqm"];

/** Reads one VectorTransform: fourcc, its own fields, then i32 d_in, i32 d_out, u8 is_trained. */
export async function readTransform(c: Cursor, name: string): Promise<Transform> {
  const fourcc = await c.fourcc("transform fourcc");
  if (LINEAR.includes(fourcc)) {
    let label = fourcc === "rrot" ? "RandomRotation" : fourcc === "Viqm" ? "ITQMatrix" : "LinearTransform";
    if (fourcc === "Pcam" || fourcc === "PcAm" || fourcc === "PCAm") {
      label = "PCA";
      c.skip(4, "PCA eigen_power");
      if (fourcc === "Pcam") c.skip(4, "PCA epsilon");
      c.skip(1, "PCA random_rotation");
      if (fourcc !== "PCAm") c.skip(4, "PCA balanced_bins");
      await skipVector(c, 4, "PCA mean");
      await skipVector(c, 4, "PCA eigenvalues");
      await skipVector(c, 4, "PCA matrix");
    } else if (fourcc === "Viqm") {
      c.skip(8, "ITQ max_iter and seed");
    }
    const haveBias = (await c.u8("transform have_bias")) !== 0;
    const a = await readFloatVector(c, "transform matrix");
    const b = await readFloatVector(c, "transform bias");
    const { dIn, dOut } = await readDims(c, fourcc, name);
    if (a.length < dIn * dOut) {
      throw corrupt(name, `${fourcc} matrix has ${a.length} floats, expected d_out × d_in = ${dOut} × ${dIn}`);
    }
    if (haveBias && b.length < dOut) throw corrupt(name, `${fourcc} bias has ${b.length} floats, expected ${dOut}`);
    if (!isOrthonormal(a, dIn, dOut)) {
      throw unsupported(
        name,
        `the transform ${label} ${dIn}→${dOut} (${fourcc}) is not orthonormal (whitening PCA or a general matrix), ` +
          "so it cannot be reversed (faiss cannot either)",
      );
    }
    return {
      fourcc,
      label: `${label} ${dIn}→${dOut} (${fourcc})`,
      dIn,
      dOut,
      lossy: dOut < dIn
        ? `the ${label} transform reduced ${dIn} dimensions to ${dOut}: vectors come out as their projections`
        : `the ${label} transform is reversed in float32 arithmetic`,
      reverse: linearReverse(a, haveBias ? b : null, dIn, dOut),
    };
  }
  if (fourcc === "RmDT") {
    const mapCount = c.count(await c.u64("remap count"), 4, "remap");
    const map = await c.i32s(mapCount, "remap");
    const { dIn, dOut } = await readDims(c, fourcc, name);
    if (map.length < dOut) throw corrupt(name, `RmDT map has ${map.length} entries, expected d_out = ${dOut}`);
    for (let j = 0; j < dOut; j++) {
      if (map[j] < -1 || map[j] >= dIn) throw corrupt(name, `RmDT maps to dimension ${map[j]}, d_in is ${dIn}`);
    }
    const dropped = dIn - new Set(Array.from(map.subarray(0, dOut)).filter((v) => v >= 0)).size;
    return {
      fourcc,
      label: `RemapDimensions ${dIn}→${dOut} (${fourcc})`,
      dIn,
      dOut,
      lossy: "dimensions were remapped",
      warning: dropped > 0
        ? `the RemapDimensions transform dropped ${dropped} dimensions: they are exported as 0`
        : undefined,
      reverse(input, rows, out) {
        out.fill(0);
        for (let r = 0; r < rows; r++) {
          for (let j = 0; j < dOut; j++) if (map[j] >= 0) out[r * dIn + map[j]] = input[r * dOut + j];
        }
      },
    };
  }
  if (fourcc === "VNrm") {
    c.skip(4, "normalization norm");
    const { dIn, dOut } = await readDims(c, fourcc, name);
    if (dIn !== dOut) throw corrupt(name, `VNrm has d_in ${dIn} and d_out ${dOut}, expected equal`);
    return {
      fourcc,
      label: `L2Normalization ${dIn} (${fourcc})`,
      dIn,
      dOut,
      lossy: "the index L2-normalized its vectors and did not keep their norms: vectors come out normalized",
      reverse(input, rows, out) {
        out.set(input.subarray(0, rows * dIn));
      },
    };
  }
  if (fourcc === "VCnt") {
    const mean = await readFloatVector(c, "centering mean");
    const { dIn, dOut } = await readDims(c, fourcc, name);
    if (dIn !== dOut || mean.length < dIn) {
      throw corrupt(name, `VCnt has d_in ${dIn}, d_out ${dOut}, mean ${mean.length}`);
    }
    return {
      fourcc,
      label: `Centering ${dIn} (${fourcc})`,
      dIn,
      dOut,
      lossy: "the centering transform is reversed in float32 arithmetic",
      reverse(input, rows, out) {
        for (let r = 0; r < rows; r++) {
          for (let j = 0; j < dIn; j++) out[r * dIn + j] = input[r * dIn + j] + mean[j];
        }
      },
    };
  }
  throw unsupportedFourcc(name, fourcc, "a transform of the IndexPreTransform");
}

async function readDims(c: Cursor, fourcc: string, name: string): Promise<{ dIn: number; dOut: number }> {
  const dIn = await c.i32(`${fourcc} d_in`);
  const dOut = await c.i32(`${fourcc} d_out`);
  c.skip(1, `${fourcc} is_trained`);
  if (dIn < 1 || dOut < 1 || dIn > MAX_DIM || dOut > MAX_DIM) {
    throw corrupt(name, `${fourcc} has d_in ${dIn} and d_out ${dOut}, expected 1..${MAX_DIM}`);
  }
  return { dIn, dOut };
}

/** faiss's `set_is_orthonormal`: d_out ≤ d_in and A·Aᵀ = I within 4e-5. */
function isOrthonormal(a: Float32Array, dIn: number, dOut: number): boolean {
  if (dOut > dIn) return false;
  for (let i = 0; i < dOut; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      const ri = i * dIn, rj = j * dIn;
      for (let k = 0; k < dIn; k++) s += a[ri + k] * a[rj + k];
      if (Math.abs(s - (i === j ? 1 : 0)) > 4e-5) return false;
    }
  }
  return true;
}

/** x = Aᵀ(y − b), A being d_out × d_in row-major. */
function linearReverse(a: Float32Array, b: Float32Array | null, dIn: number, dOut: number) {
  const acc = new Float64Array(dIn);
  return (input: Float32Array, rows: number, out: Float32Array): void => {
    for (let r = 0; r < rows; r++) {
      acc.fill(0);
      for (let i = 0; i < dOut; i++) {
        const y = b ? Math.fround(input[r * dOut + i] - b[i]) : input[r * dOut + i];
        if (y === 0) continue;
        const row = i * dIn;
        for (let j = 0; j < dIn; j++) acc[j] += a[row + j] * y;
      }
      out.set(acc, r * dIn);
    }
  };
}

/** Parses `IxPT` (fourcc already read): header, i32 chain length, the transforms, the nested index. */
export async function parsePreTransform(
  c: Cursor,
  fourcc: string,
  ctx: ParseContext,
  depth: number,
): Promise<FaissNode> {
  const h = await readFloatHeader(c, fourcc);
  const nt = await c.i32("transform chain length");
  c.count(nt, 8, "transform chain"); // each transform takes more than 8 bytes
  const chain: Transform[] = [];
  for (let i = 0; i < nt; i++) chain.push(await readTransform(c, ctx.path));
  const inner = await ctx.parseIndex(c, depth + 1);
  let dim = h.d;
  for (const t of chain) {
    if (t.dIn !== dim) throw corrupt(ctx.path, `transform ${t.label} takes ${t.dIn} dimensions, expected ${dim}`);
    dim = t.dOut;
  }
  if (inner.d !== dim || inner.ntotal !== h.ntotal) {
    throw corrupt(
      ctx.path,
      `IxPT has ntotal ${h.ntotal} and its transforms give d=${dim}, but the nested ${inner.fourcc} has d=${inner.d}, ntotal=${inner.ntotal}`,
    );
  }
  for (const t of chain) if (t.warning) ctx.warnings.push(t.warning);
  const children: FaissChild[] = chain.map((t) => ({ role: "transform", text: t.label }));
  children.push({ role: null, node: inner });
  const d = h.d;
  // reverse a batch of inner vectors through the chain, last transform first
  const reverseAll = (input: Float32Array, rows: number): Float32Array => {
    let v = input;
    for (let i = chain.length - 1; i >= 0; i--) {
      const out = new Float32Array(rows * chain[i].dIn);
      chain[i].reverse(v, rows, out);
      v = out;
    }
    return v;
  };
  const node: FaissNode = {
    fourcc,
    label: `PreTransform (${fourcc})`,
    short: "PreTransform",
    d,
    ntotal: h.ntotal,
    metricType: h.metricType,
    metricArg: h.metricArg,
    vectorType: "float",
    lossy: [...chain.map((t) => t.lossy), ...inner.lossy],
    children,
    readRows: inner.readRows
      ? async (start: number, count: number, out: VectorArray, outRow: number) => {
        const tmp = allocVectors(inner, count) as Float32Array;
        await inner.readRows!(start, count, tmp, 0);
        (out as Float32Array).set(reverseAll(tmp, count), outRow * d);
      }
      : undefined,
    stream: inner.readRows ? (maxRows, allocate) => streamRows(node, maxRows, allocate) : streamReversed,
  };
  async function* streamReversed(maxRows: number): AsyncGenerator<Batch> {
    for await (const batch of inner.stream(maxRows)) {
      yield {
        ids: batch.ids,
        vectors: reverseAll(batch.vectors as Float32Array, batch.rows),
        dim: d,
        rows: batch.rows,
      };
    }
  }
  return node;
}
