import { KeyringError } from '../errors.js';
import { concatBytes, equalBytes } from '../crypto/bytes.js';
import { isValidPublicKey, publicKeyFromPrivate } from '../crypto/secp256k1.js';
import { ProtoError, lengthDelimited, parseFields, readVarint, varintField, type ProtoField } from './protobuf.js';

/**
 * `cosmos.crypto.keyring.v1.Record` (SDK >= v0.46), with a fallback reader for the legacy amino `LegacyInfo`
 * (SDK <= v0.45) that keyring-format.md §5.1 describes. Writing always produces the proto Record.
 */
export const PUBKEY_TYPE_URL = '/cosmos.crypto.secp256k1.PubKey';
export const PRIVKEY_TYPE_URL = '/cosmos.crypto.secp256k1.PrivKey';

export type RecordType = 'local' | 'ledger' | 'multi' | 'offline';

export interface Bip44Params {
  purpose: number;
  coinType: number;
  account: number;
  change: boolean;
  addressIndex: number;
}

export interface AnyMessage {
  typeUrl: string;
  value: Uint8Array;
}

export interface KeyRecord {
  name: string;
  type: RecordType;
  pubKey: AnyMessage;
  /** The 33-byte key when `pubKey` is a secp256k1 key (always the case for local records). */
  publicKey?: Uint8Array;
  /** Local records only. Callers wipe it when done. */
  privateKey?: Uint8Array;
  ledgerPath?: Bip44Params;
  /** True when the bytes were the legacy amino form. */
  legacy?: boolean;
}

function anyBytes(any: AnyMessage): Uint8Array {
  return concatBytes(lengthDelimited(1, new TextEncoder().encode(any.typeUrl)), lengthDelimited(2, any.value));
}

export function secp256k1PubKeyAny(publicKey33: Uint8Array): AnyMessage {
  return { typeUrl: PUBKEY_TYPE_URL, value: lengthDelimited(1, publicKey33) };
}

function bip44Bytes(p: Bip44Params): Uint8Array {
  // proto3: zero values are omitted.
  const parts: Uint8Array[] = [];
  if (p.purpose) parts.push(varintField(1, p.purpose));
  if (p.coinType) parts.push(varintField(2, p.coinType));
  if (p.account) parts.push(varintField(3, p.account));
  if (p.change) parts.push(varintField(4, 1));
  if (p.addressIndex) parts.push(varintField(5, p.addressIndex));
  return concatBytes(...parts);
}

/** gogoproto.Marshal of a Record: fields in ascending order, proto3 defaults omitted. */
export function encodeRecord(record: KeyRecord): Uint8Array {
  const name = new TextEncoder().encode(record.name);
  const parts = [lengthDelimited(1, name), lengthDelimited(2, anyBytes(record.pubKey))];
  switch (record.type) {
    case 'local': {
      if (!record.privateKey) throw new KeyringError('BAD_RECORD', `key ${record.name}: local record without a private key`);
      const priv: AnyMessage = { typeUrl: PRIVKEY_TYPE_URL, value: lengthDelimited(1, record.privateKey) };
      parts.push(lengthDelimited(3, lengthDelimited(1, anyBytes(priv))));
      break;
    }
    case 'ledger':
      parts.push(lengthDelimited(4, record.ledgerPath ? lengthDelimited(1, bip44Bytes(record.ledgerPath)) : new Uint8Array(0)));
      break;
    case 'multi':
      parts.push(lengthDelimited(5, new Uint8Array(0)));
      break;
    case 'offline':
      parts.push(lengthDelimited(6, new Uint8Array(0)));
      break;
  }
  return concatBytes(...parts);
}

export function newLocalRecord(name: string, privateKey: Uint8Array): KeyRecord {
  const publicKey = publicKeyFromPrivate(privateKey);
  return { name, type: 'local', pubKey: secp256k1PubKeyAny(publicKey), publicKey, privateKey };
}

/** A pubkey-only record (arkeod `keys add NAME --pubkey`): what external keys are, as far as arkeod knows. */
export function newOfflineRecord(name: string, publicKey33: Uint8Array): KeyRecord {
  if (!isValidPublicKey(publicKey33)) throw new KeyringError('BAD_PUBLIC_KEY', `key ${name}: public key is not a 33-byte compressed secp256k1 point`);
  return { name, type: 'offline', pubKey: secp256k1PubKeyAny(publicKey33), publicKey: Uint8Array.from(publicKey33) };
}

// ---------------------------------------------------------------------------------------------- proto reading

function single(fields: ProtoField[], field: number, what: string): Uint8Array | undefined {
  const found = fields.filter((f) => f.field === field);
  if (found.length === 0) return undefined;
  const last = found[found.length - 1]!;
  if (last.wireType !== 2 || !last.bytes) throw new ProtoError(`${what} has the wrong wire type`);
  return last.bytes;
}

