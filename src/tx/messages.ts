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

export const MsgOpenContractCodec: MessageCodec<MsgOpenContract> = {
  typeUrl: '/arkeo.arkeo.MsgOpenContract',
  encode(m) {
    const w = BinaryWriter.create();
    text(w, 1, m.creator);
    text(w, 2, m.provider);
    text(w, 3, m.service);
    text(w, 4, m.client);
    text(w, 5, m.delegate);
    varint(w, 6, m.contractType);
    varint(w, 7, m.duration);
    w.uint32((8 << 3) | 2).bytes(encodeCoin(m.rate)); // non-nullable: always written
    text(w, 9, m.deposit);
    varint(w, 10, m.settlementDuration);
    varint(w, 11, m.authorization);
    varint(w, 12, m.queriesPerMinute);
    return w.finish();
  },
  decode(bytes) {
    const m: MsgOpenContract = { creator: '', provider: '', service: '', client: '', contractType: 0, duration: 0n, rate: { denom: '', amount: '' }, deposit: '', settlementDuration: 0n, authorization: 0, queriesPerMinute: 0n };
    decodeFields(bytes, this.typeUrl, (field, r) => {
      if (field === 1) m.creator = r.string();
      else if (field === 2) m.provider = r.string();
      else if (field === 3) m.service = r.string();
      else if (field === 4) m.client = r.string();
      else if (field === 5) m.delegate = r.string();
      else if (field === 6) m.contractType = r.int32();
      else if (field === 7) m.duration = r.int64();
      else if (field === 8) m.rate = decodeCoin(r.bytes());
      else if (field === 9) m.deposit = r.string();
      else if (field === 10) m.settlementDuration = r.int64();
      else if (field === 11) m.authorization = r.int32();
      else if (field === 12) m.queriesPerMinute = r.int64();
      else return false;
      return true;
    });
    return m;
  },
};

export const MsgCloseContractCodec: MessageCodec<MsgCloseContract> = {
  typeUrl: '/arkeo.arkeo.MsgCloseContract',
  encode(m) {
    const w = BinaryWriter.create();
    text(w, 1, m.creator);
    varint(w, 2, m.contractId);
    w.uint32((3 << 3) | 2).bytes(ascii(m.client));
    if (m.delegate !== undefined) w.uint32((4 << 3) | 2).bytes(ascii(m.delegate));
    return w.finish();
  },
  decode(bytes) {
    const m: MsgCloseContract = { creator: '', contractId: 0n, client: '' };
    decodeFields(bytes, this.typeUrl, (field, r) => {
      if (field === 1) m.creator = r.string();
      else if (field === 2) m.contractId = r.uint64();
      else if (field === 3) m.client = new TextDecoder().decode(r.bytes());
      else if (field === 4) m.delegate = new TextDecoder().decode(r.bytes());
      else return false;
      return true;
    });
    return m;
  },
};

export const MsgClaimContractIncomeCodec: MessageCodec<MsgClaimContractIncome> = {
  typeUrl: '/arkeo.arkeo.MsgClaimContractIncome',
  encode(m) {
    const w = BinaryWriter.create();
    text(w, 1, m.creator);
    varint(w, 2, m.contractId);
    if (m.signature.length) w.uint32((4 << 3) | 2).bytes(m.signature);
    varint(w, 5, m.nonce);
    return w.finish();
  },
  decode(bytes) {
    const m: MsgClaimContractIncome = { creator: '', contractId: 0n, signature: new Uint8Array(), nonce: 0n };
    decodeFields(bytes, this.typeUrl, (field, r) => {
      if (field === 1) m.creator = r.string();
      else if (field === 2) m.contractId = r.uint64();
      else if (field === 4) m.signature = r.bytes();
      else if (field === 5) m.nonce = r.int64();
      else return false;
      return true;
    });
    return m;
  },
};

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
