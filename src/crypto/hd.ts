import { generateMnemonic as scureGenerate, validateMnemonic } from '@scure/bip39';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import { HDKey } from '@scure/bip32';
import { pbkdf2 } from '@noble/hashes/pbkdf2.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { InputError } from '../errors.js';
import { utf8, wipe } from './bytes.js';

/** Cosmos default: coin type 118, account 0, change 0, index 0. arkeod never changes the coin type. */
export const DEFAULT_HD_PATH = "m/44'/118'/0'/0/0";
export const COSMOS_COIN_TYPE = 118;

export interface DeriveOptions {
  hdPath?: string;
  bip39Passphrase?: string;
}

/** `hd.CreateHDPath(coin, account, index)`: m/44'/<coin>'/<account>'/0/<index>. */
export function hdPathFor(account = 0, index = 0, coinType = COSMOS_COIN_TYPE): string {
  for (const [what, v] of [['account', account], ['index', index], ['coin type', coinType]] as const) {
    if (!Number.isInteger(v) || v < 0 || v >= 2 ** 31) throw new InputError('BAD_HD_PATH', `${what}: expected an integer from 0 to 2147483647`);
  }
  return `m/44'/${coinType}'/${account}'/0/${index}`;
}

const PATH_RE = /^m(\/\d{1,10}'?)*$/;

export function validateHdPath(hdPath: string): void {
  if (!PATH_RE.test(hdPath)) throw new InputError('BAD_HD_PATH', `hd path: expected the form m/44'/118'/0'/0/0`);
  for (const part of hdPath.split('/').slice(1)) {
    if (Number(part.replace("'", '')) >= 2 ** 31) throw new InputError('BAD_HD_PATH', `hd path: component ${part} is out of range`);
  }
}

/** 24 words from 256 bits of entropy, as `arkeod keys add` creates. */
export function generateMnemonic(): string {
  return scureGenerate(wordlist, 256);
}

/**
 * Validate as go-bip39 `IsMnemonicValid` does: words split on white space, English list, checksum.
 * Throws InputError naming the problem (never echoing the words).
 */
export function checkMnemonic(mnemonic: string): void {
  const words = mnemonic.trim().split(/\s+/);
  if (![12, 15, 18, 21, 24].includes(words.length)) {
    throw new InputError('BAD_MNEMONIC', `mnemonic: expected 12, 15, 18, 21 or 24 words, got ${words.length}`);
  }
  const unknown = words.findIndex((w) => !wordlist.includes(w));
  if (unknown >= 0) throw new InputError('BAD_MNEMONIC', `mnemonic: word ${unknown + 1} is not in the BIP39 English word list`);
  if (!validateMnemonic(words.join(' '), wordlist)) throw new InputError('BAD_MNEMONIC', 'mnemonic: checksum does not match (a word is wrong or out of order)');
}

/**
 * BIP39 seed exactly as cosmos/go-bip39 `NewSeed`: PBKDF2-HMAC-SHA512(mnemonic, "mnemonic" + passphrase, 2048).
 * Unlike @scure/bip39 this does not NFKD-normalise, so a non-ASCII passphrase gives the key Go gives.
 */
export function mnemonicToSeed(mnemonic: string, bip39Passphrase = ''): Uint8Array {
  return pbkdf2(sha512, utf8(mnemonic), utf8('mnemonic' + bip39Passphrase), { c: 2048, dkLen: 64 });
}

/** The 32-byte private key at `hdPath` (default m/44'/118'/0'/0/0). The caller wipes it when done. */
export function deriveKey(mnemonic: string, options: DeriveOptions = {}): Uint8Array {
  const hdPath = options.hdPath ?? DEFAULT_HD_PATH;
  validateHdPath(hdPath);
  const phrase = mnemonic.trim();
  checkMnemonic(phrase);
  const seed = mnemonicToSeed(phrase, options.bip39Passphrase ?? '');
  try {
    const node = HDKey.fromMasterSeed(seed).derive(hdPath);
    const key = node.privateKey;
    if (!key) throw new InputError('BAD_HD_PATH', 'hd path: derivation gave no private key');
    const out = Uint8Array.from(key);
    node.wipePrivateData();
    return out;
  } finally {
    wipe(seed);
  }
}
