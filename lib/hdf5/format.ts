/**
 * The few structures of the HDF5 file format milvusdm reads itself, with checked cursors: the superblock (address
 * sizes, base address), a dataset's object header (its data layout message, and whether it stores data in
 * external files), the version-1 B-tree that indexes the chunks of a chunked dataset, and an object's scalar
 * attributes (compact, or dense in a fractal heap with a one-leaf name index, and variable-length strings from the
 * global heap).
 *
 * Everything else (groups, datatypes, dataspaces, filters) comes from h5wasm, which also says where a dataset's
 * object header is. Every count and size read here is checked against the file before it sizes a read, every
 * structure that links to another is followed at most once, so a corrupt file gives a typed error, never a loop.
 * Reference: the HDF5 File Format Specification 3.0: II.A (superblock), III.A.1 and III.A.2 (B-trees), III.E
 * (global heap), III.G (fractal heap), IV.A.1 (object headers), IV.A.2.i (data layout, versions 3 to 5),
 * IV.A.2.m (attributes).
 *
 * @module
 */
import { bufferSource, type ByteSource, Cursor } from "../bytes.ts";
import { MilvusdmError } from "../errors.ts";

/** What the superblock says about addresses. */
export interface Superblock {
  /** Superblock version (0 to 3). */
  version: number;
  /** Bytes of an address ("size of offsets"): 2, 4 or 8. */
  offsetSize: number;
  /** Bytes of a length ("size of lengths"): 2, 4 or 8. */
  lengthSize: number;
  /** Absolute position every address in the file is relative to: the superblock's (the user block size). */
  base: number;
}

/** How a dataset's raw data is stored (the data layout message). */
export type DataLayout =
  | { kind: "contiguous"; address: number | null; size: number }
  | {
    kind: "chunked";
    /** Chunk dimensions, the last being the element size in bytes. */
    dims: number[];
    /** How chunks are indexed: a version-1 B-tree (layout version 3), a single chunk, or another index (4 and up). */
    index: "btree1" | "single" | "other";
    /** Address of the index (the B-tree root, or the single chunk); null when no chunk was written. */
    address: number | null;
    /** Single chunk: its stored size when filtered (else the chunk size), and its filter mask. */
    singleSize?: number;
    singleFilterMask?: number;
  }
  | { kind: "compact" | "virtual" | "unsupported"; version: number };

/** The parts of a dataset's object header the fast path needs. */
export interface DatasetHeader {
  layout: DataLayout;
  /** Whether the data lives in external files (external data files message). */
  external: boolean;
}

/** One written chunk of a chunked dataset. */
export interface ChunkEntry {
  /** Offsets of the chunk's first element in each dimension (elements, not chunks). */
  offsets: number[];
  /** Absolute position of the chunk in the file. */
  position: number;
  /** Stored (filtered) size in bytes. */
  size: number;
  /** Bit i set: filter i of the pipeline was not applied to this chunk. */
  filterMask: number;
}

const MSG_EXTERNAL = 0x0007;
const MSG_LAYOUT = 0x0008;
const MSG_CONTINUATION = 0x0010;
const MAX_HEADER_BLOCKS = 256;
/** Read-ahead of the cursors over the file's metadata: its structures are small and scattered. */
const METADATA_WINDOW = 4096;
const MAX_BTREE_DEPTH = 32;

function invalid(source: ByteSource, message: string): MilvusdmError {
  return new MilvusdmError("HDF5_INVALID", `"${source.name}": ${message}`);
}

/** A little-endian unsigned integer of `size` bytes; null when every bit is set (HDF5's undefined address). */
async function uint(c: Cursor, size: number, what: string): Promise<number | null> {
  switch (size) {
    case 1: {
      const v = await c.u8(what);
      return v === 0xff ? null : v;
    }
    case 2: {
      const v = (await c.u8(what)) | ((await c.u8(what)) << 8);
      return v === 0xffff ? null : v;
    }
    case 4: {
      const v = await c.u32(what);
      return v === 0xffffffff ? null : v;
    }
    case 8: {
      const at = c.offset;
      const v = await c.u64(what);
      if (v === 0xffffffffffffffffn) return null;
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(c.source, `${what} at byte ${at} is ${v}, too large`);
      return Number(v);
    }
  }
  throw invalid(c.source, `${what} has an unsupported size of ${size} bytes`);
}

/** Like {@linkcode uint}, for fields that cannot be undefined. */
async function length(c: Cursor, size: number, what: string): Promise<number> {
  const at = c.offset;
  const v = await uint(c, size, what);
  if (v === null) throw invalid(c.source, `${what} at byte ${at} is undefined`);
  return v;
}

async function u16(c: Cursor, what: string): Promise<number> {
  return (await c.u8(what)) | ((await c.u8(what)) << 8);
}

async function signature(c: Cursor, expected: string, what: string): Promise<void> {
  const at = c.offset;
  const got = await c.fourcc(what);
  if (got !== expected) {
    throw invalid(c.source, `expected ${what} "${expected}" at byte ${at}, found ${JSON.stringify(got)}`);
  }
}

/**
 * Reads the superblock at `position` (where the HDF5 signature is).
 *
 * @example
 * ```ts
 * const sb = await readSuperblock(await openFileSource("a.h5"), 0);
 * ```
 */
