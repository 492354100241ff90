/**
 * A minimal protocol-buffers encoder and decoder for the handful of Milvus control messages milvusdm sends and
 * reads (see control.ts): strings, booleans, varints, nested messages and packed int64s. No schema objects, no
 * reflection: each message is written and read by hand with its field numbers from milvus.proto.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Builds one message field by field; {@linkcode ProtoWriter.finish} returns its bytes. */
export class ProtoWriter {
  #buf = new Uint8Array(256);
  #pos = 0;

  #ensure(extra: number): void {
    if (this.#pos + extra <= this.#buf.length) return;
    const grown = new Uint8Array(Math.max(this.#buf.length * 2, this.#pos + extra));
    grown.set(this.#buf.subarray(0, this.#pos));
    this.#buf = grown;
  }

  #varint(n: bigint | number): void {
    this.#ensure(10);
    let v = BigInt.asUintN(64, BigInt(n));
    while (v >= 0x80n) {
      this.#buf[this.#pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.#buf[this.#pos++] = Number(v);
  }

  #tag(field: number, wireType: number): void {
    this.#varint((field << 3) | wireType);
  }

  /** A varint field (int32, int64, uint64, enum); zero is left out, as proto3 does. */
  uint(field: number, value: number | bigint | undefined): this {
    if (value === undefined || value === 0 || value === 0n) return this;
    this.#tag(field, 0);
    this.#varint(value);
    return this;
  }

  /** A bool field; false is left out. */
  bool(field: number, value: boolean | undefined): this {
    return value ? this.uint(field, 1) : this;
  }

  /** A length-delimited field of raw bytes (always written, even when empty, for repeated use). */
  bytes(field: number, value: Uint8Array): this {
    this.#tag(field, 2);
    this.#varint(value.length);
    this.#ensure(value.length);
    this.#buf.set(value, this.#pos);
    this.#pos += value.length;
    return this;
  }

  /** A string field; "" and undefined are left out. */
  string(field: number, value: string | undefined): this {
    return value ? this.bytes(field, encoder.encode(value)) : this;
  }

  /** A repeated string field (each element written, even ""). */
  strings(field: number, values: readonly string[] | undefined): this {
    for (const value of values ?? []) this.bytes(field, encoder.encode(value));
    return this;
  }

  /** A nested message field. */
  message(field: number, message: ProtoWriter): this {
    return this.bytes(field, message.finish());
  }

  /** A repeated `KeyValuePair {key = 1; value = 2}` field. */
  keyValues(field: number, pairs: Record<string, string | number> | undefined): this {
    for (const [key, value] of Object.entries(pairs ?? {})) {
      this.message(field, new ProtoWriter().string(1, key).string(2, String(value)));
    }
    return this;
  }

  /** A packed repeated int64 field. */
  packedInts(field: number, values: readonly (bigint | number)[]): this {
    if (values.length === 0) return this;
    const inner = new ProtoWriter();
    for (const v of values) inner.#varint(v);
    return this.bytes(field, inner.finish());
  }

  /** The message's bytes. */
  finish(): Uint8Array<ArrayBuffer> {
    return this.#buf.slice(0, this.#pos);
  }
}

/** A malformed reply: the bytes do not parse as the message expected. */
export class ProtoError extends Error {}

/** One decoded field value: a varint (as bigint) or length-delimited bytes; fixed-width values as their bytes. */
type Value = bigint | Uint8Array;

/** The fields of one message, by number, each with every value it carried (repeated fields keep their order). */
export class ProtoMessage {
  readonly #fields = new Map<number, Value[]>();

  constructor(bytes: Uint8Array) {
    let pos = 0;
    const varint = (): bigint => {
      let result = 0n;
      let shift = 0n;
      for (let i = 0; i < 10; i++) {
        if (pos >= bytes.length) throw new ProtoError("a varint runs past the end of the message");
        const b = bytes[pos++];
        result |= BigInt(b & 0x7f) << shift;
        if ((b & 0x80) === 0) return result;
        shift += 7n;
      }
      throw new ProtoError("a varint is longer than 10 bytes");
    };
    while (pos < bytes.length) {
      const key = Number(varint());
      const field = key >>> 3;
      const wire = key & 7;
      let value: Value;
      if (wire === 0) value = varint();
      else if (wire === 2) {
        const len = Number(varint());
        if (len > bytes.length - pos) throw new ProtoError(`field ${field} claims ${len} bytes past the end`);
        value = bytes.subarray(pos, pos + len);
        pos += len;
      } else if (wire === 1 || wire === 5) {
        const len = wire === 1 ? 8 : 4;
        if (len > bytes.length - pos) throw new ProtoError(`field ${field} runs past the end`);
        value = bytes.subarray(pos, pos + len);
        pos += len;
      } else {
        throw new ProtoError(`field ${field} has wire type ${wire}, which Milvus does not send`);
      }
      const list = this.#fields.get(field);
      if (list) list.push(value);
      else this.#fields.set(field, [value]);
    }
  }

  #last(field: number): Value | undefined {
    const list = this.#fields.get(field);
    return list?.[list.length - 1];
  }

  /** A varint field as a bigint (0n when absent). */
  big(field: number): bigint {
    const v = this.#last(field);
    return typeof v === "bigint" ? v : 0n;
  }

  /** A signed int64 field as a bigint. */
  int64(field: number): bigint {
    return BigInt.asIntN(64, this.big(field));
  }

  /** A varint field as a number (int32, enum, or an int64 known to be small). */
  int(field: number): number {
    return Number(BigInt.asIntN(64, this.big(field)));
  }

  /** A bool field. */
  bool(field: number): boolean {
    return this.big(field) !== 0n;
  }

  /** A string field ("" when absent). */
  string(field: number): string {
    const v = this.#last(field);
    return v instanceof Uint8Array ? decoder.decode(v) : "";
  }

  /** A repeated string field. */
  strings(field: number): string[] {
    return (this.#fields.get(field) ?? []).filter((v) => v instanceof Uint8Array).map((v) => decoder.decode(v));
  }

  /** A nested message field (an empty message when absent). */
  message(field: number): ProtoMessage {
    const v = this.#last(field);
    return new ProtoMessage(v instanceof Uint8Array ? v : new Uint8Array(0));
  }

  /** A repeated nested message field. */
  messages(field: number): ProtoMessage[] {
    return (this.#fields.get(field) ?? []).filter((v) => v instanceof Uint8Array).map((v) => new ProtoMessage(v));
  }

  /** A repeated int64 field, packed or not. */
  int64s(field: number): bigint[] {
    const out: bigint[] = [];
    for (const v of this.#fields.get(field) ?? []) {
      if (typeof v === "bigint") out.push(BigInt.asIntN(64, v));
      else {
        // A packed run: varints back to back.
        let pos = 0;
        while (pos < v.length) {
          let result = 0n;
          let shift = 0n;
          for (;;) {
            if (pos >= v.length) throw new ProtoError(`a packed varint in field ${field} is cut off`);
            const b = v[pos++];
            result |= BigInt(b & 0x7f) << shift;
            if ((b & 0x80) === 0) break;
            shift += 7n;
            if (shift > 63n) throw new ProtoError(`a packed varint in field ${field} is too long`);
          }
          out.push(BigInt.asIntN(64, result));
        }
      }
    }
    return out;
  }

  /** A repeated `KeyValuePair` field as key → value (the last value of a repeated key wins). */
  keyValues(field: number): Map<string, string> {
    const out = new Map<string, string>();
    for (const kv of this.messages(field)) out.set(kv.string(1), kv.string(2));
    return out;
  }

  /** A `map<string, M>` field as key → the value message. */
  mapOfMessages(field: number): Map<string, ProtoMessage> {
    const out = new Map<string, ProtoMessage>();
    for (const entry of this.messages(field)) out.set(entry.string(1), entry.message(2));
    return out;
  }
}
