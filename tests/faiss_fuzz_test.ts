/**
 * Fuzz test of the Faiss reader: every fixture (scripts/make_faiss_fixtures.py) truncated at many offsets, with
 * count/size fields overwritten by huge values, and with random byte mutations (fixed seed).
 *
 * Every case must end, within a time bound, either with a MilvusdmError or with a correctly shaped stream, and no
 * typed array the reader allocates may exceed the file size (or one batch of maxRows rows): count fields must be
 * checked against the bytes remaining before they size anything.
 *
 * The fixtures dir comes from MILVUSDM_FAISS_FIXTURES (default .work/fixtures/faiss); a missing dir fails.
 */
import nodeAssert from "node:assert/strict";
import { bufferSource } from "../lib/bytes.ts";
import { MilvusdmError } from "../lib/errors.ts";
import { openFaissByteSource } from "../lib/faiss/mod.ts";
import { prng } from "../lib/random.ts";

const DIR = Deno.env.get("MILVUSDM_FAISS_FIXTURES") ?? ".work/fixtures/faiss";
const SEED = 20240917;
const MAX_ROWS = 64;
const CASE_TIME_LIMIT_MS = 3000;
const SLACK = 1.5 * (1 << 20); // fixed-size buffers: the list read-ahead window, the fp16 table

interface Fixture {
  name: string;
  file: string;
}

// ---- allocation guard: typed arrays created from a length are checked against the current limit ----

class AllocationTooLarge extends Error {}

let allocationLimit = Infinity;
let largestAllocation = 0;
const ORIGINALS = {
  Uint8Array,
  Uint16Array,
  Uint32Array,
  Int32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
} as const;
type TypedCtor = (typeof ORIGINALS)[keyof typeof ORIGINALS];

