/**
 * Writing vectors (and ids) to an HDF5 file without the HDF5 library: the batches' bytes go straight to the file,
 * and the few metadata structures are written by hand at the end, in the classic layout every HDF5 reader
 * understands (superblock version 0, a symbol-table root group, version-1 object headers, contiguous datasets).
 *
 * M2H spent most of its time in h5wasm's write path (copying every slice into WebAssembly memory, chunking it,
 * writing each chunk); here a 4 MiB batch is one `write`. The layout:
 *
 * - `[0, dataStart)`: superblock, root group (symbol table, attributes), the datasets' object headers and, for
 *   string attributes, a global heap: written last, when the row count is known (its size does not depend on it).
 * - `[dataStart, …)`: the vectors (`embeddings`, float32 `[n, dim]` or uint8 `[n, dim/8]`), appended as batches
 *   come, then the ids (`ids`, int64 `[n]`), which are collected in a side file until then.
 *
 * The file is written as `path.partial` and renamed when complete: an interrupted or failed export never leaves a
 * partial file under its final name. Format facts: the HDF5 File Format Specification 3.0 (II.A superblock,
 * III.A.1 B-tree v1, III.B group symbol table node, III.D local heap, III.E global heap, IV.A object headers and
 * messages 0x0001 dataspace, 0x0003 datatype, 0x0005 fill value, 0x0008 layout, 0x000C attribute, 0x0011 symbol
 * table), with h5py's own files (libver "earliest") as the byte-level reference.
 *
 * @module
 */
import { MilvusdmError } from "../errors.ts";
import type { Batch } from "../types.ts";
import { checkAppend, type Hdf5Writer, type Hdf5WriterOptions } from "./writer.ts";

const UNDEFINED = 0xffff_ffff_ffff_ffffn;
/** Where raw data starts: page-aligned, after every metadata structure. */
const PAGE = 4096;

/** A growable little-endian byte buffer with absolute positions. */
class Bytes {
  buf = new Uint8Array(PAGE);
  view = new DataView(this.buf.buffer);
  length = 0;

  ensure(end: number): void {
    if (end <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(end, this.buf.length * 2));
    grown.set(this.buf);
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }
  /** Reserves `n` zeroed bytes at the end, aligned to `align`; returns their position. */
  alloc(n: number, align = 8): number {
    const at = Math.ceil(this.length / align) * align;
    this.ensure(at + n);
    this.length = at + n;
    return at;
  }
  u8(at: number, v: number): void {
    this.view.setUint8(at, v);
  }
  u16(at: number, v: number): void {
    this.view.setUint16(at, v, true);
  }
  u32(at: number, v: number): void {
    this.view.setUint32(at, v, true);
  }
  u64(at: number, v: number | bigint): void {
    this.view.setBigUint64(at, BigInt(v), true);
  }
  bytes(at: number, b: Uint8Array): void {
    this.buf.set(b, at);
  }
}

const pad8 = (n: number) => Math.ceil(n / 8) * 8;
const encoder = new TextEncoder();

/** A datatype message body (padded to 8). */
function datatype(kind: "f32" | "u8" | "i64" | "f64" | "vlen-utf8"): Uint8Array {
  const out = new Bytes();
  if (kind === "f32" || kind === "f64") {
    const at = out.alloc(24);
    const size = kind === "f32" ? 4 : 8;
    out.u8(at, 0x11); // version 1, floating point
    out.u8(at + 1, 0x20); // little-endian, mantissa normalized (implied leading 1)
    out.u8(at + 2, size * 8 - 1); // sign bit position
    out.u32(at + 4, size);
    out.u16(at + 8, 0); // bit offset
    out.u16(at + 10, size * 8); // precision
    out.u8(at + 12, kind === "f32" ? 23 : 52); // exponent location
    out.u8(at + 13, kind === "f32" ? 8 : 11); // exponent size
    out.u8(at + 14, 0); // mantissa location
    out.u8(at + 15, kind === "f32" ? 23 : 52); // mantissa size
    out.u32(at + 16, kind === "f32" ? 127 : 1023); // exponent bias
  } else if (kind === "u8" || kind === "i64") {
    const at = out.alloc(16);
    const size = kind === "u8" ? 1 : 8;
    out.u8(at, 0x10); // version 1, fixed point
    out.u8(at + 1, kind === "i64" ? 0x08 : 0); // little-endian; signed for int64
    out.u32(at + 4, size);
    out.u16(at + 10, size * 8); // precision
  } else {
    const at = out.alloc(24);
    out.u8(at, 0x19); // version 1, variable-length
    out.u8(at + 1, 0x01); // a string, null-terminated
    out.u8(at + 2, 0x01); // UTF-8
    out.u32(at + 4, 16); // length (4) + global heap collection address (8) + object index (4)
    out.u8(at + 8, 0x10); // base type: 1-byte unsigned fixed point
    out.u32(at + 12, 1);
    out.u16(at + 18, 8);
  }
  return out.buf.slice(0, out.length);
}

