import { KeyringError } from '../errors.js';
import { goJsonString } from './gojson.js';

/** 99designs/keyring v1.2.1 `Item`, the plaintext of every keyring file. Label/Description/flags are never set by the SDK. */
export interface Item {
  key: string;
  data: Uint8Array;
}

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** `json.Marshal(keyring.Item)`: Go field order, std base64 with padding, no whitespace. */
export function encodeItem(item: Item): Uint8Array {
  const data = Buffer.from(item.data.buffer, item.data.byteOffset, item.data.byteLength).toString('base64');
  const json =
    `{"Key":${goJsonString(item.key)},"Data":"${data}","Label":"","Description":"",` +
    `"KeychainNotTrustApplication":false,"KeychainNotSynchronizable":false}`;
  return new TextEncoder().encode(json);
}

/** Parse the Item JSON from a decrypted file. `source` names the file for errors. */
export function decodeItem(plaintext: Uint8Array, source: string): Item {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plaintext));
  } catch {
    throw new KeyringError('CORRUPT_ITEM', `${source}: decrypted content is not the keyring Item JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new KeyringError('CORRUPT_ITEM', `${source}: keyring Item is not a JSON object`);
  }
  const { Key, Data } = parsed as { Key?: unknown; Data?: unknown };
  if (typeof Key !== 'string') throw new KeyringError('CORRUPT_ITEM', `${source}: keyring Item has no string "Key"`);
  if (Data === null || Data === undefined) return { key: Key, data: new Uint8Array(0) };
  if (typeof Data !== 'string' || !STRICT_BASE64.test(Data)) {
    throw new KeyringError('CORRUPT_ITEM', `${source}: keyring Item "Data" is not standard base64`);
  }
  return { key: Key, data: new Uint8Array(Buffer.from(Data, 'base64')) };
}