function guarded(Base: TypedCtor): TypedCtor {
  const Guarded = class extends (Base as unknown as new (...args: unknown[]) => object) {
    constructor(...args: unknown[]) {
      if (typeof args[0] === "number") {
        const bytes = args[0] * (Base as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
        largestAllocation = Math.max(largestAllocation, bytes);
        if (bytes > allocationLimit) {
          throw new AllocationTooLarge(`${Base.name}(${args[0]}) = ${bytes} bytes, limit ${allocationLimit}`);
        }
      }
      super(...args);
    }
  };
  return Guarded as unknown as TypedCtor;
}

function installGuard(): () => void {
  const g = globalThis as unknown as Record<string, TypedCtor>;
  for (const [name, ctor] of Object.entries(ORIGINALS)) g[name] = guarded(ctor);
  return () => {
    for (const [name, ctor] of Object.entries(ORIGINALS)) g[name] = ctor;
  };
}

// ---- cases ----

interface Case {
  kind: "truncate" | "huge" | "mutate";
  bytes: Uint8Array;
  what: string;
}

/** Positions of u64 values that look like `VECTOR` counts or sizes: a small count whose elements fit the file. */
function countFields(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  for (let p = 0; p + 8 <= bytes.length; p++) {
    const hi = view.getUint32(p + 4, true);
    if (hi !== 0) continue;
    const v = view.getUint32(p, true);
    if (v === 0) continue;
    for (const size of [1, 4, 8, 16, 24]) {
      if (p + 8 + v * size <= bytes.length) {
        out.push(p);
        break;
      }
    }
  }
  return out;
}

function pick<T>(items: T[], n: number, rand: () => number): T[] {
  if (items.length <= n) return items;
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(items[Math.floor(rand() * items.length)]);
  return out;
}

const HUGE_U64: bigint[] = [
  0xffffffffffffffffn,
  0x7fffffffffffffffn,
  1n << 53n,
  (1n << 53n) + 1n,
  1n << 40n,
  1n << 32n,
  0x7fffffffn,
];
const HUGE_I32 = [0x7fffffff, -1, 1 << 20, (1 << 20) + 1, 0, 0x40000000];

function casesFor(original: Uint8Array, rand: () => number, mutations: number): Case[] {
  const size = original.length;
  const cases: Case[] = [];
  const fields = countFields(original);
  // truncations: inside every early byte, inside count fields, evenly spread, and the last byte
  const cuts = new Set<number>();
  for (let p = 0; p < Math.min(size, 64); p++) cuts.add(p);
  for (const p of pick(fields, 40, rand)) for (const k of [0, 3, 8, 9]) if (p + k < size) cuts.add(p + k);
  for (let i = 1; i <= 30; i++) cuts.add(Math.floor((size * i) / 31));
  cuts.add(size - 1);
  for (const cut of cuts) cases.push({ kind: "truncate", bytes: original.slice(0, cut), what: `cut at ${cut}` });
  // count/size fields overwritten with huge values
  for (const p of pick(fields, 50, rand)) {
    for (const v of pick(HUGE_U64, 3, rand)) {
      const bytes = original.slice();
      new DataView(bytes.buffer).setBigUint64(p, v, true);
      cases.push({ kind: "huge", bytes, what: `u64 ${v} at ${p}` });
    }
  }
  // header ints (d, code sizes, metric, qtype, nt, ...) among the first bytes
  for (let i = 0; i < 40; i++) {
    const p = 4 + Math.floor(rand() * Math.max(1, Math.min(size, 256) - 8));
    if (p + 4 > size) continue;
    const bytes = original.slice();
    const v = HUGE_I32[Math.floor(rand() * HUGE_I32.length)];
    new DataView(bytes.buffer).setInt32(p, v, true);
    cases.push({ kind: "huge", bytes, what: `i32 ${v} at ${p}` });
  }
  // random byte mutations, mostly in the structure (early bytes and around count fields)
  for (let m = 0; m < mutations; m++) {
    const bytes = original.slice();
    const n = 1 + Math.floor(rand() * 4);
    const at: number[] = [];
    for (let k = 0; k < n; k++) {
      const r = rand();
      let p: number;
      if (r < 0.4) p = Math.floor(rand() * Math.min(size, 512));
      else if (r < 0.8 && fields.length) p = fields[Math.floor(rand() * fields.length)] + Math.floor(rand() * 8);
      else p = Math.floor(rand() * size);
      if (p >= size) continue;
      bytes[p] = Math.floor(rand() * 256);
      at.push(p);
    }
    cases.push({ kind: "mutate", bytes, what: `bytes changed at ${at.join(",")}` });
  }
  return cases;
}

interface Outcome {
  ok: boolean;
  code?: string;
}

/** Opens and streams one case; returns what happened or throws for a failure of the reader's contract. */
async function runCase(name: string, path: string, c: Case): Promise<Outcome> {
  allocationLimit = c.bytes.length + SLACK;
  let source;
  try {
    source = await openFaissByteSource(bufferSource(c.bytes, path), { allowLossy: true });
  } catch (error) {
    if (error instanceof MilvusdmError) return { ok: false, code: error.code };
    throw new Error(`${name} ${c.kind} (${c.what}): open threw ${String(error)}`, { cause: error });
  }
  try {
    const { dim, rows, vectorType } = source.info;
    const rowSize = vectorType === "binary" ? dim / 8 : dim * 4;
    allocationLimit = Math.max(c.bytes.length, 2 * MAX_ROWS * rowSize) + SLACK;
    let total = 0;
    for await (const batch of source.batches(MAX_ROWS)) {
      nodeAssert.ok(batch.rows >= 1 && batch.rows <= MAX_ROWS, `${name}: batch of ${batch.rows} rows`);
      nodeAssert.equal(batch.dim, dim);
      nodeAssert.equal(batch.ids?.length, batch.rows);
      nodeAssert.equal(batch.vectors.length * batch.vectors.BYTES_PER_ELEMENT, batch.rows * rowSize);
      total += batch.rows;
    }
    nodeAssert.equal(total, rows, `${name}: streamed rows`);
    return { ok: true };
  } catch (error) {
    if (error instanceof MilvusdmError) return { ok: false, code: error.code };
    throw new Error(`${name} ${c.kind} (${c.what}): streaming threw ${String(error)}`, { cause: error });
  } finally {
    await source.close();
  }
}

async function loadFixtures(): Promise<Fixture[] | null> {
  try {
    return JSON.parse(await Deno.readTextFile(`${DIR}/manifest.json`)).fixtures;
  } catch {
    return null;
  }
}

Deno.test("faiss fuzz: truncations, huge counts and byte mutations end in typed errors or well-shaped streams", async () => {
  const fixtures = await loadFixtures();
  nodeAssert.ok(
    fixtures && fixtures.length > 0,
    `No faiss fixtures in "${DIR}": run /usr/bin/python3 scripts/make_faiss_fixtures.py ${DIR}`,
  );
  const rand = prng(SEED);
  const counts = { truncate: 0, huge: 0, mutate: 0 };
  const codes = new Map<string, number>();
  let opened = 0, slowest = 0, slowestWhat = "", truncatedOpened = 0;
  const restore = installGuard();
  const started = performance.now();
  try {
    for (const f of fixtures!) {
      const path = `${DIR}/${f.file}`;
      const original = await Deno.readFile(path);
      // the 4 MB PQ table makes each case slow: fewer mutations for big files
      const mutations = original.length > 1 << 20 ? 40 : 150;
      for (const c of casesFor(original, rand, mutations)) {
        const t0 = performance.now();
        let outcome: Outcome;
        try {
          outcome = await runCase(f.name, path, c);
        } catch (error) {
          const cause = (error as Error).cause ?? error;
          if (cause instanceof AllocationTooLarge) {
            throw new Error(`${f.name} ${c.kind} (${c.what}): allocation beyond the file: ${cause.message}`);
          }
          throw error;
        }
        const ms = performance.now() - t0;
        if (ms > slowest) [slowest, slowestWhat] = [ms, `${f.name} ${c.kind} (${c.what})`];
        nodeAssert.ok(ms < CASE_TIME_LIMIT_MS, `${f.name} ${c.kind} (${c.what}) took ${ms.toFixed(0)} ms`);
        counts[c.kind]++;
        if (outcome.ok) opened++;
        else codes.set(outcome.code!, (codes.get(outcome.code!) ?? 0) + 1);
        if (outcome.ok && c.kind === "truncate") truncatedOpened++;
      }
    }
  } finally {
    restore();
  }
  const total = counts.truncate + counts.huge + counts.mutate;
  console.log(
    `faiss fuzz: ${total} cases (${counts.truncate} truncations, ${counts.huge} huge fields, ${counts.mutate} ` +
      `mutations) in ${((performance.now() - started) / 1000).toFixed(1)} s; ${opened} streamed fine; errors ` +
      `${JSON.stringify(Object.fromEntries(codes))}; slowest ${slowest.toFixed(1)} ms (${slowestWhat}); largest ` +
      `allocation ${largestAllocation} bytes`,
  );
  nodeAssert.ok(total >= 10_000, `only ${total} fuzz cases`);
  // a faiss file has no slack at its end: every truncation must fail at open
  nodeAssert.equal(truncatedOpened, 0, "truncated files opened");
});
