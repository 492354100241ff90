/**
 * Streaming of IVF inverted lists (lib/faiss/invlists.ts) over in-memory `ilar` layouts: small lists (through the
 * read-ahead window) and large ones (read directly) mixed, lists split across batches, every byte of codes and ids
 * read once and nothing past the lists read through the window.
 */
import { bufferSource, type ByteSource } from "../lib/bytes.ts";
import { addList, newListTable, streamLists } from "../lib/faiss/invlists.ts";
import type { BatchMemory } from "../lib/types.ts";
import { assert, assertEquals } from "./assert.ts";

const DIM = 16; // 64-byte codes: a list of 1024 entries or more is read directly
const CODE = DIM * 4;

/** An `ilar`-style blob: per list its codes (vector k holds k + j / 100) then its ids (1000 + k). */
function lists(sizes: number[]): { bytes: Uint8Array; offsets: [number, number][]; total: number } {
  const total = sizes.reduce((a, b) => a + b, 0);
  const head = 40; // bytes before the first list, never read
  const bytes = new Uint8Array(head + total * (CODE + 8) + 24);
  const view = new DataView(bytes.buffer);
  const offsets: [number, number][] = [];
  let at = head;
  let k = 0;
  for (const size of sizes) {
    const codeOffset = at;
    for (let r = 0; r < size; r++) {
      for (let j = 0; j < DIM; j++) view.setFloat32(at + (r * DIM + j) * 4, k + r + j / 100, true);
    }
    at += size * CODE;
    const idOffset = at;
    for (let r = 0; r < size; r++) view.setBigInt64(at + r * 8, BigInt(1000 + k + r), true);
    at += size * 8;
    offsets.push([codeOffset, idOffset]);
    k += size;
  }
  return { bytes, offsets, total };
}

/** Counts the bytes read from a source. */
function counting(source: ByteSource): { source: ByteSource; bytes: () => number } {
  let bytes = 0;
  return {
    source: {
      name: source.name,
      size: source.size,
      close: () => source.close(),
      readInto(offset: number, target: Uint8Array) {
        bytes += target.length;
        return source.readInto(offset, target);
      },
    },
    bytes: () => bytes,
  };
}

Deno.test("faiss lists: small and large lists, split across batches, each byte read once", async () => {
  // Runs of small lists between large ones, a large list split by several batches, small lists at the end.
  const sizes = [3, 1, 200, 5000, 7, 7, 2000, 1, 1100, 4, 300, 2];
  const { bytes, offsets, total } = lists(sizes);
  for (const maxRows of [1, 7, 333, 1024, 4096, total]) {
    const counter = counting(bufferSource(bytes, "lists"));
    const table = newListTable(counter.source, "ilar full", sizes.length, CODE, sizes.length);
    sizes.forEach((size, l) => addList(table, l, size, offsets[l][0], offsets[l][1]));
    const pool = [0, 1, 2].map(() => ({ vectors: new Float32Array(maxRows * DIM), ids: new BigInt64Array(maxRows) }));
    let next = 0;
    const allocate = (rows: number): BatchMemory => {
      const memory = pool[next];
      next = (next + 1) % pool.length;
      return { vectors: memory.vectors.subarray(0, rows * DIM), ids: memory.ids.subarray(0, rows) };
    };
    let row = 0;
    for await (const batch of streamLists(table, { d: DIM, vectorType: "float" }, null, maxRows, allocate)) {
      assert(batch.rows <= maxRows && batch.rows > 0);
      for (let r = 0; r < batch.rows; r++, row++) {
        assertEquals(batch.ids![r], BigInt(1000 + row), `id of row ${row} (batches of ${maxRows})`);
        assertEquals(batch.vectors[r * DIM + 3], Math.fround(row + 0.03), `vector of row ${row}`);
      }
    }
    assertEquals(row, total);
    assertEquals(counter.bytes(), total * (CODE + 8), `bytes read with batches of ${maxRows}`);
  }
});
