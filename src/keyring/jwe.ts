import { createCipheriv, createDecipheriv, pbkdf2Sync, randomBytes } from 'node:crypto';
import { KeyringError } from '../errors.js';
import { concatBytes, wipe } from '../crypto/bytes.js';
import { goJsonString } from './gojson.js';

/**
 * JWE compact tokens as jose2go v1.6.0 writes them for 99designs/keyring's file backend:
 * PBES2-HS256+A128KW key wrapping, A256GCM content encryption, p2c 8192, 12-byte p2s.
 * The header keys are in Go's sorted order (alg, created, enc, p2c, p2s) so our files look like arkeod's.
 * Primitives: PBKDF2, AES key wrap (RFC 3394, `id-aes128-wrap`) and AES-GCM, all from Node's OpenSSL.
 */
export const JWE_ALG = 'PBES2-HS256+A128KW';
export const JWE_ENC = 'A256GCM';
export const DEFAULT_P2C = 8192;
/** jose2go's upper bound for PBES2-HS256 (`NewPbse2HmacAesKWAlg(128, 1300000, 0)`). Also caps hostile files. */
export const MAX_P2C = 1_300_000;
/** Real files are ~530–740 bytes; anything over this is not a keyring item. */
export const MAX_TOKEN_BYTES = 64 * 1024;

const B64URL = /^[A-Za-z0-9_-]*$/;

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** Strict, canonical unpadded base64url: jose2go re-encodes the header for the AAD, so only canonical input round-trips. */
function fromB64url(segment: string, what: string, source: string): Uint8Array {
  if (!B64URL.test(segment) || segment.length % 4 === 1) throw new KeyringError('CORRUPT_FILE', `${source}: JWE ${what} is not base64url`);
  const bytes = new Uint8Array(Buffer.from(segment, 'base64url'));
  if (b64url(bytes) !== segment) throw new KeyringError('CORRUPT_FILE', `${source}: JWE ${what} is not canonical base64url`);
  return bytes;
}

const KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');

function aesKeyWrap(kek: Uint8Array, cek: Uint8Array): Uint8Array {
  const c = createCipheriv('id-aes128-wrap', kek, KW_IV);
  return new Uint8Array(Buffer.concat([c.update(cek), c.final()]));
}

/** Throws when the integrity check fails, which is how a wrong password shows up. */
function aesKeyUnwrap(kek: Uint8Array, wrapped: Uint8Array): Uint8Array {
  const d = createDecipheriv('id-aes128-wrap', kek, KW_IV);
  return new Uint8Array(Buffer.concat([d.update(wrapped), d.final()]));
}

function deriveKek(password: string, p2s: Uint8Array, p2c: number): Uint8Array {
  const salt = concatBytes(new TextEncoder().encode(JWE_ALG), Uint8Array.of(0), p2s);
  return new Uint8Array(pbkdf2Sync(Buffer.from(password, 'utf8'), salt, p2c, 16, 'sha256'));
}

/** Go's `time.Now().String()` shape; informational only (nobody parses it), kept so files look like arkeod's. */
export function goTimeString(now = new Date()): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const offsetMin = -now.getTimezoneOffset();
  const sign = offsetMin >= 0 ? '+' : '-';
  const abs = Math.abs(offsetMin);
  const frac = String(now.getMilliseconds()).padStart(3, '0').replace(/0+$/, '');
  return (
    `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())} ` +
    `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}${frac ? '.' + frac : ''} ` +
    `${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)} ${offsetMin === 0 ? 'UTC' : 'LOCAL'} m=+${process.uptime().toFixed(9)}`
  );
}

export function encryptJwe(plaintext: Uint8Array, password: string, created = goTimeString()): string {
  const p2s = new Uint8Array(randomBytes(12));
  const header =
    `{"alg":"${JWE_ALG}","created":${goJsonString(created)},"enc":"${JWE_ENC}",` +
    `"p2c":${DEFAULT_P2C},"p2s":"${b64url(p2s)}"}`;
  const headerSegment = b64url(new TextEncoder().encode(header));
  const kek = deriveKek(password, p2s, DEFAULT_P2C);
  const cek = new Uint8Array(randomBytes(32));
  const iv = randomBytes(12);
  try {
    const encryptedKey = aesKeyWrap(kek, cek);
    const cipher = createCipheriv('aes-256-gcm', cek, iv);
    cipher.setAAD(Buffer.from(headerSegment, 'ascii'));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [headerSegment, b64url(encryptedKey), b64url(iv), b64url(ciphertext), b64url(tag)].join('.');
  } finally {
    wipe(kek, cek);
  }
}

