import { bech32 } from '@scure/base';
import { ripemd160 } from '@noble/hashes/legacy.js';
import { InputError } from '../errors.js';
import { concatBytes, equalBytes } from './bytes.js';
import { isValidPublicKey, sha256 } from './secp256k1.js';

/** Amino prefix of `tendermint/PubKeySecp256k1` plus the length byte 0x21: the bytes inside `arkeopub1addwnpep…`. */
const AMINO_SECP256K1_PUBKEY_PREFIX = Uint8Array.of(0xeb, 0x5a, 0xe9, 0x87, 0x21);

/** Bech32 prefixes from arkeo app/app.go (mainnet; `testnet`/`regtest` builds use `tarkeo`). */
export const PREFIXES = {
  account: 'arkeo',
  accountPub: 'arkeopub',
  validator: 'arkeovaloper',
  validatorPub: 'arkeovaloperpub',
  consensus: 'arkeovalcons',
  consensusPub: 'arkeovalconspub',
} as const;

// Bech32 strings here are short; 90 is BIP-173's limit and keeps hostile input bounded.
const BECH32_LIMIT = 90;

/** RIPEMD160(SHA256(compressed public key)): the 20-byte Cosmos account address. */
export function addressBytes(publicKey33: Uint8Array): Uint8Array {
  return ripemd160(sha256(publicKey33));
}

export function toAddress(publicKeyOrAddress: Uint8Array, prefix: string = PREFIXES.account): string {
  const raw = publicKeyOrAddress.length === 20 ? publicKeyOrAddress : addressBytes(publicKeyOrAddress);
  return bech32.encode(prefix, bech32.toWords(raw), BECH32_LIMIT);
}

/** The legacy amino bech32 public key (`arkeopub1addwnpep…`) that `arkauth` and the chain expect. */
export function toBech32PubKey(publicKey33: Uint8Array, prefix: string = PREFIXES.accountPub): string {
  if (!isValidPublicKey(publicKey33)) throw new InputError('BAD_PUBLIC_KEY', 'public key: expected a 33-byte compressed secp256k1 point');
  return bech32.encode(prefix, bech32.toWords(concatBytes(AMINO_SECP256K1_PUBKEY_PREFIX, publicKey33)), BECH32_LIMIT);
}

function decodeBech32(text: string, expectedPrefix: string, what: string): Uint8Array {
  if (text.length > BECH32_LIMIT) throw new InputError('BAD_BECH32', `${what}: longer than ${BECH32_LIMIT} characters`);
  let decoded;
  try {
    decoded = bech32.decode(text as `${string}1${string}`, BECH32_LIMIT);
  } catch (e) {
    throw new InputError('BAD_BECH32', `${what}: not valid bech32 (${(e as Error).message})`);
  }
  if (decoded.prefix !== expectedPrefix) {
    throw new InputError('BAD_BECH32_PREFIX', `${what}: invalid Bech32 prefix; expected ${expectedPrefix}, got ${decoded.prefix}`);
  }
  try {
    return bech32.fromWords(decoded.words);
  } catch (e) {
    throw new InputError('BAD_BECH32', `${what}: bad bech32 payload (${(e as Error).message})`);
  }
}

/** Parse `arkeo1…` into its 20 bytes. */
export function parseAddress(text: string, prefix: string = PREFIXES.account): Uint8Array {
  const raw = decodeBech32(text, prefix, 'address');
  if (raw.length !== 20) throw new InputError('BAD_ADDRESS', `address: expected 20 bytes, got ${raw.length}`);
  return raw;
}

/** Parse `arkeopub1addwnpep…` into the 33-byte compressed key, checking the amino prefix and the point. */
export function parseBech32PubKey(text: string, prefix: string = PREFIXES.accountPub): Uint8Array {
  const raw = decodeBech32(text, prefix, 'public key');
  if (raw.length !== 38 || !equalBytes(raw.subarray(0, 5), AMINO_SECP256K1_PUBKEY_PREFIX)) {
    throw new InputError('BAD_PUBLIC_KEY', 'public key: not an amino secp256k1 public key (expected eb5ae98721 + 33 bytes)');
  }
  const key = raw.slice(5);
  if (!isValidPublicKey(key)) throw new InputError('BAD_PUBLIC_KEY', 'public key: not a point on secp256k1');
  return key;
}
