/**
 * Hand-encoded Milvus `InsertRequest`/`UpsertRequest` messages and the `MutationResult` decoder.
 *
 * Field numbers are from milvus.proto (see ../shared/notes/milvus-insert.md). Vectors are copied into the packed
 * field byte for byte; ids are written as varints straight from the int64 words, with no per-row objects.
 *
 * @module
 */
import { MilvusdmError } from "../errors.ts";
import type { Batch, VectorType } from "../types.ts";

const TYPE_INT64 = 5;
const TYPE_BINARY_VECTOR = 100;
const TYPE_FLOAT_VECTOR = 101;

/** Names and kinds of the two fields an insert carries. */
export interface InsertSchema {
  /** Database name (empty for the default). */
  database: string;
  /** Collection name. */
  collection: string;
  /** Partition name ("" for the default partition). */
  partition: string;
  /** Primary key field name; null when the collection generates ids (auto_id). */
  idField: string | null;
  /** Vector field name. */
  vectorField: string;
  /** Float or binary vectors. */
  vectorType: VectorType;
  /** Vector dimension (bits for binary). */
  dim: number;
}

const encoder = new TextEncoder();

/** Bytes a varint of a non-negative safe integer takes. */
function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(out: Uint8Array, pos: number, n: number): number {
  while (n >= 128) {
    out[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  out[pos++] = n;
  return pos;
}

/** Encodes int64 ids as packed varints (two's complement for negatives) into `out`; returns the length. */
function encodeIdVarints(ids: BigInt64Array, out: Uint8Array): number {
  const words = new Uint32Array(ids.buffer, ids.byteOffset, ids.length * 2);
  let p = 0;
  for (let i = 0; i < words.length; i += 2) {
    let lo = words[i];
    let hi = words[i + 1];
    while (hi !== 0 || lo > 0x7f) {
      out[p++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi = hi >>> 7;
    }
    out[p++] = lo;
  }
  return p;
}

/** Checks a batch against the schema before it can reach the server (a dim of 0 crashes Milvus 2.3). */
export function validateBatch(batch: Batch, schema: InsertSchema): void {
  const { rows, dim, vectors, ids } = batch;
  const problems: string[] = [];
  if (!Number.isSafeInteger(rows) || rows <= 0) problems.push(`rows is ${rows}`);
  if (!Number.isSafeInteger(dim) || dim <= 0) problems.push(`dim is ${dim}`);
  if (dim !== schema.dim) problems.push(`dim ${dim} differs from the collection's ${schema.dim}`);
  if (schema.vectorType === "float") {
    if (!(vectors instanceof Float32Array)) problems.push("float vectors are not a Float32Array");
    else if (vectors.length !== rows * dim) problems.push(`${vectors.length} floats for ${rows} × ${dim}`);
  } else {
    if (!(vectors instanceof Uint8Array)) problems.push("binary vectors are not a Uint8Array");
    else if (dim % 8 !== 0) problems.push(`binary dim ${dim} is not a multiple of 8`);
    else if (vectors.length !== rows * dim / 8) problems.push(`${vectors.length} bytes for ${rows} × ${dim} bits`);
  }
  if (schema.idField !== null) {
    if (ids === null) problems.push("the collection needs ids and the batch has none");
    else if (ids.length !== rows) problems.push(`${ids.length} ids for ${rows} rows`);
  } else if (ids !== null) {
    problems.push("the collection generates ids (auto_id) and the batch has ids");
  }
  if (problems.length > 0) {
    throw new MilvusdmError("INTERNAL", `Refusing to send a malformed insert: ${problems.join("; ")}`);
  }
}

/**
 * Where the parts of one request go in a buffer. The vector field comes first in `fields_data` (Milvus matches
 * fields by name), so everything before the vector payload depends only on the schema and the row count: a source
 * can read vectors from its file straight into the request, at `vectorOffset`, before the ids are known.
 */
export interface InsertLayout {
  /** Rows the layout is for. */
  rows: number;
  /** The frame's bytes before the vector payload: gRPC prefix (length left 0), names, vector field headers. */
  head: Uint8Array;
  /** Where the frame starts in the buffer (0-7): chosen so that the vector payload is 8-byte aligned. */
  frameOffset: number;
  /** Where the vector payload starts in the buffer (`frameOffset + head.length`, a multiple of 8). */
  vectorOffset: number;
  /** Bytes of the vector payload. */
  vectorBytes: number;
}

/** Bytes the id field of a request takes at most, ids included, for `rows` rows and an id field name of `nameBytes`. */
function maxIdFieldBytes(rows: number, nameBytes: number): number {
  return 1 + 5 + 2 + 1 + 5 + nameBytes + 1 + 5 + 1 + 5 + 1 + 5 + rows * 10;
}

/** The layout of a request of `rows` rows (see {@linkcode InsertLayout}). */
export function insertLayout(schema: InsertSchema, rows: number): InsertLayout {
  const dim = schema.dim;
  const db = encoder.encode(schema.database);
  const coll = encoder.encode(schema.collection);
  const part = encoder.encode(schema.partition);
  const vecName = encoder.encode(schema.vectorField);
  const vectorBytes = schema.vectorType === "float" ? rows * dim * 4 : rows * dim / 8;
  const float = schema.vectorType === "float";
  const inner = float ? 1 + varintSize(vectorBytes) + vectorBytes : 0; // FloatArray.data
  const vectorFieldLen = 1 + varintSize(dim) +
    (float ? 1 + varintSize(inner) + inner : 1 + varintSize(vectorBytes) + vectorBytes);
  const vecFieldDataLen = 2 + 1 + varintSize(vecName.length) + vecName.length + 1 + varintSize(vectorFieldLen) +
    vectorFieldLen;
  let headLen = 5;
  if (db.length > 0) headLen += 1 + varintSize(db.length) + db.length;
  headLen += 1 + varintSize(coll.length) + coll.length;
  if (part.length > 0) headLen += 1 + varintSize(part.length) + part.length;
  headLen += 1 + varintSize(vecFieldDataLen) + (vecFieldDataLen - vectorBytes);
  const head = new Uint8Array(headLen);
  let p = 5;
  const bytesField = (tag: number, bytes: Uint8Array) => {
    head[p++] = tag;
    p = writeVarint(head, p, bytes.length);
    head.set(bytes, p);
    p += bytes.length;
  };
  if (db.length > 0) bytesField(0x12, db); // db_name = 2
  bytesField(0x1a, coll); // collection_name = 3
  if (part.length > 0) bytesField(0x22, part); // partition_name = 4
  head[p++] = 0x2a; // fields_data = 5
  p = writeVarint(head, p, vecFieldDataLen);
  head[p++] = 0x08; // FieldData.type = 1
  head[p++] = float ? TYPE_FLOAT_VECTOR : TYPE_BINARY_VECTOR;
  bytesField(0x12, vecName); // FieldData.field_name = 2
  head[p++] = 0x22; // FieldData.vectors = 4
  p = writeVarint(head, p, vectorFieldLen);
  head[p++] = 0x08; // VectorField.dim = 1
  p = writeVarint(head, p, dim);
  if (float) {
    head[p++] = 0x12; // VectorField.float_vector = 2
    p = writeVarint(head, p, inner);
    head[p++] = 0x0a; // FloatArray.data = 1 (packed)
  } else {
    head[p++] = 0x1a; // VectorField.binary_vector = 3
  }
  p = writeVarint(head, p, vectorBytes);
  if (p !== headLen) throw new MilvusdmError("INTERNAL", `Insert layout wrote ${p} of ${headLen} bytes`);
  const frameOffset = (8 - (headLen % 8)) % 8;
  return { rows, head, frameOffset, vectorOffset: frameOffset + headLen, vectorBytes };
}

/** Bytes a buffer needs to hold any request of at most `rows` rows laid out by {@linkcode insertLayout}. */
export function insertCapacity(schema: InsertSchema, rows: number): number {
  const layout = insertLayout(schema, rows);
  const idName = schema.idField === null ? 0 : encoder.encode(schema.idField).length;
  return layout.vectorOffset + layout.vectorBytes + maxIdFieldBytes(rows, idName) + 1 + 5;
}

/** Bytes the ids take as varints. */
function idVarintsSize(ids: BigInt64Array): number {
  const words = new Uint32Array(ids.buffer, ids.byteOffset, ids.length * 2);
  let size = 0;
  for (let i = 0; i < words.length; i += 2) {
    const lo = words[i];
    const hi = words[i + 1];
    if (hi === 0) {
      size += lo < 0x80 ? 1 : lo < 0x4000 ? 2 : lo < 0x200000 ? 3 : lo < 0x10000000 ? 4 : 5;
    } else {
      // 32 low bits plus the significant bits of the high word, 7 bits per byte
      size += Math.ceil((64 - Math.clz32(hi)) / 7);
    }
  }
  return size;
}

/**
 * Writes a whole gRPC-framed request for `batch` into `buffer` laid out by `layout` (from
 * {@linkcode insertLayout} for `batch.rows`), and returns the frame (a view of `buffer`). Vectors already at
 * `layout.vectorOffset` (read there by the source) are not copied; others are copied in. The buffer must hold
 * {@linkcode insertCapacity} bytes.
 */
export function encodeInsertInto(
  buffer: ArrayBuffer,
  layout: InsertLayout,
  batch: Batch,
  schema: InsertSchema,
): Uint8Array<ArrayBuffer> {
  validateBatch(batch, schema);
  if (layout.rows !== batch.rows) {
    throw new MilvusdmError("INTERNAL", `Insert layout for ${layout.rows} rows used for ${batch.rows}`);
  }
  const out = new Uint8Array(buffer);
  out.set(layout.head, layout.frameOffset);
  const vectors = batch.vectors;
  if (vectors.buffer !== buffer || vectors.byteOffset !== layout.vectorOffset) {
    out.set(new Uint8Array(vectors.buffer, vectors.byteOffset, vectors.byteLength), layout.vectorOffset);
  }
  let p = layout.vectorOffset + layout.vectorBytes;
  if (schema.idField !== null && batch.ids !== null) {
    const idName = encoder.encode(schema.idField);
    const idsLen = idVarintsSize(batch.ids);
    const longArrayLen = 1 + varintSize(idsLen) + idsLen;
    const scalarLen = 1 + varintSize(longArrayLen) + longArrayLen;
    const idFieldDataLen = 2 + 1 + varintSize(idName.length) + idName.length + 1 + varintSize(scalarLen) + scalarLen;
    if (p + 1 + varintSize(idFieldDataLen) + idFieldDataLen + 1 + varintSize(batch.rows) > out.length) {
      throw new MilvusdmError("INTERNAL", `Insert buffer of ${out.length} bytes too small`);
    }
    out[p++] = 0x2a; // fields_data = 5
    p = writeVarint(out, p, idFieldDataLen);
    out[p++] = 0x08; // FieldData.type = 1
    out[p++] = TYPE_INT64;
    out[p++] = 0x12; // FieldData.field_name = 2
    p = writeVarint(out, p, idName.length);
    out.set(idName, p);
    p += idName.length;
    out[p++] = 0x1a; // FieldData.scalars = 3
    p = writeVarint(out, p, scalarLen);
    out[p++] = 0x1a; // ScalarField.long_data = 3
    p = writeVarint(out, p, longArrayLen);
    out[p++] = 0x0a; // LongArray.data = 1 (packed)
    p = writeVarint(out, p, idsLen);
    const written = encodeIdVarints(batch.ids, out.subarray(p));
    if (written !== idsLen) throw new MilvusdmError("INTERNAL", `Id varints took ${written} bytes, sized ${idsLen}`);
    p += written;
  }
  out[p++] = 0x38; // num_rows = 7
  p = writeVarint(out, p, batch.rows);
  const frameLen = p - layout.frameOffset;
  out[layout.frameOffset] = 0; // not compressed
  new DataView(buffer).setUint32(layout.frameOffset + 1, frameLen - 5, false);
  return out.subarray(layout.frameOffset, p);
}

/**
 * Encodes a batch as a gRPC-framed `InsertRequest` (the same bytes serve `UpsertRequest`) in a buffer of its own:
 * the 5-byte gRPC prefix followed by the message.
 */
export function encodeInsertRequest(batch: Batch, schema: InsertSchema): Uint8Array<ArrayBuffer> {
  validateBatch(batch, schema);
  const layout = insertLayout(schema, batch.rows);
  return encodeInsertInto(new ArrayBuffer(insertCapacity(schema, batch.rows)), layout, batch, schema);
}

/** What an insert reply says. */
export interface MutationStatus {
  /** `Status.error_code` (0 = Success). */
  errorCode: number;
  /** `Status.code` (0 = Success; newer servers). */
  code: number;
  /** `Status.reason`. */
  reason: string;
  /** `MutationResult.insert_cnt`. */
  insertCount: number;
  /** `MutationResult.upsert_cnt`. */
  upsertCount: number;
}

const decoder = new TextDecoder();

interface ProtoCursor {
  buf: Uint8Array;
  pos: number;
}

function readVarint(c: ProtoCursor, end: number): number {
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (c.pos >= end) throw malformed("varint runs past the end");
    const b = c.buf[c.pos++];
    result += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return result;
    mul *= 128;
  }
  throw malformed("varint longer than 10 bytes");
}

function skipField(c: ProtoCursor, wireType: number, end: number): void {
  if (wireType === 0) readVarint(c, end);
  else if (wireType === 1) c.pos += 8;
  else if (wireType === 2) {
    const len = readVarint(c, end);
    c.pos += len;
  } else if (wireType === 5) c.pos += 4;
  else throw malformed(`unknown wire type ${wireType}`);
  if (c.pos > end) throw malformed("field runs past the end");
}

function malformed(what: string): MilvusdmError {
  return new MilvusdmError("MILVUS_ERROR", `Milvus sent a malformed insert reply: ${what}`);
}

/** Decodes the fields milvusdm needs from a `MutationResult` message (no gRPC prefix). */
export function decodeMutationResult(buf: Uint8Array): MutationStatus {
  const result: MutationStatus = { errorCode: 0, code: 0, reason: "", insertCount: 0, upsertCount: 0 };
  const c: ProtoCursor = { buf, pos: 0 };
  while (c.pos < buf.length) {
    const key = readVarint(c, buf.length);
    const field = Math.floor(key / 8);
    const wireType = key & 7;
    if (field === 1 && wireType === 2) {
      const len = readVarint(c, buf.length);
      const end = c.pos + len;
      if (end > buf.length) throw malformed("status runs past the end");
      while (c.pos < end) {
        const k = readVarint(c, end);
        const f = Math.floor(k / 8);
        const wt = k & 7;
        if (f === 1 && wt === 0) result.errorCode = readVarint(c, end);
        else if (f === 3 && wt === 0) result.code = readVarint(c, end);
        else if (f === 2 && wt === 2) {
          const l = readVarint(c, end);
          result.reason = decoder.decode(buf.subarray(c.pos, c.pos + l));
          c.pos += l;
        } else skipField(c, wt, end);
      }
    } else if (field === 6 && wireType === 0) {
      result.insertCount = readVarint(c, buf.length);
    } else if (field === 8 && wireType === 0) {
      result.upsertCount = readVarint(c, buf.length);
    } else {
      skipField(c, wireType, buf.length);
    }
  }
  return result;
}
