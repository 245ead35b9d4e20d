import * as fs from 'node:fs';
import { PREFIXES, isValidPublicKey, parseBech32PubKey, parseHex, utf8, verifySignature } from '../crypto/index.js';
import { InputError } from '../errors.js';
import { UsageError, exactPositionals, parseFlags } from './common.js';

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
    pubkey: { type: 'string' },
    message: { type: 'string', short: 'm' },
    'message-file': { type: 'string' },
    signature: { type: 'string', short: 's' },
  });
  exactPositionals(positionals, [], 'verify');
  if (!values.pubkey || !values.signature) throw new UsageError('verify: --pubkey and --signature are required');
  if ((values.message === undefined) === (values['message-file'] === undefined)) throw new UsageError('verify: give exactly one of --message or --message-file');
  const publicKey = parsePublicKeyArg(values.pubkey);
  const signature = parseHex(values.signature, 'signature', 64);
  const message = values.message !== undefined ? utf8(values.message) : new Uint8Array(fs.readFileSync(values['message-file']!));
  const ok = verifySignature(publicKey, message, signature);
  process.stdout.write(ok ? 'valid\n' : 'invalid\n');
  return ok ? 0 : 1;
}
