import { PREFIXES, parseBech32PubKey } from '../crypto/address.js';
import { isValidPublicKey, verifySignature } from '../crypto/secp256k1.js';
import { parseHex, utf8 } from '../crypto/bytes.js';
import { ArkeoSignerError, InputError } from '../errors.js';
import { KEYRING_FLAGS, UsageError, exactPositionals, helpRequested, parseFlags, printUsage, commandRunner } from './common.js';
import { openKeyring } from './open-keyring.js';
import { argBytes, readMessageFile } from './io.js';

export const VERIFY_USAGE = `Usage: arkeo-signer verify (--pubkey P | --key NAME [keyring flags]) (--message M | --message-file F) --signature HEX

Check a Cosmos secp256k1 signature (ECDSA over SHA-256 of the message; high-S and any length but 64 bytes are
invalid). P is 66 hex digits, arkeopub1…, base64 of the 33-byte key, or the proto-JSON that
\`arkeo-signer keys show NAME -p\` prints. --message-file - reads stdin.

Prints valid and exits 0, or invalid and exits 1. Bad input exits 2 with one line.
`;

const SECP256K1_PUBKEY_TYPE = '/cosmos.crypto.secp256k1.PubKey';

/** The proto-JSON `{"@type":"/cosmos.crypto.secp256k1.PubKey","key":"<base64>"}` that `keys show -p` prints. */
function parseProtoJsonPubKey(text: string): Uint8Array {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw new InputError('BAD_PUBLIC_KEY', 'public key: looks like JSON but does not parse; pass the output of keys show -p unchanged');
  }
  const { '@type': type, key } = (o ?? {}) as Record<string, unknown>;
  if (type !== SECP256K1_PUBKEY_TYPE) throw new InputError('BAD_PUBLIC_KEY', `public key: JSON "@type" must be ${SECP256K1_PUBKEY_TYPE}`);
  if (typeof key !== 'string' || !/^[A-Za-z0-9+/]{44}$/.test(key)) throw new InputError('BAD_PUBLIC_KEY', 'public key: JSON "key" must be base64 of the 33-byte key');
  const bytes = new Uint8Array(Buffer.from(key, 'base64'));
  if (!isValidPublicKey(bytes)) throw new InputError('BAD_PUBLIC_KEY', 'public key: JSON "key" is not a compressed secp256k1 point');
  return bytes;
}

/**
 * Accepts hex (33 bytes), `arkeopub1…`/`tarkeopub1…`, base64 of the 33 bytes, or the proto-JSON that
 * `keys show -p` prints (so `--pubkey "$(arkeo-signer keys show alice -p)"` works).
 */
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
  if (text.trimStart().startsWith('{')) return parseProtoJsonPubKey(text.trim());
  throw new InputError('BAD_PUBLIC_KEY', 'public key: expected 66 hex digits, arkeopub1…, base64 of the 33-byte key, or the proto-JSON of keys show -p');
}

export async function verifyCommand(args: string[]): Promise<number | void> {
  if (helpRequested(args)) return printUsage(VERIFY_USAGE);
  let publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array;
  try {
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
    publicKey = values.key !== undefined ? await keyPublicKey(values, values.key) : parsePublicKeyArg(values.pubkey!);
    signature = parseHex(values.signature, 'signature', 64);
    message = values.message !== undefined ? argBytes(values.message, '--message') : readMessageFile(values['message-file']!, '--message-file');
  } catch (e) {
    // Exit 1 means "invalid signature" here, so any input that cannot be checked at all exits 2, as documented.
    if (e instanceof ArkeoSignerError && !(e instanceof UsageError)) throw new UsageError(e.message);
    throw e;
  }
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

/** `arkeo-signer verify …`, run by the dispatcher (arkeo-signer.ts). */
export const run = commandRunner(verifyCommand);
