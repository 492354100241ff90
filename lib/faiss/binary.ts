/**
 * Binary indexes (`read_index_binary`): `IBxF` (BinaryFlat), `IBMp` / `IBM2` (BinaryIDMap), `IBwF` (BinaryIVF)
 * and `IBHf` (BinaryHNSW). Their vectors are packed bits, d/8 bytes per vector, exported as they are.
 *
 * @module
 */
import type { Cursor } from "../bytes.ts";
import { parseBinaryFlat } from "./flat.ts";
import { corrupt, MAX_DEPTH, unsupportedFourcc } from "./header.ts";
import { parseBinaryHnsw } from "./hnsw.ts";
import { parseIdMap } from "./idmap.ts";
import { parseBinaryIvf } from "./ivf.ts";
import type { FaissNode, ParseContext } from "./node.ts";

/** Fourccs of the binary indexes this reader exports. */
export const BINARY_FOURCCS: readonly string[] = ["IBxF", "IBMp", "IBM2", "IBwF", "IBHf"];

/** Whether a top-level fourcc names a binary index (they all start with `IB`). */
export function isBinaryFourcc(fourcc: string): boolean {
  return fourcc.startsWith("IB");
}

/** Parses the binary index at the cursor (its fourcc first). */
export async function parseBinaryIndex(c: Cursor, ctx: ParseContext, depth: number): Promise<FaissNode> {
  if (depth > MAX_DEPTH) throw corrupt(ctx.path, `indexes are nested more than ${MAX_DEPTH} deep`);
  const at = c.offset;
  const fourcc = await c.fourcc("binary index fourcc");
  switch (fourcc) {
    case "IBxF":
      return await parseBinaryFlat(c, fourcc, ctx);
    case "IBMp":
    case "IBM2":
      return await parseIdMap(c, fourcc, ctx, depth);
    case "IBwF":
      return await parseBinaryIvf(c, fourcc, ctx, depth);
    case "IBHf":
      return await parseBinaryHnsw(c, fourcc, ctx, depth);
    default:
      throw unsupportedFourcc(ctx.path, fourcc, depth === 0 ? "the index" : `the nested binary index at byte ${at}`);
  }
}