export async function readSuperblock(source: ByteSource, position: number): Promise<Superblock> {
  const c = new Cursor(source, position, METADATA_WINDOW);
  c.skip(8, "HDF5 signature");
  const version = await c.u8("superblock version");
  let offsetSize: number, lengthSize: number;
  if (version === 0 || version === 1) {
    c.skip(4, "superblock versions");
    offsetSize = await c.u8("size of offsets");
    lengthSize = await c.u8("size of lengths");
    c.skip(1 + 4 + 4 + (version === 1 ? 4 : 0), "superblock fields");
  } else if (version === 2 || version === 3) {
    offsetSize = await c.u8("size of offsets");
    lengthSize = await c.u8("size of lengths");
    c.skip(1, "superblock flags");
  } else {
    throw invalid(source, `unsupported superblock version ${version}`);
  }
  for (const [name, size] of [["offsets", offsetSize], ["lengths", lengthSize]] as const) {
    if (size !== 2 && size !== 4 && size !== 8) throw invalid(source, `unsupported size of ${name} ${size}`);
  }
  // Like the HDF5 library, take the superblock's position as the base address when the field says otherwise.
  return { version, offsetSize, lengthSize, base: position };
}

/** The absolute position of an address, checked to lie inside the file. */
function position(source: ByteSource, sb: Superblock, address: number, what: string): number {
  const at = sb.base + address;
  if (!Number.isSafeInteger(at) || at >= source.size) {
    throw invalid(source, `${what} address ${address} is beyond the end of the file (${source.size} bytes)`);
  }
  return at;
}

interface Message {
  type: number;
  /** Message flags: bit 1 (0x02) set = the body is a reference to a shared message elsewhere. */
  flags: number;
  body: Uint8Array;
}

/** The messages of an object header, following continuation blocks (with a bound, and no block read twice). */
async function readMessages(source: ByteSource, sb: Superblock, address: number): Promise<Message[]> {
  const start = position(source, sb, address, "object header");
  const c = new Cursor(source, start, METADATA_WINDOW);
  const messages: Message[] = [];
  const visited = new Set<number>();
  const first = await c.u8("object header version");
  if (first === 1) {
    c.skip(1, "reserved");
    const count = await u16(c, "header message count");
    c.skip(4, "reference count");
    const size = await c.u32("object header size");
    const blocks: [number, number][] = [[start + 16, size]];
    while (blocks.length && messages.length < count) {
      const [at, bytes] = blocks.shift()!;
      if (visited.has(at) || visited.size >= MAX_HEADER_BLOCKS) throw invalid(source, "object header blocks loop");
      visited.add(at);
      c.seek(at);
      const block = new Cursor(bufferSource(await c.bytes(bytes, "object header block"), source.name));
      while (block.remaining >= 8 && messages.length < count) {
        const type = await u16(block, "message type");
        const bodySize = await u16(block, "message size");
        const flags = await block.u8("message flags");
        block.skip(3, "reserved");
        const body = await block.bytes(bodySize, "message body");
        messages.push({ type, flags, body });
        if (type === MSG_CONTINUATION) blocks.push(await continuation(source, sb, body));
      }
    }
    return messages;
  }
  c.seek(start);
  await signature(c, "OHDR", "object header signature");
  const version = await c.u8("object header version");
  if (version !== 2) throw invalid(source, `unsupported object header version ${version}`);
  const flags = await c.u8("object header flags");
  if (flags & 0x20) c.skip(16, "object times");
  if (flags & 0x10) c.skip(4, "attribute phase change values");
  const chunk0 = await length(c, 1 << (flags & 3), "object header chunk size");
  const headerSize = flags & 0x04 ? 6 : 4;
  const blocks: [number, number][] = [[c.offset, chunk0]];
  let continued = false;
  while (blocks.length) {
    const [at, bytes] = blocks.shift()!;
    if (visited.has(at) || visited.size >= MAX_HEADER_BLOCKS) throw invalid(source, "object header blocks loop");
    visited.add(at);
    c.seek(at);
    let raw = await c.bytes(bytes, "object header block");
    if (continued) {
      // "OCHK" + messages + checksum
      if (raw.length < 8 || String.fromCharCode(...raw.subarray(0, 4)) !== "OCHK") {
        throw invalid(source, `object header continuation block at byte ${at} has no "OCHK" signature`);
      }
      raw = raw.subarray(4, raw.length - 4);
    }
    continued = true;
    const block = new Cursor(bufferSource(raw, source.name));
    while (block.remaining >= headerSize) {
      const type = await block.u8("message type");
      const bodySize = await u16(block, "message size");
      const flags = await block.u8("message flags");
      block.skip(headerSize - 4, "message creation order");
      const body = await block.bytes(bodySize, "message body");
      messages.push({ type, flags, body });
      if (type === MSG_CONTINUATION) blocks.push(await continuation(source, sb, body));
    }
  }
  return messages;
}

async function continuation(source: ByteSource, sb: Superblock, body: Uint8Array): Promise<[number, number]> {
  const c = new Cursor(bufferSource(body, source.name));
  const address = await length(c, sb.offsetSize, "continuation address");
  const bytes = await length(c, sb.lengthSize, "continuation length");
  return [position(source, sb, address, "object header continuation"), bytes];
}

