/**
 * The little protobuf wire format the keyring needs (varints and length-delimited fields). Readers are strict:
 * every length is bounds-checked, groups (wire types 3/4) are rejected, and unknown fields are skipped as
 * gogoproto skips them.
 */
export class ProtoError extends Error {}

export interface ProtoField {
  field: number;
  wireType: number;
  /** Set for wire type 0. */
  varint?: bigint;
  /** Set for wire types 1, 2 and 5. */
  bytes?: Uint8Array;
}

export function readVarint(buf: Uint8Array, at: number): [bigint, number] {
  let result = 0n;
  for (let shift = 0n, i = at; i < buf.length && shift < 70n; shift += 7n, i++) {
    const b = buf[i]!;
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, i + 1];
  }
  throw new ProtoError('truncated or overlong varint');
}

export function parseFields(buf: Uint8Array): ProtoField[] {
  const fields: ProtoField[] = [];
  let at = 0;
  while (at < buf.length) {
    const [tag, next] = readVarint(buf, at);
    at = next;
    const field = Number(tag >> 3n);
    const wireType = Number(tag & 7n);
    if (field === 0) throw new ProtoError('field number 0');
    switch (wireType) {
      case 0: {
        const [v, n] = readVarint(buf, at);
        fields.push({ field, wireType, varint: v });
        at = n;
        break;
      }
      case 1:
      case 5: {
        const len = wireType === 1 ? 8 : 4;
        if (at + len > buf.length) throw new ProtoError('truncated fixed-width field');
        fields.push({ field, wireType, bytes: buf.subarray(at, at + len) });
        at += len;
        break;
      }
      case 2: {
        const [len, n] = readVarint(buf, at);
        if (len > BigInt(buf.length - n)) throw new ProtoError(`field ${field} length ${len} runs past the end`);
        fields.push({ field, wireType, bytes: buf.subarray(n, n + Number(len)) });
        at = n + Number(len);
        break;
      }
      default:
        throw new ProtoError(`unsupported wire type ${wireType} (field ${field})`);
    }
  }
  return fields;
}

export function encodeVarint(value: number | bigint): Uint8Array {
  let v = BigInt(value);
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

/** A length-delimited field (wire type 2). */
export function lengthDelimited(field: number, payload: Uint8Array): Uint8Array {
  const tag = encodeVarint((field << 3) | 2);
  const len = encodeVarint(payload.length);
  const out = new Uint8Array(tag.length + len.length + payload.length);
  out.set(tag, 0);
  out.set(len, tag.length);
  out.set(payload, tag.length + len.length);
  return out;
}

export function varintField(field: number, value: number | bigint): Uint8Array {
  const tag = encodeVarint(field << 3);
  const v = encodeVarint(value);
  const out = new Uint8Array(tag.length + v.length);
  out.set(tag, 0);
  out.set(v, tag.length);
  return out;
}
