import { randomBytes } from 'node:crypto';
import { argon2id } from '@noble/hashes/argon2.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { xsalsa20poly1305 } from '@noble/ciphers/salsa.js';
import bcrypt from 'bcryptjs';
import { KeyringError } from '../errors.js';
import { concatBytes, wipe } from '../crypto/bytes.js';
import { sha256 } from '../crypto/secp256k1.js';

/**
 * OpenPGP-style ASCII armor as golang.org/x/crypto/openpgp/armor writes it, and the SDK's private-key
 * armor (crypto/armor.go): argon2id + ChaCha20-Poly1305 (v0.50 writer) and bcrypt + XSalsa20-Poly1305
 * (legacy, still accepted on import).
 */
export const PRIVATE_KEY_BLOCK = 'TENDERMINT PRIVATE KEY';
export const PUBLIC_KEY_BLOCK = 'TENDERMINT PUBLIC KEY';
/** Real armors are under 1 KiB. */
export const MAX_ARMOR_BYTES = 64 * 1024;
/** `BcryptSecurityParameter` in production builds. */
export const ARMOR_BCRYPT_COST = 12;
const AMINO_PRIVKEY_PREFIX = Uint8Array.of(0xe1, 0xb0, 0xf7, 0x9b, 0x20);

export interface Armor {
  blockType: string;
  headers: Record<string, string>;
  data: Uint8Array;
}

/** CRC-24 of RFC 4880 §6.1 (init 0xB704CE, polynomial 0x1864CFB): the armor checksum, not a security feature. */
export function crc24(data: Uint8Array): number {
  let crc = 0xb704ce;
  for (const byte of data) {
    crc ^= byte << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
  }
  return crc & 0xffffff;
}

/** Encode as Go's `crypto.EncodeArmor` does (header order sorted; Go's is random). No trailing newline. */
export function encodeArmor(armor: Armor): string {
  const lines = [`-----BEGIN ${armor.blockType}-----`];
  for (const k of Object.keys(armor.headers).sort()) lines.push(`${k}: ${armor.headers[k]}`);
  lines.push('');
  const body = Buffer.from(armor.data).toString('base64');
  for (let i = 0; i < body.length; i += 64) lines.push(body.slice(i, i + 64));
  const crc = crc24(armor.data);
  lines.push('=' + Buffer.from([crc >> 16, (crc >> 8) & 0xff, crc & 0xff]).toString('base64'));
  lines.push(`-----END ${armor.blockType}-----`);
  return lines.join('\n');
}

/** Decode an armor block; headers in any order; the CRC is checked when present. `source` names the input. */
export function decodeArmor(text: string, source: string): Armor {
  if (text.length > MAX_ARMOR_BYTES) throw new KeyringError('BAD_ARMOR', `${source}: larger than ${MAX_ARMOR_BYTES} bytes, not a key armor`);
  const lines = text.replace(/\r\n/g, '\n').split('\n').map((l) => l.trimEnd());
  const begin = lines.findIndex((l) => /^-----BEGIN [A-Z0-9 ]+-----$/.test(l));
  if (begin < 0) throw new KeyringError('BAD_ARMOR', `${source}: no "-----BEGIN …-----" line`);
  const blockType = lines[begin]!.slice(11, -5);
  const end = lines.indexOf(`-----END ${blockType}-----`, begin + 1);
  if (end < 0) throw new KeyringError('BAD_ARMOR', `${source}: no "-----END ${blockType}-----" line (truncated?)`);
  const headers: Record<string, string> = {};
  let i = begin + 1;
  for (; i < end && lines[i] !== ''; i++) {
    const m = /^([^:]+): ?(.*)$/.exec(lines[i]!);
    if (!m) throw new KeyringError('BAD_ARMOR', `${source}: malformed armor header line ${i + 1}`);
    headers[m[1]!.trim()] = m[2]!.trim();
  }
  if (i === end) {
    // No blank line: Go requires one between headers and body unless there are no headers at all.
    if (Object.keys(headers).length > 0) throw new KeyringError('BAD_ARMOR', `${source}: no blank line after the armor headers`);
  }
  const bodyLines = lines.slice(i + 1, end).filter((l) => l !== '');
  let crcLine: string | undefined;
  if (bodyLines.length && bodyLines[bodyLines.length - 1]!.startsWith('=')) crcLine = bodyLines.pop()!.slice(1);
  const body = bodyLines.join('');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) throw new KeyringError('BAD_ARMOR', `${source}: armor body is not base64`);
  const data = new Uint8Array(Buffer.from(body, 'base64'));
  if (crcLine !== undefined) {
    const crcBytes = Buffer.from(crcLine, 'base64');
    if (crcBytes.length !== 3 || ((crcBytes[0]! << 16) | (crcBytes[1]! << 8) | crcBytes[2]!) !== crc24(data)) {
      throw new KeyringError('BAD_ARMOR', `${source}: armor checksum mismatch (the file was modified or truncated)`);
    }
  }
  return { blockType, headers, data };
}

function armorArgon2Key(passphrase: string, salt: Uint8Array): Uint8Array {
  return argon2id(new TextEncoder().encode(passphrase), salt, { t: 1, m: 64 * 1024, p: 4, dkLen: 32 });
}

/** The legacy SDK bcrypt fork returns the 60-byte "$2a$12$…" string; the key is SHA-256 of that string. */
function armorBcryptKey(passphrase: string, salt: Uint8Array, cost: number): Uint8Array {
  const hashed = bcrypt.hashSync(passphrase, `$2a$${String(cost).padStart(2, '0')}$` + bcrypt.encodeBase64(salt, 16));
  return sha256(new TextEncoder().encode(hashed));
}

