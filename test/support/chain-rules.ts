import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { MsgSend } from 'cosmjs-types/cosmos/bank/v1beta1/tx';
import { TxMsgData } from 'cosmjs-types/cosmos/base/abci/v1beta1/abci';
import { PubKey } from 'cosmjs-types/cosmos/crypto/secp256k1/keys';
import { AuthInfo, SignDoc, TxBody, TxRaw } from 'cosmjs-types/cosmos/tx/v1beta1/tx';
import { parseAddress, parseBech32PubKey, toAddress } from '../../src/crypto/index.js';
import { MESSAGE_CODECS, type MsgClaimContractIncome, type MsgCloseContract, type MsgOpenContract } from '../../src/tx/index.js';

/**
 * CHAIN-RULES TEST SERVER: our own code, not Arkeo's and not a chain. No arkeod can run in CI, so this HTTP server
 * stands in for an Arkeo node's LCD (REST), implementing from arkeo-transactions.md (§0, §1, §2, §4) the rules a
 * client that signs and broadcasts meets at arkeod v1.0.17 / cosmos-sdk v0.50.11:
 *  - CheckTx at broadcast: strict TxRaw decoding, the messages' ValidateBasic, then the ante handler in the SDK's
 *    order with the exact raw_logs of §4.6, the signature verified over the SignDoc with @noble/curves; an accepted
 *    transaction enters the mempool and advances the CheckTx-state sequence, as the real mempool does;
 *  - blocks (every `blockIntervalMs`, or `mine()`): FinalizeBlock runs the mempool's transactions in arrival order
 *    (ante again, then the messages, atomically, the fee and sequence spent even when a message fails), then the
 *    Arkeo end-blocker; the mempool's remainder is re-checked against the new state, as CometBFT does;
 *  - the keeper's rules of §2.1–2.6 (open, close, claim, settlement with the 10% reserve, the end-blocker's final
 *    settlements with their quirks, bank send), their error codes and texts, their typed events as the LCD shows them;
 *  - the LCD's JSON shapes and gRPC-gateway errors `{"code","message","details":[]}` with the gateway's HTTP status.
 * Gas is a deterministic model (GAS below) fitted to the measured figures of §3, not metered. What is left out, and
 * why, is in docs/decisions/chain-rules-test-server.md. `faults` injects a node's and a network's misbehaviour.
 */
export interface ChainRulesOptions {
  /** Default 'arkeo-local-1'. */
  chainId?: string;
  /** Decimal uarkeo per gas; default '0.001' (§5.3). */
  minGasPrice?: string;
  /** Produce a block every N ms; 0: only through mine(). Default 200. */
  blockIntervalMs?: number;
  /** Funded genesis accounts, numbered from 0 in this order. Any other account exists once funded. */
  accounts?: { address: string; balance: bigint }[];
  providers?: {
    pubkey: string;
    service: string;
    payAsYouGoRate: bigint;
    subscriptionRate: bigint;
    settlementDuration: bigint;
    minDuration?: bigint;
    maxDuration?: bigint;
    status?: 'ONLINE' | 'OFFLINE';
    bond?: bigint;
  }[];
  /** Default [{ id: 1, name: 'mock' }]. */
  services?: { id: number; name: string }[];
}

/** A contract as the keeper stores it (keeper.proto Contract). */
export interface ChainContract {
  id: bigint;
  provider: string;
  service: number;
  client: string;
  delegate: string;
  type: 'SUBSCRIPTION' | 'PAY_AS_YOU_GO';
  height: bigint;
  duration: bigint;
  rate: { denom: string; amount: bigint };
  deposit: bigint;
  paid: bigint;
  nonce: bigint;
  settlementHeight: bigint;
  settlementDuration: bigint;
  authorization: 'STRICT' | 'OPEN';
  queriesPerMinute: bigint;
}

/**
 * Misbehaviour, switched on by a test. Path prefixes name the routes a fault applies to ('/cosmos/tx/v1beta1/txs'
 * covers the broadcast and the tx queries).
 */
export interface ChainFaults {
  /** The next broadcast finds its account's sequence already taken, as if another process had a transaction included: code 32 naming the sequence now expected (which is then accepted). */
  sequenceMismatchOnce: boolean;
  /** A broadcast that passes CheckTx enters the mempool, and its HTTP reply is never sent: the client times out after the node took it. */
  acceptThenHang: boolean;
  /** Accepted transactions stay in the mempool: blocks are produced, empty. */
  stuckMempool: boolean;
  /** Replies on these routes are a 200 JSON body over 1 MiB, sent chunked (the request itself is processed). */
  oversizedReply?: string;
  /** Replies on these routes are a 200 whose body is not JSON (the request itself is processed). */
  malformedReply?: string;
  /** node_info and the latest block report this chain id; signatures are still checked against the real one. */
  chainId?: string;
  /** Requests on these routes get their connection dropped before the node sees them. */
  dropConnection?: string;
}

export interface ChainRules {
  /** LCD base URL, http://127.0.0.1:PORT. */
  url: string;
  height(): bigint;
  /** Produce blocks now. */
  mine(blocks?: number): Promise<void>;
  /** Committed balance, default denom uarkeo. */
  balance(address: string, denom?: string): bigint;
  account(address: string): { accountNumber: bigint; sequence: bigint; publicKey?: Uint8Array } | undefined;
  contract(id: bigint): ChainContract | undefined;
  faults: ChainFaults;
  /** Every transaction included in a block, in order. */
  included(): { hash: string; height: bigint; code: number; messages: string[] }[];
  close(): Promise<void>;
}

// ------------------------------------------------------------------------------------------ chain constants

const DENOM = 'uarkeo';
const OPEN_CONTRACT_COST = 20_000_000n; // configs OpenContractCost
const MIN_PROVIDER_BOND = 100_000_000n; // configs MinProviderBond = common.Tokens(1)
const RESERVE_TAX_BP = 1000n; // configs ReserveTax, out of 10000
const MAX_MEMO_CHARACTERS = 256;
const TX_SIZE_COST_PER_BYTE = 10n;
const SIMULATE_GAS_WANTED = '18446744073709551615';
/** Module accounts (app.go maccPerms); all but gov are blocked from receiving bank sends. */
const MODULES: Record<string, string[]> = {
  fee_collector: [],
  distribution: ['minter'],
  interchainaccounts: [],
  mint: ['minter'],
  bonded_tokens_pool: ['burner', 'staking'],
  not_bonded_tokens_pool: ['burner', 'staking'],
  gov: ['burner'],
  transfer: ['minter', 'burner'],
  feeibc: [],
  claimarkeo: ['minter'],
  'arkeo-reserve': [],
  arkeo: [],
  providers: [],
  contracts: [],
};

/**
 * GAS, the deterministic model (no store is metered here): the ante costs ANTE + 10 per tx byte + 1000 per
 * signature, plus FIRST_TX when the account's public key is stored; each message adds its figure. Fitted to §3's
 * measurements: a 444-byte open ≈ 124k (measured 122k–128k), +35k on an account's first tx (163k measured), a paying
 * claim ≈ 99k, a zero-pay claim ≈ 65k, a claim refused with 23/24 ≈ 52k, MsgSend ≈ 66k.
 */
const GAS = {
  ante: 27_000n,
  signature: 1_000n,
  firstTx: 35_000n,
  open: 92_000n,
  closePayg: 40_500n,
  closeFinal: 79_500n,
  claimPaid: 67_500n,
  claimUnpaid: 33_400n,
  send: 36_000n,
  refused: 21_000n,
};

/** Module account address: the first 20 bytes of SHA-256(name), as address.Module(name). */
export function moduleAddress(name: string): string {
  return toAddress(sha256(new TextEncoder().encode(name)).slice(0, 20));
}

// ------------------------------------------------------------------------------------------ errors

const SDK_TEXT: Record<number, string> = {
  2: 'tx parse error', 4: 'unauthorized', 5: 'insufficient funds', 7: 'invalid address', 8: 'invalid pubkey', 9: 'unknown address',
  10: 'invalid coins', 11: 'out of gas', 12: 'memo too large', 13: 'insufficient fee', 15: 'no signatures supplied', 18: 'invalid request',
  30: 'tx timeout height', 31: 'unknown extension options', 32: 'incorrect account sequence', 38: 'not found', 41: 'invalid gas limit',
};
const ARKEO_TEXT: Record<number, string> = {
  5: 'invalid bond', 12: 'invalid service', 13: "provider must have status 'online'", 14: 'invalid contract duration', 15: 'mismatch contract rate',
  16: 'contract is already open', 17: 'invalid contract rate', 18: 'invalid contract type', 19: 'invalid pubkey', 20: 'contract is already closed',
  21: 'unauthorized to close contract', 22: 'mismatch contract settlement duration', 23: 'nonce must be greater than zero', 24: 'contract is settled',
  25: 'invalid signature', 26: 'provider not found', 27: 'contract not found', 28: 'invalid mod provider settlement duration', 33: 'invalid authorization',
};

