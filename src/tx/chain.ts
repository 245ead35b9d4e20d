import { ArkeoSignerError, InputError } from '../errors.js';
import { BoundedReadError, getBounded } from '../http.js';
import { parseChainContract, type ChainContract } from '../claims/index.js';
import { PREFIXES } from '../crypto/address.js';

/**
 * A chain node's LCD (REST), as a transaction needs it: the account's number and sequence, simulate, broadcast,
 * the included result, and the contracts. Every read is bounded in time and size and follows no redirect; a node
 * may lie or stall like any peer, so what it says is parsed strictly and what matters (a payment) is read back from
 * the block, never from the broadcast's answer.
 */
export const CHAIN_TIMEOUT_MS = 10_000;
export const MAX_CHAIN_REPLY = 1024 * 1024;

/**
 * A node's refusal. `code` is the ABCI code when the node gives one (a broadcast's `code`, or recognised in a gRPC
 * gateway error's text, where the SDK puts it only in words); `expectedSequence` when the node said which it wants.
 */
export class ChainError extends ArkeoSignerError {
  constructor(
    code: string,
    message: string,
    readonly abci?: { code: number; codespace: string; expectedSequence?: bigint },
  ) {
    super(code, message);
  }
}

/** What the node says the SDK code was, from an error's words (the REST gateway wraps every refusal as code 2). */
const KNOWN_REFUSALS: { pattern: RegExp; code: number; advice: string }[] = [
  { pattern: /account sequence mismatch, expected (\d+)/, code: 32, advice: 'another transaction of this account was sent meanwhile' },
  { pattern: /insufficient fees/, code: 13, advice: 'raise --fees or --gas-prices to at least the node\'s minimum' },
  { pattern: /out of gas/, code: 11, advice: 'raise --gas or --gas-adjustment' },
  { pattern: /insufficient funds/, code: 5, advice: 'fund the account' },
  { pattern: /signature verification failed/, code: 4, advice: 'check --chain-id and that the key is the account\'s' },
  { pattern: /does not exist|not found: key not found/, code: 9, advice: 'fund the account first: the chain knows an address only once it has received coins' },
];

export function adviceFor(code: number, codespace = 'sdk'): string | undefined {
  if (codespace !== 'sdk') return undefined;
  return KNOWN_REFUSALS.find((r) => r.code === code)?.advice;
}

export function refusalOf(text: string): { code: number; codespace: string; expectedSequence?: bigint } | undefined {
  for (const r of KNOWN_REFUSALS) {
    const m = r.pattern.exec(text);
    if (m) return { code: r.code, codespace: 'sdk', ...(r.code === 32 ? { expectedSequence: BigInt(m[1]!) } : {}) };
  }
  return undefined;
}

export interface ChainAccount {
  address: string;
  accountNumber: bigint;
  sequence: bigint;
  /** The public key the chain holds for the account; absent until its first transaction. */
  publicKey?: Uint8Array;
}

export interface ChainProvider {
  status: string;
  payAsYouGoRate: { denom: string; amount: string }[];
  subscriptionRate: { denom: string; amount: string }[];
  settlementDuration: bigint;
  minContractDuration: bigint;
  maxContractDuration: bigint;
  metadataUri: string;
}

export interface BroadcastResult {
  code: number;
  codespace: string;
  rawLog: string;
  txHash: string;
}

export interface ChainEvent {
  type: string;
  attributes: { key: string; value: string }[];
}

/** A transaction as the block holds it: the only proof of what it did. */
export interface IncludedTx {
  txHash: string;
  height: bigint;
  code: number;
  codespace: string;
  rawLog: string;
  gasWanted: bigint;
  gasUsed: bigint;
  events: ChainEvent[];
}

const UINT = /^(0|[1-9][0-9]{0,19})$/;

