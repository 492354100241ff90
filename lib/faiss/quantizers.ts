/**
 * Scalar and product quantizers: their parameter blocks, the decoders that turn codes back into the vectors faiss
 * reconstructs, and the flat quantized indexes `IxSQ` and `IxPq` (`IxPQ`, `IxPo` older).
 *
 * Decoding follows faiss's scalar code paths (`ScalarQuantizer.cpp`, `ProductQuantizer.cpp`) in float32
 * arithmetic, so the output matches `index.reconstruct` to the last bit or within a rounding step.
 *
 * @module
 */
import type { Cursor } from "../bytes.ts";
import { corrupt, METRIC_NAMES, readFloatHeader, readFloatVector, skipVector, unsupported } from "./header.ts";
import { type FaissNode, type ParseContext, streamRows, type VectorArray } from "./node.ts";

/** Decodes `rows` codes (each `codeSize` bytes) into `out` from row `outRow`. */
export type Decoder = (codes: Uint8Array, rows: number, out: Float32Array, outRow: number) => void;

/** Scalar quantizer types (`ScalarQuantizer::QuantizerType`) this reader decodes, by number. */
export const SQ_TYPES: readonly string[] = [
  "8bit",
  "4bit",
  "8bit_uniform",
  "4bit_uniform",
  "fp16",
  "8bit_direct",
  "6bit",
  "bf16",
  "8bit_direct_signed",
];

/** A scalar quantizer block. */
export interface ScalarQuantizer {
  /** The quantizer type number. */
  qtype: number;
  /** Its name, e.g. `8bit`. */
  name: string;
  /** Vector dimension. */
  d: number;
  /** Bytes per code. */
  codeSize: number;
  /** Whether decoding gives back the stored values exactly (the direct types hold integers). */
  exact: boolean;
  /** Codes → vectors. */
  decode: Decoder;
}

/** The code size faiss derives for a quantizer type (`set_derived_sizes`). */
function sqCodeSize(qtype: number, d: number): number {
  switch (qtype) {
    case 1:
    case 3:
      return Math.floor((d + 1) / 2);
    case 6:
      return Math.floor((d * 6 + 7) / 8);
    case 4:
    case 7:
      return d * 2;
    default:
      return d;
  }
}

/** Reads an SQ block: i32 qtype, i32 rangestat, f32 rangestat_arg, u64 d, u64 code_size, `VECTOR<float>` trained. */
export async function readScalarQuantizer(
  c: Cursor,
  d: number,
  ntotal: number,
  name: string,
): Promise<ScalarQuantizer> {
  const qtype = await c.i32("scalar quantizer type");
  c.skip(8, "scalar quantizer rangestat");
  const sqD = await c.size64("scalar quantizer d");
  const codeSize = await c.size64("scalar quantizer code size");
  const trained = await readFloatVector(c, "scalar quantizer trained values");
  if (qtype < 0 || qtype >= SQ_TYPES.length) {
    throw unsupported(
      name,
      `scalar quantizer type ${qtype} is not supported (supported types 0..8: ${SQ_TYPES.join(", ")})`,
    );
  }
  if (sqD !== d) throw corrupt(name, `scalar quantizer d is ${sqD}, the index header says ${d}`);
  if (codeSize !== sqCodeSize(qtype, d)) {
    throw corrupt(
      name,
      `scalar quantizer ${SQ_TYPES[qtype]} code size is ${codeSize}, expected ${sqCodeSize(qtype, d)}`,
    );
  }
  const expected = qtype === 0 || qtype === 1 || qtype === 6 ? 2 * d : qtype === 2 || qtype === 3 ? 2 : 0;
  if (trained.length !== expected && ntotal > 0) {
    throw corrupt(
      name,
      `scalar quantizer ${SQ_TYPES[qtype]} has ${trained.length} trained values, expected ${expected}`,
    );
  }
  return {
    qtype,
    name: SQ_TYPES[qtype],
    d,
    codeSize,
    exact: qtype === 5 || qtype === 8,
    decode: sqDecoder(qtype, d, codeSize, trained),
  };
}

const fround = Math.fround;
let halfTable: Float32Array | null = null;

/** float16 → float32 for all 65536 bit patterns. */
function halfToFloat(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) t[h] = sign * frac * 2 ** -24;
    else if (exp === 31) t[h] = frac ? NaN : sign * Infinity;
    else t[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  halfTable = t;
  return t;
}