function parseAny(bytes: Uint8Array, what: string): AnyMessage {
  const fields = parseFields(bytes);
  const typeUrl = single(fields, 1, `${what}.type_url`);
  if (!typeUrl) throw new ProtoError(`${what} has no type_url`);
  // Copied: the source buffer is decrypted plaintext that the caller wipes.
  return { typeUrl: new TextDecoder('utf-8', { fatal: true }).decode(typeUrl), value: (single(fields, 2, `${what}.value`) ?? new Uint8Array(0)).slice() };
}

function keyBytesOf(any: AnyMessage, expectedLen: number, what: string): Uint8Array {
  const key = single(parseFields(any.value), 1, `${what}.key`);
  if (!key || key.length !== expectedLen) throw new ProtoError(`${what}: expected a ${expectedLen}-byte key, got ${key?.length ?? 0}`);
  return key;
}

function parseBip44(bytes: Uint8Array): Bip44Params {
  const p: Bip44Params = { purpose: 0, coinType: 0, account: 0, change: false, addressIndex: 0 };
  for (const f of parseFields(bytes)) {
    if (f.wireType !== 0 || f.varint === undefined) continue;
    const v = Number(f.varint & 0xffffffffn);
    if (f.field === 1) p.purpose = v;
    else if (f.field === 2) p.coinType = v;
    else if (f.field === 3) p.account = v;
    else if (f.field === 4) p.change = v !== 0;
    else if (f.field === 5) p.addressIndex = v;
  }
  return p;
}

function parseProtoRecord(bytes: Uint8Array): KeyRecord {
  const fields = parseFields(bytes);
  const nameBytes = single(fields, 1, 'name');
  const pubBytes = single(fields, 2, 'pub_key');
  if (!nameBytes || !pubBytes) throw new ProtoError('name or pub_key missing');
  const items = fields.filter((f) => f.field >= 3 && f.field <= 6);
  if (items.length !== 1) throw new ProtoError(`expected exactly one of local/ledger/multi/offline, found ${items.length}`);
  const item = items[0]!;
  if (item.wireType !== 2 || !item.bytes) throw new ProtoError('record item has the wrong wire type');
  const name = new TextDecoder('utf-8', { fatal: true }).decode(nameBytes);
  const pubKey = parseAny(pubBytes, 'pub_key');
  const record: KeyRecord = { name, type: 'offline', pubKey };
  if (pubKey.typeUrl === PUBKEY_TYPE_URL) {
    record.publicKey = keyBytesOf(pubKey, 33, 'pub_key').slice();
  } else if (item.field === 3) {
    throw new KeyringError('UNSUPPORTED_KEY_TYPE', `unsupported public key type ${pubKey.typeUrl} (arkeo-signer handles secp256k1 only)`);
  }
  switch (item.field) {
    case 3: {
      record.type = 'local';
      const privAnyBytes = single(parseFields(item.bytes), 1, 'local.priv_key');
      if (!privAnyBytes) throw new ProtoError('local record without priv_key');
      const privAny = parseAny(privAnyBytes, 'priv_key');
      if (privAny.typeUrl !== PRIVKEY_TYPE_URL) {
        throw new KeyringError('UNSUPPORTED_KEY_TYPE', `unsupported private key type ${privAny.typeUrl} (arkeo-signer handles secp256k1 only)`);
      }
      record.privateKey = keyBytesOf(privAny, 32, 'priv_key').slice();
      break;
    }
    case 4: {
      record.type = 'ledger';
      const path = single(parseFields(item.bytes), 1, 'ledger.path');
      if (path) record.ledgerPath = parseBip44(path);
      break;
    }
    case 5:
      record.type = 'multi';
      break;
    case 6:
      record.type = 'offline';
      break;
  }
  return record;
}

// ---------------------------------------------------------------------------------------------- amino reading

const AMINO = {
  localInfo: '0dad153d',
  ledgerInfo: 'a08cb0fb',
  offlineInfo: '1f4d3ed6',
  multiInfo: '34878fb8',
  pubKeySecp256k1: 'eb5ae987',
  privKeySecp256k1: 'e1b0f79b',
} as const;

function isAminoLegacy(bytes: Uint8Array): boolean {
  try {
    const [len, at] = readVarint(bytes, 0);
    if (len !== BigInt(bytes.length - at) || len < 4n) return false;
    const prefix = Buffer.from(bytes.subarray(at, at + 4)).toString('hex');
    return [AMINO.localInfo, AMINO.ledgerInfo, AMINO.offlineInfo, AMINO.multiInfo].includes(prefix as never);
  } catch {
    return false;
  }
}

function aminoKey(bytes: Uint8Array | undefined, prefix: string, len: number, what: string): Uint8Array {
  if (!bytes || bytes.length !== 5 + len || Buffer.from(bytes.subarray(0, 4)).toString('hex') !== prefix || bytes[4] !== len) {
    throw new ProtoError(`legacy ${what}: expected amino ${prefix} + ${len}-byte key`);
  }
  return bytes.slice(5);
}