/** An ABCI error: codespace, code, and the log errorsmod prints (`<wrapping>: <registered text>`). */
class ChainError extends Error {
  constructor(
    readonly codespace: string,
    readonly code: number,
    log: string,
  ) {
    super(log);
  }
}
// errorsmod.Wrap(err, "") still prints its ": ", so '' and undefined differ.
const wrapped = (wrap: string | undefined, text: string) => (wrap === undefined ? text : `${wrap}: ${text}`);
const sdkError = (code: number, wrap?: string) => new ChainError('sdk', code, wrapped(wrap, SDK_TEXT[code]!));
const arkeoError = (code: number, wrap?: string) => new ChainError('arkeo', code, wrapped(wrap, ARKEO_TEXT[code]!));
/** A plain Go error (fmt.Errorf): ABCI code 1, codespace "undefined". */
const plainError = (text: string) => new ChainError('undefined', 1, text);
const parseError = (text: string) => sdkError(2, text);

// ------------------------------------------------------------------------------------------ state

interface Account {
  address: string;
  accountNumber: bigint;
  sequence: bigint;
  publicKey?: Uint8Array;
  module?: string;
}
interface State {
  accounts: Map<string, Account>;
  balances: Map<string, Map<string, bigint>>;
  contracts: Map<bigint, ChainContract>;
  nextContractId: bigint;
  nextAccountNumber: bigint;
  /** ContractExpirationSet: height → ids the end-blocker settles then. */
  expirations: Map<bigint, bigint[]>;
  /** UserContractSet: spender pubkey → ids; the key is deleted when empty. */
  userSets: Map<string, bigint[]>;
}
/** A cache context: work on a copy, keep it only on success. */
const branch = (s: State): State => structuredClone(s);

interface ChainEvent {
  type: string;
  attributes: [string, string][];
}
interface Ctx {
  state: State;
  height: bigint;
  chainId: string;
  events: ChainEvent[];
  /** Set while a message runs: its events carry msg_index. */
  msgIndex?: number;
}
interface Coin {
  denom: string;
  amount: bigint;
}
const coinsText = (coins: Coin[]) => coins.map((c) => `${c.amount}${c.denom}`).join(',');
const balanceOf = (s: State, address: string, denom: string) => s.balances.get(address)?.get(denom) ?? 0n;

function emit(ctx: Ctx, type: string, attributes: [string, string][]): void {
  ctx.events.push({ type, attributes: ctx.msgIndex === undefined ? attributes : [...attributes, ['msg_index', String(ctx.msgIndex)]] });
}

/** A typed event as EmitTypedEvent shows it: one attribute per field, keys sorted, values JSON (int64s quoted). */
function emitTyped(ctx: Ctx, type: string, fields: Record<string, unknown>): void {
  emit(ctx, type, Object.keys(fields).sort().map((k) => [k, JSON.stringify(fields[k])]));
}

function ensureAccount(s: State, address: string): void {
  if (!s.accounts.has(address)) s.accounts.set(address, { address, accountNumber: s.nextAccountNumber++, sequence: 0n });
}

/** bank SendCoins: the first coin short fails with the spendable-balance text; the recipient account is created. */
function transfer(ctx: Ctx, from: string, to: string, coins: Coin[]): void {
  const s = ctx.state;
  for (const c of coins) {
    const have = balanceOf(s, from, c.denom);
    if (have < c.amount) throw sdkError(5, `spendable balance ${have}${c.denom} is smaller than ${c.amount}${c.denom}`);
  }
  ensureAccount(s, to);
  for (const c of coins) {
    s.balances.get(from)!.set(c.denom, balanceOf(s, from, c.denom) - c.amount);
    if (!s.balances.has(to)) s.balances.set(to, new Map());
    s.balances.get(to)!.set(c.denom, balanceOf(s, to, c.denom) + c.amount);
  }
  const amount = coinsText(coins);
  emit(ctx, 'coin_spent', [['spender', from], ['amount', amount]]);
  emit(ctx, 'coin_received', [['receiver', to], ['amount', amount]]);
  emit(ctx, 'transfer', [['recipient', to], ['sender', from], ['amount', amount]]);
  emit(ctx, 'message', [['sender', from]]);
}

// ------------------------------------------------------------------------------------------ decoding

interface SignerInfoView {
  publicKey?: Uint8Array;
  direct: boolean;
  sequence: bigint;
}
interface DecodedTx {
  bytes: Uint8Array;
  hash: string;
  bodyBytes: Uint8Array;
  authInfoBytes: Uint8Array;
  signatures: Uint8Array[];
  body: TxBody;
  messages: { typeUrl: string; value: any; signer: string }[];
  signerInfos: SignerInfoView[];
  /** Distinct signers in message order; the first pays the fee. */
  signers: string[];
  fee: { amount: Coin[]; gasLimit: bigint };
}

/** Field tables of the envelope for the strict decoder: a nested table, or null for a scalar or opaque bytes. */
type Schema = { [field: number]: Schema | null };
const COIN: Schema = { 1: null, 2: null };
const ANY: Schema = { 1: null, 2: null };
const MODE_INFO: Schema = { 1: { 1: null }, 2: { 1: { 1: null, 2: null }, 2: null } };
const AUTH_INFO: Schema = { 1: { 1: ANY, 2: MODE_INFO, 3: null }, 2: { 1: COIN, 2: null, 3: null, 4: null }, 3: { 1: COIN, 2: null } };
const TX_BODY: Schema = { 1: ANY, 2: null, 3: null, 1023: ANY, 2047: ANY };
const WIRE = ['varint', 'fixed64', 'bytes', 'start_group', 'end_group', 'fixed32'];

/**
 * The SDK's strict decoding (x/auth/tx/decoder.go): unknown fields are refused, except in the body from field 1024
 * on (non-critical); TxRaw must also be ADR-027 (ascending fields, minimal varints).
 */
function checkFields(bytes: Uint8Array, schema: Schema, name: string, adr027 = false): void {
  let pos = 0;
  let last = 0;
  const varint = (): bigint => {
    let value = 0n;
    for (let i = 0; ; i++) {
      if (pos >= bytes.length || i > 9) throw parseError(`${name}: malformed protobuf bytes`);
      const b = bytes[pos++]!;
      value |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (!(b & 0x80)) {
        if (adr027 && i > 0 && b === 0) throw parseError(`txRaw must follow ADR-027, got a non-minimal varint`);
        return value;
      }
    }
  };
  while (pos < bytes.length) {
    const tag = Number(varint());
    const field = tag >>> 3;
    const wire = tag & 7;
    // Repeated field 3 (signatures) repeats its number: only a descending tag breaks the order.
    if (adr027 && field < last) throw parseError(`txRaw must follow ADR-027, got tagNum ${field} after tagNum ${last}`);
    last = field;
    const child = schema[field];
    if (child === undefined && !(schema === TX_BODY && field >= 1024)) {
      throw parseError(`errUnknownField "${name}": {TagNum: ${field}, WireType:"${WIRE[wire] ?? wire}"}`);
    }
    if (wire === 0) varint();
    else if (wire === 1 || wire === 5) pos += wire === 1 ? 8 : 4;
    else if (wire === 2) {
      const length = Number(varint());
      if (pos + length > bytes.length) throw parseError(`${name}: malformed protobuf bytes`);
      if (child) checkFields(bytes.subarray(pos, pos + length), child, `${name}.${field}`);
      pos += length;
    } else throw parseError(`${name}: unsupported wire type ${wire}`);
    if (pos > bytes.length) throw parseError(`${name}: malformed protobuf bytes`);
  }
}

const txHash = (bytes: Uint8Array) => Buffer.from(sha256(bytes)).toString('hex').toUpperCase();

function signerOf(typeUrl: string, value: any): string {
  const signer: string = typeUrl === '/cosmos.bank.v1beta1.MsgSend' ? value.fromAddress : value.creator;
  try {
    parseAddress(signer);
  } catch (e) {
    throw parseError(`invalid signer address "${signer}": ${(e as Error).message}`);
  }
  return signer;
}