function sqDecoder(qtype: number, d: number, codeSize: number, trained: Float32Array): Decoder {
  // component value in [0, 1] for each code value, as faiss computes it in float32: (c + 0.5) / levels
  const unit = (levels: number) => {
    const t = new Float32Array(levels + 1);
    for (let v = 0; v <= levels; v++) t[v] = fround(fround(v + 0.5) / levels);
    return t;
  };
  const uniform = qtype === 2 || qtype === 3;
  const vmin = uniform ? null : trained.subarray(0, d);
  const vdiff = uniform ? null : trained.subarray(d, 2 * d);
  const umin = uniform ? trained[0] : 0;
  const udiff = uniform ? trained[1] : 0;
  const scale = (x: number, j: number) =>
    uniform ? fround(umin + fround(x * udiff)) : fround(vmin![j] + fround(x * vdiff![j]));
  switch (qtype) {
    case 0:
    case 2: {
      const u = unit(255);
      return (codes, rows, out, outRow) => {
        for (let r = 0; r < rows; r++) {
          const base = r * codeSize, o = (outRow + r) * d;
          for (let j = 0; j < d; j++) out[o + j] = scale(u[codes[base + j]], j);
        }
      };
    }
    case 1:
    case 3: {
      const u = unit(15);
      return (codes, rows, out, outRow) => {
        for (let r = 0; r < rows; r++) {
          const base = r * codeSize, o = (outRow + r) * d;
          for (let j = 0; j < d; j++) {
            const v = (codes[base + (j >> 1)] >> ((j & 1) << 2)) & 0xf;
            out[o + j] = scale(u[v], j);
          }
        }
      };
    }
    case 6: {
      const u = unit(63);
      return (codes, rows, out, outRow) => {
        for (let r = 0; r < rows; r++) {
          const base = r * codeSize, o = (outRow + r) * d;
          for (let j = 0; j < d; j++) {
            const p = base + (j >> 2) * 3;
            let v: number;
            switch (j & 3) {
              case 0:
                v = codes[p] & 0x3f;
                break;
              case 1:
                v = (codes[p] >> 6) | ((codes[p + 1] & 0xf) << 2);
                break;
              case 2:
                v = (codes[p + 1] >> 4) | ((codes[p + 2] & 3) << 4);
                break;
              default:
                v = codes[p + 2] >> 2;
            }
            out[o + j] = scale(u[v], j);
          }
        }
      };
    }
    case 4: {
      const table = halfToFloat();
      return (codes, rows, out, outRow) => {
        for (let r = 0; r < rows; r++) {
          const base = r * codeSize, o = (outRow + r) * d;
          for (let j = 0; j < d; j++) out[o + j] = table[codes[base + 2 * j] | (codes[base + 2 * j + 1] << 8)];
        }
      };
    }
    case 7:
      return (codes, rows, out, outRow) => {
        const words = new Uint32Array(out.buffer, out.byteOffset, out.length);
        for (let r = 0; r < rows; r++) {
          const base = r * codeSize, o = (outRow + r) * d;
          for (let j = 0; j < d; j++) {
            words[o + j] = ((codes[base + 2 * j] | (codes[base + 2 * j + 1] << 8)) << 16) >>> 0;
          }
        }
      };
    default: {
      const shift = qtype === 8 ? 128 : 0;
      return (codes, rows, out, outRow) => {
        for (let r = 0; r < rows; r++) {
          const base = r * codeSize, o = (outRow + r) * d;
          for (let j = 0; j < d; j++) out[o + j] = codes[base + j] - shift;
        }
      };
    }
  }
}

/** A product quantizer block. */
export interface ProductQuantizer {
  /** Vector dimension. */
  d: number;
  /** Number of sub-quantizers. */
  m: number;
  /** Bits per sub-quantizer code. */
  nbits: number;
  /** Bytes per code: ceil(m × nbits / 8). */
  codeSize: number;
  /** Codes → vectors. */
  decode: Decoder;
}

/** Reads a PQ block: u64 d, u64 M, u64 nbits, `VECTOR<float>` centroids laid out (M, 2^nbits, d/M). */
export async function readProductQuantizer(c: Cursor, d: number, name: string): Promise<ProductQuantizer> {
  const pqD = await c.size64("PQ d");
  const m = await c.size64("PQ M");
  const nbits = await c.size64("PQ nbits");
  if (pqD !== d) throw corrupt(name, `PQ d is ${pqD}, the index header says ${d}`);
  if (m < 1 || d % m !== 0) throw corrupt(name, `PQ has M = ${m} sub-quantizers, which must divide d = ${d}`);
  if (nbits < 1 || nbits > 24) throw corrupt(name, `PQ has nbits = ${nbits}, expected 1..24`);
  const centroids = await readFloatVector(c, "PQ centroids");
  const ksub = 2 ** nbits;
  if (centroids.length !== d * ksub) {
    throw corrupt(name, `PQ has ${centroids.length} centroid floats, expected d × 2^nbits = ${d} × ${ksub}`);
  }
  const codeSize = Math.ceil((m * nbits) / 8);
  return { d, m, nbits, codeSize, decode: pqDecoder(d, m, nbits, codeSize, centroids) };
}