function uint(v: unknown, where: string, field: string): bigint {
  if (typeof v === 'string' && UINT.test(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  throw new ChainError('CHAIN_BAD_REPLY', `${where}: "${field}" is not a non-negative integer`);
}

function object(v: unknown, where: string, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ChainError('CHAIN_BAD_REPLY', `${where}: no "${field}" object`);
  return v as Record<string, unknown>;
}

const text = (v: unknown): string => (typeof v === 'string' ? v : '');

export class ChainClient {
  readonly lcd: string;

  constructor(
    lcdUrl: string,
    private readonly options: { timeoutMs?: number } = {},
  ) {
    let u: URL;
    try {
      u = new URL(lcdUrl);
    } catch {
      throw new InputError('BAD_URL', `--node: not a URL: ${lcdUrl.slice(0, 200)}; give the node's LCD (REST) address, e.g. http://127.0.0.1:1317`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InputError('BAD_URL', `--node: expected http(s)://, got ${u.protocol}`);
    this.lcd = lcdUrl.replace(/\/+$/, '');
  }

  /**
   * One exchange with the node: the parsed JSON and the status. A gRPC gateway error (`{"code","message"}`) is
   * returned for the caller, who knows which statuses mean "not there yet".
   */
  private async call(path: string, postJson?: unknown): Promise<{ status: number; body: Record<string, unknown>; where: string }> {
    const url = `${this.lcd}${path}`;
    const where = `node ${url}`;
    let reply;
    try {
      reply = await getBounded(url, { what: 'node', timeoutMs: this.options.timeoutMs ?? CHAIN_TIMEOUT_MS, maxBytes: MAX_CHAIN_REPLY, ...(postJson === undefined ? {} : { postJson }) });
    } catch (e) {
      if (e instanceof BoundedReadError) throw new ChainError(e.reason === 'unreachable' ? 'CHAIN_UNREACHABLE' : e.reason === 'timeout' ? 'CHAIN_TIMEOUT' : 'CHAIN_BAD_REPLY', e.message);
      throw e;
    }
    let body: unknown;
    try {
      body = JSON.parse(reply.body.toString('utf8'));
    } catch {
      throw new ChainError('CHAIN_BAD_REPLY', `${where}: HTTP ${reply.status}, reply is not JSON; is this a Cosmos SDK node's LCD (REST, port 1317)?`);
    }
    return { status: reply.status, body: object(body, where, 'reply'), where };
  }

  private failure(where: string, status: number, body: Record<string, unknown>): ChainError {
    const message = text(body.message).slice(0, 400) || `HTTP ${status}`;
    const refusal = refusalOf(message);
    const advice = refusal ? adviceFor(refusal.code) : undefined;
    return new ChainError(refusal ? `CHAIN_REFUSED_${refusal.code}` : 'CHAIN_ERROR', `${where}: ${message}${advice ? `; ${advice}` : ''}`, refusal);
  }

  /** The chain id the node serves. */
  async chainId(): Promise<string> {
    const { status, body, where } = await this.call('/cosmos/base/tendermint/v1beta1/node_info');
    if (status !== 200) throw this.failure(where, status, body);
    const network = object(body.default_node_info, where, 'default_node_info').network;
    if (typeof network !== 'string' || network === '') throw new ChainError('CHAIN_BAD_REPLY', `${where}: no chain id (default_node_info.network)`);
    return network;
  }

  async latestHeight(): Promise<bigint> {
    const { status, body, where } = await this.call('/cosmos/base/tendermint/v1beta1/blocks/latest');
    if (status !== 200) throw this.failure(where, status, body);
    const header = object(object(body.block, where, 'block').header, where, 'block.header');
    return uint(header.height, where, 'block.header.height');
  }

  /** The account, or undefined when the chain has never seen it (never funded). */
  async account(address: string): Promise<ChainAccount | undefined> {
    const { status, body, where } = await this.call(`/cosmos/auth/v1beta1/accounts/${encodeURIComponent(address)}`);
    if (status === 404 || (status !== 200 && /not found/.test(text(body.message)))) return undefined;
    if (status !== 200) throw this.failure(where, status, body);
    const a = object(body.account, where, 'account');
    // A vesting or module account nests its base account; the fields are the same.
    const base = a.base_account !== undefined ? object(a.base_account, where, 'account.base_account') : a;
    if (base.address !== address) throw new ChainError('CHAIN_BAD_REPLY', `${where}: answered for another address`);
    const pub = base.pub_key as Record<string, unknown> | null | undefined;
    const key = pub && typeof pub.key === 'string' ? new Uint8Array(Buffer.from(pub.key, 'base64')) : undefined;
    return {
      address,
      accountNumber: uint(base.account_number, where, 'account_number'),
      sequence: uint(base.sequence, where, 'sequence'),
      ...(key ? { publicKey: key } : {}),
    };
  }

  async balance(address: string, denom: string): Promise<bigint> {
    const { status, body, where } = await this.call(`/cosmos/bank/v1beta1/balances/${encodeURIComponent(address)}`);
    if (status !== 200) throw this.failure(where, status, body);
    const list = Array.isArray(body.balances) ? body.balances : [];
    const coin = list.find((c: unknown) => (c as Record<string, unknown>)?.denom === denom) as Record<string, unknown> | undefined;
    return coin ? uint(coin.amount, where, 'balances[].amount') : 0n;
  }

  /** Gas the transaction used in a dry run (the sequence is checked, the signature is not). */
  async simulate(txBytes: Uint8Array): Promise<bigint> {
    const { status, body, where } = await this.call('/cosmos/tx/v1beta1/simulate', { tx_bytes: Buffer.from(txBytes).toString('base64') });
    if (status !== 200) throw this.failure(where, status, body);
    return uint(object(body.gas_info, where, 'gas_info').gas_used, where, 'gas_info.gas_used');
  }

  /** BROADCAST_MODE_SYNC: the answer is CheckTx's, which says the transaction may be included, never what it did. */
  async broadcast(txBytes: Uint8Array): Promise<BroadcastResult> {
    const { status, body, where } = await this.call('/cosmos/tx/v1beta1/txs', { tx_bytes: Buffer.from(txBytes).toString('base64'), mode: 'BROADCAST_MODE_SYNC' });
    if (status !== 200) throw this.failure(where, status, body);
    const r = object(body.tx_response, where, 'tx_response');
    const code = Number(uint(r.code ?? 0, where, 'code'));
    const txHash = text(r.txhash).toUpperCase();
    if (!/^[0-9A-F]{64}$/.test(txHash)) throw new ChainError('CHAIN_BAD_REPLY', `${where}: no txhash in the reply`);
    return { code, codespace: text(r.codespace), rawLog: text(r.raw_log).slice(0, 1000), txHash };
  }

  /** The transaction as included, or undefined while the node does not have it in a block. */
  async tx(hash: string): Promise<IncludedTx | undefined> {
    const { status, body, where } = await this.call(`/cosmos/tx/v1beta1/txs/${hash}`);
    if (status === 404 || (status !== 200 && /tx not found/.test(text(body.message)))) return undefined;
    if (status !== 200) throw this.failure(where, status, body);
    const r = object(body.tx_response, where, 'tx_response');
    if (text(r.txhash).toUpperCase() !== hash) throw new ChainError('CHAIN_BAD_REPLY', `${where}: answered for another transaction`);
    const events = Array.isArray(r.events) ? r.events : [];
    return {
      txHash: hash,
      height: uint(r.height, where, 'height'),
      code: Number(uint(r.code ?? 0, where, 'code')),
      codespace: text(r.codespace),
      rawLog: text(r.raw_log).slice(0, 1000),
      gasWanted: uint(r.gas_wanted ?? '0', where, 'gas_wanted'),
      gasUsed: uint(r.gas_used ?? '0', where, 'gas_used'),
      events: events.slice(0, 1000).map((e: unknown) => {
        const ev = object(e, where, 'events[]');
        const attrs = Array.isArray(ev.attributes) ? ev.attributes : [];
        return { type: text(ev.type), attributes: attrs.map((a: unknown) => ({ key: text((a as Record<string, unknown>)?.key), value: text((a as Record<string, unknown>)?.value) })) };
      }),
    };
  }

  /** The contract, or undefined when the chain has none with this id. */
  async contract(id: bigint, pubPrefix: string = PREFIXES.accountPub): Promise<ChainContract | undefined> {
    const { status, body, where } = await this.call(`/arkeo/contract/${id}`);
    if (status === 404 || (status !== 200 && /not found/i.test(text(body.message)))) return undefined;
    if (status !== 200) throw this.failure(where, status, body);
    return parseChainContract(body, where, id, pubPrefix);
  }

  /** Every contract, page by page (at most `maxPages` of 200: the chain's list is public and may be long). */
  async contracts(pubPrefix: string = PREFIXES.accountPub, maxPages = 50): Promise<ChainContract[]> {
    const all: ChainContract[] = [];
    let key = '';
    for (let page = 0; page < maxPages; page++) {
      const { status, body, where } = await this.call(`/arkeo/contracts?pagination.limit=200${key ? `&pagination.key=${encodeURIComponent(key)}` : ''}`);
      if (status !== 200) throw this.failure(where, status, body);
      const list = body.contract ?? [];
      if (!Array.isArray(list)) throw new ChainError('CHAIN_BAD_REPLY', `${where}: "contract" is not a list`);
      for (const c of list) all.push(parseChainContract(c, where, undefined, pubPrefix));
      const next = (body.pagination as Record<string, unknown> | null | undefined)?.next_key;
      if (typeof next !== 'string' || next === '') return all;
      key = next;
    }
    throw new ChainError('CHAIN_TOO_MANY', `node ${this.lcd}: more than ${maxPages * 200} contracts; not reading them all`);
  }

  /** The chain's service names by id (the registry a contract's `service` number points into). */
  async services(): Promise<Map<number, string>> {
    const { status, body, where } = await this.call('/arkeo/services');
    if (status !== 200) throw this.failure(where, status, body);
    const list = Array.isArray(body.services) ? body.services.slice(0, 10_000) : [];
    const names = new Map<number, string>();
    for (const sv of list) {
      const o = sv as Record<string, unknown>;
      const id = Number(o?.service_id);
      if (Number.isSafeInteger(id) && typeof o.name === 'string') names.set(id, o.name);
    }
    return names;
  }

  /** A provider's registration for a service (rates, settlement duration, status), or undefined when it has none. */
  async provider(providerPub: string, service: string): Promise<ChainProvider | undefined> {
    const { status, body, where } = await this.call(`/arkeo/provider/${encodeURIComponent(providerPub)}/${encodeURIComponent(service)}`);
    if (status === 404 || (status !== 200 && /not found/i.test(text(body.message)))) return undefined;
    if (status !== 200) throw this.failure(where, status, body);
    const p = object(body.provider, where, 'provider');
    const coins = (field: string) => {
      const list = p[field] ?? [];
      if (!Array.isArray(list)) throw new ChainError('CHAIN_BAD_REPLY', `${where}: "${field}" is not a list`);
      return list.map((c: unknown) => ({ denom: text(object(c, where, field).denom), amount: uint((c as Record<string, unknown>).amount, where, `${field}[].amount`).toString() }));
    };
    // A provider never registered for the service comes back as a zero record (last_update 0).
    if (p.last_update === undefined || p.last_update === '0' || p.last_update === 0) return undefined;
    return {
      status: text(p.status) || 'OFFLINE',
      payAsYouGoRate: coins('pay_as_you_go_rate'),
      subscriptionRate: coins('subscription_rate'),
      settlementDuration: uint(p.settlement_duration ?? '0', where, 'settlement_duration'),
      minContractDuration: uint(p.min_contract_duration ?? '0', where, 'min_contract_duration'),
      maxContractDuration: uint(p.max_contract_duration ?? '0', where, 'max_contract_duration'),
      metadataUri: text(p.metadata_uri),
    };
  }

  /** The open contract of (provider, service, spender), or undefined; pubkeys in bech32, the service by name. */
  async activeContract(providerPub: string, service: string, spenderPub: string, pubPrefix: string = PREFIXES.accountPub): Promise<ChainContract | undefined> {
    const path = `/arkeo/active-contract/${encodeURIComponent(providerPub)}/${encodeURIComponent(service)}/${encodeURIComponent(spenderPub)}`;
    const { status, body, where } = await this.call(path);
    if (status === 404 || (status !== 200 && /not found/i.test(text(body.message)))) return undefined;
    if (status !== 200) throw this.failure(where, status, body);
    const c = body.contract as Record<string, unknown> | undefined;
    // The keeper answers a zero contract when there is none.
    if (!c || c.height === '0' || c.height === 0 || c.id === '0') return undefined;
    return parseChainContract(body, where, undefined, pubPrefix);
  }
}

/**
 * An event's attributes as plain values: Arkeo's typed events JSON-encode each one (`"\"50\""`, quoted bech32
 * keys), the SDK's do not. `msg_index` is kept; the SDK's indexing flags are not attributes.
 */
export function eventAttributes(event: ChainEvent): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { key, value } of event.attributes) {
    let plain = value;
    if (value.startsWith('"') && value.endsWith('"')) {
      try {
        plain = String(JSON.parse(value));
      } catch {
        // not JSON after all: keep it as it is
      }
    }
    out[key] = plain;
  }
  return out;
}

/** The first event of this type (for the message at `msgIndex`, when given), decoded. */
export function findEvent(included: IncludedTx, type: string, msgIndex?: number): Record<string, string> | undefined {
  for (const e of included.events) {
    if (e.type !== type) continue;
    const attrs = eventAttributes(e);
    if (msgIndex === undefined || attrs.msg_index === undefined || attrs.msg_index === String(msgIndex)) return attrs;
  }
  return undefined;
}