function decodeTx(bytes: Uint8Array): DecodedTx {
  try {
    return decodeStrictly(bytes);
  } catch (e) {
    if (e instanceof ChainError) throw e;
    // cosmjs-types' own reader errors (a wire type that does not fit a known field): still a parse error.
    throw parseError(`malformed protobuf bytes (${(e as Error).message})`);
  }
}

function decodeStrictly(bytes: Uint8Array): DecodedTx {
  checkFields(bytes, { 1: null, 2: null, 3: null }, 'cosmos.tx.v1beta1.TxRaw', true);
  const raw = TxRaw.decode(bytes);
  checkFields(raw.bodyBytes, TX_BODY, 'cosmos.tx.v1beta1.TxBody');
  checkFields(raw.authInfoBytes, AUTH_INFO, 'cosmos.tx.v1beta1.AuthInfo');
  const body = TxBody.decode(raw.bodyBytes);
  const authInfo = AuthInfo.decode(raw.authInfoBytes);
  const messages = body.messages.map((any) => {
    const codec = MESSAGE_CODECS.get(any.typeUrl);
    if (!codec) throw parseError(`unable to resolve type URL ${any.typeUrl}`);
    let value: any;
    try {
      value = codec.decode(any.value);
    } catch (e) {
      throw parseError((e as Error).message);
    }
    // math.Int fields fail Go's decoder, before any ValidateBasic.
    if (any.typeUrl === '/arkeo.arkeo.MsgOpenContract' && !(/^-?[0-9]+$/.test(value.rate.amount) && /^-?[0-9]*$/.test(value.deposit))) {
      throw parseError(`${any.typeUrl}: rate amount or deposit is not an integer`);
    }
    return { typeUrl: any.typeUrl, value, signer: signerOf(any.typeUrl, value) };
  });
  const signerInfos = authInfo.signerInfos.map((info) => {
    let publicKey: Uint8Array | undefined;
    if (info.publicKey) {
      if (info.publicKey.typeUrl !== '/cosmos.crypto.secp256k1.PubKey') throw parseError(`unable to resolve type URL ${info.publicKey.typeUrl}`);
      publicKey = PubKey.decode(info.publicKey.value).key;
    }
    return { publicKey, direct: info.modeInfo?.single?.mode === 1, sequence: info.sequence };
  });
  const fee = {
    amount: (authInfo.fee?.amount ?? []).map((c) => {
      if (!/^[0-9]+$/.test(c.amount)) throw parseError(`invalid fee amount ${JSON.stringify(c.amount)}`);
      return { denom: c.denom, amount: BigInt(c.amount) };
    }),
    gasLimit: authInfo.fee?.gasLimit ?? 0n,
  };
  const signers = [...new Set(messages.map((m) => m.signer))];
  return { bytes, hash: txHash(bytes), bodyBytes: raw.bodyBytes, authInfoBytes: raw.authInfoBytes, signatures: raw.signatures, body, messages, signerInfos, signers, fee };
}

// ------------------------------------------------------------------------------------------ ValidateBasic

function pubkeyOrError(text: string): Uint8Array {
  try {
    return parseBech32PubKey(text);
  } catch (e) {
    throw arkeoError(19, `invalid pubkey (${text} is not bech32 encoded pub key,err : ${(e as Error).message})`);
  }
}

/** baseapp.validateBasicTxMsgs: before the ante handler, in CheckTx and in the block. */
function validateBasic(tx: DecodedTx): void {
  if (tx.messages.length === 0) throw sdkError(18, 'must contain at least one message');
  for (const { typeUrl, value } of tx.messages) {
    if (typeUrl === '/arkeo.arkeo.MsgOpenContract') {
      const m = value as MsgOpenContract;
      pubkeyOrError(m.provider);
      if (m.service.trim() === '') throw arkeoError(12, 'service cannot be empty');
      const client = toAddress(pubkeyOrError(m.client));
      if (client !== m.creator) throw arkeoError(19, `Signer: [${m.creator}], Client Address: ${client}`);
      if (m.duration <= 0n) throw arkeoError(14, 'contract duration cannot be zero');
      if (!/^[a-zA-Z][a-zA-Z0-9/:._-]{2,127}$/.test(m.rate.denom)) throw plainError(`invalid rate: invalid denom: ${m.rate.denom}`);
      if (BigInt(m.rate.amount) < 0n) throw plainError(`invalid rate: negative coin amount: ${m.rate.amount}`);
      if (m.queriesPerMinute <= 0n) throw plainError('queries per minute must be greater than zero');
      if (BigInt(m.rate.amount) === 0n) throw arkeoError(17, 'contract rate cannot be zero');
      if (m.settlementDuration < 0n) throw arkeoError(28, 'settlement duration cannot be negative');
      if (m.contractType === 1 && m.authorization === 1) throw arkeoError(33, 'pay-as-you-go contract cannot use open authorization');
    } else if (typeUrl === '/arkeo.arkeo.MsgCloseContract') {
      const m = value as MsgCloseContract;
      if (m.creator === '') throw arkeoError(21, 'creator cannot be empty');
      if (m.contractId === 0n) throw arkeoError(27, 'invalid contract id');
      if (m.client === '') throw arkeoError(21, 'client id cannot be empty');
      const client = toAddress(pubkeyOrError(m.client));
      if (client !== m.creator) throw arkeoError(19, `Signer: [${m.creator}], Client Address: ${client}`);
    } else if (typeUrl === '/arkeo.arkeo.MsgClaimContractIncome') {
      const m = value as MsgClaimContractIncome;
      if (m.signature.length > 100) throw arkeoError(25, 'too long');
      if (m.nonce <= 0n) throw arkeoError(23, '');
    }
    // MsgSend has no ValidateBasic in v0.50: its checks run in the block.
  }
}

// ------------------------------------------------------------------------------------------ ante handler

type Mode = 'check' | 'deliver' | 'simulate';
interface AnteOutcome {
  gas: bigint;
  events: ChainEvent[];
}

/** A Cosmos secp256k1 verification: 64-byte r‖s, low-S only, over SHA-256(message). */
function cosmosVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  try {
    return secp256k1.verify(signature, sha256(message), publicKey, { prehash: false, lowS: true });
  } catch {
    return false;
  }
}

/** ceil(price × gas) for a decimal price. */
function requiredFee(minGasPrice: string, gas: bigint): bigint {
  const [whole, fraction = ''] = minGasPrice.split('.');
  const scale = 10n ** BigInt(fraction.length);
  const product = BigInt(whole! + fraction) * gas;
  return (product + scale - 1n) / scale;
}

/**
 * The ante handler (x/auth/ante/ante.go) on `s`, which it changes: fee, public keys, sequences. Throws a ChainError
 * at the first failing check; `gas` is what the model charges up to the end of the ante.
 */
