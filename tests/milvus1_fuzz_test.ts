/**
 * Fuzzes the Milvus 0.7–1.1 segment reader: valid segments are truncated, extended, bit-flipped, have their headers
 * overwritten with huge or near-miss values and their deleted offsets replaced, with a fixed seed.
 *
 * Every case must end in a MilvusdmError or in exactly the rows an independent whole-buffer reference decoder
 * computes from the (mutated) bytes — never another exception — and no buffer the reader hands out or asks a source
 * to fill may be larger than the input.
 */
import assert from "node:assert/strict";
import { bufferSource, type ByteSource } from "../lib/bytes.ts";
import { MilvusdmError } from "../lib/errors.ts";
import {
  type Milvus1Collection,
  type Milvus1Segment,
  openMilvus1,
  partitionSource,
  readSegmentSources,
  scanSegmentSources,
} from "../lib/milvus1/mod.ts";
import { buildMilvus1Dir, prng } from "./milvus1_fixture.ts";

const SEED = 0x5eed_2024;
/** Cases of the in-memory fuzz (override with MILVUSDM_FUZZ_CASES). */
const CASES = Number(Deno.env.get("MILVUSDM_FUZZ_CASES") ?? "50000");

interface Files {
  rv: Uint8Array;
  uid: Uint8Array;
  deleted: Uint8Array;
}

type Outcome = { ids: bigint[]; vectors: Uint8Array } | "invalid";

function u64At(bytes: Uint8Array): bigint | null {
  return bytes.length < 8 ? null : new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
}

/** The reference decoder: the format rules applied to whole buffers, written independently of the reader. */
function reference(files: Files, bpv: number, legacyAllowed: boolean): Outcome {
  let rows = -1;
  let offset = 0;
  let deletedCount = 0;
  const uidH = u64At(files.uid), rvH = u64At(files.rv), delH = u64At(files.deleted);
  if (
    uidH !== null && rvH !== null && delH !== null &&
    uidH === BigInt(files.uid.length - 8) && uidH % 8n === 0n &&
    rvH === BigInt(files.rv.length - 8) && rvH === (uidH / 8n) * BigInt(bpv) &&
    delH === BigInt(files.deleted.length - 8) && delH % 4n === 0n
  ) {
    rows = Number(uidH / 8n);
    offset = 8;
    deletedCount = Number(delH / 4n);
  } else if (
    legacyAllowed && files.uid.length % 8 === 0 && files.rv.length === (files.uid.length / 8) * bpv &&
    files.deleted.length % 4 === 0
  ) {
    rows = files.uid.length / 8;
    offset = 0;
    deletedCount = files.deleted.length / 4;
  } else {
    return "invalid";
  }
  const deleted = new Set<number>();
  const dv = new DataView(files.deleted.buffer, files.deleted.byteOffset, files.deleted.byteLength);
  for (let i = 0; i < deletedCount; i++) {
    const d = dv.getInt32(offset + i * 4, true);
    if (d < 0 || d >= rows) return "invalid";
    deleted.add(d);
  }
  const ids: bigint[] = [];
  const parts: number[] = [];
  const uv = new DataView(files.uid.buffer, files.uid.byteOffset, files.uid.byteLength);
  for (let r = 0; r < rows; r++) {
    if (deleted.has(r)) continue;
    ids.push(uv.getBigInt64(offset + r * 8, true));
    for (let b = 0; b < bpv; b++) parts.push(files.rv[offset + r * bpv + b]);
  }
  return { ids, vectors: Uint8Array.from(parts) };
}

/** A buffer source that fails the test if asked for more bytes than it holds (the reader must check first). */
function guarded(bytes: Uint8Array, name: string, limit: { max: number }): ByteSource {
  const inner = bufferSource(bytes, name);
  return {
    name,
    size: inner.size,
    readInto(offset: number, target: Uint8Array): Promise<void> {
      limit.max = Math.max(limit.max, target.length);
      return inner.readInto(offset, target);
    },
    close(): void {},
  };
}

function collectionOf(metricType: number, dim: number, version: string): Milvus1Collection {
  return {
    name: "fuzz",
    dim,
    metric: metricType === 1 ? "L2" : "HAMMING",
    metricType,
    vectorType: metricType >= 3 ? "binary" : "float",
    engineType: 1,
    indexType: "FLAT",
    indexParams: "{}",
    indexFileSize: 1 << 30,
    version,
    flag: 0,
    partitions: [],
  };
}

const SEGMENT: Milvus1Segment = {
  segmentId: "1",
  fileId: "1",
  fileType: 1,
  metaRowCount: 0,
  metaFileSize: 0,
  tableId: "fuzz",
  collection: "fuzz",
  partition: null,
  dir: "/nonexistent",
  metaId: 1,
};

function withHeader(header: boolean, data: Uint8Array): Uint8Array {
  if (!header) return data.slice();
  const out = new Uint8Array(8 + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(data.length), true);
  out.set(data, 8);
  return out;
}

