/**
 * Id helpers shared by the jobs: finding ids that occur more than once across sources, in bounded memory.
 *
 * @module
 */
import { throwIfAborted } from "./errors.ts";
import type { BatchAllocator, VectorSource } from "./types.ts";

/** Bytes of ids held in memory at once while looking for collisions (default 64 MiB). */
export const COLLISION_MEMORY_BYTES = 64 * 1024 * 1024;

/**
 * Returns up to `limit` ids that occur more than once across the sources (null when none). Memory stays within
 * `memoryBytes`: with more ids than fit, the sources are read in several passes, each keeping the ids of one hash
 * bucket.
 */
export async function findDuplicateIds(
  sources: VectorSource[],
  options: { memoryBytes?: number; limit?: number; signal?: AbortSignal; batchRows?: number } = {},
): Promise<bigint[] | null> {
  const total = sources.reduce((n, s) => n + s.info.rows, 0);
  const budget = Math.max(1024, Math.floor((options.memoryBytes ?? COLLISION_MEMORY_BYTES) / 8));
  const passes = Math.max(1, Math.ceil(total / budget));
  const limit = options.limit ?? 10;
  const found: bigint[] = [];
  for (let pass = 0; pass < passes && found.length < limit; pass++) {
    let bucket = new BigInt64Array(Math.min(total, budget * 2) || 1);
    let n = 0;
    for (const source of sources) {
      for await (const batch of source.batches(options.batchRows ?? 65536, options.signal)) {
        throwIfAborted(options.signal);
        const ids = batch.ids;
        if (!ids) continue;
        const words = new Uint32Array(ids.buffer, ids.byteOffset, ids.length * 2);
        for (let i = 0; i < ids.length; i++) {
          if (passes > 1 && ((words[2 * i] ^ words[2 * i + 1]) >>> 0) % passes !== pass) continue;
          if (n === bucket.length) {
            const grown = new BigInt64Array(bucket.length * 2);
            grown.set(bucket);
            bucket = grown;
          }
          bucket[n++] = ids[i];
        }
      }
    }
    const sorted = bucket.subarray(0, n).sort();
    for (let i = 1; i < sorted.length && found.length < limit; i++) {
      if (sorted[i] === sorted[i - 1] && (i < 2 || sorted[i - 1] !== sorted[i - 2])) found.push(sorted[i]);
    }
  }
  return found.length ? found : null;
}

/** Writes the ids start, start+1, ... into `ids` from index `at`, through the int64 words (no BigInt per row). */
export function fillRangeIds(ids: BigInt64Array, at: number, start: number, count: number): void {
  const words = new Uint32Array(ids.buffer, ids.byteOffset + at * 8, count * 2);
  for (let i = 0; i < count; i++) {
    const v = start + i;
    words[2 * i] = v >>> 0;
    words[2 * i + 1] = Math.floor(v / 4294967296);
  }
}

/** A view of a source without its ids (the target generates new ones). */
export function withoutIds(source: VectorSource): VectorSource {
  return {
    info: { ...source.info, hasIds: false },
    async *batches(maxRows: number, signal?: AbortSignal, allocate?: BatchAllocator) {
      for await (const batch of source.batches(maxRows, signal, allocate)) yield { ...batch, ids: null };
    },
    close: () => source.close(),
  };
}