export interface EncryptArmorOptions {
  /**
   * 'argon2' (default): what arkeod v0.50 writes. 'bcrypt': the legacy SDK ≤ v0.47 form (bcrypt cost 12 +
   * XSalsa20-Poly1305), which v0.50 still imports; only for handing keys to old tools.
   */
  kdf?: 'argon2' | 'bcrypt';
}

/** `keys export`: encrypt amino(PrivKey) under a passphrase and armor it. */
export function encryptPrivateKeyArmor(privateKey: Uint8Array, passphrase: string, options: EncryptArmorOptions = {}): string {
  const salt = new Uint8Array(randomBytes(16));
  const kdf = options.kdf ?? 'argon2';
  const key = kdf === 'argon2' ? armorArgon2Key(passphrase, salt) : armorBcryptKey(passphrase, salt, ARMOR_BCRYPT_COST);
  const plaintext = concatBytes(AMINO_PRIVKEY_PREFIX, privateKey);
  try {
    let data: Uint8Array;
    if (kdf === 'argon2') {
      // A fixed zero nonce is what the SDK does: the random salt makes every key single-use.
      data = chacha20poly1305(key, new Uint8Array(12)).encrypt(plaintext);
    } else {
      const nonce = new Uint8Array(randomBytes(24));
      data = concatBytes(nonce, xsalsa20poly1305(key, nonce).encrypt(plaintext));
    }
    return encodeArmor({
      blockType: PRIVATE_KEY_BLOCK,
      headers: { kdf, salt: Buffer.from(salt).toString('hex').toUpperCase(), type: 'secp256k1' },
      data,
    });
  } finally {
    wipe(key, plaintext);
  }
}

export interface DecryptArmorOptions {
  /** bcrypt cost for `kdf: bcrypt` armors; production arkeod uses 12. SDK unit-test vectors need 10. */
  bcryptCost?: number;
}

/** `keys import`: returns the 32-byte secp256k1 private key. The caller wipes it. */
export function decryptPrivateKeyArmor(text: string, passphrase: string, source: string, options: DecryptArmorOptions = {}): Uint8Array {
  const armor = decodeArmor(text, source);
  if (armor.blockType !== PRIVATE_KEY_BLOCK) throw new KeyringError('BAD_ARMOR', `${source}: unrecognized armor type: ${armor.blockType}`);
  const kdf = armor.headers['kdf'];
  if (kdf !== 'argon2' && kdf !== 'bcrypt') throw new KeyringError('BAD_ARMOR', `${source}: unrecognized KDF type: ${kdf ?? '(none)'}`);
  const saltHex = armor.headers['salt'];
  if (!saltHex) throw new KeyringError('BAD_ARMOR', `${source}: missing salt bytes`);
  if (!/^([0-9a-fA-F]{2})+$/.test(saltHex)) throw new KeyringError('BAD_ARMOR', `${source}: error decoding salt (not hex)`);
  const type = armor.headers['type'] || 'secp256k1';
  if (type !== 'secp256k1') throw new KeyringError('UNSUPPORTED_KEY_TYPE', `${source}: unsupported key type ${type} (arkeo-signer handles secp256k1 only)`);
  const salt = new Uint8Array(Buffer.from(saltHex, 'hex'));
  // The KDFs refuse such salts with a bare Error; say which header is wrong instead. bcrypt takes exactly 16 bytes
  // (as the SDK's bcrypt does); argon2 at least 8 (the library's floor; arkeod always writes 16).
  if (kdf === 'bcrypt' ? salt.length !== 16 : salt.length < 8) {
    throw new KeyringError('BAD_ARMOR', `${source}: the salt header is ${salt.length} bytes, expected ${kdf === 'bcrypt' ? 'exactly 16' : 'at least 8'} for ${kdf}; the armor is damaged, export the key again`);
  }
  let plaintext: Uint8Array;
  if (kdf === 'argon2') {
    const key = armorArgon2Key(passphrase, salt);
    try {
      plaintext = chacha20poly1305(key, new Uint8Array(12)).decrypt(armor.data);
    } catch {
      throw new KeyringError('WRONG_PASSPHRASE', `${source}: invalid account password (or the armor is corrupt)`);
    } finally {
      wipe(key);
    }
  } else {
    if (armor.data.length < 24 + 16) throw new KeyringError('BAD_ARMOR', `${source}: encrypted key is too short`);
    const key = armorBcryptKey(passphrase, salt, options.bcryptCost ?? ARMOR_BCRYPT_COST);
    try {
      plaintext = xsalsa20poly1305(key, armor.data.subarray(0, 24)).decrypt(armor.data.subarray(24));
    } catch {
      throw new KeyringError('WRONG_PASSPHRASE', `${source}: invalid account password (or the armor is corrupt)`);
    } finally {
      wipe(key);
    }
  }
  try {
    if (plaintext.length !== 37 || !plaintext.subarray(0, 5).every((b, i) => b === AMINO_PRIVKEY_PREFIX[i])) {
      throw new KeyringError('UNSUPPORTED_KEY_TYPE', `${source}: decrypted key is not an amino secp256k1 private key`);
    }
    return plaintext.slice(5);
  } finally {
    wipe(plaintext);
  }
}

/** `ExportPubKeyArmor`: the proto Any of the public key in a TENDERMINT PUBLIC KEY block. */
export function encodePublicKeyArmor(pubKeyAny: Uint8Array): string {
  return encodeArmor({ blockType: PUBLIC_KEY_BLOCK, headers: { type: 'secp256k1', version: '0.0.1' }, data: pubKeyAny });
}
