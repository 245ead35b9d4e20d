import type { Any } from 'cosmjs-types/google/protobuf/any';
import type { Coin } from 'cosmjs-types/cosmos/base/v1beta1/coin';
import { PubKey } from 'cosmjs-types/cosmos/crypto/secp256k1/keys';
import { SignMode } from 'cosmjs-types/cosmos/tx/signing/v1beta1/signing';
import { AuthInfo, SignDoc, TxBody, TxRaw } from 'cosmjs-types/cosmos/tx/v1beta1/tx';
import { InputError, type ErrorContext } from '../errors.js';
import { equalBytes } from '../crypto/bytes.js';
import { sha256Hex } from '../crypto/secp256k1.js';
import { HttpError } from '../http.js';
import { ContractAuthorization, ContractType, MESSAGE_CODECS, MsgClaimContractIncomeCodec, MsgCloseContractCodec, MsgOpenContractCodec, MsgSendCodec, txHashOf } from '../tx/index.js';
import { TX_DENOM, type TxPolicy } from './tokens.js';

/**
 * What the daemon checks before it signs a transaction: it reads the SignDoc it is asked to sign (every byte of
 * it: bytes that do not read back the same are refused, so what was checked is what is signed), then holds each
 * message, the signer, the fee and the amounts against the token's tx policy. The audit entry records what was read.
 */

/** A SignDoc of a few messages is a few hundred bytes; 32 KiB leaves room for batches of claims. */
export const MAX_SIGN_DOC_BYTES = 32 * 1024;

/** One message as read: who signs it, the contract it names, what it takes out of the signer's account. */
interface ReadMessage {
  typeUrl: string;
  /** False for a type the daemon cannot read (not in src/tx MESSAGE_CODECS). */
  readable: boolean;
  signer?: string;
  contract?: bigint;
  /** A send's amount, an open's deposit (in its rate's denomination). */
  moves: { denom: string; amount: bigint }[];
  /** Its salient fields in one line, for the audit log. */
  summary: string;
}

/** A transaction read from the SignDoc bytes a client asked the daemon to sign. */
export interface ReadTx {
  signDoc: Uint8Array;
  doc: SignDoc;
  body: TxBody;
  authInfo: AuthInfo;
  messages: ReadMessage[];
  fee: { denom: string; amount: bigint }[];
}

/** The key a transaction is checked against. */
export interface TxKey {
  name: string;
  address: string;
  publicKey: Uint8Array;
  /** Served as a claim delegate (keyring.delegates_only): it signs no transaction. */
  delegateOnly: boolean;
}

const bad = (why: string): never => {
  throw new HttpError(400, 'BAD_FIELD', `sign_doc: ${why}`);
};

/** A coin amount (sdk Int): a canonical decimal string, as the chain writes it. */
const AMOUNT = /^(0|[1-9][0-9]{0,77})$/;

/** A value a client sent, echoed only when it is short and printable (it could hold anything). */
function shown(text: string): string {
  return /^[\x21-\x7e]{1,128}$/.test(text) ? text : '(not printable, or over 128 characters)';
}

function amountOf(text: string, where: string): bigint {
  if (!AMOUNT.test(text)) bad(`${where}: amount "${shown(text)}" is not a decimal amount`);
  return BigInt(text);
}

const coins = (list: Coin[]) => list.map((c) => `${c.amount}${c.denom}`).join(',') || '0';
const nameOf = (table: Record<string, number>, v: number) => Object.keys(table).find((k) => table[k] === v) ?? String(v);

interface Proto<T> {
  decode(bytes: Uint8Array): T;
  encode(message: T): { finish(): Uint8Array };
}

/**
 * Decodes and encodes again: the bytes must come back unchanged. cosmjs-types skips unknown fields when it
 * decodes, so without this a field the daemon never saw (or a value written twice) could ride along in what it signs.
 */
function readExactly<T>(proto: Proto<T>, bytes: Uint8Array, what: string): T {
  let value: T;
  try {
    value = proto.decode(bytes);
  } catch {
    return bad(`${what}: truncated or malformed protobuf; expected the SignDoc bytes of a SIGN_MODE_DIRECT transaction`);
  }
  if (!equalBytes(proto.encode(value).finish(), bytes)) bad(`${what}: not in canonical encoding (an unknown field, fields out of order, or a zero value written); the daemon signs only bytes it reads back unchanged`);
  return value;
}

