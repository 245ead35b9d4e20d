import { BinaryReader, BinaryWriter } from 'cosmjs-types/binary';
import { MsgSend } from 'cosmjs-types/cosmos/bank/v1beta1/tx';
import type { Coin } from 'cosmjs-types/cosmos/base/v1beta1/coin';
import { InputError } from '../errors.js';

/**
 * The Arkeo messages (package arkeo.arkeo), written from their field tables: field numbers, wire types, and what
 * is omitted (proto3: a zero, an empty string or empty bytes is not written). Pubkey fields hold the ASCII of the
 * bech32 account pubkey (arkeopub1…), whether the proto type is string (open) or bytes (close). The SDK's own
 * types (MsgSend, the transaction envelope) come from cosmjs-types.
 */
export const ContractType = { SUBSCRIPTION: 0, PAY_AS_YOU_GO: 1 } as const;
export const ContractAuthorization = { STRICT: 0, OPEN: 1 } as const;

export interface MsgOpenContract {
  creator: string;
  provider: string;
  service: string;
  client: string;
  /** '' or absent: none (the chain then stores the client as delegate). */
  delegate?: string;
  contractType: number;
  duration: bigint;
  rate: Coin;
  deposit: string;
  settlementDuration: bigint;
  authorization: number;
  queriesPerMinute: bigint;
}

export interface MsgCloseContract {
  creator: string;
  contractId: bigint;
  client: string;
  /** Written only when given (even '' would be compared with the stored delegate by the chain). */
  delegate?: string;
}

export interface MsgClaimContractIncome {
  creator: string;
  contractId: bigint;
  /** The spender's 64-byte r‖s. Field 3 does not exist. */
  signature: Uint8Array;
  nonce: bigint;
}

const text = (w: BinaryWriter, field: number, value: string | undefined) => value && w.uint32((field << 3) | 2).string(value);
const varint = (w: BinaryWriter, field: number, value: bigint | number) => BigInt(value) !== 0n && w.uint32(field << 3).int64(BigInt(value));
const ascii = (value: string) => new TextEncoder().encode(value);

function encodeCoin(coin: Coin): Uint8Array {
  const w = BinaryWriter.create();
  text(w, 1, coin.denom);
  text(w, 2, coin.amount);
  return w.finish();
}