interface JweHeader {
  alg?: unknown;
  enc?: unknown;
  p2c?: unknown;
  p2s?: unknown;
  zip?: unknown;
  crit?: unknown;
}

/**
 * Decrypt a keyring file. `source` names the file in errors. A wrong password is reported as such
 * (AES key unwrap integrity failure, as jose2go reports it); anything else wrong is CORRUPT_FILE.
 */
export function decryptJwe(token: string, password: string, source: string): Uint8Array {
  if (token.length > MAX_TOKEN_BYTES) throw new KeyringError('CORRUPT_FILE', `${source}: larger than ${MAX_TOKEN_BYTES} bytes, not a keyring item`);
  const parts = token.trim().split('.');
  if (parts.length !== 5) throw new KeyringError('CORRUPT_FILE', `${source}: not a JWE compact token (expected 5 parts, got ${parts.length})`);
  const [h, ek, ivs, cts, tags] = parts as [string, string, string, string, string];
  let header: JweHeader;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(fromB64url(h, 'header', source)));
  } catch (e) {
    if (e instanceof KeyringError) throw e;
    throw new KeyringError('CORRUPT_FILE', `${source}: JWE header is not JSON`);
  }
  if (typeof header !== 'object' || header === null) throw new KeyringError('CORRUPT_FILE', `${source}: JWE header is not a JSON object`);
  if (header.alg !== JWE_ALG || header.enc !== JWE_ENC) {
    throw new KeyringError('UNSUPPORTED_FILE', `${source}: unsupported JWE algorithms ${String(header.alg)}/${String(header.enc)} (expected ${JWE_ALG}/${JWE_ENC})`);
  }
  if (header.zip !== undefined || header.crit !== undefined) throw new KeyringError('UNSUPPORTED_FILE', `${source}: JWE "zip"/"crit" headers are not supported`);
  const p2c = header.p2c;
  if (typeof p2c !== 'number' || !Number.isInteger(p2c) || p2c < 1 || p2c > MAX_P2C) {
    throw new KeyringError('CORRUPT_FILE', `${source}: JWE p2c must be an integer from 1 to ${MAX_P2C}`);
  }
  if (typeof header.p2s !== 'string' || header.p2s.length === 0) throw new KeyringError('CORRUPT_FILE', `${source}: JWE p2s is missing`);
  const p2s = fromB64url(header.p2s, 'p2s', source);
  const encryptedKey = fromB64url(ek, 'encrypted key', source);
  const iv = fromB64url(ivs, 'iv', source);
  const ciphertext = fromB64url(cts, 'ciphertext', source);
  const tag = fromB64url(tags, 'tag', source);
  if (encryptedKey.length !== 40 || iv.length !== 12 || tag.length !== 16) {
    throw new KeyringError('CORRUPT_FILE', `${source}: JWE parts have the wrong lengths (key ${encryptedKey.length}/40, iv ${iv.length}/12, tag ${tag.length}/16)`);
  }
  const kek = deriveKek(password, p2s, p2c);
  let cek: Uint8Array;
  try {
    cek = aesKeyUnwrap(kek, encryptedKey);
  } catch {
    throw new KeyringError('WRONG_PASSPHRASE', `${source}: incorrect passphrase (AES key unwrap integrity check failed)`);
  } finally {
    wipe(kek);
  }
  try {
    if (cek.length !== 32) throw new KeyringError('CORRUPT_FILE', `${source}: JWE content key is ${cek.length} bytes, expected 32`);
    const decipher = createDecipheriv('aes-256-gcm', cek, iv);
    decipher.setAAD(Buffer.from(h, 'ascii'));
    decipher.setAuthTag(tag);
    return new Uint8Array(Buffer.concat([decipher.update(ciphertext), decipher.final()]));
  } catch (e) {
    if (e instanceof KeyringError) throw e;
    throw new KeyringError('CORRUPT_FILE', `${source}: JWE authentication failed (the file was modified or truncated)`);
  } finally {
    wipe(cek);
  }
}
