/**
 * The few structures of the HDF5 file format milvusdm reads itself, with checked cursors: the superblock (address
 * sizes, base address), a dataset's object header (its data layout message, and whether it stores data in
 * external files), the version-1 B-tree that indexes the chunks of a chunked dataset, and an object's scalar
 * attributes (compact, or dense in a fractal heap with a one-leaf name index, and variable-length strings from the
 * global heap); and, for files in HDF5's original format (superblock 0 or 1), the root group (a symbol table or
 * link messages) and each dataset's dataspace, datatype, fill value and filter pipeline, so such files are read
 * without the HDF5 library.
 *
 * Every count and size read here is checked against the file before it sizes a read, every structure that links
 * to another is followed at most once, so a corrupt file gives a typed error, never a loop. What is read in place
 * of the HDF5 library is read as the library reads it: what the library refuses is a {@linkcode corrupt} error
 * (reported as it is), what it reads but is not as it is written is an error the caller answers by asking the
 * library, so a file is never read here otherwise than the library (h5py) reads it.
 * Reference: the HDF5 File Format Specification 3.0: II.A (superblock), III.A.1 and III.A.2 (B-trees), III.D
 * (local heap), III.E (global heap), III.G (fractal heap), IV.A.1 (object headers), IV.A.2 (messages); and the
 * HDF5 library's checks where the specification leaves them open.
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
  /**
   * Versions 0 and 1: the B-tree "K" values (a node holds at most 2K entries): symbol table (group leaf) nodes,
   * group B-tree nodes, and chunk B-tree nodes. Later versions keep them elsewhere (undefined here).
   */
  groupLeafK?: number;
  groupInternalK?: number;
  chunkK?: number;
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
  /**
   * Whether the datatype is a plain integer or an IEEE 754 float as numpy writes them (see
   * {@linkcode DatasetDescription}); null when the header holds no datatype of its own (a shared one).
   */
  standardType: boolean | null;
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

/** Object header message types (HDF5 file format, section IV.A.2). */
const MSG_DATASPACE = 0x0001;
const MSG_LINK_INFO = 0x0002;
const MSG_DATATYPE = 0x0003;
const MSG_FILL_VALUE_OLD = 0x0004;
const MSG_FILL_VALUE = 0x0005;
const MSG_LINK = 0x0006;
const MSG_EXTERNAL = 0x0007;
const MSG_LAYOUT = 0x0008;
const MSG_FILTERS = 0x000b;
const MSG_ATTRIBUTE = 0x000c;
const MSG_MODIFIED_OLD = 0x000e;
const MSG_CONTINUATION = 0x0010;
const MSG_SYMBOL_TABLE = 0x0011;
const MSG_MODIFIED = 0x0012;
const MSG_ATTRIBUTE_INFO = 0x0015;
/** Message flags: constant, and shared (the body refers to a message stored elsewhere). */
const MSG_CONSTANT = 0x01;
const MSG_SHARED = 0x02;
const MAX_HEADER_BLOCKS = 256;
/** Read-ahead of the cursors over the file's metadata: its structures are small and scattered. */
const METADATA_WINDOW = 4096;
const MAX_BTREE_DEPTH = 32;

function invalid(source: ByteSource, message: string): MilvusdmError {
  return new MilvusdmError("HDF5_INVALID", `"${source.name}": ${message}`);
}

/** The cause of {@linkcode corrupt} errors. */
const REFUSED_BY_HDF5 = new Error("The HDF5 library refuses this structure");

/**
 * An error for what the HDF5 library itself refuses (as h5py's build does): the file is corrupt, it is not merely
 * laid out in a way read elsewhere. The caller reports it rather than asking the library, whose WebAssembly build
 * (h5wasm) tolerates some of it, e.g. a group's damaged local heap.
 */
function corrupt(source: ByteSource, message: string): MilvusdmError {
  return new MilvusdmError("HDF5_INVALID", `"${source.name}" is corrupt: ${message}`, { cause: REFUSED_BY_HDF5 });
}

/**
 * Whether `error` reports a structure the HDF5 library refuses (see the functions that say so), rather than one
 * that is merely not read here.
 *
 * @example
 * ```ts
 * if (refusedByHdf5(error)) throw error; // else try the HDF5 library
 * ```
 */