/** A message codec: its type URL, and its bytes both ways (decode, so that what is asked to sign can be read back). */
export interface MessageCodec<T> {
  typeUrl: string;
  encode(message: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

/** Reads fields in any order; unknown fields are refused, as the chain's strict decoder refuses them. */
function decodeFields(bytes: Uint8Array, typeUrl: string, read: (field: number, r: BinaryReader) => boolean): void {
  const r = new BinaryReader(bytes);
  try {
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (!read(tag >>> 3, r)) throw new InputError('BAD_MESSAGE', `${typeUrl}: unknown field ${tag >>> 3}`);
    }
  } catch (e) {
    if (e instanceof InputError) throw e;
    // The reader's own errors (a length past the end, a bad varint) name no message: say which one, in one line.
    throw new InputError('BAD_MESSAGE', `${typeUrl}: truncated or malformed bytes; expected an encoded ${typeUrl.slice(typeUrl.lastIndexOf('.') + 1)}`);
  }
}

/**
 * How a field is written. Proto3 leaves a zero, an empty string and empty bytes out; `coin` (non-nullable) and
 * `ascii` (MsgCloseContract.client) are always written; `asciiIfSet` (MsgCloseContract.delegate) is written when
 * set at all, even empty, because the chain tells a present empty delegate from an absent one.
 */
type FieldKind = 'string' | 'int32' | 'int64' | 'uint64' | 'coin' | 'bytes' | 'ascii' | 'asciiIfSet';

/** A message's field table: number, name, kind; `optional` fields are absent from a decoded message unless sent. */
type FieldTable<T> = readonly { n: number; name: keyof T & string; kind: FieldKind; optional?: true }[];

const ZERO: Record<FieldKind, () => unknown> = {
  string: () => '',
  int32: () => 0,
  int64: () => 0n,
  uint64: () => 0n,
  coin: () => ({ denom: '', amount: '' }),
  bytes: () => new Uint8Array(),
  ascii: () => '',
  asciiIfSet: () => undefined,
};

function writeField(w: BinaryWriter, n: number, kind: FieldKind, v: unknown): void {
  if (kind === 'string') text(w, n, v as string | undefined);
  else if (kind === 'int32' || kind === 'int64' || kind === 'uint64') varint(w, n, v as bigint | number);
  else if (kind === 'coin') w.uint32((n << 3) | 2).bytes(encodeCoin(v as Coin));
  else if (kind === 'bytes') (v as Uint8Array).length && w.uint32((n << 3) | 2).bytes(v as Uint8Array);
  else if (kind === 'ascii' || v !== undefined) w.uint32((n << 3) | 2).bytes(ascii(v as string));
}

function readField(r: BinaryReader, kind: FieldKind): unknown {
  if (kind === 'string') return r.string();
  if (kind === 'int32') return r.int32();
  if (kind === 'int64') return r.int64();
  if (kind === 'uint64') return r.uint64();
  if (kind === 'coin') return decodeCoin(r.bytes());
  if (kind === 'bytes') return r.bytes();
  return new TextDecoder().decode(r.bytes());
}

/** A codec made from a field table: fields written in ascending order, any order and no unknown field read back. */
function codecOf<T>(typeUrl: string, fields: FieldTable<T>): MessageCodec<T> {
  return {
    typeUrl,
    encode(m) {
      const w = BinaryWriter.create();
      for (const f of fields) writeField(w, f.n, f.kind, m[f.name]);
      return w.finish();
    },
    decode(bytes) {
      const m: Record<string, unknown> = {};
      for (const f of fields) if (!f.optional && f.kind !== 'asciiIfSet') m[f.name] = ZERO[f.kind]();
      decodeFields(bytes, typeUrl, (n, r) => {
        const f = fields.find((x) => x.n === n);
        if (!f) return false;
        m[f.name] = readField(r, f.kind);
        return true;
      });
      return m as T;
    },
  };
}

export const MsgOpenContractCodec = codecOf<MsgOpenContract>('/arkeo.arkeo.MsgOpenContract', [
  { n: 1, name: 'creator', kind: 'string' },
  { n: 2, name: 'provider', kind: 'string' },
  { n: 3, name: 'service', kind: 'string' },
  { n: 4, name: 'client', kind: 'string' },
  { n: 5, name: 'delegate', kind: 'string', optional: true },
  { n: 6, name: 'contractType', kind: 'int32' },
  { n: 7, name: 'duration', kind: 'int64' },
  { n: 8, name: 'rate', kind: 'coin' },
  { n: 9, name: 'deposit', kind: 'string' },
  { n: 10, name: 'settlementDuration', kind: 'int64' },
  { n: 11, name: 'authorization', kind: 'int32' },
  { n: 12, name: 'queriesPerMinute', kind: 'int64' },
]);

export const MsgCloseContractCodec = codecOf<MsgCloseContract>('/arkeo.arkeo.MsgCloseContract', [
  { n: 1, name: 'creator', kind: 'string' },
  { n: 2, name: 'contractId', kind: 'uint64' },
  { n: 3, name: 'client', kind: 'ascii' },
  { n: 4, name: 'delegate', kind: 'asciiIfSet' },
]);

/** No field 3: the chain's message has none. */
export const MsgClaimContractIncomeCodec = codecOf<MsgClaimContractIncome>('/arkeo.arkeo.MsgClaimContractIncome', [
  { n: 1, name: 'creator', kind: 'string' },
  { n: 2, name: 'contractId', kind: 'uint64' },
  { n: 4, name: 'signature', kind: 'bytes' },
  { n: 5, name: 'nonce', kind: 'int64' },
]);

export const MsgSendCodec: MessageCodec<MsgSend> = {
  typeUrl: '/cosmos.bank.v1beta1.MsgSend',
  encode: (m) => MsgSend.encode(m).finish(),
  decode: (bytes) => MsgSend.decode(bytes),
};

function decodeCoin(bytes: Uint8Array): Coin {
  const coin: Coin = { denom: '', amount: '' };
  decodeFields(bytes, '/cosmos.base.v1beta1.Coin', (field, r) => {
    if (field === 1) coin.denom = r.string();
    else if (field === 2) coin.amount = r.string();
    else return false;
    return true;
  });
  return coin;
}

/** Every message this package signs, by type URL: registered once, here. */
export const MESSAGE_CODECS: ReadonlyMap<string, MessageCodec<unknown>> = new Map(
  [MsgOpenContractCodec, MsgCloseContractCodec, MsgClaimContractIncomeCodec, MsgSendCodec].map((c) => [c.typeUrl, c as MessageCodec<unknown>]),
);