function runAnte(s: State, tx: DecodedTx, mode: Mode, height: bigint, chainId: string, minGasPrice: string): AnteOutcome {
  const ctx: Ctx = { state: s, height, chainId, events: [] };
  let gas = GAS.ante + BigInt(tx.bytes.length) * TX_SIZE_COST_PER_BYTE;
  if (tx.body.extensionOptions.length > 0) throw sdkError(31);
  if (tx.signatures.length === 0) throw sdkError(15);
  if (tx.signatures.length !== tx.signers.length || tx.signerInfos.length !== tx.signers.length) {
    throw sdkError(4, `wrong number of signers; expected ${tx.signers.length}, got ${tx.signatures.length}`);
  }
  const timeout = tx.body.timeoutHeight;
  if (timeout > 0n && height > timeout) throw sdkError(30, `block height: ${height}, timeout height: ${timeout}`);
  const memoLength = [...tx.body.memo].length;
  if (memoLength > MAX_MEMO_CHARACTERS) throw sdkError(12, `maximum number of characters is ${MAX_MEMO_CHARACTERS} but received ${memoLength} characters`);

  // DeductFee: positive gas, the minimum fee (CheckTx only), the payer, the fee itself.
  const { fee } = tx;
  if (mode !== 'simulate' && fee.gasLimit === 0n) throw sdkError(41, 'must provide positive gas');
  if (mode === 'check') {
    const required = requiredFee(minGasPrice, fee.gasLimit);
    const paid = fee.amount.find((c) => c.denom === DENOM)?.amount ?? 0n;
    if (required > 0n && paid < required) throw sdkError(13, `insufficient fees; got: ${coinsText(fee.amount)} required: ${required}${DENOM}`);
  }
  const payer = tx.signers[0]!;
  if (!s.accounts.has(payer)) throw sdkError(9, `fee payer address: ${payer} does not exist`);
  const charged = fee.amount.filter((c) => c.amount > 0n);
  if (charged.length > 0) {
    try {
      transfer(ctx, payer, moduleAddress('fee_collector'), charged);
    } catch (e) {
      throw sdkError(5, (e as ChainError).message);
    }
  }
  emit(ctx, 'tx', [['fee', coinsText(fee.amount)], ['fee_payer', payer]]);

  // SetPubKey, SigGasConsume, SigVerification, IncrementSequence.
  tx.signers.forEach((signer, i) => {
    const publicKey = tx.signerInfos[i]!.publicKey;
    const account = s.accounts.get(signer);
    if (publicKey && (publicKey.length !== 33 || toAddress(publicKey) !== signer)) throw sdkError(8, `pubKey does not match signer address ${signer} with signer index: ${i}`);
    if (!account) throw sdkError(9, `account ${signer} does not exist`);
    if (publicKey && !account.publicKey) {
      account.publicKey = publicKey;
      gas += GAS.firstTx;
    }
  });
  tx.signers.forEach((signer, i) => {
    const account = s.accounts.get(signer)!;
    const info = tx.signerInfos[i]!;
    if (!account.publicKey && mode !== 'simulate') throw sdkError(8, 'pubkey on account is not set');
    gas += GAS.signature;
    if (info.sequence !== account.sequence) throw sdkError(32, `account sequence mismatch, expected ${account.sequence}, got ${info.sequence}`);
    if (mode !== 'simulate') {
      const signDoc = SignDoc.encode({ bodyBytes: tx.bodyBytes, authInfoBytes: tx.authInfoBytes, chainId, accountNumber: account.accountNumber }).finish();
      // SIGN_MODE_DIRECT only: any other mode (amino-json included) is not modelled and fails verification.
      if (!info.direct || !cosmosVerify(account.publicKey!, signDoc, tx.signatures[i]!)) {
        throw sdkError(4, `signature verification failed; please verify account number (${account.accountNumber}) and chain-id (${chainId}): (unable to verify single signer signature)`);
      }
    }
    emit(ctx, 'tx', [['acc_seq', `${signer}/${account.sequence}`]]);
    emit(ctx, 'tx', [['signature', Buffer.from(tx.signatures[i]!).toString('base64')]]);
    account.sequence += 1n;
  });
  // The model compares once, here; a node stops at the first store access past the limit.
  if (mode !== 'simulate' && gas > fee.gasLimit) throw sdkError(11, `out of gas in location: WriteFlat; gasWanted: ${fee.gasLimit}, gasUsed: ${gas}`);
  return { gas, events: ctx.events };
}

// ------------------------------------------------------------------------------------------ keeper rules

interface Genesis {
  services: { id: number; name: string }[];
  providers: Map<string, { pubkey: string; serviceId: number; payg: bigint; subscription: bigint; settlementDuration: bigint; min: bigint; max: bigint; status: 'ONLINE' | 'OFFLINE'; bond: bigint }>;
}

const expiration = (c: ChainContract) => c.height + c.duration;
/** SettlementPeriodEnd: PAYG contracts keep a settlement window after expiry. */
const settlementPeriodEnd = (c: ChainContract) => expiration(c) + (c.type === 'PAY_AS_YOU_GO' ? c.settlementDuration : 0n);
const isOpen = (c: ChainContract, h: bigint) => c.height !== 0n && expiration(c) >= h && !(c.settlementHeight > 0n && c.settlementHeight < h);
const isSettled = (c: ChainContract, h: bigint) => !isOpen(c, h) && settlementPeriodEnd(c) <= h;
const spenderOf = (c: ChainContract) => c.delegate || c.client;
/** What GetContract returns for an unknown id: a zero contract (height 0, SUBSCRIPTION). */
const EMPTY_CONTRACT: ChainContract = {
  id: 0n, provider: '', service: 0, client: '', delegate: '', type: 'SUBSCRIPTION', height: 0n, duration: 0n, rate: { denom: '', amount: 0n },
  deposit: 0n, paid: 0n, nonce: 0n, settlementHeight: 0n, settlementDuration: 0n, authorization: 'STRICT', queriesPerMinute: 0n,
};

/** GetActiveContractForUser: the first open contract in the spender's set with this provider and service. */
function activeContract(s: State, spender: string, provider: string, service: number, h: bigint): ChainContract | undefined {
  for (const id of s.userSets.get(spender) ?? []) {
    const c = s.contracts.get(id);
    if (c && c.provider === provider && c.service === service && isOpen(c, h)) return c;
  }
  return undefined;
}

function serviceName(genesis: Genesis, id: number): string {
  return genesis.services.find((s) => s.id === id)?.name ?? `service-${id}`;
}

/** SettleContract (manager.go): pay the debt less the reserve tax; on a final settlement refund the rest. Returns the debt paid. */
function settle(ctx: Ctx, genesis: Genesis, contract: ChainContract, nonce: bigint, isFinal: boolean): bigint {
  const s = ctx.state;
  const c: ChainContract = { ...contract, rate: { ...contract.rate } };
  if (nonce > c.nonce) c.nonce = nonce;
  let debt = c.type === 'SUBSCRIPTION' ? c.rate.amount * ((ctx.height < settlementPeriodEnd(c) ? ctx.height : settlementPeriodEnd(c)) - c.height) * c.queriesPerMinute - c.paid : c.rate.amount * c.nonce - c.paid;
  if (debt < 0n) debt = 0n;
  if (c.paid + debt > c.deposit) debt = c.deposit - c.paid;
  // round(debt × 1000 / 10000), half to even (LegacyDec.RoundInt).
  const scaled = debt * RESERVE_TAX_BP;
  let reserve = scaled / 10_000n;
  const rest = scaled % 10_000n;
  if (rest > 5_000n || (rest === 5_000n && reserve % 2n === 1n)) reserve += 1n;
  const toProvider = debt - reserve;
  if (toProvider !== 0n) {
    transfer(ctx, moduleAddress('contracts'), toAddress(parseBech32PubKey(c.provider)), [{ denom: c.rate.denom, amount: toProvider }]);
    if (reserve !== 0n) transfer(ctx, moduleAddress('contracts'), moduleAddress('arkeo-reserve'), [{ denom: c.rate.denom, amount: reserve }]);
  }
  c.paid += debt;
  if (isFinal) {
    const remainder = c.deposit - c.paid;
    if (remainder !== 0n) {
      transfer(ctx, moduleAddress('contracts'), toAddress(parseBech32PubKey(c.client)), [{ denom: c.rate.denom, amount: remainder }]);
      c.deposit = c.paid;
    }
    c.settlementHeight = ctx.height;
    // RemoveFromUserContractSet: a second final settlement (the stale expiration entry) fails here.
    const set = s.userSets.get(spenderOf(c));
    if (!set) throw plainError('contract set is nil');
    const at = set.indexOf(c.id);
    if (at < 0) throw plainError(`contract ${c.id} not found in user contract set`);
    set.splice(at, 1);
    if (set.length === 0) s.userSets.delete(spenderOf(c));
  }
  s.contracts.set(c.id, c);
  emitTyped(ctx, 'arkeo.arkeo.EventSettleContract', {
    provider: c.provider, contract_id: String(c.id), service: serviceName(genesis, c.service), client: c.client, delegate: c.delegate,
    type: c.type, nonce: String(c.nonce), height: String(c.height), paid: String(debt), reserve: String(reserve),
  });
  return debt;
}