export function refusedByHdf5(error: unknown): boolean {
  return error instanceof MilvusdmError && error.cause === REFUSED_BY_HDF5;
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
  let groupLeafK: number | undefined, groupInternalK: number | undefined, chunkK: number | undefined;
  if (version === 0 || version === 1) {
    c.skip(4, "superblock versions");
    offsetSize = await c.u8("size of offsets");
    lengthSize = await c.u8("size of lengths");
    c.skip(1, "reserved");
    groupLeafK = await u16(c, "group leaf node K");
    groupInternalK = await u16(c, "group internal node K");
    c.skip(4, "file consistency flags");
    // version 0 has no field: the HDF5 library's default
    chunkK = version === 1 ? await u16(c, "indexed storage internal node K") : 32;
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
  return { version, offsetSize, lengthSize, base: position, groupLeafK, groupInternalK, chunkK };
}

/**
 * The absolute position of an address, checked to lie inside the file (else a {@linkcode corrupt} error: the HDF5
 * library reads nothing past the end of the file it was told of).
 */
function position(source: ByteSource, sb: Superblock, address: number, what: string): number {
  const at = sb.base + address;
  if (!Number.isSafeInteger(at) || at >= source.size) {
    throw corrupt(source, `${what} address ${address} is beyond the end of the file (${source.size} bytes)`);
  }
  return at;
}

interface Message {
  type: number;
  /** Message flags: bit 1 (0x02) set = the body is a reference to a shared message elsewhere. */
  flags: number;
  body: Uint8Array;
}

/**
 * Whether the HDF5 library refuses a message's flags: "shared" with "do not share", "was unknown" without "mark if
 * unknown" or with "fail if unknown and open for writing", "shareable" on a type that cannot be shared.
 */
function flagsRefused(type: number, flags: number): boolean {
  const shareable = [MSG_DATASPACE, MSG_DATATYPE, MSG_FILL_VALUE_OLD, MSG_FILL_VALUE, MSG_FILTERS, MSG_ATTRIBUTE];
  return ((flags & 0x02) !== 0 && (flags & 0x04) !== 0) || ((flags & 0x20) !== 0 && (flags & 0x18) !== 0x10) ||
    ((flags & 0x40) !== 0 && type <= 0x18 && !shareable.includes(type));
}

/**
 * Checks what the HDF5 library decodes of an object header's messages when it opens the object (h5py asks for its
 * times) beyond what is read here: a modification time message of version 1, an old one of 14 digits (else a
 * {@linkcode corrupt} error). With `allowed`, a message of another type is an error too (the caller leaves the
 * object to the library).
 */
function checkMessages(source: ByteSource, messages: Message[], allowed?: number[]): void {
  for (const m of messages) {
    const b = m.body;
    if (m.type === MSG_MODIFIED && !(b.length >= 8 && b[0] === 1)) {
      throw corrupt(source, `modification time message of version ${b[0]}`);
    }
    if (m.type === MSG_MODIFIED_OLD && !(b.length >= 14 && b.subarray(0, 14).every((c) => c >= 0x30 && c <= 0x39))) {
      throw corrupt(source, `badly formatted modification time message`);
    }
    if (allowed && !allowed.includes(m.type)) throw invalid(source, `object header message of type ${m.type}`);
  }
}

/**
 * The messages of an object header, following continuation blocks (with a bound, and no block read twice).
 *
 * `strict` (for the headers read here in place of the HDF5 library): only a version-1 header, read as the library
 * reads it: what the library refuses is a {@linkcode corrupt} error (blocks past the stored end of the file, a block not
 * parsed to its end, a message past its block or of a size not a multiple of 8, flags the library refuses, a first
 * block of more messages than the prefix declares); what it reads but is not as it writes is an error too (other
 * message flags than "constant" and "shared").
 */
async function readMessages(source: ByteSource, sb: Superblock, address: number, strict = false): Promise<Message[]> {
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
    if (strict && ((count > 0 && size < 8) || (count === 0 && size > 0))) {
      throw corrupt(source, `object header at byte ${start} declares ${count} messages in ${size} bytes`);
    }
    const blocks: [number, number][] = [[start + 16, size]];
    while (blocks.length && (strict || messages.length < count)) {
      const [at, bytes] = blocks.shift()!;
      if (visited.has(at) || visited.size >= MAX_HEADER_BLOCKS) throw invalid(source, "object header blocks loop");
      visited.add(at);
      if (strict && at + bytes > source.size) {
        throw corrupt(source, `object header block at byte ${at} of ${bytes} bytes is past the end of the file`);
      }
      c.seek(at);
      const block = new Cursor(bufferSource(await c.bytes(bytes, "object header block"), source.name));
      while (strict ? block.remaining > 0 : block.remaining >= 8 && messages.length < count) {
        if (block.remaining < 8) throw corrupt(source, `object header block at byte ${at} ends in a gap`);
        const type = await u16(block, "message type");
        const bodySize = await u16(block, "message size");
        const flags = await block.u8("message flags");
        block.skip(3, "reserved");
        if (strict && (bodySize % 8 !== 0 || bodySize > block.remaining || flagsRefused(type, flags))) {
          throw corrupt(
            source,
            `object header message of type ${type} at byte ${at}: size ${bodySize}, flags ${flags}`,
          );
        }
        if (strict && (flags & ~(MSG_CONSTANT | MSG_SHARED)) !== 0) {
          throw invalid(source, `object header message of type ${type} at byte ${at} has flags ${flags}`);
        }
        const body = await block.bytes(bodySize, "message body");
        messages.push({ type, flags, body });
        if (type === MSG_CONTINUATION) blocks.push(await continuation(source, sb, body, strict));
      }
      // the HDF5 library refuses a first block of more messages than the prefix declares
      if (strict && visited.size === 1 && messages.length > count) {
        throw corrupt(source, `object header at byte ${start} holds more than its ${count} messages`);
      }
    }
    return messages;
  }
  if (strict) throw invalid(source, `object header at byte ${start} is not of version 1`);
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

/** A continuation message: the block's position and size (`strict`: a block past the end is {@linkcode corrupt}). */
async function continuation(
  source: ByteSource,
  sb: Superblock,
  body: Uint8Array,
  strict = false,
): Promise<[number, number]> {
  if (strict && body.length >= sb.offsetSize + sb.lengthSize) {
    const at = sb.base + lengthAt(body, 0, sb.offsetSize), bytes = lengthAt(body, sb.offsetSize, sb.lengthSize);
    if (!(at + bytes <= source.size)) throw corrupt(source, `an object header continuation block is past the end`);
  }
  const c = new Cursor(bufferSource(body, source.name));
  const address = await length(c, sb.offsetSize, "continuation address");
  const bytes = await length(c, sb.lengthSize, "continuation length");
  if (bytes === 0) throw invalid(source, `an object header continuation block is empty`);
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
  const types = messages.filter((m) => m.type === MSG_DATATYPE && !(m.flags & MSG_SHARED));
  let standard: boolean | null = null;
  if (types.length === 1 && types[0].body.length >= 8) {
    const t = types[0].body;
    standard = standardType(
      t,
      t[0] & 0x0f,
      t[1] | (t[2] << 8) | (t[3] << 16),
      new DataView(t.buffer, t.byteOffset).getUint32(4, true),
    );
  }
  return {
    layout: await parseLayout(source, sb, layouts[0].body),
    external: messages.some((m) => m.type === MSG_EXTERNAL),
    standardType: standard,
  };
}

/**
 * The written chunks indexed by a version-1 B-tree (node type 1) rooted at `address`, for chunks of `dims` (the
 * last being the element size). At most `maxChunks` chunks are read: more is an error, as is a node visited twice
 * or a level out of order, so a corrupt tree cannot loop. The tree must be one the HDF5 library reads the same way:
 * every key (chunk offsets) a multiple of the chunk dimensions, the keys of each node in increasing order, and each
 * child's chunks between the keys around it (the library looks each chunk up by binary search over the keys; a
 * chunk out of place would be one it does not find); with superblock 0 or 1, nodes of at most 2K entries that lie
 * within the file.
 */
export async function readChunkBTree(
  source: ByteSource,
  sb: Superblock,
  address: number,
  dims: number[],
  maxChunks: number,
): Promise<ChunkEntry[]> {
  const rank = dims.length;
  if (!rank || dims.some((d) => !(d > 0))) throw invalid(source, `chunks of [${dims}]`);
  const out: ChunkEntry[] = [];
  const visited = new Set<number>();
  const keySize = 8 + 8 * rank;
  const k = sb.chunkK;
  const compare = (a: number[], b: number[]): number => {
    for (let d = 0; d < rank; d++) if (a[d] !== b[d]) return a[d] - b[d];
    return 0;
  };
  /** The first and last chunk offsets of the subtree at `address`. */
  const visit = async (address: number, level: number | null): Promise<[number[], number[]] | null> => {
    const at = position(source, sb, address, "chunk B-tree node");
    if (visited.has(at)) throw invalid(source, `chunk B-tree node at byte ${at} is reached twice`);
    if (visited.size > 2 * maxChunks + 2) throw invalid(source, `chunk B-tree has more nodes than chunks`);
    visited.add(at);
    if (k !== undefined && at + 8 + 2 * sb.offsetSize + 2 * k * sb.offsetSize + (2 * k + 1) * keySize > source.size) {
      throw invalid(source, `chunk B-tree node at byte ${at} is cut`);
    }
    const c = new Cursor(source, at, METADATA_WINDOW);
    await signature(c, "TREE", "B-tree node signature");
    const type = await c.u8("B-tree node type");
    if (type !== 1) throw invalid(source, `B-tree node at byte ${at} has type ${type}, expected 1 (chunks)`);
    const nodeLevel = await c.u8("B-tree node level");
    if ((level !== null && nodeLevel !== level) || nodeLevel > MAX_BTREE_DEPTH) {
      throw invalid(source, `B-tree node at byte ${at} has level ${nodeLevel}, expected ${level ?? "<= 32"}`);
    }
    const entries = await u16(c, "B-tree entries used");
    if (k !== undefined && entries > 2 * k) {
      throw invalid(source, `chunk B-tree node at byte ${at} has ${entries} entries`);
    }
    c.skip(2 * sb.offsetSize, "B-tree siblings");
    const raw = await c.bytes(entries * (keySize + sb.offsetSize) + keySize, "B-tree entries");
    const e = new Cursor(bufferSource(raw, source.name));
    const keys: { size: number; filterMask: number; offsets: number[] }[] = [];
    const children: number[] = [];
    for (let i = 0; i <= entries; i++) {
      const size = await e.u32("chunk size");
      const filterMask = await e.u32("chunk filter mask");
      const offsets: number[] = [];
      for (let d = 0; d < rank; d++) {
        const offset = await length(e, 8, "chunk offset");
        if (offset % dims[d] !== 0) throw invalid(source, `chunk B-tree key at byte ${at} has offset ${offset}`);
        offsets.push(offset);
      }
      if (i > 0 && compare(keys[i - 1].offsets, offsets) >= 0) {
        throw invalid(source, `chunk B-tree node at byte ${at} has its keys out of order`);
      }
      keys.push({ size, filterMask, offsets });
      if (i < entries) children.push(await length(e, sb.offsetSize, "chunk address"));
    }
    if (nodeLevel === 0) {
      for (let i = 0; i < entries; i++) {
        if (out.length >= maxChunks) throw invalid(source, `chunk B-tree holds more than ${maxChunks} chunks`);
        const { offsets, size, filterMask } = keys[i];
        out.push({ offsets, position: position(source, sb, children[i], "chunk"), size, filterMask });
      }
      return entries ? [keys[0].offsets, keys[entries - 1].offsets] : null;
    }
    let first: number[] | null = null, last: number[] | null = null;
    for (let i = 0; i < entries; i++) {
      const range = await visit(children[i], nodeLevel - 1);
      if (!range) continue;
      // a chunk is looked up in child i when its offsets are at least key i and less than key i + 1
      if (compare(keys[i].offsets, range[0]) > 0 || compare(range[1], keys[i + 1].offsets) >= 0) {
        throw invalid(source, `chunk B-tree node at byte ${at} has keys that do not bound its children`);
      }
      first ??= range[0];
      last = range[1];
    }
    return first && last ? [first, last] : null;
  };
  await visit(address, null);
  return out;
}

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

/**
 * The root group's object header address and the end-of-file address, from a superblock of version 0 or 1, which
 * must be as the HDF5 library writes it: its version fields 0, non-zero B-tree K values, no status flags, no
 * free-space or driver information, and a root symbol table entry caching nothing or the root's symbol table.
 * Anything else is an error, a {@linkcode corrupt} one where the library refuses it too. The end-of-file address is
 * moved as the library moves it when the base address is not where the superblock is.
 */
export async function readSuperblockAddresses(source: ByteSource, sb: Superblock): Promise<SuperblockAddresses> {
  if (sb.version > 1) throw invalid(source, `superblock version ${sb.version} is not read here`);
  const c = new Cursor(source, sb.base, METADATA_WINDOW);
  c.skip(9, "HDF5 signature and superblock version");
  const versions = [await c.u8("free-space version"), await c.u8("root group symbol table entry version")];
  c.skip(1, "reserved");
  versions.push(await c.u8("shared header message format version"));
  if (versions.some((v) => v !== 0)) throw corrupt(source, `superblock has versions ${versions.join(", ")}`);
  c.skip(3, "sizes and reserved");
  c.skip(4, "group K values");
  if (!sb.groupLeafK || !sb.groupInternalK) throw corrupt(source, `superblock has a group B-tree K of 0`);
  if (!sb.chunkK) throw invalid(source, `superblock has a chunk B-tree K of 0`);
  const flags = await c.u32("file consistency flags");
  // write access (1), file closed cleanly (2), SWMR write access (4): read by the library, not written by h5py
  if (flags & ~7) throw corrupt(source, `superblock has status flags ${flags}`);
  if (flags !== 0) throw invalid(source, `superblock has status flags ${flags}`);
  if (sb.version === 1) c.skip(4, "indexed storage K and reserved");
  const at = c.offset;
  const base = await uint(c, sb.offsetSize, "base address");
  if (base === null) throw invalid(source, `base address at byte ${at} is undefined`);
  // (the library reads it as a superblock extension, which version 0 and 1 cannot have)
  if ((await uint(c, sb.offsetSize, "free-space information address")) !== null) {
    throw corrupt(source, `superblock version ${sb.version} has a free-space information address`);
  }
  // The library takes the superblock's position as the base address, and moves the end by as much as the base
  // address it reads differs (a negative end wraps around to a huge one: a truncated file).
  const endOfFile = (await length(c, sb.offsetSize, "end-of-file address")) - (base - sb.base);
  if (endOfFile < 0) throw corrupt(source, `end-of-file address before the superblock's base address ${base}`);
  if ((await uint(c, sb.offsetSize, "driver information block address")) !== null) {
    throw invalid(source, `superblock has a driver information block`);
  }
  // the root group's symbol table entry
  c.skip(sb.lengthSize, "root link name offset");
  const root = await length(c, sb.offsetSize, "root group object header address");
  const cacheType = await c.u32("root group cache type");
  if (cacheType > 2) throw corrupt(source, `root group symbol table entry has cache type ${cacheType}`);
  if (cacheType > 1) throw invalid(source, `root group symbol table entry caches a soft link`);
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
  const messages = await readMessages(source, sb, address, true);
  checkMessages(source, messages);
  for (const message of messages) {
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

/** A little-endian length of `size` bytes at `at` in `bytes` (Infinity when it exceeds the safe integers). */
function lengthAt(bytes: Uint8Array, at: number, size: number): number {
  let v = 0;
  for (let k = size - 1; k >= 0; k--) v = v * 256 + bytes[at + k];
  return Number.isSafeInteger(v) ? v : Infinity;
}

/** Compares two byte strings as C's `strcmp` does. */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** The HDF5 library's "no free block" offset in a local heap. */
const LOCAL_HEAP_FREE_NULL = 1;

/**
 * Adds the entries of a symbol-table group to `links`; false when the group is too large to read here. The group
 * must be as the HDF5 library reads it when it lists the group and looks a name up: the local heap and its free
 * list valid, every node within the file with at most 2K entries, every name in the heap (else a
 * {@linkcode corrupt} error, as the library refuses them), and the names and B-tree keys in order, so the
 * library's binary searches find each name where this reads it (else an error of another kind, as are symbol table
 * entries caching a soft link: the library may still find the names the caller wants).
 */
async function symbolTableLinks(
  source: ByteSource,
  sb: Superblock,
  btreeAddress: number,
  heapAddress: number,
  links: Map<string, number>,
): Promise<boolean> {
  const leafK = sb.groupLeafK ?? 0, internalK = sb.groupInternalK ?? 0;
  if (!leafK || !internalK) throw invalid(source, `group B-tree K values are not known`);
  const L = sb.lengthSize, O = sb.offsetSize;
  /** The absolute position of a structure of `bytes` bytes at `address`, which must lie within the file. */
  const within = (address: number, bytes: number, what: string): number => {
    const at = sb.base + address;
    if (!(at + bytes <= source.size)) throw corrupt(source, `${what} at ${address} (${bytes} bytes) is past the end`);
    return at;
  };
  // the local heap: its prefix, its data (the names), and its free list, checked as the HDF5 library checks it
  const h = new Cursor(source, within(heapAddress, 8 + 2 * L + O, "local heap"), METADATA_WINDOW);
  await signature(h, "HEAP", "local heap signature");
  if ((await h.u8("local heap version")) !== 0) return false;
  h.skip(3, "reserved");
  const fields = await h.bytes(2 * L + O, "local heap fields");
  const heapSize = lengthAt(fields, 0, L), freeHead = lengthAt(fields, L, L), dataAddress = lengthAt(fields, 2 * L, O);
  const dataAt = within(dataAddress, heapSize, "local heap data");
  if (heapSize > MAX_LOCAL_HEAP_BYTES) return false;
  const names = await new Cursor(source, dataAt, METADATA_WINDOW).bytes(heapSize, "local heap data");
  const freeBlocks = new Set<number>();
  for (let free = freeHead; free !== LOCAL_HEAP_FREE_NULL;) {
    if (free + 2 * L > heapSize || freeBlocks.has(free)) throw corrupt(source, `bad local heap free list`);
    freeBlocks.add(free);
    const next = lengthAt(names, free, L);
    const size = lengthAt(names, free + L, L);
    if (next === 0 || free + size > heapSize) throw corrupt(source, `bad local heap free list`);
    free = next;
  }
  const nameAt = (offset: number): Uint8Array => {
    const end = offset < names.length ? names.indexOf(0, offset) : -1;
    if (end < 0) throw corrupt(source, `a group link name lies outside its local heap`);
    return names.subarray(offset, end);
  };

  const visited = new Set<number>();
  const entrySize = L + O + 24;
  /** The names of the subtree at `address` (a B-tree node, or a symbol table node for level -1): first and last. */
  const visit = async (address: number, level: number | null): Promise<[Uint8Array, Uint8Array] | null> => {
    const at = within(address, 8, "group B-tree node");
    if (visited.has(at)) throw invalid(source, `group B-tree node at byte ${at} is reached twice`);
    if (visited.size > MAX_GROUP_LINKS) return null;
    visited.add(at);
    const c = new Cursor(source, at, METADATA_WINDOW);
    if (level === -1) {
      // a symbol table node: its entries, in order
      within(address, 8 + 2 * leafK * entrySize, "symbol table node");
      await signature(c, "SNOD", "symbol table node signature");
      if ((await c.u8("symbol table node version")) !== 1) throw corrupt(source, `bad symbol table node version`);
      c.skip(1, "reserved");
      const count = await u16(c, "symbol count");
      if (count > 2 * leafK) throw corrupt(source, `symbol table node at byte ${at} holds ${count} entries`);
      const raw = await c.bytes(count * entrySize, "symbol table entries");
      let first: Uint8Array | null = null, last: Uint8Array | null = null;
      for (let i = 0; i < count; i++) {
        const e = i * entrySize;
        const name = nameAt(lengthAt(raw, e, L));
        const objectAddress = lengthAt(raw, e + L, O);
        const cacheType = lengthAt(raw, e + L + O, 4);
        const where = `symbol table entry at byte ${at + 8 + e}`;
        if (cacheType > 2) throw corrupt(source, `${where} has cache type ${cacheType}`);
        if (cacheType === 2) throw invalid(source, `${where} caches a soft link`);
        if (name.length === 0) throw invalid(source, `a group link has an empty name`);
        if (!Number.isSafeInteger(objectAddress)) throw invalid(source, `${where} has no object address`);
        if (last && compareBytes(last, name) >= 0) throw invalid(source, `symbol table node at byte ${at} is unsorted`);
        first ??= name;
        last = name;
        links.set(new TextDecoder().decode(name), objectAddress);
        if (links.size > MAX_GROUP_LINKS) return null;
      }
      return first && last ? [first, last] : null;
    }
    const keySize = L;
    within(address, 8 + 2 * O + 2 * internalK * O + (2 * internalK + 1) * keySize, "group B-tree node");
    await signature(c, "TREE", "B-tree node signature");
    const type = await c.u8("B-tree node type");
    if (type !== 0) throw invalid(source, `B-tree node at byte ${at} has type ${type}, expected 0 (group)`);
    const nodeLevel = await c.u8("B-tree node level");
    if ((level !== null && nodeLevel !== level) || nodeLevel > MAX_BTREE_DEPTH) {
      throw invalid(source, `B-tree node at byte ${at} has level ${nodeLevel}, expected ${level ?? "<= 32"}`);
    }
    const entries = await u16(c, "B-tree entries used");
    if (entries > 2 * internalK) throw corrupt(source, `group B-tree node at byte ${at} has ${entries} entries`);
    c.skip(2 * O, "B-tree siblings");
    const raw = await c.bytes(entries * (keySize + O) + keySize, "B-tree entries");
    const keys: Uint8Array[] = [];
    for (let i = 0; i <= entries; i++) {
      keys.push(nameAt(lengthAt(raw, i * (keySize + O), L)));
      if (i > 0 && compareBytes(keys[i - 1], keys[i]) >= 0) {
        throw invalid(source, `group B-tree node at byte ${at} has its keys out of order`);
      }
    }
    let first: Uint8Array | null = null, last: Uint8Array | null = null;
    for (let i = 0; i < entries; i++) {
      const child = lengthAt(raw, i * (keySize + O) + keySize, O);
      if (!Number.isSafeInteger(child)) throw invalid(source, `group B-tree node at byte ${at} has a bad child`);
      const range = await visit(child, nodeLevel === 0 ? -1 : nodeLevel - 1);
      if (visited.size > MAX_GROUP_LINKS) return null;
      if (!range) continue;
      // a name is looked up in child i when it sorts after key i and not after key i + 1
      if (compareBytes(keys[i], range[0]) >= 0 || compareBytes(range[1], keys[i + 1]) > 0) {
        throw invalid(source, `group B-tree node at byte ${at} has keys that do not bound its children`);
      }
      first ??= range[0];
      last = range[1];
    }
    return first && last ? [first, last] : null;
  };
  await visit(btreeAddress, null);
  return visited.size <= MAX_GROUP_LINKS && links.size <= MAX_GROUP_LINKS;
}

/**
 * Whether a datatype message describes a plain integer (every bit of its bytes, from bit 0) or an IEEE 754 float
 * of 4 or 8 bytes, as numpy's types are written, with no padding or reserved bit set; other classes pass (the
 * source refuses them by class).
 */
function standardType(t: Uint8Array, typeClass: number, bits: number, size: number): boolean {
  const u16 = (at: number) => t[at] | (t[at + 1] << 8);
  // integer: byte order (bit 0) and sign (bit 3) only
  if (typeClass === 0) return t.length >= 12 && (bits & ~0x09) === 0 && u16(8) === 0 && u16(10) === 8 * size;
  if (typeClass !== 1) return true;
  if (t.length < 20) return false;
  const ieee = size === 4 ? [23, 8, 0, 23, 127] : size === 8 ? [52, 11, 0, 52, 1023] : null;
  const bias = t[16] | (t[17] << 8) | (t[18] << 16) | (t[19] << 24);
  // float: byte order (bits 0 and 6), padding (1-3), mantissa normalisation (4-5), sign position (8-15)
  return ieee !== null && (bits & 0xff0080) === 0 && u16(8) === 0 && u16(10) === 8 * size &&
    ((bits >> 8) & 0xff) === 8 * size - 1 &&
    ((bits >> 4) & 3) === 2 && (bits & 0x0e) === 0 && t[12] === ieee[0] && t[13] === ieee[1] && t[14] === ieee[2] &&
    t[15] === ieee[3] && bias === ieee[4];
}

/** The most dimensions of a dataspace, and filters of a pipeline, the HDF5 library allows. */
const MAX_RANK = 32;
const MAX_FILTERS = 32;

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
  const messages = await readMessages(source, sb, address, true);
  // the messages h5py and M2H write in a dataset's header (and external storage, which is read elsewhere)
  checkMessages(source, messages, [
    0,
    MSG_DATASPACE,
    MSG_DATATYPE,
    MSG_FILL_VALUE_OLD,
    MSG_FILL_VALUE,
    MSG_EXTERNAL,
    MSG_LAYOUT,
    MSG_FILTERS,
    MSG_ATTRIBUTE,
    MSG_MODIFIED_OLD,
    MSG_CONTINUATION,
    MSG_MODIFIED,
  ]);
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
  if (rank > MAX_RANK || (spaceFlags & ~1) !== 0) {
    throw invalid(source, `dataspace of rank ${rank} with flags ${spaceFlags}`);
  }
  if (spaceVersion === 1) s.skip(5, "reserved");
  else if (spaceVersion === 2) {
    const spaceType = await s.u8("dataspace type");
    if (spaceType === 2) return null; // a null dataspace
    if (spaceType !== (rank > 0 ? 1 : 0)) throw invalid(source, `dataspace of type ${spaceType} and rank ${rank}`);
  } else return null;
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) shape.push(await length(s, sb.lengthSize, "dataspace dimension"));
  // the maximum dimensions (null: unlimited), the dimensions themselves when not stored
  const maxShape: (number | null)[] = shape.slice();
  if (spaceFlags & 1) {
    for (let i = 0; i < rank; i++) {
      const max = await uint(s, sb.lengthSize, "dataspace maximum dimension");
      if (max !== null && max < shape[i]) {
        throw invalid(source, `dataspace dimension ${shape[i]} exceeds its maximum ${max}`);
      }
      maxShape[i] = max;
    }
  }
  // the datatype
  const t = type.body;
  if (t.length < 8) throw invalid(source, `datatype message of ${t.length} bytes`);
  const typeClass = t[0] & 0x0f;
  const typeVersion = t[0] >> 4;
  const bits = t[1] | (t[2] << 8) | (t[3] << 16);
  const size = t[4] | (t[5] << 8) | (t[6] << 16) | (t[7] << 24);
  const littleEndian = typeClass === 1 ? (bits & 0x41) === 0 : (bits & 1) === 0;
  const signed = typeClass === 0 && (bits & 0x08) !== 0;
  if (typeVersion < 1 || typeVersion > 3) throw invalid(source, `datatype message of version ${typeVersion}`);
  if (!standardType(t, typeClass, bits, size)) return null;
  // the layout, and the fill value: not read (every element read here is stored), but the HDF5 library decodes it
  const layout = await parseLayout(source, sb, layoutMessage.body);
  checkFillValue(source, messages, size, layout.kind === "chunked");
  // the filters
  const filters: DatasetDescription["filters"] = [];
  if (pipeline) {
    const p = new Cursor(bufferSource(pipeline.body, source.name));
    const version = await p.u8("filter pipeline version");
    const count = await p.u8("filter count");
    if (version === 1) p.skip(6, "reserved");
    else if (version !== 2) return null;
    if (count > MAX_FILTERS) throw invalid(source, `filter pipeline of ${count} filters`);
    for (let i = 0; i < count; i++) {
      const id = await u16(p, "filter id");
      const nameLength = version === 1 || id >= 256 ? await u16(p, "filter name length") : 0;
      const flags = await u16(p, "filter flags");
      const values = await u16(p, "filter client data count");
      // filter flags: optional (bit 0) only
      if ((version === 1 && nameLength % 8 !== 0) || (flags & ~1) !== 0) {
        throw invalid(source, `filter ${id} has a name of ${nameLength} bytes and flags ${flags}`);
      }
      let name: string | undefined;
      if (nameLength > 0) {
        const raw = await p.bytes(nameLength, "filter name");
        const nul = raw.indexOf(0);
        if (nul < 0) throw invalid(source, `filter ${id} has a name without its terminating null`);
        name = new TextDecoder().decode(raw.subarray(0, nul));
        if (version === 1) p.skip((8 - (nameLength % 8)) % 8, "filter name padding");
      }
      const cdValues: number[] = [];
      for (let k = 0; k < values; k++) cdValues.push(await p.u32("filter client data"));
      if (version === 1 && values % 2 === 1) p.skip(4, "filter client data padding");
      filters.push(name === undefined ? { id, cd_values: cdValues } : { id, name, cd_values: cdValues });
    }
  }
  if (layout.kind === "chunked") {
    // the HDF5 library refuses a chunk larger than a fixed dimension
    if (layout.dims.slice(0, -1).some((d, i) => d === 0 || (i < rank && maxShape[i] !== null && d > maxShape[i]!))) {
      throw invalid(source, `chunks of [${layout.dims}] for a dataspace of at most [${maxShape}]`);
    }
  }
  return {
    shape,
    typeClass,
    size,
    signed,
    littleEndian,
    layout,
    external: messages.some((m) => m.type === MSG_EXTERNAL),
    filters,
  };
}

/**
 * Checks the fill value messages as the HDF5 library decodes them when it opens a dataset, and as it writes them:
 * the new message (versions 1 to 3: allocation time, fill time, whether a value is defined, the value), no old one.
 * What the library refuses (another version, unknown flags, a message cut short, and for chunked data, which it reads
 * with the fill value at hand, a value of negative size) is a {@linkcode corrupt} error.
 */
function checkFillValue(source: ByteSource, messages: Message[], typeSize: number, chunked: boolean): void {
  if (messages.some((m) => m.type === MSG_FILL_VALUE_OLD)) throw invalid(source, `old fill value message`);
  const fills = messages.filter((m) => m.type === MSG_FILL_VALUE);
  if (fills.length > 1) throw invalid(source, `object header has ${fills.length} fill value messages`);
  if (!fills.length) return;
  if (fills[0].flags & MSG_SHARED) throw invalid(source, `shared fill value message`);
  const f = fills[0].body;
  const what = `fill value message ${JSON.stringify(Array.from(f.subarray(0, 8)))}`;
  const value = (at: number): void => {
    if (at + 4 > f.length) throw corrupt(source, what);
    const size = new DataView(f.buffer, f.byteOffset + at, 4).getInt32(0, true);
    if ((size < 0 && chunked) || at + 4 + size > f.length) throw corrupt(source, what);
    if (size !== 0 && size !== typeSize) throw invalid(source, what);
  };
  const version = f[0];
  if (version === 1 || version === 2) {
    if (f.length < 4) throw corrupt(source, what);
    if (f[1] < 1 || f[1] > 3 || f[2] > 2 || f[3] > 1) throw invalid(source, what);
    if (f[3] === 1) value(4); // a value is defined
  } else if (version === 3) {
    // allocation time (bits 0-1), fill time (2-3), no value (4), a value (5)
    if (f.length < 2 || f[1] & 0xc0 || (f[1] & 0x30) === 0x30) throw corrupt(source, what);
    if ((f[1] & 0x03) === 0 || (f[1] & 0x0c) === 0x0c) throw invalid(source, what);
    if (f[1] & 0x20) value(2);
  } else {
    throw corrupt(source, what);
  }
}
