/**
 * The dispatch of `read_index`: reads a fourcc and hands the rest to the parser of that index type. Also
 * `IxRF` (IndexRefine), whose vectors are those of its refine index.
 *
 * @module
 */
import type { Cursor } from "../bytes.ts";
import { parseFlat } from "./flat.ts";
import { corrupt, MAX_DEPTH, readFloatHeader, unsupported, unsupportedFourcc } from "./header.ts";
import { parseHnsw } from "./hnsw.ts";
import { parseIdMap } from "./idmap.ts";
import { parseIvf } from "./ivf.ts";
import { type FaissNode, type ParseContext, streamRows } from "./node.ts";
import { parsePqIndex, parseScalarQuantizerIndex } from "./quantizers.ts";
import { parsePreTransform } from "./transforms.ts";

/** Parses the float index at the cursor (its fourcc first). */
export async function parseIndex(c: Cursor, ctx: ParseContext, depth: number): Promise<FaissNode> {
  if (depth > MAX_DEPTH) throw corrupt(ctx.path, `indexes are nested more than ${MAX_DEPTH} deep`);
  const at = c.offset;
  const fourcc = await c.fourcc("index fourcc");
  switch (fourcc) {
    case "IxF2":
    case "IxFI":
    case "IxFl":
      return await parseFlat(c, fourcc, ctx);
    case "IxMp":
    case "IxM2":
      return await parseIdMap(c, fourcc, ctx, depth);
    case "IwFl":
    case "IwFd":
    case "IvFl":
    case "IvFL":
    case "IwSq":
    case "IwSQ":
    case "IwPQ":
      return await parseIvf(c, fourcc, ctx, depth);
    case "IHNf":
    case "IHNs":
    case "IHNp":
      return await parseHnsw(c, fourcc, ctx, depth);
    case "IxSQ":
      return await parseScalarQuantizerIndex(c, fourcc, ctx);
    case "IxPq":
    case "IxPo":
    case "IxPQ":
      return await parsePqIndex(c, fourcc, ctx);
    case "IxPT":
      return await parsePreTransform(c, fourcc, ctx, depth);
    case "IxRF":
      return await parseRefine(c, fourcc, ctx, depth);
    default:
      throw unsupportedFourcc(ctx.path, fourcc, depth === 0 ? "the index" : `the nested index at byte ${at}`);
  }
}

/** Parses `IxRF` (fourcc already read): header, base index, refine index, f32 k_factor. */
async function parseRefine(c: Cursor, fourcc: string, ctx: ParseContext, depth: number): Promise<FaissNode> {
  const h = await readFloatHeader(c, fourcc);
  const base = await ctx.parseIndex(c, depth + 1);
  const refine = await ctx.parseIndex(c, depth + 1);
  c.skip(4, "IxRF k_factor");
  if (refine.d !== h.d || refine.ntotal !== h.ntotal) {
    throw corrupt(
      ctx.path,
      `IxRF has d=${h.d}, ntotal=${h.ntotal} but its refine index has d=${refine.d}, ntotal=${refine.ntotal}`,
    );
  }
  if (!refine.readRows) throw unsupported(ctx.path, `the refine index ${refine.label} does not store rows in order`);
  const node: FaissNode = {
    fourcc,
    label: `Refine (${fourcc})`,
    short: "Refine",
    d: h.d,
    ntotal: h.ntotal,
    metricType: h.metricType,
    metricArg: h.metricArg,
    vectorType: "float",
    lossy: refine.lossy,
    children: [{ role: "base", node: base }, { role: null, node: refine }],
    readRows: refine.readRows,
    stream: (maxRows, allocate) => streamRows(node, maxRows, allocate),
  };
  return node;
}