function openContract(ctx: Ctx, genesis: Genesis, m: MsgOpenContract): bigint {
  const s = ctx.state;
  const service = genesis.services.find((sv) => sv.name === m.service.toLowerCase());
  if (!service) throw sdkError(38, `service not found: ${m.service}`);
  const provider = genesis.providers.get(`${m.provider}/${service.id}`);
  if (!provider) throw arkeoError(26, `provider ${m.provider} for service ${m.service} not found`);
  if (provider.bond < MIN_PROVIDER_BOND) throw arkeoError(5, `not enough provider bond to open a contract (${provider.bond}/${MIN_PROVIDER_BOND})`);
  if (provider.status !== 'ONLINE') throw arkeoError(13, `has status ${provider.status}`);
  if (m.duration > provider.max) throw arkeoError(14, 'duration exceeds allowed maximum duration from provider');
  if (m.duration < provider.min) throw arkeoError(14, 'duration below allowed minimum duration from provider');
  const rate = BigInt(m.rate.amount);
  const deposit = BigInt(m.deposit || '0');
  // Go panics on a negative coin (cosmos.NewCoin) and the block recovers it; refusing it here keeps balances sane.
  if (deposit < 0n) throw sdkError(10, `negative coin amount: ${deposit}`);
  if (m.contractType === 0 || m.contractType === 1) {
    const payg = m.contractType === 1;
    const providerRate = m.rate.denom === DENOM ? (payg ? provider.payg : provider.subscription) : 0n;
    if (providerRate === 0n) throw arkeoError(15, `provider rates is 0, client sent ${rate}`);
    if (rate !== providerRate) throw arkeoError(15, payg ? `pay-as-you-go provider rate is ${providerRate}, client sent ${rate}` : `provider rates is ${providerRate}, client sent ${rate}`);
    if (!payg && rate * m.duration * m.queriesPerMinute !== deposit) {
      throw arkeoError(15, `mismatch of rate*duration*queriesPerMinute and deposit: ${rate} * ${m.duration} * ${m.queriesPerMinute} != ${deposit}`);
    }
    if (payg && m.settlementDuration !== provider.settlementDuration) {
      throw arkeoError(22, `pay-as-you-go provider settlement duration is ${provider.settlementDuration}, client sent ${m.settlementDuration}`);
    }
  } else throw arkeoError(18, String(m.contractType));
  const spender = m.delegate || m.client;
  const active = activeContract(s, spender, m.provider, service.id, ctx.height);
  if (active && m.contractType !== 1) throw arkeoError(16, `expires in ${expiration(active) - ctx.height} blocks`);

  const shortOf = (amount: bigint, denom: string) => balanceOf(s, m.creator, denom) < amount;
  if (shortOf(OPEN_CONTRACT_COST, DENOM)) throw sdkError(5, `failed to send open contract costs openCost=${OPEN_CONTRACT_COST}: not enough balance for account ${m.creator}`);
  transfer(ctx, m.creator, moduleAddress('arkeo-reserve'), [{ denom: DENOM, amount: OPEN_CONTRACT_COST }]);
  if (shortOf(deposit, m.rate.denom)) throw sdkError(5, `failed to send deposit=${deposit}: not enough balance for account ${m.creator}`);
  if (deposit > 0n) transfer(ctx, m.creator, moduleAddress('contracts'), [{ denom: m.rate.denom, amount: deposit }]);
  const c: ChainContract = {
    id: s.nextContractId++, provider: m.provider, service: service.id, client: m.client, delegate: spender, type: m.contractType === 1 ? 'PAY_AS_YOU_GO' : 'SUBSCRIPTION',
    height: ctx.height, duration: m.duration, rate: { denom: m.rate.denom, amount: rate }, deposit, paid: 0n, nonce: 0n, settlementHeight: 0n,
    settlementDuration: m.settlementDuration, authorization: m.authorization === 1 ? 'OPEN' : 'STRICT', queriesPerMinute: m.queriesPerMinute,
  };
  const end = settlementPeriodEnd(c);
  s.expirations.set(end, [...(s.expirations.get(end) ?? []), c.id]);
  s.userSets.set(spender, [...(s.userSets.get(spender) ?? []), c.id]);
  s.contracts.set(c.id, c);
  emitTyped(ctx, 'arkeo.arkeo.EventOpenContract', {
    provider: c.provider, contract_id: String(c.id), service: service.name, client: c.client, delegate: c.delegate, type: c.type, height: String(c.height),
    duration: String(c.duration), rate: { denom: c.rate.denom, amount: String(c.rate.amount) }, open_cost: String(OPEN_CONTRACT_COST), deposit: String(c.deposit),
    settlement_duration: String(c.settlementDuration), authorization: c.authorization, queries_per_minute: String(c.queriesPerMinute), settlement_height: '0',
  });
  return GAS.open;
}

function closeContract(ctx: Ctx, genesis: Genesis, m: MsgCloseContract): bigint {
  const s = ctx.state;
  const c = s.contracts.get(m.contractId);
  if (!c) throw arkeoError(27, `id: ${m.contractId}`);
  if (toAddress(parseBech32PubKey(c.client)) !== m.creator) throw arkeoError(21, 'only the client can close the contract');
  if (!isOpen(c, ctx.height)) throw arkeoError(20, `closed ${expiration(c)}`);
  // Present even when empty (gogo decodes it to []byte{}), so '' is compared too.
  if (m.delegate !== undefined && m.delegate !== c.delegate) throw arkeoError(21, 'incorrect delegate specified');
  if (c.type === 'PAY_AS_YOU_GO') {
    // It deletes the whole set at expiration (not where this contract was registered) and registers at now + SD.
    s.expirations.delete(expiration(c));
    const at = ctx.height + c.settlementDuration;
    s.expirations.set(at, [...(s.expirations.get(at) ?? []), c.id]);
  }
  settle(ctx, genesis, c, 0n, c.type === 'SUBSCRIPTION');
  emitTyped(ctx, 'arkeo.arkeo.EventCloseContract', { contract_id: String(c.id), provider: c.provider, service: serviceName(genesis, c.service), client: c.client, delegate: c.delegate });
  return c.type === 'SUBSCRIPTION' ? GAS.closeFinal : GAS.closePayg;
}

/** The keeper's claim signature check: "cid:nonce:<chain>" or "cid:nonce:", each raw or SHA-256-prehashed; high-S retried normalised. */
function claimSignatureValid(spender: Uint8Array, m: MsgClaimContractIncome, chainId: string): boolean {
  const encode = (text: string) => new TextEncoder().encode(text);
  const withChain = encode(`${m.contractId}:${m.nonce}:${chainId}`);
  const noChain = encode(`${m.contractId}:${m.nonce}:`);
  const preimages = [withChain, sha256(withChain), noChain, sha256(noChain)];
  const candidates = [m.signature];
  try {
    const parsed = secp256k1.Signature.fromBytes(m.signature, 'compact');
    if (parsed.hasHighS()) candidates.push(new secp256k1.Signature(parsed.r, secp256k1.Point.Fn.ORDER - parsed.s).toBytes('compact'));
  } catch {
    // r or s out of range: no normalised form; the plain checks fail too.
  }
  return candidates.some((sig) => preimages.some((pre) => cosmosVerify(spender, pre, sig)));
}

function claimIncome(ctx: Ctx, genesis: Genesis, m: MsgClaimContractIncome): bigint {
  const c = ctx.state.contracts.get(m.contractId) ?? EMPTY_CONTRACT;
  if (c.nonce >= m.nonce) throw arkeoError(23, `contract nonce (${c.nonce}) is greater than msg nonce (${m.nonce})`);
  if (isSettled(c, ctx.height)) throw arkeoError(24, `settled on block: ${settlementPeriodEnd(c)}`);
  if (!(c.type === 'SUBSCRIPTION' && c.authorization === 'OPEN')) {
    const spender = parseBech32PubKey(spenderOf(c));
    if (m.signature.length !== 64) throw arkeoError(25, 'signature must be 64 bytes (r||s)');
    if (!claimSignatureValid(spender, m, ctx.chainId)) throw arkeoError(25, 'signature mismatch');
  }
  return settle(ctx, genesis, c, m.nonce, false) > 0n ? GAS.claimPaid : GAS.claimUnpaid;
}

function bankSend(ctx: Ctx, m: MsgSend): bigint {
  for (const [which, address] of [['from', m.fromAddress], ['to', m.toAddress]] as const) {
    try {
      parseAddress(address);
    } catch (e) {
      throw sdkError(7, `invalid ${which} address: ${(e as Error).message}`);
    }
  }
  const coins = m.amount.map((c) => ({ denom: c.denom, amount: /^[0-9]+$/.test(c.amount) ? BigInt(c.amount) : -1n }));
  const sorted = coins.every((c, i) => i === 0 || coins[i - 1]!.denom < c.denom);
  if (coins.length === 0 || !sorted || coins.some((c) => c.amount <= 0n || !/^[a-zA-Z][a-zA-Z0-9/:._-]{2,127}$/.test(c.denom))) {
    throw sdkError(10, m.amount.map((c) => `${c.amount}${c.denom}`).join(','));
  }
  if (Object.keys(MODULES).some((name) => name !== 'gov' && moduleAddress(name) === m.toAddress)) throw sdkError(4, `${m.toAddress} is not allowed to receive funds`);
  transfer(ctx, m.fromAddress, m.toAddress, coins);
  return GAS.send;
}

const HANDLERS: Record<string, (ctx: Ctx, genesis: Genesis, value: any) => bigint> = {
  '/arkeo.arkeo.MsgOpenContract': openContract,
  '/arkeo.arkeo.MsgCloseContract': closeContract,
  '/arkeo.arkeo.MsgClaimContractIncome': claimIncome,
  '/cosmos.bank.v1beta1.MsgSend': (ctx, _genesis, value) => bankSend(ctx, value),
};