/** A dataspace message body: scalar for `dims` [], else simple with maximum dimensions equal to the dimensions. */
function dataspace(dims: number[]): Uint8Array {
  const out = new Bytes();
  const at = out.alloc(8 + dims.length * 16);
  out.u8(at, 1); // version 1
  out.u8(at + 1, dims.length);
  out.u8(at + 2, dims.length > 0 ? 1 : 0); // maximum dimensions present
  dims.forEach((d, i) => {
    out.u64(at + 8 + i * 8, d);
    out.u64(at + 8 + (dims.length + i) * 8, d);
  });
  return out.buf.slice(0, out.length);
}

interface Message {
  type: number;
  body: Uint8Array;
  flags?: number;
}

/** Bytes a version-1 object header with these messages takes (16-byte prefix, 8-byte message headers). */
function headerSize(messages: Message[]): number {
  return 16 + messages.reduce((n, m) => n + 8 + pad8(m.body.length), 0);
}

function writeHeader(out: Bytes, at: number, messages: Message[]): void {
  out.u8(at, 1); // version 1
  out.u16(at + 2, messages.length);
  out.u32(at + 4, 1); // reference count
  out.u32(at + 8, headerSize(messages) - 16);
  let p = at + 16;
  for (const m of messages) {
    out.u16(p, m.type);
    out.u16(p + 2, pad8(m.body.length));
    out.u8(p + 4, m.flags ?? 0);
    out.bytes(p + 8, m.body);
    p += 8 + pad8(m.body.length);
  }
}

/** One attribute: its message body, with a string's bytes placed in the global heap as object `heapIndex`. */
function attributeMessage(
  name: string,
  value: string | number,
  heapIndex: number,
  heapAddress: () => number,
): { body: () => Uint8Array; heapBytes: Uint8Array | null } {
  const nameBytes = encoder.encode(name + "\0");
  const isString = typeof value === "string";
  const type = isString ? datatype("vlen-utf8") : datatype(Number.isSafeInteger(value) ? "i64" : "f64");
  const space = dataspace([]);
  const heapBytes = isString ? encoder.encode(value) : null;
  return {
    heapBytes,
    body: () => {
      const out = new Bytes();
      const at = out.alloc(8 + pad8(nameBytes.length) + type.length + space.length + (isString ? 16 : 8));
      out.u8(at, 1); // version 1
      out.u16(at + 2, nameBytes.length);
      out.u16(at + 4, isString ? 20 : type[0] === 0x11 ? 20 : 12); // datatype size (unpadded)
      out.u16(at + 6, 8); // dataspace size
      let p = at + 8;
      out.bytes(p, nameBytes);
      p += pad8(nameBytes.length);
      out.bytes(p, type);
      p += type.length;
      out.bytes(p, space);
      p += space.length;
      if (isString) {
        out.u32(p, heapBytes!.length);
        out.u64(p + 4, heapAddress());
        out.u32(p + 12, heapIndex);
      } else if (Number.isSafeInteger(value)) {
        out.view.setBigInt64(p, BigInt(value as number), true);
      } else {
        out.view.setFloat64(p, value as number, true);
      }
      return out.buf.slice(0, out.length);
    },
  };
}

/** Writes all of `bytes` at the file's current position. */
function writeAll(file: Deno.FsFile, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += file.writeSync(bytes.subarray(done));
}