const HUGE = [
  0xffff_ffff_ffff_ffffn,
  0x8000_0000_0000_0000n,
  0x7fff_ffff_ffff_ffffn,
  (1n << 53n) + 1n,
  1n << 32n,
  (1n << 31n) * 8n,
  BigInt(Number.MAX_SAFE_INTEGER),
];

function mutate(files: Files, random: () => number, int: (n: number) => number): string {
  const names = ["rv", "uid", "deleted"] as const;
  const which = names[int(3)];
  const file = files[which];
  const kind = int(9);
  switch (kind) {
    case 0: { // truncate
      const at = int(file.length + 1);
      files[which] = file.slice(0, at);
      return `truncate ${which} to ${at}`;
    }
    case 1: { // extend
      const extra = 1 + int(20);
      const out = new Uint8Array(file.length + extra);
      out.set(file);
      for (let i = file.length; i < out.length; i++) out[i] = int(256);
      files[which] = out;
      return `extend ${which} by ${extra}`;
    }
    case 2: { // flip bytes anywhere
      const flips = 1 + int(4);
      for (let i = 0; i < flips && file.length > 0; i++) file[int(file.length)] ^= 1 << int(8);
      return `flip ${flips} in ${which}`;
    }
    case 3: { // huge header
      if (file.length >= 8) {
        const v = HUGE[int(HUGE.length)];
        new DataView(file.buffer, file.byteOffset).setBigUint64(0, v, true);
        return `huge header ${v} in ${which}`;
      }
      return "noop";
    }
    case 4: { // near-miss header
      if (file.length >= 8) {
        const delta = BigInt(int(17) - 8);
        const v = BigInt(file.length - 8) + delta;
        new DataView(file.buffer, file.byteOffset).setBigUint64(0, v < 0n ? 0n : v, true);
        return `header ${delta >= 0 ? "+" : ""}${delta} in ${which}`;
      }
      return "noop";
    }
    case 5: { // random deleted offsets
      const d = files.deleted;
      const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
      for (let at = 8; at + 4 <= d.length; at += 4) {
        if (random() < 0.5) {
          const choices = [-1, -2147483648, 2147483647, int(40), int(40) - 20, int(2 ** 31)];
          dv.setInt32(at, choices[int(choices.length)], true);
        }
      }
      return "random deleted offsets";
    }
    case 6: { // replace a file with another
      const other = names[int(3)];
      files[which] = files[other].slice();
      return `${which} := ${other}`;
    }
    case 7: { // empty file
      files[which] = new Uint8Array(0);
      return `empty ${which}`;
    }
    default: { // random bytes of random length
      const out = new Uint8Array(int(64));
      for (let i = 0; i < out.length; i++) out[i] = int(256);
      files[which] = out;
      return `random ${which}`;
    }
  }
}

async function runReader(
  collection: Milvus1Collection,
  files: Files,
  maxRows: number,
): Promise<{ outcome: Outcome; largestRead: number; largestBatch: number }> {
  const limit = { max: 0 };
  const sources = {
    rv: guarded(files.rv, "rv", limit),
    uid: guarded(files.uid, "uid", limit),
    deleted: guarded(files.deleted, "deleted_docs", limit),
  };
  let largestBatch = 0;
  try {
    const scan = await scanSegmentSources(collection, SEGMENT, sources);
    const ids: bigint[] = [];
    const parts: Uint8Array[] = [];
    for await (const batch of readSegmentSources(collection, SEGMENT, sources, maxRows)) {
      largestBatch = Math.max(largestBatch, batch.ids!.byteLength, batch.vectors.byteLength);
      assert.ok(batch.rows <= maxRows);
      ids.push(...batch.ids!);
      parts.push(new Uint8Array(batch.vectors.buffer, batch.vectors.byteOffset, batch.vectors.byteLength));
    }
    assert.equal(ids.length, scan.liveRows, "scan and read agree");
    const vectors = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let at = 0;
    for (const p of parts) {
      vectors.set(p, at);
      at += p.length;
    }
    return { outcome: { ids, vectors }, largestRead: limit.max, largestBatch };
  } catch (error) {
    if (error instanceof MilvusdmError) {
      assert.notEqual(error.code, "INTERNAL", error.message);
      return { outcome: "invalid", largestRead: limit.max, largestBatch };
    }
    throw error;
  }
}