/**
 * The messages, in a cache context: all or nothing. Returns the branch to keep, or the failure with its raw_log
 * `failed to execute message; message index: N: …`.
 */
function runMessages(state: State, tx: DecodedTx, height: bigint, chainId: string, genesis: Genesis): { state: State; gas: bigint; events: ChainEvent[]; error?: ChainError } {
  const ctx: Ctx = { state: branch(state), height, chainId, events: [] };
  let gas = 0n;
  for (const [i, msg] of tx.messages.entries()) {
    ctx.msgIndex = i;
    emit(ctx, 'message', [['action', msg.typeUrl], ['sender', msg.signer], ['module', msg.typeUrl.startsWith('/arkeo.') ? 'arkeo' : 'bank']]);
    try {
      gas += HANDLERS[msg.typeUrl]!(ctx, genesis, msg.value);
    } catch (e) {
      if (!(e instanceof ChainError)) throw e;
      const error = new ChainError(e.codespace, e.code, `failed to execute message; message index: ${i}: ${e.message}`);
      return { state, gas: gas + GAS.refused, events: [], error };
    }
  }
  return { state: ctx.state, gas, events: ctx.events };
}

/** The end-blocker (ContractEndBlock): final settlement of the ids registered at this height. Not atomic per contract. */
function endBlock(state: State, height: bigint, chainId: string, genesis: Genesis): void {
  const ctx: Ctx = { state, height, chainId, events: [] };
  for (const id of state.expirations.get(height) ?? []) {
    const c = state.contracts.get(id);
    if (!c) continue;
    try {
      settle(ctx, genesis, c, 0n, true);
      state.expirations.delete(expiration(c));
    } catch {
      // The node logs "unable to settle contract" and goes on (a stale entry re-settling lands here).
    }
  }
}

// ------------------------------------------------------------------------------------------ JSON views

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const eventsJson = (events: ChainEvent[]) => events.map((e) => ({ type: e.type, attributes: e.attributes.map(([key, value]) => ({ key, value, index: true })) }));

function contractJson(c: ChainContract) {
  return {
    provider: c.provider, service: c.service, client: c.client, delegate: c.delegate, type: c.type, height: String(c.height), duration: String(c.duration),
    rate: { denom: c.rate.denom, amount: String(c.rate.amount) }, deposit: String(c.deposit), paid: String(c.paid), nonce: String(c.nonce),
    settlement_height: String(c.settlementHeight), id: String(c.id), settlement_duration: String(c.settlementDuration), authorization: c.authorization,
    queries_per_minute: String(c.queriesPerMinute),
  };
}

function messageJson(typeUrl: string, v: any) {
  if (typeUrl === '/arkeo.arkeo.MsgOpenContract') {
    return {
      '@type': typeUrl, creator: v.creator, provider: v.provider, service: v.service, client: v.client, delegate: v.delegate ?? '', contract_type: v.contractType === 1 ? 'PAY_AS_YOU_GO' : 'SUBSCRIPTION',
      duration: String(v.duration), rate: v.rate, deposit: v.deposit, settlement_duration: String(v.settlementDuration), authorization: v.authorization === 1 ? 'OPEN' : 'STRICT', queries_per_minute: String(v.queriesPerMinute),
    };
  }
  if (typeUrl === '/arkeo.arkeo.MsgCloseContract') return { '@type': typeUrl, creator: v.creator, contract_id: String(v.contractId), client: v.client, delegate: v.delegate ?? '' };
  if (typeUrl === '/arkeo.arkeo.MsgClaimContractIncome') return { '@type': typeUrl, creator: v.creator, contract_id: String(v.contractId), signature: b64(v.signature), nonce: String(v.nonce) };
  return { '@type': typeUrl, from_address: v.fromAddress, to_address: v.toAddress, amount: v.amount };
}

/** The transaction as the LCD renders it (our rendering of the fields; messages in their proto-JSON names). */
function txJson(tx: DecodedTx) {
  return {
    body: { messages: tx.messages.map((m) => messageJson(m.typeUrl, m.value)), memo: tx.body.memo, timeout_height: String(tx.body.timeoutHeight), extension_options: [], non_critical_extension_options: [] },
    auth_info: {
      signer_infos: tx.signerInfos.map((i) => ({ public_key: i.publicKey ? { '@type': '/cosmos.crypto.secp256k1.PubKey', key: b64(i.publicKey) } : null, mode_info: { single: { mode: i.direct ? 'SIGN_MODE_DIRECT' : 'SIGN_MODE_UNSPECIFIED' } }, sequence: String(i.sequence) })),
      fee: { amount: tx.fee.amount.map((c) => ({ denom: c.denom, amount: String(c.amount) })), gas_limit: String(tx.fee.gasLimit), payer: '', granter: '' },
      tip: null,
    },
    signatures: tx.signatures.map(b64),
  };
}

const msgData = (tx: DecodedTx) => TxMsgData.encode({ data: [], msgResponses: tx.messages.map((m) => ({ typeUrl: `${m.typeUrl}Response`, value: new Uint8Array() })) }).finish();

interface TxResult {
  tx: DecodedTx;
  height: bigint;
  timestamp: string;
  code: number;
  codespace: string;
  rawLog: string;
  gasUsed: bigint;
  events: ChainEvent[];
}

// ------------------------------------------------------------------------------------------ the node

/** BroadcastMode, by name or number as the gateway accepts it. */
const BROADCAST_MODES: Record<string, string> = {
  BROADCAST_MODE_UNSPECIFIED: 'unspecified', BROADCAST_MODE_BLOCK: 'block', BROADCAST_MODE_SYNC: 'sync', BROADCAST_MODE_ASYNC: 'async',
  0: 'unspecified', 1: 'block', 2: 'sync', 3: 'async',
};

type Reply = { status: number; body: unknown } | 'hang';
/** A gRPC-gateway error: the gRPC code and message, with the HTTP status the gateway maps it to. */
const gatewayError = (status: number, code: number, message: string): Reply => ({ status, body: { code, message, details: [] } });
const ok = (body: unknown): Reply => ({ status: 200, body });