async function parseLayout(source: ByteSource, sb: Superblock, body: Uint8Array): Promise<DataLayout> {
  const c = new Cursor(bufferSource(body, source.name));
  const version = await c.u8("layout version");
  // Version 5 (HDF5 2.0) has version 4's encoding; it differs in how some chunk indexes store filtered sizes.
  if (version < 3 || version > 5) return { kind: "unsupported", version };
  const layoutClass = await c.u8("layout class");
  if (layoutClass === 0) return { kind: "compact", version };
  if (layoutClass === 1) {
    const address = await uint(c, sb.offsetSize, "contiguous data address");
    const size = await length(c, sb.lengthSize, "contiguous data size");
    return { kind: "contiguous", address, size };
  }
  if (layoutClass === 3) return { kind: "virtual", version };
  if (layoutClass !== 2) throw invalid(source, `unknown data layout class ${layoutClass}`);
  if (version === 3) {
    const rank = await c.u8("chunk dimensionality");
    const address = await uint(c, sb.offsetSize, "chunk B-tree address");
    const dims: number[] = [];
    for (let i = 0; i < rank; i++) dims.push(await c.u32("chunk dimension"));
    return { kind: "chunked", dims, index: "btree1", address };
  }
  const flags = await c.u8("chunk layout flags");
  const rank = await c.u8("chunk dimensionality");
  const encoded = await c.u8("chunk dimension size");
  if (encoded < 1 || encoded > 8) throw invalid(source, `chunk dimensions of ${encoded} bytes`);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) {
    const bytes = await c.bytes(encoded, "chunk dimension");
    let v = 0;
    for (let k = encoded - 1; k >= 0; k--) v = v * 256 + bytes[k];
    dims.push(v);
  }
  const indexType = await c.u8("chunk index type");
  if (indexType === 1) {
    let singleSize: number | undefined;
    let singleFilterMask = 0;
    if (flags & 0x02) {
      singleSize = await length(c, sb.lengthSize, "filtered chunk size");
      singleFilterMask = await c.u32("filter mask");
    }
    const address = await uint(c, sb.offsetSize, "chunk address");
    return { kind: "chunked", dims, index: "single", address, singleSize, singleFilterMask };
  }
  return { kind: "chunked", dims, index: "other", address: null };
}

/**
 * Reads the layout of the dataset whose object header is at `address` (relative to the base address).
 *
 * @example
 * ```ts
 * const { layout } = await readDatasetHeader(source, superblock, 800);
 * ```
 */
export async function readDatasetHeader(source: ByteSource, sb: Superblock, address: number): Promise<DatasetHeader> {
  const messages = await readMessages(source, sb, address);
  const layouts = messages.filter((m) => m.type === MSG_LAYOUT);
  if (layouts.length !== 1) throw invalid(source, `object header has ${layouts.length} data layout messages`);
  return {
    layout: await parseLayout(source, sb, layouts[0].body),
    external: messages.some((m) => m.type === MSG_EXTERNAL),
  };
}

/**
 * The written chunks indexed by a version-1 B-tree (node type 1) rooted at `address`. `rank` counts the element
 * size dimension too. At most `maxChunks` chunks are read: more is an error, as is a node visited twice or a level
 * out of order, so a corrupt tree cannot loop.
 */
export async function readChunkBTree(
  source: ByteSource,
  sb: Superblock,
  address: number,
  rank: number,
  maxChunks: number,
): Promise<ChunkEntry[]> {
  const out: ChunkEntry[] = [];
  const visited = new Set<number>();
  const stack: { address: number; level: number | null }[] = [{ address, level: null }];
  const keySize = 8 + 8 * rank;
  while (stack.length) {
    const node = stack.pop()!;
    const at = position(source, sb, node.address, "chunk B-tree node");
    if (visited.has(at)) throw invalid(source, `chunk B-tree node at byte ${at} is reached twice`);
    if (visited.size > 2 * maxChunks + 2) throw invalid(source, `chunk B-tree has more nodes than chunks`);
    visited.add(at);
    const c = new Cursor(source, at, METADATA_WINDOW);
    await signature(c, "TREE", "B-tree node signature");
    const type = await c.u8("B-tree node type");
    if (type !== 1) throw invalid(source, `B-tree node at byte ${at} has type ${type}, expected 1 (chunks)`);
    const level = await c.u8("B-tree node level");
    if ((node.level !== null && level !== node.level) || level > MAX_BTREE_DEPTH) {
      throw invalid(source, `B-tree node at byte ${at} has level ${level}, expected ${node.level ?? "<= 32"}`);
    }
    const entries = await u16(c, "B-tree entries used");
    c.skip(2 * sb.offsetSize, "B-tree siblings");
    const raw = await c.bytes(entries * (keySize + sb.offsetSize), "B-tree entries");
    const e = new Cursor(bufferSource(raw, source.name));
    const children: number[] = [];
    for (let i = 0; i < entries; i++) {
      const size = await e.u32("chunk size");
      const filterMask = await e.u32("chunk filter mask");
      const offsets: number[] = [];
      for (let d = 0; d < rank; d++) offsets.push(await length(e, 8, "chunk offset"));
      const child = await length(e, sb.offsetSize, "chunk address");
      if (level === 0) {
        if (out.length >= maxChunks) throw invalid(source, `chunk B-tree holds more than ${maxChunks} chunks`);
        out.push({ offsets, position: position(source, sb, child, "chunk"), size, filterMask });
      } else {
        children.push(child);
      }
    }
    for (let i = children.length - 1; i >= 0; i--) stack.push({ address: children[i], level: level - 1 });
  }
  return out;
}

