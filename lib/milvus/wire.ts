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
 * Encodes a batch as a gRPC-framed `InsertRequest` (the same bytes serve `UpsertRequest`): the 5-byte gRPC prefix
 * followed by the message, in one buffer.
 */
export function encodeInsertRequest(batch: Batch, schema: InsertSchema): Uint8Array<ArrayBuffer> {
  validateBatch(batch, schema);
  const { rows, dim } = batch;
  const db = encoder.encode(schema.database);
  const coll = encoder.encode(schema.collection);
  const part = encoder.encode(schema.partition);
  const vecName = encoder.encode(schema.vectorField);
  const vecBytes = new Uint8Array(batch.vectors.buffer, batch.vectors.byteOffset, batch.vectors.byteLength);

  // Vector FieldData.
  const inner = schema.vectorType === "float"
    ? 1 + varintSize(vecBytes.length) + vecBytes.length // FloatArray.data
    : 0;
  const vectorFieldLen = 1 + varintSize(dim) +
    (schema.vectorType === "float" ? 1 + varintSize(inner) + inner : 1 + varintSize(vecBytes.length) + vecBytes.length);
  const vecFieldDataLen = 2 + 1 + varintSize(vecName.length) + vecName.length + 1 + varintSize(vectorFieldLen) +
    vectorFieldLen;

  // Id FieldData.
  let idVarints: Uint8Array | null = null;
  let idName: Uint8Array | null = null;
  let longArrayLen = 0, scalarLen = 0, idFieldDataLen = 0;
  if (schema.idField !== null && batch.ids !== null) {
    idName = encoder.encode(schema.idField);
    const scratch = new Uint8Array(rows * 10);
    idVarints = scratch.subarray(0, encodeIdVarints(batch.ids, scratch));
    longArrayLen = 1 + varintSize(idVarints.length) + idVarints.length;
    scalarLen = 1 + varintSize(longArrayLen) + longArrayLen;
    idFieldDataLen = 2 + 1 + varintSize(idName.length) + idName.length + 1 + varintSize(scalarLen) + scalarLen;
  }

  let msgLen = 0;
  if (db.length > 0) msgLen += 1 + varintSize(db.length) + db.length;
  msgLen += 1 + varintSize(coll.length) + coll.length;
  if (part.length > 0) msgLen += 1 + varintSize(part.length) + part.length;
  if (idVarints !== null) msgLen += 1 + varintSize(idFieldDataLen) + idFieldDataLen;
  msgLen += 1 + varintSize(vecFieldDataLen) + vecFieldDataLen;
  msgLen += 1 + varintSize(rows);

  const out = new Uint8Array(5 + msgLen);
  new DataView(out.buffer).setUint32(1, msgLen, false);
  let p = 5;
  const bytesField = (tag: number, bytes: Uint8Array) => {
    out[p++] = tag;
    p = writeVarint(out, p, bytes.length);
    out.set(bytes, p);
    p += bytes.length;
  };
  if (db.length > 0) bytesField(0x12, db); // db_name = 2
  bytesField(0x1a, coll); // collection_name = 3
  if (part.length > 0) bytesField(0x22, part); // partition_name = 4
  if (idVarints !== null && idName !== null) {
    out[p++] = 0x2a; // fields_data = 5
    p = writeVarint(out, p, idFieldDataLen);
    out[p++] = 0x08; // FieldData.type = 1
    out[p++] = TYPE_INT64;
    bytesField(0x12, idName); // FieldData.field_name = 2
    out[p++] = 0x1a; // FieldData.scalars = 3
    p = writeVarint(out, p, scalarLen);
    out[p++] = 0x1a; // ScalarField.long_data = 3
    p = writeVarint(out, p, longArrayLen);
    bytesField(0x0a, idVarints); // LongArray.data = 1 (packed)
  }
  out[p++] = 0x2a; // fields_data = 5
  p = writeVarint(out, p, vecFieldDataLen);
  out[p++] = 0x08; // FieldData.type = 1
  out[p++] = schema.vectorType === "float" ? TYPE_FLOAT_VECTOR : TYPE_BINARY_VECTOR;
  bytesField(0x12, vecName); // FieldData.field_name = 2
  out[p++] = 0x22; // FieldData.vectors = 4
  p = writeVarint(out, p, vectorFieldLen);
  out[p++] = 0x08; // VectorField.dim = 1
  p = writeVarint(out, p, dim);
  if (schema.vectorType === "float") {
    out[p++] = 0x12; // VectorField.float_vector = 2
    p = writeVarint(out, p, inner);
    bytesField(0x0a, vecBytes); // FloatArray.data = 1 (packed)
  } else {
    bytesField(0x1a, vecBytes); // VectorField.binary_vector = 3
  }
  out[p++] = 0x38; // num_rows = 7
  p = writeVarint(out, p, rows);
  if (p !== out.length) throw new MilvusdmError("INTERNAL", `Insert encoder wrote ${p} of ${out.length} bytes`);
  return out;
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