export async function startChainRules(options: ChainRulesOptions = {}): Promise<ChainRules> {
  const chainId = options.chainId ?? 'arkeo-local-1';
  const minGasPrice = options.minGasPrice ?? '0.001';
  if (!/^[0-9]+(\.[0-9]+)?$/.test(minGasPrice)) throw new Error(`chain-rules: minGasPrice ${JSON.stringify(minGasPrice)}: expected a decimal such as 0.001`);
  const genesis: Genesis = { services: (options.services ?? [{ id: 1, name: 'mock' }]).map((s) => ({ id: s.id, name: s.name.toLowerCase() })), providers: new Map() };
  for (const p of options.providers ?? []) {
    parseBech32PubKey(p.pubkey);
    const service = genesis.services.find((s) => s.name === p.service.toLowerCase());
    if (!service) throw new Error(`chain-rules: provider ${p.pubkey}: service ${p.service} is not in options.services`);
    genesis.providers.set(`${p.pubkey}/${service.id}`, {
      pubkey: p.pubkey, serviceId: service.id, payg: p.payAsYouGoRate, subscription: p.subscriptionRate, settlementDuration: p.settlementDuration,
      min: p.minDuration ?? 1n, max: p.maxDuration ?? 5_256_000n, status: p.status ?? 'ONLINE', bond: p.bond ?? MIN_PROVIDER_BOND,
    });
  }
  let committed: State = { accounts: new Map(), balances: new Map(), contracts: new Map(), nextContractId: 1n, nextAccountNumber: 0n, expirations: new Map(), userSets: new Map() };
  for (const a of options.accounts ?? []) {
    parseAddress(a.address);
    ensureAccount(committed, a.address);
    committed.balances.set(a.address, new Map([[DENOM, a.balance]]));
  }
  for (const name of Object.keys(MODULES)) {
    ensureAccount(committed, moduleAddress(name));
    committed.accounts.get(moduleAddress(name))!.module = name;
  }
  let check = branch(committed);
  let height = 1n; // genesis, then block 1
  let blockTime = new Date().toISOString();
  let lastBlockTxs: Uint8Array[] = [];
  const mempool: DecodedTx[] = [];
  const cache = new Set<string>(); // CometBFT's tx cache: accepted and committed transactions
  const results = new Map<string, TxResult>();
  const includedList: { hash: string; height: bigint; code: number; messages: string[] }[] = [];
  const faults: ChainFaults = { sequenceMismatchOnce: false, acceptThenHang: false, stuckMempool: false };
  const hung = new Set<http.ServerResponse>();

  /** CheckTx: ValidateBasic and the ante handler on the CheckTx state, kept on success. */
  function checkTx(tx: DecodedTx): void {
    validateBasic(tx);
    const s = branch(check);
    runAnte(s, tx, 'check', height, chainId, minGasPrice);
    check = s;
  }

  function deliverTx(tx: DecodedTx, at: bigint, timestamp: string): TxResult {
    const result = (code: number, codespace: string, rawLog: string, gasUsed: bigint, events: ChainEvent[]): TxResult => ({ tx, height: at, timestamp, code, codespace, rawLog, gasUsed, events });
    let ante: AnteOutcome;
    const s = branch(committed);
    try {
      validateBasic(tx);
      ante = runAnte(s, tx, 'deliver', at, chainId, minGasPrice);
    } catch (e) {
      if (!(e instanceof ChainError)) throw e;
      return result(e.code, e.codespace, e.message, GAS.ante + BigInt(tx.bytes.length) * TX_SIZE_COST_PER_BYTE, []);
    }
    committed = s; // the fee and the sequence are spent whatever the messages do
    const run = runMessages(committed, tx, at, chainId, genesis);
    const gasUsed = ante.gas + run.gas;
    if (run.error) return result(run.error.code, run.error.codespace, run.error.message, gasUsed, ante.events);
    if (gasUsed > tx.fee.gasLimit) return result(11, 'sdk', `out of gas in location: WriteFlat; gasWanted: ${tx.fee.gasLimit}, gasUsed: ${gasUsed}: out of gas`, gasUsed, ante.events);
    committed = run.state;
    return result(0, '', '', gasUsed, [...ante.events, ...run.events]);
  }

  function produceBlock(): void {
    const at = height + 1n;
    const timestamp = new Date().toISOString();
    const txs = faults.stuckMempool ? [] : mempool.splice(0);
    for (const tx of txs) {
      const r = deliverTx(tx, at, timestamp);
      results.set(tx.hash, r);
      includedList.push({ hash: tx.hash, height: at, code: r.code, messages: tx.messages.map((m) => m.typeUrl) });
    }
    endBlock(committed, at, chainId, genesis);
    height = at;
    blockTime = timestamp;
    lastBlockTxs = txs.map((t) => t.bytes);
    // CometBFT's recheck: the CheckTx state restarts from the block, the mempool's remainder is checked again.
    check = branch(committed);
    for (const tx of mempool.splice(0)) {
      try {
        checkTx(tx);
        mempool.push(tx);
      } catch {
        cache.delete(tx.hash);
      }
    }
  }

  // ---------------------------------------------------------------------------------------- routes

  function broadcast(body: Record<string, unknown>): Reply {
    const mode = body.mode ?? 'BROADCAST_MODE_UNSPECIFIED';
    const modeName = BROADCAST_MODES[String(mode)];
    if (!modeName) return gatewayError(400, 3, `invalid value for enum type: ${JSON.stringify(mode)}`);
    const bytes = txBytesOf(body);
    if (typeof bytes === 'string') return gatewayError(400, 3, bytes);
    if (modeName === 'unspecified' || modeName === 'block') return gatewayError(500, 2, `unsupported return type ${modeName}; supported types: sync, async`);
    const hash = txHash(bytes);
    const response = (code: number, codespace: string, rawLog: string): Reply =>
      ok({ tx_response: { height: '0', txhash: hash, codespace, code, data: '', raw_log: rawLog, logs: [], info: '', gas_wanted: '0', gas_used: '0', tx: null, timestamp: '', events: [] } });
    if (cache.has(hash)) return response(19, 'sdk', '');
    let tx: DecodedTx;
    try {
      tx = decodeTx(bytes);
      if (faults.sequenceMismatchOnce) {
        faults.sequenceMismatchOnce = false;
        const taker = tx.signers[0] ?? '';
        for (const s of [check, committed]) if (s.accounts.has(taker)) s.accounts.get(taker)!.sequence += 1n;
      }
      checkTx(tx);
    } catch (e) {
      if (!(e instanceof ChainError)) throw e;
      return modeName === 'async' ? response(0, '', '') : response(e.code, e.codespace, e.message);
    }
    cache.add(hash);
    mempool.push(tx);
    return faults.acceptThenHang ? 'hang' : response(0, '', '');
  }

  function simulate(body: Record<string, unknown>): Reply {
    const bytes = txBytesOf(body, 'empty txBytes is not allowed');
    if (typeof bytes === 'string') return gatewayError(400, 3, bytes);
    let gas = GAS.ante + BigInt(bytes.length) * TX_SIZE_COST_PER_BYTE;
    try {
      const tx = decodeTx(bytes);
      validateBasic(tx);
      const s = branch(check);
      gas = runAnte(s, tx, 'simulate', height, chainId, minGasPrice).gas;
      const run = runMessages(s, tx, height, chainId, genesis);
      gas += run.gas;
      if (run.error) throw run.error;
      return ok({
        gas_info: { gas_wanted: SIMULATE_GAS_WANTED, gas_used: String(gas) },
        result: { data: b64(msgData(tx)), log: '', events: eventsJson(run.events), msg_responses: tx.messages.map((m) => ({ '@type': `${m.typeUrl}Response` })) },
      });
    } catch (e) {
      if (!(e instanceof ChainError)) throw e;
      // Measured (§4.5): the sequence error carries its source location; others are given without one here.
      const where = e.code === 32 && e.codespace === 'sdk' ? ' [cosmos/cosmos-sdk@v0.50.11/x/auth/ante/sigverify.go:290]' : '';
      return gatewayError(500, 2, `${e.message}${where} with gas used: '${gas}'`);
    }
  }

  function txBytesOf(body: Record<string, unknown>, empty = 'invalid empty tx'): Uint8Array | string {
    const text = body.tx_bytes;
    if (text === undefined || text === null || text === '') return empty;
    if (typeof text !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return 'tx_bytes: illegal base64 data';
    return new Uint8Array(Buffer.from(text, 'base64'));
  }

  function getTx(hashText: string): Reply {
    const r = results.get(hashText.toUpperCase());
    if (!r) return gatewayError(404, 5, `tx not found: ${hashText}`);
    const tx = txJson(r.tx);
    return ok({
      tx,
      tx_response: {
        height: String(r.height), txhash: r.tx.hash, codespace: r.codespace, code: r.code, data: r.code === 0 ? Buffer.from(msgData(r.tx)).toString('hex').toUpperCase() : '',
        raw_log: r.rawLog, logs: [], info: '', gas_wanted: String(r.tx.fee.gasLimit), gas_used: String(r.gasUsed), tx: { '@type': '/cosmos.tx.v1beta1.Tx', ...tx },
        timestamp: r.timestamp, events: eventsJson(r.events),
      },
    });
  }

  function accountJson(address: string): Reply {
    try {
      parseAddress(address);
    } catch (e) {
      return gatewayError(500, 2, `decoding bech32 failed: ${(e as Error).message}`);
    }
    const a = committed.accounts.get(address);
    if (!a) return gatewayError(404, 5, `account ${address} not found`);
    const base = { address, pub_key: a.publicKey ? { '@type': '/cosmos.crypto.secp256k1.PubKey', key: b64(a.publicKey) } : null, account_number: String(a.accountNumber), sequence: String(a.sequence) };
    if (a.module) return ok({ account: { '@type': '/cosmos.auth.v1beta1.ModuleAccount', base_account: base, name: a.module, permissions: MODULES[a.module] } });
    return ok({ account: { '@type': '/cosmos.auth.v1beta1.BaseAccount', ...base } });
  }

  function blockJson() {
    const reported = faults.chainId ?? chainId;
    const hashOf = (what: string) => b64(sha256(new TextEncoder().encode(`chain-rules ${reported} ${height} ${what}`)));
    const header = {
      version: { block: '11', app: '0' }, chain_id: reported, height: String(height), time: blockTime,
      last_block_id: { hash: hashOf('last'), part_set_header: { total: 1, hash: hashOf('last-part') } },
      last_commit_hash: hashOf('commit'), data_hash: hashOf('data'), validators_hash: hashOf('vals'), next_validators_hash: hashOf('vals'),
      consensus_hash: hashOf('consensus'), app_hash: hashOf('app'), last_results_hash: hashOf('results'), evidence_hash: hashOf('evidence'), proposer_address: b64(sha256(new TextEncoder().encode('chain-rules proposer')).slice(0, 20)),
    };
    const block = { header, data: { txs: lastBlockTxs.map(b64) }, evidence: { evidence: [] }, last_commit: { height: String(height - 1n), round: 0, block_id: header.last_block_id, signatures: [] } };
    return { block_id: { hash: hashOf('block'), part_set_header: { total: 1, hash: hashOf('part') } }, block, sdk_block: block };
  }

  function contractsPage(url: URL): Reply {
    // Store order: keys "/<id>", so ids sort as strings (1, 10, 2).
    const all = [...committed.contracts.values()].sort((a, b) => (`/${a.id}` < `/${b.id}` ? -1 : 1));
    const keyText = url.searchParams.get('pagination.key');
    const limitText = url.searchParams.get('pagination.limit');
    const limit = limitText ? Number(limitText) : 0;
    // query.Paginate: no limit means 100 and counts the total; a key starts there and counts nothing.
    const countTotal = !keyText && (limit === 0 || url.searchParams.get('pagination.count_total') === 'true');
    const start = keyText ? all.findIndex((c) => `/${c.id}` >= Buffer.from(keyText, 'base64').toString('utf8')) : 0;
    const from = start < 0 ? all.length : start;
    const page = all.slice(from, from + (limit || 100));
    const next = all[from + page.length];
    return ok({ contract: page.map(contractJson), pagination: { next_key: next ? b64(new TextEncoder().encode(`/${next.id}`)) : null, total: countTotal ? String(all.length) : '0' } });
  }

  function route(method: string, url: URL, body: Record<string, unknown>): Reply {
    const p = url.pathname;
    let m: RegExpExecArray | null;
    if (method === 'POST' && p === '/cosmos/tx/v1beta1/txs') return broadcast(body);
    if (method === 'POST' && p === '/cosmos/tx/v1beta1/simulate') return simulate(body);
    if (method !== 'GET') return gatewayError(501, 12, 'Method Not Allowed');
    if ((m = /^\/cosmos\/tx\/v1beta1\/txs\/([^/]+)$/.exec(p))) return getTx(m[1]!);
    if ((m = /^\/cosmos\/auth\/v1beta1\/accounts\/([^/]+)$/.exec(p))) return accountJson(m[1]!);
    if ((m = /^\/cosmos\/bank\/v1beta1\/balances\/([^/]+)$/.exec(p))) {
      const coins = [...(committed.balances.get(m[1]!) ?? new Map<string, bigint>())].filter(([, a]) => a > 0n).sort(([a], [b]) => (a < b ? -1 : 1));
      return ok({ balances: coins.map(([denom, amount]) => ({ denom, amount: String(amount) })), pagination: { next_key: null, total: String(coins.length) } });
    }
    if (p === '/cosmos/base/tendermint/v1beta1/node_info') {
      return ok({
        default_node_info: {
          protocol_version: { p2p: '8', block: '11', app: '0' }, default_node_id: '0000000000000000000000000000000000000000', listen_addr: 'tcp://127.0.0.1:26656',
          network: faults.chainId ?? chainId, version: '0.38.17', channels: 'QCAhIiMwOGBhAA==', moniker: 'chain-rules-test-server', other: { tx_index: 'on', rpc_address: 'tcp://127.0.0.1:26657' },
        },
        application_version: { name: 'chain-rules-test-server', app_name: 'chain-rules-test-server', version: 'test', git_commit: '', build_tags: '', go_version: '', build_deps: [], cosmos_sdk_version: 'v0.50.11' },
      });
    }
    if (p === '/cosmos/base/tendermint/v1beta1/blocks/latest') return ok(blockJson());
    if ((m = /^\/arkeo\/contract\/([^/]+)$/.exec(p))) {
      if (!/^[0-9]+$/.test(m[1]!)) return gatewayError(400, 3, `type mismatch, parameter: contract_id, error: strconv.ParseUint: parsing ${JSON.stringify(m[1])}: invalid syntax`);
      const c = committed.contracts.get(BigInt(m[1]!));
      return c ? ok({ contract: contractJson(c) }) : gatewayError(404, 5, 'not found');
    }
    if (p === '/arkeo/contracts') return contractsPage(url);
    // QueryAllServicesResponse: ServiceEnum {service_id (int32: a JSON number), name, description, service_type}.
    if (p === '/arkeo/services') return ok({ services: genesis.services.map((sv) => ({ service_id: sv.id, name: sv.name, description: '', service_type: '' })) });
    if ((m = /^\/arkeo\/active-contract\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(p))) {
      const [provider, serviceText, spender] = [m[1]!, decodeURIComponent(m[2]!), m[3]!];
      const valid = (text: string) => {
        try {
          return parseBech32PubKey(text) && true;
        } catch {
          return false;
        }
      };
      if (!valid(provider)) return gatewayError(400, 3, 'invalid provider pubkey');
      const service = genesis.services.find((s) => s.name === serviceText.toLowerCase());
      if (!service) return gatewayError(400, 3, 'invalid service');
      if (!valid(spender)) return gatewayError(400, 3, 'invalid spender pubkey');
      const c = activeContract(committed, spender, provider, service.id, height);
      return c ? ok({ contract: contractJson(c) }) : gatewayError(404, 5, 'not found');
    }
    if ((m = /^\/arkeo\/provider\/([^/]+)\/([^/]+)$/.exec(p))) {
      const service = genesis.services.find((s) => s.name === decodeURIComponent(m![2]!).toLowerCase());
      if (!service) return gatewayError(404, 5, 'service not found');
      const pr = genesis.providers.get(`${m[1]}/${service.id}`);
      if (!pr) return gatewayError(404, 5, 'not found');
      const rate = (amount: bigint) => (amount > 0n ? [{ denom: DENOM, amount: String(amount) }] : []);
      return ok({
        provider: {
          pub_key: pr.pubkey, service: service.id, metadata_uri: 'http://127.0.0.1:3636/metadata.json', metadata_nonce: '1', status: pr.status, min_contract_duration: String(pr.min),
          max_contract_duration: String(pr.max), subscription_rate: rate(pr.subscription), pay_as_you_go_rate: rate(pr.payg), bond: String(pr.bond), last_update: '1', settlement_duration: String(pr.settlementDuration),
        },
      });
    }
    return gatewayError(404, 5, 'Not Found');
  }

  function send(res: http.ServerResponse, path: string, reply: Reply): void {
    if (reply === 'hang') return void hung.add(res);
    if (faults.malformedReply !== undefined && path.startsWith(faults.malformedReply)) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end('<html><body>502 Bad Gateway (chain-rules malformedReply)</body></html>');
    }
    if (faults.oversizedReply !== undefined && path.startsWith(faults.oversizedReply)) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"pad":"');
      res.write(Buffer.alloc(1536 * 1024, 0x20));
      return void res.end('"}');
    }
    const text = JSON.stringify(reply.body);
    res.writeHead(reply.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://lcd');
    if (faults.dropConnection !== undefined && url.pathname.startsWith(faults.dropConnection)) return void req.socket.destroy();
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 4 * 1024 * 1024) chunks.push(c);
    });
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      if (req.method === 'POST') {
        try {
          const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('body must be a JSON object');
          body = parsed as Record<string, unknown>;
        } catch (e) {
          return send(res, url.pathname, gatewayError(400, 3, size > 4 * 1024 * 1024 ? 'request body too large' : (e as Error).message));
        }
      }
      let reply: Reply;
      try {
        reply = route(req.method ?? 'GET', url, body);
      } catch (e) {
        reply = gatewayError(500, 2, `chain-rules test server: ${(e as Error).message.split('\n')[0]}`);
      }
      send(res, url.pathname, reply);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const interval = options.blockIntervalMs ?? 200;
  const timer = interval > 0 ? setInterval(produceBlock, interval) : undefined;
  timer?.unref();

  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    height: () => height,
    mine: async (blocks = 1) => {
      for (let i = 0; i < blocks; i++) produceBlock();
    },
    balance: (address, denom = DENOM) => balanceOf(committed, address, denom),
    account: (address) => {
      const a = committed.accounts.get(address);
      return a && { accountNumber: a.accountNumber, sequence: a.sequence, ...(a.publicKey ? { publicKey: Uint8Array.from(a.publicKey) } : {}) };
    },
    contract: (id) => {
      const c = committed.contracts.get(id);
      return c && structuredClone(c);
    },
    faults,
    included: () => includedList.map((i) => ({ ...i, messages: [...i.messages] })),
    close: async () => {
      if (timer) clearInterval(timer);
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