const MSG_ATTRIBUTE = 0x000c;
const MSG_ATTRIBUTE_INFO = 0x0015;

/** The scalar attributes of an object, read from its header (not through the HDF5 library). */
export interface ObjectAttributes {
  /** Scalar strings and numbers; other attributes are left out. */
  values: Record<string, string | number>;
  /** Whether some attributes are in dense storage (a fractal heap), which is not read here. */
  dense: boolean;
}

/**
 * Reads the scalar string and number attributes stored in an object header (compact storage): fixed-length and
 * variable-length strings (the latter from the global heap, parsed here with bounds), integers and IEEE floats.
 * Variable-length strings are the reason: the HDF5 library trusts the global heap's object sizes, and a corrupt one
 * makes it loop forever.
 *
 * @example
 * ```ts
 * const { values } = await readObjectAttributes(source, superblock, rootAddress);
 * ```
 */
export async function readObjectAttributes(
  source: ByteSource,
  sb: Superblock,
  address: number,
  maxValueBytes: number,
): Promise<ObjectAttributes> {
  const messages = await readMessages(source, sb, address);
  const bodies: Uint8Array[] = [];
  let dense = false;
  for (const message of messages) {
    if (message.type === MSG_ATTRIBUTE) bodies.push(message.body);
    if (message.type !== MSG_ATTRIBUTE_INFO) continue;
    const stored = await denseAttributeMessages(source, sb, message.body);
    if (stored === null) dense = true;
    else bodies.push(...stored);
  }
  const values: Record<string, string | number> = {};
  for (const body of bodies) {
    try {
      const attribute = await parseAttribute(source, sb, body, maxValueBytes);
      if (attribute) values[attribute.name] = attribute.value;
    } catch (error) {
      if (!(error instanceof MilvusdmError)) throw error;
      // an attribute that cannot be read is left out
    }
  }
  return { values, dense };
}

const MAX_DENSE_ATTRIBUTES = 4096;

/**
 * The attribute messages in dense storage: a fractal heap whose root block is a direct block, indexed by a
 * version-2 B-tree of names that is a single leaf (a few dozen attributes). Returns [] when there is no dense
 * storage, null when it is laid out otherwise (more attributes than that): the caller then reads it some other way.
 */
async function denseAttributeMessages(
  source: ByteSource,
  sb: Superblock,
  info: Uint8Array,
): Promise<Uint8Array[] | null> {
  const c = new Cursor(bufferSource(info, source.name));
  c.skip(1, "attribute info version");
  const flags = await c.u8("attribute info flags");
  if (flags & 1) c.skip(2, "maximum creation index");
  const heapAddress = await uint(c, sb.offsetSize, "fractal heap address");
  const namesAddress = await uint(c, sb.offsetSize, "attribute name index address");
  if (heapAddress === null) return [];
  if (namesAddress === null) return null;
  // the fractal heap header
  const h = new Cursor(source, position(source, sb, heapAddress, "fractal heap"), METADATA_WINDOW);
  await signature(h, "FRHP", "fractal heap signature");
  if ((await h.u8("fractal heap version")) !== 0) return null;
  const idLength = await u16(h, "heap id length");
  const filterLength = await u16(h, "filter information length");
  h.skip(1, "fractal heap flags");
  const maxManaged = await h.u32("maximum managed object size");
  // next huge id, huge objects' B-tree, free space, its manager, managed space, allocated space, the allocation
  // iterator, then the counts and sizes of managed, huge and tiny objects
  h.skip(10 * sb.lengthSize + 2 * sb.offsetSize, "fractal heap statistics");
  const tableWidth = await u16(h, "table width");
  const startBlock = await length(h, sb.lengthSize, "starting block size");
  const maxDirect = await length(h, sb.lengthSize, "maximum direct block size");
  const maxHeapBits = await u16(h, "maximum heap size");
  h.skip(2, "starting rows");
  const root = await uint(h, sb.offsetSize, "root block address");
  const rootRows = await u16(h, "current rows of the root indirect block");
  if (filterLength !== 0 || rootRows !== 0 || root === null || tableWidth === 0) return null;
  // heap ids of managed objects: a version/type byte, the offset in the heap, the length (HDF5's H5HF_hdr_finish_init)
  const offsetBytes = Math.ceil(maxHeapBits / 8);
  const lengthBytes = Math.min(
    Math.ceil(Math.log2(Math.max(2, maxDirect)) / 8),
    Math.floor(Math.floor(Math.log2(Math.max(1, maxManaged))) / 8) + 1,
  );
  // the root direct block: offsets in the heap count from its first byte
  const blockAt = position(source, sb, root, "fractal heap direct block");
  const block = await new Cursor(source, blockAt, METADATA_WINDOW).bytes(
    Math.min(startBlock, source.size - blockAt),
    "fractal heap direct block",
  );
  if (block.length < 4 || String.fromCharCode(...block.subarray(0, 4)) !== "FHDB") return null;
  // the name index: a version-2 B-tree whose root is a leaf
  const b = new Cursor(source, position(source, sb, namesAddress, "attribute name index"), METADATA_WINDOW);
  await signature(b, "BTHD", "v2 B-tree signature");
  b.skip(2 + 4, "v2 B-tree version, type and node size");
  const recordSize = await u16(b, "record size");
  const depth = await u16(b, "depth");
  b.skip(2, "split and merge");
  const leaf = await uint(b, sb.offsetSize, "root node address");
  const records = await u16(b, "root records");
  if (depth !== 0 || records > MAX_DENSE_ATTRIBUTES || recordSize < idLength) return null;
  if (idLength < 1 + offsetBytes + lengthBytes) return null;
  if (leaf === null || records === 0) return [];
  const l = new Cursor(source, position(source, sb, leaf, "v2 B-tree leaf"), METADATA_WINDOW);
  await signature(l, "BTLF", "v2 B-tree leaf signature");
  l.skip(2, "v2 B-tree leaf version and type");
  const raw = await l.bytes(records * recordSize, "v2 B-tree records");
  const out: Uint8Array[] = [];
  for (let r = 0; r < records; r++) {
    const id = raw.subarray(r * recordSize, r * recordSize + idLength);
    if ((id[0] & 0xf0) !== 0) continue; // not a version-0 managed object (a huge or tiny one)
    let offset = 0, size = 0;
    for (let k = offsetBytes; k >= 1; k--) offset = offset * 256 + id[k];
    for (let k = offsetBytes + lengthBytes; k > offsetBytes; k--) size = size * 256 + id[k];
    if (size > 0 && offset + size <= block.length) out.push(block.subarray(offset, offset + size));
  }
  return out;
}

