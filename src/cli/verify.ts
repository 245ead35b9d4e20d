import * as fs from 'node:fs';
import { PREFIXES, isValidPublicKey, parseBech32PubKey, parseHex, utf8, verifySignature } from '../crypto/index.js';
import { InputError } from '../errors.js';
import { KEYRING_FLAGS, UsageError, exactPositionals, openKeyring, parseFlags } from './common.js';

/** Accepts hex (33 bytes), `arkeopub1…`/`tarkeopub1…`, or base64 of the 33 bytes (what `keys show -p` prints). */
export function parsePublicKeyArg(text: string): Uint8Array {
  if (/^t?arkeopub1/.test(text)) return parseBech32PubKey(text, text.startsWith('t') ? 'tarkeopub' : PREFIXES.accountPub);
  if (/^(0x)?[0-9a-fA-F]{66}$/.test(text)) {
    const key = parseHex(text, 'public key', 33);
    if (!isValidPublicKey(key)) throw new InputError('BAD_PUBLIC_KEY', 'public key: not a compressed secp256k1 point');
    return key;
  }
  if (/^[A-Za-z0-9+/]{44}$/.test(text)) {
    const key = new Uint8Array(Buffer.from(text, 'base64'));
    if (isValidPublicKey(key)) return key;
  }
  throw new InputError('BAD_PUBLIC_KEY', 'public key: expected 66 hex digits, arkeopub1…, or base64 of the 33-byte key');
}

export async function verifyCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    ...KEYRING_FLAGS,
    key: { type: 'string' },
    pubkey: { type: 'string' },
    message: { type: 'string', short: 'm' },
    'message-file': { type: 'string' },
    signature: { type: 'string', short: 's' },
  });
  exactPositionals(positionals, [], 'verify');
  if ((values.pubkey === undefined) === (values.key === undefined) || !values.signature) throw new UsageError('verify: --signature and one of --pubkey or --key NAME (any key kind in the keyring) are required');
  if ((values.message === undefined) === (values['message-file'] === undefined)) throw new UsageError('verify: give exactly one of --message or --message-file');
  const publicKey = values.key !== undefined ? await keyPublicKey(values, values.key) : parsePublicKeyArg(values.pubkey!);
  const signature = parseHex(values.signature, 'signature', 64);
  const message = values.message !== undefined ? utf8(values.message) : new Uint8Array(fs.readFileSync(values['message-file']!));
  const ok = verifySignature(publicKey, message, signature);
  process.stdout.write(ok ? 'valid\n' : 'invalid\n');
  return ok ? 0 : 1;
}

/** The public key of a keyring entry of any kind (local, offline, pkcs11, …): no private half is touched. */
async function keyPublicKey(flags: Parameters<typeof openKeyring>[0], name: string): Promise<Uint8Array> {
  const info = await openKeyring(flags).get(name);
  if (!info.publicKey) throw new InputError('BAD_PUBLIC_KEY', `${name}: not a secp256k1 key`);
  return info.publicKey;
}
