import { InputError } from '../errors.js';

const HEX_RE = /^[0-9a-fA-F]*$/;

/**
 * Strict hex decoding for user input: an optional `0x` prefix, an even number of hex digits, and (when
 * `expectedBytes` is given) exactly that many bytes. `what` names the input in the error, never its value.
 */
export function parseHex(text: string, what: string, expectedBytes?: number): Uint8Array {
  const body = text.startsWith('0x') || text.startsWith('0X') ? text.slice(2) : text;
  if (!HEX_RE.test(body)) throw new InputError('BAD_HEX', `${what}: not hexadecimal`);
  if (body.length % 2 !== 0) throw new InputError('BAD_HEX', `${what}: odd number of hex digits (${body.length})`);
  const out = Buffer.from(body, 'hex');
  if (expectedBytes !== undefined && out.length !== expectedBytes) {
    throw new InputError('BAD_LENGTH', `${what}: expected ${expectedBytes} bytes, got ${out.length}`);
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

const encoder = new TextEncoder();

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Overwrite secret material once it is no longer needed. JS strings cannot be wiped; keep secrets in bytes. */
export function wipe(...buffers: (Uint8Array | undefined)[]): void {
  for (const b of buffers) b?.fill(0);
}