async function parseAttribute(
  source: ByteSource,
  sb: Superblock,
  body: Uint8Array,
  maxValueBytes: number,
): Promise<{ name: string; value: string | number } | null> {
  const c = new Cursor(bufferSource(body, source.name));
  const version = await c.u8("attribute version");
  if (version < 1 || version > 3) return null;
  const flags = await c.u8("attribute flags");
  if (version > 1 && flags & 3) return null; // shared datatype or dataspace
  const nameSize = await u16(c, "attribute name size");
  const typeSize = await u16(c, "attribute datatype size");
  const spaceSize = await u16(c, "attribute dataspace size");
  if (version === 3) c.skip(1, "attribute name encoding");
  const pad = (n: number) => (version === 1 ? Math.ceil(n / 8) * 8 : n);
  const nameBytes = await c.bytes(nameSize, "attribute name");
  c.skip(pad(nameSize) - nameSize, "attribute name padding");
  const nul = nameBytes.indexOf(0);
  const name = new TextDecoder().decode(nul >= 0 ? nameBytes.subarray(0, nul) : nameBytes);
  const type = await c.bytes(typeSize, "attribute datatype");
  c.skip(pad(typeSize) - typeSize, "attribute datatype padding");
  const space = new Cursor(bufferSource(await c.bytes(spaceSize, "attribute dataspace"), source.name));
  c.skip(pad(spaceSize) - spaceSize, "attribute dataspace padding");
  // one element: a scalar, or a simple dataspace of size 1
  const spaceVersion = await space.u8("dataspace version");
  const rank = await space.u8("dataspace rank");
  space.skip(1, "dataspace flags");
  if (spaceVersion === 1) space.skip(5, "reserved");
  else if (spaceVersion === 2) {
    if ((await space.u8("dataspace type")) === 2) return null; // null dataspace
  } else return null;
  for (let i = 0; i < rank; i++) if ((await length(space, sb.lengthSize, "dimension")) !== 1) return null;
  if (type.length < 8) return null;
  const typeClass = type[0] & 0x0f;
  const bits = type[1] | (type[2] << 8) | (type[3] << 16);
  const size = new DataView(type.buffer, type.byteOffset).getUint32(4, true);
  const data = new DataView(body.buffer, body.byteOffset + c.offset, body.length - c.offset);
  const littleEndian = (bits & 1) === 0;
  if (typeClass === 0 && littleEndian && [1, 2, 4, 8].includes(size) && data.byteLength >= size) {
    const signed = (bits & 8) !== 0;
    const value = size === 1
      ? (signed ? data.getInt8(0) : data.getUint8(0))
      : size === 2
      ? (signed ? data.getInt16(0, true) : data.getUint16(0, true))
      : size === 4
      ? (signed ? data.getInt32(0, true) : data.getUint32(0, true))
      : Number(signed ? data.getBigInt64(0, true) : data.getBigUint64(0, true));
    return { name, value };
  }
  if (typeClass === 1 && (bits & 0x41) === 0 && (size === 4 || size === 8) && data.byteLength >= size) {
    return { name, value: size === 4 ? data.getFloat32(0, true) : data.getFloat64(0, true) };
  }
  if (typeClass === 3 && size <= maxValueBytes && data.byteLength >= size) {
    const raw = new Uint8Array(data.buffer, data.byteOffset, size);
    const end = raw.indexOf(0);
    const text = new TextDecoder().decode(end >= 0 ? raw.subarray(0, end) : raw);
    return { name, value: (bits & 0x0f) === 2 ? text.replace(/ +$/, "") : text };
  }
  if (typeClass === 9 && (bits & 0x0f) === 1) {
    // variable-length string: length, then the global heap id (collection address, object index)
    const d = new Cursor(bufferSource(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), source.name));
    const stringLength = await d.u32("string length");
    const collection = await uint(d, sb.offsetSize, "global heap address");
    const index = await d.u32("global heap index");
    if (collection === null || stringLength > maxValueBytes) return null;
    const bytes = await globalHeapObject(source, sb, collection, index, maxValueBytes);
    if (!bytes || bytes.length < stringLength) return null;
    const raw = bytes.subarray(0, stringLength);
    const end = raw.indexOf(0);
    return { name, value: new TextDecoder().decode(end >= 0 ? raw.subarray(0, end) : raw) };
  }
  return null;
}