function pqDecoder(d: number, m: number, nbits: number, codeSize: number, centroids: Float32Array): Decoder {
  const dsub = d / m;
  const ksub = 2 ** nbits;
  const mask = ksub - 1;
  return (codes, rows, out, outRow) => {
    for (let r = 0; r < rows; r++) {
      const base = r * codeSize, end = base + codeSize, o = (outRow + r) * d;
      let bit = 0;
      for (let q = 0; q < m; q++) {
        let c: number;
        if (nbits === 8) {
          c = codes[base + q];
        } else if (nbits === 16) {
          c = codes[base + 2 * q] | (codes[base + 2 * q + 1] << 8);
        } else {
          // LSB-first bit stream (PQEncoderGeneric), at most 24 bits starting anywhere in a byte: 4 bytes cover it
          const p = base + (bit >> 3);
          const word = codes[p] | ((p + 1 < end ? codes[p + 1] : 0) << 8) | ((p + 2 < end ? codes[p + 2] : 0) << 16) |
            ((p + 3 < end ? codes[p + 3] : 0) << 24);
          c = (word >>> (bit & 7)) & mask;
          bit += nbits;
        }
        const from = (q * ksub + c) * dsub;
        out.set(centroids.subarray(from, from + dsub), o + q * dsub);
      }
    }
  };
}

/** Parses `IxSQ` (fourcc already read): header, SQ block, `VECTOR<uint8>` codes. */
export async function parseScalarQuantizerIndex(c: Cursor, fourcc: string, ctx: ParseContext): Promise<FaissNode> {
  const h = await readFloatHeader(c, fourcc);
  const sq = await readScalarQuantizer(c, h.d, h.ntotal, ctx.path);
  const span = await skipVector(c, 1, `${fourcc} codes`);
  if (span.count !== h.ntotal * sq.codeSize) {
    throw corrupt(ctx.path, `${fourcc} holds ${span.count} code bytes, expected ntotal × ${sq.codeSize}`);
  }
  return codesNode(
    fourcc,
    `ScalarQuantizer ${sq.name}`,
    "ScalarQuantizer",
    h,
    span.offset,
    sq.codeSize,
    sq.decode,
    ctx,
    {
      lossy: sq.exact ? [] : [`scalar quantizer ${sq.name} codes`],
    },
  );
}

/**
 * Parses `IxPq`, `IxPo` or `IxPQ` (fourcc already read): header, PQ block, `VECTOR<uint8>` codes, then for `IxPq`
 * and `IxPo` i32 search_type, u8 encode_signs, i32 polysemous_ht.
 */
export async function parsePqIndex(c: Cursor, fourcc: string, ctx: ParseContext): Promise<FaissNode> {
  const h = await readFloatHeader(c, fourcc);
  const pq = await readProductQuantizer(c, h.d, ctx.path);
  const span = await skipVector(c, 1, `${fourcc} codes`);
  if (span.count !== h.ntotal * pq.codeSize) {
    throw corrupt(ctx.path, `${fourcc} holds ${span.count} code bytes, expected ntotal × ${pq.codeSize}`);
  }
  if (fourcc !== "IxPQ") c.skip(9, `${fourcc} search parameters`);
  // old PQ files recorded inner product while searching by L2: faiss reads them as L2
  const header = fourcc === "IxPq" ? h : { ...h, metricType: 1, metricArg: 0 };
  return codesNode(fourcc, `PQ ${pq.m}x${pq.nbits}`, "PQ", header, span.offset, pq.codeSize, pq.decode, ctx, {
    lossy: [`product quantizer codes (${pq.m}x${pq.nbits} bits)`],
  });
}

function codesNode(
  fourcc: string,
  kind: string,
  short: string,
  h: { d: number; ntotal: number; metricType: number; metricArg: number },
  offset: number,
  codeSize: number,
  decode: Decoder,
  ctx: ParseContext,
  extra: { lossy: string[] },
): FaissNode {
  const source = ctx.source;
  const node: FaissNode = {
    fourcc,
    label: `${kind} ${METRIC_NAMES[h.metricType]} (${fourcc})`,
    short,
    d: h.d,
    ntotal: h.ntotal,
    metricType: h.metricType,
    metricArg: h.metricArg,
    vectorType: "float",
    lossy: extra.lossy,
    children: [],
    async readRows(start: number, count: number, out: VectorArray, outRow: number): Promise<void> {
      const codes = new Uint8Array(count * codeSize);
      await source.readInto(offset + start * codeSize, codes);
      decode(codes, count, out as Float32Array, outRow);
    },
    stream: (maxRows, allocate) => streamRows(node, maxRows, allocate),
  };
  return node;
}
