/**
 * Flat indexes: `IxF2` / `IxFI` / `IxFl` (float vectors stored as they are) and `IBxF` (binary vectors).
 *
 * After the header comes one `VECTOR` of ntotal rows, so a batch is one contiguous read straight into its buffer.
 *
 * @module
 */
import type { Cursor } from "../bytes.ts";
import { corrupt, METRIC_NAMES, readBinaryHeader, readFloatHeader, skipVector } from "./header.ts";
import { type FaissNode, type ParseContext, rowView, streamRows, type VectorArray } from "./node.ts";

/** Parses `IxF2`, `IxFI` or `IxFl` (fourcc already read): header, then `VECTOR<float>` of ntotal × d. */
export async function parseFlat(c: Cursor, fourcc: string, ctx: ParseContext): Promise<FaissNode> {
  const h = await readFloatHeader(c, fourcc);
  const span = await skipVector(c, 4, `${fourcc} vectors`);
  if (span.count !== h.ntotal * h.d) {
    throw corrupt(ctx.path, `${fourcc} holds ${span.count} floats, expected ntotal × d = ${h.ntotal} × ${h.d}`);
  }
  const rowSize = h.d * 4;
  const source = ctx.source;
  const node: FaissNode = {
    fourcc,
    label: `Flat ${METRIC_NAMES[h.metricType]} (${fourcc})`,
    short: "Flat",
    d: h.d,
    ntotal: h.ntotal,
    metricType: h.metricType,
    metricArg: h.metricArg,
    vectorType: "float",
    lossy: [],
    children: [],
    readRows(start: number, count: number, out: VectorArray, outRow: number): Promise<void> {
      return source.readInto(span.offset + start * rowSize, rowView(out, rowSize, outRow, count));
    },
    stream: (maxRows, allocate) => streamRows(node, maxRows, allocate),
  };
  return node;
}

/** Parses `IBxF` (fourcc already read): binary header, then `VECTOR<uint8>` of ntotal × d/8. */
export async function parseBinaryFlat(c: Cursor, fourcc: string, ctx: ParseContext): Promise<FaissNode> {
  const h = await readBinaryHeader(c, fourcc);
  const span = await skipVector(c, 1, `${fourcc} vectors`);
  if (span.count !== h.ntotal * h.codeSize) {
    throw corrupt(ctx.path, `${fourcc} holds ${span.count} bytes, expected ntotal × d/8 = ${h.ntotal} × ${h.codeSize}`);
  }
  const rowSize = h.codeSize;
  const source = ctx.source;
  const node: FaissNode = {
    fourcc,
    label: `BinaryFlat (${fourcc})`,
    short: "BinaryFlat",
    d: h.d,
    ntotal: h.ntotal,
    metricType: 1,
    metricArg: 0,
    vectorType: "binary",
    lossy: [],
    children: [],
    readRows(start: number, count: number, out: VectorArray, outRow: number): Promise<void> {
      return source.readInto(span.offset + start * rowSize, rowView(out, rowSize, outRow, count));
    },
    stream: (maxRows, allocate) => streamRows(node, maxRows, allocate),
  };
  return node;
}