/** Object `index` of the global heap collection at `address`, or null; every size is checked. */
async function globalHeapObject(
  source: ByteSource,
  sb: Superblock,
  address: number,
  index: number,
  maxBytes: number,
): Promise<Uint8Array | null> {
  const c = new Cursor(source, position(source, sb, address, "global heap"), METADATA_WINDOW);
  await signature(c, "GCOL", "global heap signature");
  if ((await c.u8("global heap version")) !== 1) return null;
  c.skip(3, "reserved");
  const start = c.offset - 8;
  const size = await length(c, sb.lengthSize, "global heap size");
  const end = start + size;
  if (size < 8 + sb.lengthSize || end > source.size) return null;
  const header = 8 + sb.lengthSize;
  while (c.offset + header <= end) {
    const objectIndex = await u16(c, "heap object index");
    c.skip(6, "heap object fields");
    const objectSize = await length(c, sb.lengthSize, "heap object size");
    if (objectIndex === 0 || objectSize > end - c.offset) return null; // free space, or past the collection
    if (objectIndex === index) return objectSize <= maxBytes ? await c.bytes(objectSize, "heap object") : null;
    c.skip(Math.min(Math.ceil(objectSize / 8) * 8, end - c.offset), "heap object");
  }
  return null;
}

const MSG_DATASPACE = 0x0001;
const MSG_LINK_INFO = 0x0002;
const MSG_DATATYPE = 0x0003;
const MSG_LINK = 0x0006;
const MSG_FILTERS = 0x000b;
const MSG_SYMBOL_TABLE = 0x0011;
const MSG_SHARED = 0x02;
/** Links of a group read here at most; a group holding more is left to the HDF5 library. */
const MAX_GROUP_LINKS = 4096;
/** A local heap (a group's names) larger than this is left to the HDF5 library. */
const MAX_LOCAL_HEAP_BYTES = 1 << 20;

/** Addresses the superblock holds. */
export interface SuperblockAddresses {
  /** The root group's object header (version 0/1: from the root group's symbol table entry). */
  root: number;
  /** The end-of-file address: the file must be at least this long (as the HDF5 library checks it, this counts
   * the user block, unlike other addresses). */
  endOfFile: number;
}

/** The root group's object header address and the end-of-file address, from the superblock. */
export async function readSuperblockAddresses(source: ByteSource, sb: Superblock): Promise<SuperblockAddresses> {
  const c = new Cursor(source, sb.base, METADATA_WINDOW);
  c.skip(9, "HDF5 signature and superblock version");
  let endOfFile: number;
  if (sb.version <= 1) {
    // versions, sizes, reserved, group K values, consistency flags (and version 1's indexed storage K), then the
    // base and free-space addresses
    c.skip(15 + (sb.version === 1 ? 4 : 0) + 2 * sb.offsetSize, "superblock fields");
    endOfFile = await length(c, sb.offsetSize, "end-of-file address");
    c.skip(2 * sb.offsetSize, "driver information address and root link name offset");
  } else {
    c.skip(3 + 2 * sb.offsetSize, "superblock fields");
    endOfFile = await length(c, sb.offsetSize, "end-of-file address");
  }
  const root = await length(c, sb.offsetSize, "root group object header address");
  return { root, endOfFile };
}

/**
 * The hard links of the group whose object header is at `address`: name → object header address. Reads groups
 * stored as a symbol table (a version-1 B-tree of symbol nodes and a local heap of names: h5py's default) or as
 * link messages in the header (compact storage); returns null for dense storage (a fractal heap of links) or more
 * than {@linkcode MAX_GROUP_LINKS} links, which the caller reads some other way. Soft and external links are left
 * out. Every node is read once, with bounds, so a corrupt group cannot loop.
 */