/** The `sign_doc` field: base64 of the SignDoc bytes, read whole. Anything malformed is a 400 naming the part. */
export function readSignDoc(field: unknown): ReadTx {
  if (typeof field !== 'string' || field.length === 0) bad('expected the SignDoc bytes as base64');
  const text = field as string;
  const tooLarge = `more than ${MAX_SIGN_DOC_BYTES} bytes; a transaction of a few messages is far smaller`;
  if (text.length > Math.ceil(MAX_SIGN_DOC_BYTES / 3) * 4) bad(tooLarge);
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) bad('not base64 (standard alphabet, with padding)');
  const signDoc = new Uint8Array(Buffer.from(text, 'base64'));
  if (signDoc.length > MAX_SIGN_DOC_BYTES) bad(tooLarge);
  // Node ignores stray bits after the last byte: such text is not the base64 of these bytes.
  if (Buffer.from(signDoc).toString('base64') !== text) bad('not canonical base64');
  const doc = readExactly(SignDoc, signDoc, 'SignDoc');
  const body = readExactly(TxBody, doc.bodyBytes, 'body_bytes');
  const authInfo = readExactly(AuthInfo, doc.authInfoBytes, 'auth_info_bytes');
  if (body.messages.length === 0) bad('the body holds no message');
  const fee = (authInfo.fee?.amount ?? []).map((c) => ({ denom: c.denom, amount: amountOf(c.amount, 'fee') }));
  return { signDoc, doc, body, authInfo, messages: body.messages.map(readMessage), fee };
}

function readMessage(any: Any, i: number): ReadMessage {
  const where = `message ${i}`;
  const codec = MESSAGE_CODECS.get(any.typeUrl);
  if (!codec) return { typeUrl: any.typeUrl, readable: false, moves: [], summary: `${shown(any.typeUrl)} (not read)` };
  let value: unknown;
  try {
    value = codec.decode(any.value);
  } catch (e) {
    // The Arkeo codecs say what is wrong in one line; cosmjs-types (MsgSend) throws the reader's own error.
    bad(`${where}: ${e instanceof InputError ? e.message : `${any.typeUrl}: truncated or malformed bytes`}`);
  }
  if (!equalBytes(codec.encode(value), any.value)) bad(`${where}: ${any.typeUrl}: not in canonical encoding (a zero value written, or fields out of order)`);
  const read = (signer: string, moves: ReadMessage['moves'], summary: string, contract?: bigint): ReadMessage => ({ typeUrl: any.typeUrl, readable: true, signer, ...(contract !== undefined ? { contract } : {}), moves, summary });
  switch (any.typeUrl) {
    case MsgSendCodec.typeUrl: {
      const m = value as ReturnType<typeof MsgSendCodec.decode>;
      return read(m.fromAddress, m.amount.map((c) => ({ denom: c.denom, amount: amountOf(c.amount, where) })), `MsgSend from=${shown(m.fromAddress)} to=${shown(m.toAddress)} amount=${coins(m.amount)}`);
    }
    case MsgOpenContractCodec.typeUrl: {
      const m = value as ReturnType<typeof MsgOpenContractCodec.decode>;
      const deposit = amountOf(m.deposit || '0', where);
      return read(
        m.creator,
        [{ denom: m.rate.denom, amount: deposit }],
        `MsgOpenContract creator=${shown(m.creator)} provider=${shown(m.provider)} service=${shown(m.service)} client=${shown(m.client)}` +
          `${m.delegate ? ` delegate=${shown(m.delegate)}` : ''} type=${nameOf(ContractType, m.contractType)} duration=${m.duration} rate=${coins([m.rate])}` +
          ` deposit=${deposit}${m.rate.denom} settlement_duration=${m.settlementDuration} authorization=${nameOf(ContractAuthorization, m.authorization)} qpm=${m.queriesPerMinute}`,
      );
    }
    case MsgCloseContractCodec.typeUrl: {
      const m = value as ReturnType<typeof MsgCloseContractCodec.decode>;
      return read(m.creator, [], `MsgCloseContract creator=${shown(m.creator)} contract=${m.contractId} client=${shown(m.client)}${m.delegate !== undefined ? ` delegate=${shown(m.delegate)}` : ''}`, m.contractId);
    }
    case MsgClaimContractIncomeCodec.typeUrl: {
      const m = value as ReturnType<typeof MsgClaimContractIncomeCodec.decode>;
      return read(m.creator, [], `MsgClaimContractIncome creator=${shown(m.creator)} contract=${m.contractId} nonce=${m.nonce}`, m.contractId);
    }
    default:
      // A codec registered in src/tx without a reading here: refused by checkTx, never signed unread.
      return { typeUrl: any.typeUrl, readable: false, moves: [], summary: `${shown(any.typeUrl)} (not read)` };
  }
}

/**
 * What the audit entry records of a transaction, signed or refused: its messages' salient fields, the fee, the
 * account's number and sequence, the chain, and the SHA-256 of the SignDoc (msg_sha256, as for every operation:
 * what the key signs). Identifiers and amounts only: never a key or a token.
 */
export function txFields(tx: ReadTx): ErrorContext {
  const contracts = [...new Set(tx.messages.filter((m) => m.contract !== undefined).map((m) => String(m.contract)))];
  const fee = tx.authInfo.fee;
  const sequence = tx.authInfo.signerInfos.length === 1 ? String(tx.authInfo.signerInfos[0]!.sequence) : undefined;
  return {
    messages: tx.messages.map((m) => m.summary).join('; '),
    ...(contracts.length ? { contract: contracts.join(',') } : {}),
    fee: coins(fee?.amount ?? []),
    gas_limit: String(fee?.gasLimit ?? 0n),
    chain_id: shown(tx.doc.chainId),
    account_number: String(tx.doc.accountNumber),
    ...(sequence !== undefined ? { sequence } : {}),
    ...(tx.body.memo ? { memo: tx.body.memo.slice(0, 256) } : {}),
    ...(tx.body.timeoutHeight ? { timeout_height: String(tx.body.timeoutHeight) } : {}),
    msg_sha256: sha256Hex(tx.signDoc),
  };
}

