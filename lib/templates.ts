/**
 * The commented YAML templates of the four tasks (`yamls/*.yaml`, the original MilvusDM's layout), embedded in the
 * module graph so that `milvusdm init` prints them from a compiled binary too.
 *
 * @module
 */
import type { TaskKind } from "./config.ts";
import f2m from "../yamls/F2M.yaml" with { type: "text" };
import h2m from "../yamls/H2M.yaml" with { type: "text" };
import m2m from "../yamls/M2M.yaml" with { type: "text" };
import m2h from "../yamls/M2H.yaml" with { type: "text" };

/**
 * The template of each task, as in `yamls/`.
 *
 * @example
 * ```ts
 * await Deno.writeTextFile("H2M.yaml", TEMPLATES.H2M);
 * ```
 */
export const TEMPLATES: Readonly<Record<TaskKind, string>> = { F2M: f2m, H2M: h2m, M2M: m2m, M2H: m2h };