export async function readGroupLinks(
  source: ByteSource,
  sb: Superblock,
  address: number,
): Promise<Map<string, number> | null> {
  const links = new Map<string, number>();
  for (const message of await readMessages(source, sb, address)) {
    if (message.flags & MSG_SHARED) return null;
    const c = new Cursor(bufferSource(message.body, source.name));
    if (message.type === MSG_SYMBOL_TABLE) {
      const btree = await length(c, sb.offsetSize, "group B-tree address");
      const heap = await length(c, sb.offsetSize, "group local heap address");
      if (!(await symbolTableLinks(source, sb, btree, heap, links))) return null;
    } else if (message.type === MSG_LINK_INFO) {
      c.skip(1, "link info version");
      const flags = await c.u8("link info flags");
      if (flags & 1) c.skip(8, "maximum creation index");
      if ((await uint(c, sb.offsetSize, "link fractal heap address")) !== null) return null; // dense storage
    } else if (message.type === MSG_LINK) {
      if ((await c.u8("link version")) !== 1) return null;
      const flags = await c.u8("link flags");
      const linkType = flags & 0x08 ? await c.u8("link type") : 0;
      if (flags & 0x04) c.skip(8, "link creation order");
      if (flags & 0x10) c.skip(1, "link name encoding");
      const nameLength = await length(c, 1 << (flags & 3), "link name length");
      const name = new TextDecoder().decode(await c.bytes(nameLength, "link name"));
      if (name === "") throw invalid(source, `a group link has an empty name`);
      if (linkType === 0) links.set(name, await length(c, sb.offsetSize, "link address"));
      if (links.size > MAX_GROUP_LINKS) return null;
    }
  }
  return links;
}

/** Adds the entries of a symbol-table group to `links`; false when the group is too large to read here. */
async function symbolTableLinks(
  source: ByteSource,
  sb: Superblock,
  btreeAddress: number,
  heapAddress: number,
  links: Map<string, number>,
): Promise<boolean> {
  const h = new Cursor(source, position(source, sb, heapAddress, "local heap"), METADATA_WINDOW);
  await signature(h, "HEAP", "local heap signature");
  if ((await h.u8("local heap version")) !== 0) return false;
  h.skip(3, "reserved");
  const heapSize = await length(h, sb.lengthSize, "local heap size");
  h.skip(sb.lengthSize, "local heap free list");
  const dataAddress = await length(h, sb.offsetSize, "local heap data address");
  if (heapSize > MAX_LOCAL_HEAP_BYTES) return false;
  const names = await new Cursor(source, position(source, sb, dataAddress, "local heap data"), METADATA_WINDOW).bytes(
    heapSize,
    "local heap data",
  );
  const nameAt = (offset: number): string => {
    const end = names.indexOf(0, offset);
    if (offset >= names.length || end < 0) throw invalid(source, `a group link name lies outside its local heap`);
    if (end === offset) throw invalid(source, `a group link has an empty name`);
    return new TextDecoder().decode(names.subarray(offset, end));
  };
  const visited = new Set<number>();
  const stack: { address: number; level: number | null }[] = [{ address: btreeAddress, level: null }];
  const keySize = sb.lengthSize;
  const entrySize = 2 * sb.offsetSize + 24;
  while (stack.length) {
    const node = stack.pop()!;
    const at = position(source, sb, node.address, "group B-tree node");
    if (visited.has(at)) throw invalid(source, `group B-tree node at byte ${at} is reached twice`);
    if (visited.size > MAX_GROUP_LINKS) return false;
    visited.add(at);
    const c = new Cursor(source, at, METADATA_WINDOW);
    if (node.level === -1) {
      // a symbol table node: its entries
      await signature(c, "SNOD", "symbol table node signature");
      c.skip(2, "symbol table node version");
      const count = await u16(c, "symbol count");
      const raw = new Cursor(bufferSource(await c.bytes(count * entrySize, "symbol table entries"), source.name));
      for (let i = 0; i < count; i++) {
        const nameOffset = await length(raw, sb.offsetSize, "link name offset");
        const objectAddress = await length(raw, sb.offsetSize, "object header address");
        raw.skip(24, "symbol table entry cache");
        links.set(nameAt(nameOffset), objectAddress);
        if (links.size > MAX_GROUP_LINKS) return false;
      }
      continue;
    }
    await signature(c, "TREE", "B-tree node signature");
    const type = await c.u8("B-tree node type");
    if (type !== 0) throw invalid(source, `B-tree node at byte ${at} has type ${type}, expected 0 (group)`);
    const level = await c.u8("B-tree node level");
    if ((node.level !== null && level !== node.level) || level > MAX_BTREE_DEPTH) {
      throw invalid(source, `B-tree node at byte ${at} has level ${level}, expected ${node.level ?? "<= 32"}`);
    }
    const entries = await u16(c, "B-tree entries used");
    c.skip(2 * sb.offsetSize, "B-tree siblings");
    const raw = new Cursor(
      bufferSource(await c.bytes(entries * (keySize + sb.offsetSize) + keySize, "B-tree entries"), source.name),
    );
    const children: number[] = [];
    for (let i = 0; i < entries; i++) {
      raw.skip(keySize, "B-tree key");
      children.push(await length(raw, sb.offsetSize, "B-tree child address"));
    }
    for (let i = children.length - 1; i >= 0; i--) {
      stack.push({ address: children[i], level: level === 0 ? -1 : level - 1 });
    }
  }
  return true;
}

/**
 * Whether a datatype message describes a plain integer (every bit of its bytes, from bit 0) or an IEEE 754 float
 * of 4 or 8 bytes, as numpy's types are written; other classes pass (the source refuses them by class).
 */
