import { PREFIXES, parseBech32PubKey } from '../crypto/address.js';
import { isValidPublicKey } from '../crypto/secp256k1.js';
import { parseHex } from '../crypto/bytes.js';
import { InputError } from '../errors.js';

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