function parseAminoRecord(bytes: Uint8Array): KeyRecord {
  const [, at] = readVarint(bytes, 0);
  const prefix = Buffer.from(bytes.subarray(at, at + 4)).toString('hex');
  const fields = parseFields(bytes.subarray(at + 4));
  const nameBytes = single(fields, 1, 'legacy name');
  if (!nameBytes) throw new ProtoError('legacy record without a name');
  const name = new TextDecoder('utf-8', { fatal: true }).decode(nameBytes);
  if (prefix === AMINO.multiInfo) {
    throw new KeyringError('UNSUPPORTED_RECORD', `legacy multisig record "${name}" is not supported; re-create it with arkeod`);
  }
  const publicKey = aminoKey(single(fields, 2, 'legacy pubkey'), AMINO.pubKeySecp256k1, 33, 'pubkey');
  const record: KeyRecord = { name, type: 'offline', pubKey: secp256k1PubKeyAny(publicKey), publicKey, legacy: true };
  if (prefix === AMINO.localInfo) {
    record.type = 'local';
    record.privateKey = aminoKey(single(fields, 3, 'legacy privkey'), AMINO.privKeySecp256k1, 32, 'privkey');
  } else if (prefix === AMINO.ledgerInfo) {
    record.type = 'ledger';
    const path = single(fields, 3, 'legacy path');
    if (path) record.ledgerPath = parseBip44(path);
  }
  return record;
}

/**
 * Decode `<name>.info` data: proto Record first (strictly), then the legacy amino form, as the SDK's
 * migrate-on-read does. `source` names the file for errors. Local records are checked: the stored public
 * key must be the one the private key gives.
 */
export function decodeRecord(bytes: Uint8Array, source: string): KeyRecord {
  let record: KeyRecord;
  try {
    record = isAminoLegacy(bytes) ? parseAminoRecord(bytes) : parseProtoRecord(bytes);
  } catch (e) {
    if (e instanceof KeyringError) throw new KeyringError(e.code, `${source}: ${e.message}`);
    throw new KeyringError('CORRUPT_RECORD', `${source}: not a keyring record (${(e as Error).message})`);
  }
  if (record.publicKey && !isValidPublicKey(record.publicKey)) {
    throw new KeyringError('CORRUPT_RECORD', `${source}: public key is not a valid secp256k1 point`);
  }
  if (record.type === 'local') {
    let derived: Uint8Array;
    try {
      derived = publicKeyFromPrivate(record.privateKey!);
    } catch {
      throw new KeyringError('CORRUPT_RECORD', `${source}: private key is not a valid secp256k1 scalar`);
    }
    if (!equalBytes(derived, record.publicKey!)) throw new KeyringError('CORRUPT_RECORD', `${source}: stored public key does not match the private key`);
  }
  return record;
}

// ---------------------------------------------------------------------------------------------- proto JSON

export const MULTISIG_TYPE_URL = '/cosmos.crypto.multisig.LegacyAminoPubKey';
/** Public keys whose proto message is `{ bytes key = 1; }`: jsonpb prints the key as standard base64. */
const KEY_BYTES_TYPES = new Set([PUBKEY_TYPE_URL, '/cosmos.crypto.ed25519.PubKey']);

/**
 * The public key Any as cosmos-sdk `codec.ProtoMarshalJSON` prints it (gogoproto jsonpb, OrigName and
 * EmitDefaults): what `keys show/list` put, as a string, in `pubkey`. A multisig key prints its threshold and
 * its keys, in the order stored: `{"@type":"/cosmos.crypto.multisig.LegacyAminoPubKey","threshold":2,"public_keys":[…]}`.
 */
export function pubKeyProtoJson(any: AnyMessage): string {
  const type = JSON.stringify(any.typeUrl);
  if (KEY_BYTES_TYPES.has(any.typeUrl)) {
    const key = single(parseFields(any.value), 1, `${any.typeUrl}.key`) ?? new Uint8Array(0);
    return `{"@type":${type},"key":"${Buffer.from(key).toString('base64')}"}`;
  }
  if (any.typeUrl === MULTISIG_TYPE_URL) {
    let threshold = 0n;
    const keys: string[] = [];
    for (const f of parseFields(any.value)) {
      if (f.field === 1 && f.wireType === 0) threshold = f.varint! & 0xffffffffn; // uint32
      else if (f.field === 2 && f.wireType === 2) keys.push(pubKeyProtoJson(parseAny(f.bytes!, 'public_keys')));
    }
    return `{"@type":${type},"threshold":${threshold},"public_keys":[${keys.join(',')}]}`;
  }
  // Any other type: arkeod's registry has no such key and cannot print it at all; we name the type.
  return `{"@type":${type}}`;
}