Deno.test(`fuzz: ${CASES} mutated segments end in a MilvusdmError or the reference rows`, async () => {
  const random = prng(SEED);
  const int = (n: number) => Math.floor(random() * n);
  const started = performance.now();
  const rssBefore = Deno.memoryUsage().rss;
  const tally = { valid: 0, invalid: 0, unchanged: 0 };
  for (let c = 0; c < CASES; c++) {
    const binary = random() < 0.4;
    const dim = binary ? 8 * (1 + int(8)) : 1 + int(8);
    const metricType = binary ? 3 : 1;
    const bpv = binary ? dim / 8 : dim * 4;
    const legacyBuilt = random() < 0.15;
    const version = legacyBuilt || random() < 0.1 ? "0.7.0" : "1.1.1";
    const rows = int(21);
    const ids = new Uint8Array(rows * 8);
    for (let i = 0; i < ids.length; i++) ids[i] = int(256);
    const vectors = new Uint8Array(rows * bpv);
    for (let i = 0; i < vectors.length; i++) vectors[i] = int(256);
    const deletes = new Int32Array(rows === 0 ? 0 : int(rows + 3));
    for (let i = 0; i < deletes.length; i++) deletes[i] = int(rows);
    const files: Files = {
      rv: withHeader(!legacyBuilt, vectors),
      uid: withHeader(!legacyBuilt, ids),
      deleted: withHeader(!legacyBuilt, new Uint8Array(deletes.buffer)),
    };
    const mutations = random() < 0.1 ? 0 : 1 + int(2);
    const applied: string[] = [];
    for (let m = 0; m < mutations; m++) applied.push(mutate(files, random, int));
    const collection = collectionOf(metricType, dim, version);
    const expected = reference(files, bpv, version === "0.7.0");
    const maxRows = 1 + int(25);
    let got;
    try {
      got = await runReader(collection, files, maxRows);
    } catch (error) {
      throw new Error(`case ${c} (${applied.join(", ")}): not a MilvusdmError: ${String(error)}`, { cause: error });
    }
    const inputBytes = files.rv.length + files.uid.length + files.deleted.length;
    assert.ok(got.largestRead <= inputBytes, `case ${c}: read of ${got.largestRead} bytes from ${inputBytes}`);
    assert.ok(got.largestBatch <= inputBytes, `case ${c}: batch of ${got.largestBatch} bytes from ${inputBytes}`);
    if (expected === "invalid") {
      assert.equal(got.outcome, "invalid", `case ${c} (${applied.join(", ")}): the reader accepted invalid files`);
      tally.invalid++;
    } else {
      assert.notEqual(got.outcome, "invalid", `case ${c} (${applied.join(", ")}): the reader refused valid files`);
      const outcome = got.outcome as { ids: bigint[]; vectors: Uint8Array };
      assert.deepEqual(outcome.ids, expected.ids, `case ${c} (${applied.join(", ")}): ids`);
      assert.deepEqual(outcome.vectors, expected.vectors, `case ${c} (${applied.join(", ")}): vectors`);
      tally.valid++;
      if (mutations === 0) tally.unchanged++;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const rssGrowth = Deno.memoryUsage().rss - rssBefore;
  console.log(
    `fuzz: ${CASES} cases in ${seconds.toFixed(1)} s: ${tally.valid} read correctly (${tally.unchanged} unmutated), ` +
      `${tally.invalid} refused with a MilvusdmError; RSS grew ${(rssGrowth / 2 ** 20).toFixed(0)} MB`,
  );
  assert.ok(tally.valid > CASES / 10 && tally.invalid > CASES / 10, "both outcomes are exercised");
  assert.ok(rssGrowth < 256 * 2 ** 20, "no runaway allocation");
});

Deno.test("fuzz: mutated segment files on disk, through openMilvus1 and partitionSource", async () => {
  const random = prng(SEED + 1);
  const int = (n: number) => Math.floor(random() * n);
  const dir = await Deno.makeTempDir({ prefix: "milvusdm-m1-fuzz-" });
  try {
    const built = buildMilvus1Dir(dir, {
      seed: 3,
      junk: false,
      collections: [{ name: "f", dim: 4, metricType: 1, partitions: [{ tag: null, segments: [{ rows: 12 }] }] }],
    });
    const store = await openMilvus1(dir);
    const collection = store.collection("f");
    const segment = collection.partitions[0].segments[0];
    const original: Files = {
      rv: Deno.readFileSync(`${segment.dir}/${segment.segmentId}.rv`),
      uid: Deno.readFileSync(`${segment.dir}/${segment.segmentId}.uid`),
      deleted: Deno.readFileSync(`${segment.dir}/deleted_docs`),
    };
    assert.equal(built.expected[0].rows, 12);
    for (let c = 0; c < 300; c++) {
      const files: Files = { rv: original.rv.slice(), uid: original.uid.slice(), deleted: original.deleted.slice() };
      const applied = mutate(files, random, int);
      Deno.writeFileSync(`${segment.dir}/${segment.segmentId}.rv`, files.rv);
      Deno.writeFileSync(`${segment.dir}/${segment.segmentId}.uid`, files.uid);
      Deno.writeFileSync(`${segment.dir}/deleted_docs`, files.deleted);
      const expected = reference(files, 16, false);
      try {
        const source = await partitionSource(collection, collection.partitions[0]);
        const got: bigint[] = [];
        for await (const batch of source.batches(1 + int(8))) got.push(...batch.ids!);
        assert.notEqual(expected, "invalid", `disk case ${c} (${applied}): accepted invalid files`);
        assert.deepEqual(got, (expected as { ids: bigint[] }).ids, `disk case ${c} (${applied})`);
      } catch (error) {
        if (!(error instanceof MilvusdmError)) throw error;
        assert.equal(expected, "invalid", `disk case ${c} (${applied}): refused valid files: ${error.message}`);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