/**
 * Creates an HDF5 file for vectors at `path` (written as `path.partial` until {@linkcode Hdf5Writer.commit}),
 * with contiguous `embeddings` (and `ids`) datasets and the given root attributes. `chunkRows` is ignored: the
 * datasets are not chunked.
 *
 * @example
 * ```ts
 * const w = await createContiguousHdf5Writer("out.h5", { dim: 128, vectorType: "float", withIds: true });
 * w.append(batch);
 * await w.commit();
 * ```
 */
export async function createContiguousHdf5Writer(path: string, options: Hdf5WriterOptions): Promise<Hdf5Writer> {
  const partial = `${path}.partial`;
  const idsPath = `${path}.partial-ids`;
  const { dim, vectorType, withIds } = options;
  const cols = vectorType === "float" ? dim : dim / 8;
  if (!Number.isInteger(cols) || cols <= 0) {
    throw new MilvusdmError("INTERNAL", `Cannot write vectors of dimension ${dim} (${vectorType})`);
  }
  const rowBytes = vectorType === "float" ? cols * 4 : cols;
  const embName = options.embeddingsDataset ?? "embeddings";
  if (withIds && embName === "ids") throw new MilvusdmError("INTERNAL", `The vectors cannot be named "ids"`);
  const failed = (what: string, error: unknown) =>
    new MilvusdmError("OUTPUT_ERROR", `${what} "${partial}" failed (disk full?): ${String(error)}`, { cause: error });

  // The metadata, laid out now with the row count as a placeholder: its size does not depend on it.
  const meta = buildMetadata(embName, withIds, vectorType, cols, options.attributes ?? {});
  const dataStart = Math.ceil(meta.size / PAGE) * PAGE;

  await Deno.remove(partial).catch(() => {});
  await Deno.remove(idsPath).catch(() => {});
  let file: Deno.FsFile;
  let idsFile: Deno.FsFile | null = null;
  try {
    file = await Deno.open(partial, { write: true, create: true, truncate: true });
  } catch (error) {
    throw new MilvusdmError("OUTPUT_ERROR", `Cannot create "${partial}": ${String(error)}`, { cause: error });
  }
  try {
    if (withIds) idsFile = await Deno.open(idsPath, { read: true, write: true, create: true, truncate: true });
    file.seekSync(dataStart, Deno.SeekMode.Start);
  } catch (error) {
    file.close();
    await Deno.remove(partial).catch(() => {});
    throw new MilvusdmError("OUTPUT_ERROR", `Cannot create "${idsPath}": ${String(error)}`, { cause: error });
  }
  let open = true;
  let rows = 0;
  const closeAll = () => {
    if (!open) return;
    open = false;
    try {
      file.close();
    } catch { /* already closed */ }
    try {
      idsFile?.close();
    } catch { /* already closed */ }
  };
  const removeAll = async () => {
    closeAll();
    await Deno.remove(partial).catch(() => {});
    await Deno.remove(idsPath).catch(() => {});
  };
  return {
    path,
    get rows() {
      return rows;
    },
    append(batch: Batch) {
      if (!checkAppend(batch, { path, open, dim, withIds })) return;
      const v = batch.vectors;
      if (v.byteLength !== batch.rows * rowBytes) {
        throw new MilvusdmError("INTERNAL", `Batch of ${v.byteLength} bytes for ${batch.rows} rows of ${rowBytes}`);
      }
      try {
        writeAll(file, new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
        if (idsFile) {
          const ids = batch.ids!;
          writeAll(idsFile, new Uint8Array(ids.buffer, ids.byteOffset, batch.rows * 8));
        }
      } catch (error) {
        throw failed("Writing", error);
      }
      rows += batch.rows;
    },
    async commit() {
      if (!open) throw new MilvusdmError("INTERNAL", `"${path}" is already closed`);
      try {
        const vectorBytes = rows * rowBytes;
        const idsAt = dataStart + vectorBytes;
        if (idsFile) {
          // The ids follow the vectors: copied from the side file in 4 MiB pieces.
          idsFile.seekSync(0, Deno.SeekMode.Start);
          const piece = new Uint8Array(Math.min(4 << 20, Math.max(8, rows * 8)));
          for (let left = rows * 8; left > 0;) {
            const n = idsFile.readSync(piece.subarray(0, Math.min(piece.length, left)));
            if (n === null || n === 0) throw new Error(`the ids side file ended ${left} bytes early`);
            writeAll(file, piece.subarray(0, n));
            left -= n;
          }
        }
        const end = idsAt + (withIds ? rows * 8 : 0);
        file.seekSync(0, Deno.SeekMode.Start);
        writeAll(file, meta.finish(rows, dataStart, idsAt, end));
        // The file reaches exactly where the superblock says it ends (a file of 0 rows too, whose data start
        // was only seeked to).
        file.truncateSync(end);
      } catch (error) {
        await removeAll();
        throw failed("Writing", error);
      }
      closeAll();
      await Deno.remove(idsPath).catch(() => {});
      try {
        await Deno.rename(partial, path);
      } catch (error) {
        await Deno.remove(partial).catch(() => {});
        throw new MilvusdmError("OUTPUT_ERROR", `Cannot move "${partial}" to "${path}": ${String(error)}`, {
          cause: error,
        });
      }
    },
    async abort() {
      await removeAll();
    },
  };
}

/**
 * Lays out the metadata: superblock, root group header (symbol table message, attributes), B-tree, local heap,
 * symbol table node, the datasets' headers, and a global heap for string attributes. `finish` fills in what depends
 * on the row count and returns the bytes.
 */
function buildMetadata(
  embName: string,
  withIds: boolean,
  vectorType: "float" | "binary",
  cols: number,
  attributes: Record<string, string | number>,
): { size: number; finish: (rows: number, dataStart: number, idsAt: number, eof: number) => Uint8Array } {
  const out = new Bytes();
  const superblock = out.alloc(96);

  // Attributes: strings go to one global heap collection, object k + 1 for the k-th string.
  let heapAt = 0;
  let strings = 0;
  const attrs = Object.entries(attributes).map(([name, value]) => {
    const index = typeof value === "string" ? ++strings : 0;
    return attributeMessage(name, value, index, () => heapAt);
  });
  const attrBodies = attrs.map((a) => a.body());
  const rootMessages: Message[] = [
    { type: 0x11, body: new Uint8Array(16) },
    ...attrBodies.map((body) => ({ type: 0x0c, body })),
  ];
  const root = out.alloc(headerSize(rootMessages));

  // Group: B-tree (one leaf), local heap with the link names, one symbol table node.
  const names = [embName, ...(withIds ? ["ids"] : [])].sort();
  const btree = out.alloc(24 + 2 * 16 * 8 + (2 * 16 + 1) * 8); // internal node K 16: room for 2K entries
  const heapData: number[] = [];
  let heapUsed = 8; // offset 0: the empty name
  const nameOffsets = names.map((n) => {
    const off = heapUsed;
    heapUsed += pad8(encoder.encode(n).length + 1);
    heapData.push(off);
    return off;
  });
  const localHeap = out.alloc(32);
  const localHeapData = out.alloc(heapUsed);
  const snod = out.alloc(8 + 2 * 4 * 40); // leaf node K 4: room for 2K entries

  // Datasets.
  const vecType = datatype(vectorType === "float" ? "f32" : "u8");
  const fill = Uint8Array.of(2, 2, 2, 1, 0, 0, 0, 0); // version 2, late allocation, fill if set, default fill
  const datasetMessages = (dims: number[], type: Uint8Array, address: bigint, bytes: number): Message[] => {
    const layout = new Bytes();
    const at = layout.alloc(24);
    layout.u8(at, 3); // version 3
    layout.u8(at + 1, 1); // contiguous
    layout.u64(at + 2, address);
    layout.u64(at + 10, bytes);
    return [
      { type: 0x01, body: dataspace(dims) },
      { type: 0x03, body: type, flags: 1 },
      { type: 0x05, body: fill, flags: 1 },
      { type: 0x08, body: layout.buf.slice(0, 24) },
    ];
  };
  const embHeader = out.alloc(headerSize(datasetMessages([0, cols], vecType, 0n, 0)));
  const idsHeader = withIds ? out.alloc(headerSize(datasetMessages([0], datatype("i64"), 0n, 0))) : 0;

  // Global heap collection (at least 4 KiB).
  let heapSize = 0;
  if (strings > 0) {
    const objects = attrs.filter((a) => a.heapBytes).reduce((n, a) => n + 16 + pad8(a.heapBytes!.length), 0);
    heapSize = Math.max(4096, pad8(16 + objects + 16));
    heapAt = out.alloc(heapSize);
  }
  const size = out.length;

  return {
    size,
    finish(rows: number, dataStart: number, idsAt: number, eof: number): Uint8Array {
      // Superblock version 0.
      out.bytes(superblock, Uint8Array.of(0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a));
      out.u8(superblock + 13, 8); // size of offsets
      out.u8(superblock + 14, 8); // size of lengths
      out.u16(superblock + 16, 4); // group leaf node K
      out.u16(superblock + 18, 16); // group internal node K
      out.u64(superblock + 24, 0); // base address
      out.u64(superblock + 32, UNDEFINED); // free-space info
      out.u64(superblock + 40, eof);
      out.u64(superblock + 48, UNDEFINED); // driver information
      // Root symbol table entry: name offset 0, header, cached symbol table (B-tree, local heap).
      out.u64(superblock + 56, 0);
      out.u64(superblock + 64, root);
      out.u32(superblock + 72, 1);
      out.u64(superblock + 80, btree);
      out.u64(superblock + 88, localHeap);

      const stab = new Bytes();
      stab.alloc(16);
      stab.u64(0, btree);
      stab.u64(8, localHeap);
      // The attribute bodies again, now that the global heap's address is known (their sizes do not change).
      writeHeader(out, root, [
        { type: 0x11, body: stab.buf.slice(0, 16) },
        ...attrs.map((a) => ({ type: 0x0c, body: a.body() })),
      ]);

      // B-tree: a leaf with one child, keyed by the heap offsets of "" and the last name.
      out.bytes(btree, encoder.encode("TREE"));
      out.u8(btree + 4, 0); // group node
      out.u8(btree + 5, 0); // leaf
      out.u16(btree + 6, 1); // entries used
      out.u64(btree + 8, UNDEFINED);
      out.u64(btree + 16, UNDEFINED);
      out.u64(btree + 24, 0); // key 0
      out.u64(btree + 32, snod); // child 0
      out.u64(btree + 40, nameOffsets[nameOffsets.length - 1]); // key 1

      out.bytes(localHeap, encoder.encode("HEAP"));
      out.u64(localHeap + 8, heapUsed); // data segment size
      out.u64(localHeap + 16, 1); // no free block
      out.u64(localHeap + 24, localHeapData);
      names.forEach((n, i) => out.bytes(localHeapData + nameOffsets[i], encoder.encode(n)));

      const headerOf = (n: string) => (n === embName ? embHeader : idsHeader);
      out.bytes(snod, encoder.encode("SNOD"));
      out.u8(snod + 4, 1); // version 1
      out.u16(snod + 6, names.length);
      names.forEach((n, i) => {
        const e = snod + 8 + i * 40;
        out.u64(e, nameOffsets[i]);
        out.u64(e + 8, headerOf(n));
      });

      const vectorBytes = rows * cols * (vectorType === "float" ? 4 : 1);
      writeHeader(
        out,
        embHeader,
        datasetMessages([rows, cols], vecType, rows > 0 ? BigInt(dataStart) : UNDEFINED, vectorBytes),
      );
      if (withIds) {
        writeHeader(
          out,
          idsHeader,
          datasetMessages([rows], datatype("i64"), rows > 0 ? BigInt(idsAt) : UNDEFINED, rows * 8),
        );
      }

      if (strings > 0) {
        out.bytes(heapAt, encoder.encode("GCOL"));
        out.u8(heapAt + 4, 1);
        out.u64(heapAt + 8, heapSize);
        let p = heapAt + 16;
        let index = 0;
        for (const a of attrs) {
          if (!a.heapBytes) continue;
          out.u16(p, ++index);
          out.u64(p + 8, a.heapBytes.length);
          out.bytes(p + 16, a.heapBytes);
          p += 16 + pad8(a.heapBytes.length);
        }
        // The free space: object 0, covering the rest of the collection.
        out.u64(p + 8, heapAt + heapSize - p);
      }
      return out.buf.slice(0, size);
    },
  };
}