/** The hash the chain will give the transaction once signed: SHA-256 of TxRaw{body, auth info, [signature]}. */
export function txHashWith(tx: ReadTx, signature: Uint8Array): string {
  return txHashOf(TxRaw.encode({ bodyBytes: tx.doc.bodyBytes, authInfoBytes: tx.doc.authInfoBytes, signatures: [signature] }).finish());
}

const PUBKEY_TYPE = '/cosmos.crypto.secp256k1.PubKey';

/**
 * Holds the transaction against the token's tx policy and the key; a refusal is a 403 DENIED that says which rule
 * and carries `context` (and the contract, when the rule is about one) for its audit entry.
 */
export function checkTx(tx: ReadTx, policy: TxPolicy, key: TxKey, token: string, context: ErrorContext): void {
  const denied = (why: string, more: ErrorContext = {}): never => {
    throw new HttpError(403, 'DENIED', why).about({ ...context, ...more });
  };
  // Whatever the token allows: a delegate host signs claims and nothing else (as for raw messages).
  if (key.delegateOnly) denied(`key ${key.name} is served as a claim delegate (keyring.delegates_only): it signs claims only, never transactions`);
  tx.messages.forEach((m, i) => {
    if (!policy.messages.includes(m.typeUrl)) denied(`message ${i}: ${shown(m.typeUrl)} is not among the messages token ${token} may sign (${policy.messages.join(', ')})`);
    if (!m.readable) denied(`message ${i}: ${shown(m.typeUrl)} is not a message the daemon can read`);
    if (m.signer !== key.address) denied(`message ${i}: its signer ${shown(m.signer ?? '')} is not key ${key.name}'s address ${key.address}`);
  });
  const signers = tx.authInfo.signerInfos;
  if (signers.length !== 1) denied(`auth_info: ${signers.length} signers; the daemon signs transactions with exactly one, key ${key.name}`);
  const only = signers[0]!;
  let pub: Uint8Array | undefined;
  if (only.publicKey?.typeUrl === PUBKEY_TYPE) {
    try {
      pub = PubKey.decode(only.publicKey.value).key;
    } catch {
      pub = undefined;
    }
  }
  if (!pub || !equalBytes(pub, key.publicKey)) denied(`auth_info: the signer's public key is not key ${key.name}'s (a ${PUBKEY_TYPE} of its 33 bytes)`);
  if (only.modeInfo?.single?.mode !== SignMode.SIGN_MODE_DIRECT) denied('auth_info: the signer\'s mode is not SIGN_MODE_DIRECT, the only one the daemon signs');
  if (tx.body.extensionOptions.length || tx.body.nonCriticalExtensionOptions.length) denied('body: extension options are not signed (the daemon cannot read what they do)');
  if (tx.body.unordered || tx.body.timeoutTimestamp) denied('body: unordered and timeout_timestamp are not fields of the chain\'s SDK (v0.50); remove them');
  const fee = tx.authInfo.fee;
  if (fee?.granter || (fee?.payer && fee.payer !== key.address)) denied(`auth_info: the fee has a payer or granter other than key ${key.name}; the daemon signs only transactions whose fee its key pays`);
  if (tx.authInfo.tip) denied('auth_info: a tip is not signed');
  const other = tx.fee.find((c) => c.denom !== TX_DENOM);
  if (other) denied(`fee: ${shown(other.denom)} is not ${TX_DENOM}, the only denomination a tx policy bounds`);
  const feeTotal = tx.fee.reduce((s, c) => s + c.amount, 0n);
  if (feeTotal > BigInt(policy.max_fee)) denied(`fee: ${feeTotal}${TX_DENOM} is more than token ${token}'s max_fee of ${policy.max_fee}${TX_DENOM}`);
  const moves = tx.messages.flatMap((m) => m.moves);
  const foreign = moves.find((c) => c.denom !== TX_DENOM);
  if (foreign) denied(`amount: ${shown(foreign.denom)} is not ${TX_DENOM}, the only denomination a tx policy bounds`);
  const moved = moves.reduce((s, c) => s + c.amount, 0n);
  // parsePolicy requires max_amount whenever a message that moves funds is allowed.
  if (moves.length && moved > BigInt(policy.max_amount ?? '0')) denied(`amount: the transaction moves ${moved}${TX_DENOM} (sends and deposits), more than token ${token}'s max_amount of ${policy.max_amount ?? 0}${TX_DENOM}`);
  for (const m of tx.messages) {
    if (m.contract === undefined) continue;
    const id = String(m.contract);
    const list = policy.contracts ?? [];
    if (!list.includes('*') && !list.includes(id)) denied(`contract ${id} is not among the contracts token ${token} may sign claims and closes for (${list.join(', ')})`, { contract: id });
  }
}