function standardType(t: Uint8Array, typeClass: number, bits: number, size: number): boolean {
  const u16 = (at: number) => t[at] | (t[at + 1] << 8);
  if (typeClass === 0) return t.length >= 12 && u16(8) === 0 && u16(10) === 8 * size;
  if (typeClass !== 1) return true;
  if (t.length < 20) return false;
  const ieee = size === 4 ? [23, 8, 0, 23, 127] : size === 8 ? [52, 11, 0, 52, 1023] : null;
  const bias = t[16] | (t[17] << 8) | (t[18] << 16) | (t[19] << 24);
  return ieee !== null && u16(8) === 0 && u16(10) === 8 * size && ((bits >> 8) & 0xff) === 8 * size - 1 &&
    ((bits >> 4) & 3) === 2 && (bits & 0x0e) === 0 && t[12] === ieee[0] && t[13] === ieee[1] && t[14] === ieee[2] &&
    t[15] === ieee[3] && bias === ieee[4];
}

/** What the fast read paths need to know about a dataset, read from its object header. */
export interface DatasetDescription {
  /** The dimensions (empty for a scalar). */
  shape: number[];
  /** The HDF5 datatype class: 0 integer, 1 floating point, others not read here. */
  typeClass: number;
  /** Bytes per element. */
  size: number;
  /** Signed integers. */
  signed: boolean;
  /** Little-endian elements. */
  littleEndian: boolean;
  /** The data layout. */
  layout: DataLayout;
  /** Whether the data lives in external files. */
  external: boolean;
  /** The filter pipeline, in the order the filters were applied on writing. */
  filters: { id: number; name?: string; cd_values: number[] }[];
}

/**
 * The shape, element type, layout and filters of the dataset whose object header is at `address`; null when the
 * header holds what is not read here (a shared datatype or dataspace, a null dataspace, a filter pipeline of an
 * unknown version), which the caller reads some other way.
 */
export async function readDatasetDescription(
  source: ByteSource,
  sb: Superblock,
  address: number,
): Promise<DatasetDescription | null> {
  const messages = await readMessages(source, sb, address);
  const one = (type: number): Message | null => {
    const found = messages.filter((m) => m.type === type);
    if (found.length > 1) throw invalid(source, `object header has ${found.length} messages of type ${type}`);
    return found[0] ?? null;
  };
  const space = one(MSG_DATASPACE);
  const type = one(MSG_DATATYPE);
  const layoutMessage = one(MSG_LAYOUT);
  const pipeline = one(MSG_FILTERS);
  if (!space || !type || !layoutMessage) return null;
  if ((space.flags | type.flags | layoutMessage.flags | (pipeline?.flags ?? 0)) & MSG_SHARED) return null;
  // the dataspace
  const s = new Cursor(bufferSource(space.body, source.name));
  const spaceVersion = await s.u8("dataspace version");
  const rank = await s.u8("dataspace rank");
  const spaceFlags = await s.u8("dataspace flags");
  if (spaceVersion === 1) s.skip(5, "reserved");
  else if (spaceVersion === 2) {
    if ((await s.u8("dataspace type")) === 2) return null; // a null dataspace
  } else return null;
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) shape.push(await length(s, sb.lengthSize, "dataspace dimension"));
  if (spaceFlags & 1) {
    for (let i = 0; i < rank; i++) {
      const max = await uint(s, sb.lengthSize, "dataspace maximum dimension"); // null: unlimited
      if (max !== null && max < shape[i]) {
        throw invalid(source, `dataspace dimension ${shape[i]} exceeds its maximum ${max}`);
      }
    }
  }
  // the datatype
  const t = type.body;
  if (t.length < 8) throw invalid(source, `datatype message of ${t.length} bytes`);
  const typeClass = t[0] & 0x0f;
  const bits = t[1] | (t[2] << 8) | (t[3] << 16);
  const size = t[4] | (t[5] << 8) | (t[6] << 16) | (t[7] << 24);
  const littleEndian = typeClass === 1 ? (bits & 0x41) === 0 : (bits & 1) === 0;
  const signed = typeClass === 0 && (bits & 0x08) !== 0;
  if (!standardType(t, typeClass, bits, size)) return null;
  // the filters
  const filters: DatasetDescription["filters"] = [];
  if (pipeline) {
    const p = new Cursor(bufferSource(pipeline.body, source.name));
    const version = await p.u8("filter pipeline version");
    const count = await p.u8("filter count");
    if (version === 1) p.skip(6, "reserved");
    else if (version !== 2) return null;
    for (let i = 0; i < count; i++) {
      const id = await u16(p, "filter id");
      const nameLength = version === 1 || id >= 256 ? await u16(p, "filter name length") : 0;
      p.skip(2, "filter flags");
      const values = await u16(p, "filter client data count");
      let name: string | undefined;
      if (nameLength > 0) {
        const raw = await p.bytes(nameLength, "filter name");
        const nul = raw.indexOf(0);
        name = new TextDecoder().decode(nul >= 0 ? raw.subarray(0, nul) : raw);
        if (version === 1) p.skip((8 - (nameLength % 8)) % 8, "filter name padding");
      }
      const cdValues: number[] = [];
      for (let k = 0; k < values; k++) cdValues.push(await p.u32("filter client data"));
      if (version === 1 && values % 2 === 1) p.skip(4, "filter client data padding");
      filters.push(name === undefined ? { id, cd_values: cdValues } : { id, name, cd_values: cdValues });
    }
  }
  return {
    shape,
    typeClass,
    size,
    signed,
    littleEndian,
    layout: await parseLayout(source, sb, layoutMessage.body),
    external: messages.some((m) => m.type === MSG_EXTERNAL),
    filters,
  };
}
