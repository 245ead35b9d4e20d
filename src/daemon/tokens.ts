import { randomBytes } from 'node:crypto';
import { sha256Hex } from '../crypto/secp256k1.js';
import { InputError } from '../errors.js';
import * as path from 'node:path';
import { ensurePrivateDir, writeFileAtomic, readPrivateFile } from '../fsutil.js';
import { parseContractId, parseDecimal } from '../claims/index.js';
import { MESSAGE_CODECS, MsgClaimContractIncomeCodec, MsgCloseContractCodec, MsgOpenContractCodec, MsgSendCodec } from '../tx/index.js';
import { takeToken, tokensAt, type Bucket } from './bucket.js';

/**
 * Bearer tokens. A token is shown once at creation; only its SHA-256 is stored (tokens are 256 random bits, so a
 * fast hash is enough). Each token carries a policy: which keys, operations and contracts it may use, an optional
 * spend ceiling, and a rate limit.
 */
export const OPERATIONS = ['claim', 'arkcontract', 'raw', 'tx'] as const;
export type Operation = (typeof OPERATIONS)[number];

/** The messages that move the signer's funds (a send's amount, an open's deposit): bounded by `max_amount`. */
export const FUND_MOVING_MESSAGES: readonly string[] = [MsgSendCodec.typeUrl, MsgOpenContractCodec.typeUrl];
/** The messages that name a contract: bounded by the tx policy's `contracts`. */
export const CONTRACT_MESSAGES: readonly string[] = [MsgClaimContractIncomeCodec.typeUrl, MsgCloseContractCodec.typeUrl];
/** The one denomination a tx policy's amounts are in (fees, sends, deposits). */
export const TX_DENOM = 'uarkeo';

/**
 * What a token with the `tx` operation may sign. There is no "any message": every field that bounds something the
 * token's messages can do is required (docs/decisions/daemon-tx-policy.md).
 */
export interface TxPolicy {
  /** Type URLs, each one the daemon can read (src/tx MESSAGE_CODECS); never "*". */
  messages: string[];
  /** Largest fee, in uarkeo (decimal string). */
  max_fee: string;
  /** Largest sum of send amounts and open deposits in one transaction, in uarkeo; present exactly when a send or an open is allowed. */
  max_amount?: string;
  /** Contracts its claims and closes may name; present exactly when claims or closes are allowed (default: the token's contracts). */
  contracts?: string[];
}

export interface Policy {
  /** Key names; ["*"] for all. */
  keys: string[];
  /** Default ["claim"]; "raw" (any message) and "tx" (transactions, under `tx`) must be granted explicitly. */
  operations: Operation[];
  /** Contract ids (decimal strings); ["*"] for all. */
  contracts: string[];
  /** Per-contract ceiling on nonce × rate for this token (decimal string), below the contract's own limit. */
  max_spend?: string;
  /**
   * Spend velocity per contract (decimal strings, uarkeo): this token's claims on a contract may reserve at most
   * this much in any hour / any day, beside the contract's own limits. Counted in the nonce store.
   */
  max_spend_per_hour?: string;
  max_spend_per_day?: string;
  /** Token bucket: sustained requests per second and burst size. */
  rate: { per_second: number; burst: number };
  /** Allow arkcontract signatures that could be settled as an over-limit claim (docs/guides/daemon.md). */
  allow_management_spend?: boolean;
  /** Claims only on contracts whose registered delegate is the key used: a stolen token signs nothing else. */
  delegate_contracts_only?: boolean;
  /** Present exactly when operations grants "tx". */
  tx?: TxPolicy;
}

export interface TokenRecord {
  name: string;
  sha256: string;
  policy: Policy;
  created_at: string;
  revoked_at?: string;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const TOKEN_PREFIX = 'ark_';

export const hashToken = (token: string) => sha256Hex(token);

function fail(where: string, why: string): never {
  throw new InputError('BAD_POLICY', `${where}: ${why}`);
}

/** Validate a policy from JSON; errors name the field. Missing fields get safe defaults. */
export function parsePolicy(raw: unknown, where = 'policy'): Policy {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(where, 'expected a JSON object');
  const o = raw as Record<string, unknown>;
  const allowed = ['keys', 'operations', 'contracts', 'max_spend', 'max_spend_per_hour', 'max_spend_per_day', 'rate', 'allow_management_spend', 'delegate_contracts_only', 'tx'];
  for (const k of Object.keys(o)) if (!allowed.includes(k)) fail(`${where}.${k}`, `unknown field (expected one of ${allowed.join(', ')})`);
  const list = (field: string, def: string[]): string[] => {
    const v = o[field] ?? def;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string') || v.length === 0) fail(`${where}.${field}`, 'expected a non-empty list of strings');
    return v as string[];
  };
  const keys = list('keys', []);
  const operations = list('operations', ['claim']);
  for (const op of operations) if (!OPERATIONS.includes(op as Operation)) fail(`${where}.operations`, `unknown operation "${op}" (expected ${OPERATIONS.join(', ')})`);
  const contracts = list('contracts', ['*']);
  for (const c of contracts) if (c !== '*') parseContractId(c);
  const rate = (o.rate ?? { per_second: 100, burst: 200 }) as Record<string, unknown>;
  if (typeof rate !== 'object' || rate === null) fail(`${where}.rate`, 'expected {per_second, burst}');
  const ps = rate.per_second;
  const burst = rate.burst ?? ps;
  if (typeof ps !== 'number' || !(ps > 0) || ps > 1e6) fail(`${where}.rate.per_second`, 'expected a number from >0 to 1000000');
  if (typeof burst !== 'number' || !Number.isInteger(burst) || burst < 1 || burst > 1e6) fail(`${where}.rate.burst`, 'expected an integer from 1 to 1000000');
  let maxSpend: string | undefined;
  if (o.max_spend !== undefined) {
    if (typeof o.max_spend !== 'string') fail(`${where}.max_spend`, 'expected a decimal string');
    maxSpend = String(parseDecimal(o.max_spend, `${where}.max_spend`, 0n, (1n << 128n) - 1n));
  }
  const velocity: Pick<Policy, 'max_spend_per_hour' | 'max_spend_per_day'> = {};
  for (const field of ['max_spend_per_hour', 'max_spend_per_day'] as const) {
    const v = o[field];
    if (v === undefined) continue;
    if (typeof v !== 'string') fail(`${where}.${field}`, 'expected a decimal string of uarkeo, e.g. "1000000"');
    velocity[field] = String(parseDecimal(v, `${where}.${field}`, 1n, (1n << 128n) - 1n));
  }
  if (o.allow_management_spend !== undefined && typeof o.allow_management_spend !== 'boolean') fail(`${where}.allow_management_spend`, 'expected true or false');
  if (o.delegate_contracts_only !== undefined && typeof o.delegate_contracts_only !== 'boolean') fail(`${where}.delegate_contracts_only`, 'expected true or false');
  const others = operations.filter((op) => op !== 'claim');
  if (o.delegate_contracts_only === true && others.length) fail(`${where}.operations`, `a delegate_contracts_only token signs claims only; remove ${others.join(' and ')}`);
  const tx = operations.includes('tx') || o.tx !== undefined ? parseTxPolicy(o.tx, `${where}.tx`, operations.includes('tx'), contracts) : undefined;
  return {
    keys,
    operations: operations as Operation[],
    contracts,
    max_spend: maxSpend,
    ...velocity,
    rate: { per_second: ps, burst },
    allow_management_spend: o.allow_management_spend as boolean | undefined,
    ...(o.delegate_contracts_only === true ? { delegate_contracts_only: true } : {}),
    ...(tx ? { tx } : {}),
  };
}

/** A coin amount as the chain holds it (sdk Int, 256 bits): a canonical decimal string. */
const AMOUNT = /^(0|[1-9][0-9]{0,77})$/;
const MAX_AMOUNT = (1n << 256n) - 1n;

function amountOf(v: unknown, where: string): string {
  if (typeof v !== 'string' || !AMOUNT.test(v) || BigInt(v) > MAX_AMOUNT) fail(where, `expected a decimal string of ${TX_DENOM} (digits only, no leading zeros)`);
  return v;
}

/**
 * The `tx` object. Granting the operation without it is refused (a policy never means "any message"), and so is
 * the object without the operation, or a bound on something its messages cannot do: a typo must not sit there
 * looking like a limit.
 */
function parseTxPolicy(raw: unknown, where: string, granted: boolean, tokenContracts: string[]): TxPolicy {
  const example = '{"messages": ["/cosmos.bank.v1beta1.MsgSend"], "max_fee": "2000", "max_amount": "1000000"}';
  if (!granted) fail(where, 'given, but operations does not grant "tx"; add tx to operations, or remove this field');
  if (raw === undefined) fail(where, `operations grants "tx", so the policy must say which transactions: add a tx object to the policy JSON (daemon token create --policy), e.g. ${example}`);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(where, `expected a JSON object, e.g. ${example}`);
  const o = raw as Record<string, unknown>;
  const known = ['messages', 'max_fee', 'max_amount', 'contracts'];
  for (const k of Object.keys(o)) if (!known.includes(k)) fail(`${where}.${k}`, `unknown field (expected one of ${known.join(', ')})`);
  const messages = o.messages;
  const readable = [...MESSAGE_CODECS.keys()];
  if (!Array.isArray(messages) || messages.length === 0 || !messages.every((m) => typeof m === 'string')) fail(`${where}.messages`, `expected a non-empty list of type URLs from: ${readable.join(', ')}`);
  for (const m of messages as string[]) {
    if (m === '*') fail(`${where}.messages`, `"*" is not accepted: name each message the token may sign (${readable.join(', ')})`);
    if (!MESSAGE_CODECS.has(m)) fail(`${where}.messages`, `${/^\/[A-Za-z0-9._]{1,128}$/.test(m) ? `"${m}" is not a message the daemon can read` : 'an entry is not a type URL'}; expected some of: ${readable.join(', ')}`);
  }
  const list = [...new Set(messages as string[])];
  if (o.max_fee === undefined) fail(`${where}.max_fee`, `required: the largest fee, in ${TX_DENOM}, the token may sign (every transaction pays one)`);
  const maxFee = amountOf(o.max_fee, `${where}.max_fee`);
  const movesFunds = list.some((m) => FUND_MOVING_MESSAGES.includes(m));
  let maxAmount: string | undefined;
  if (movesFunds) {
    if (o.max_amount === undefined) fail(`${where}.max_amount`, `required with ${list.filter((m) => FUND_MOVING_MESSAGES.includes(m)).join(' and ')}: the largest sum of send amounts and open deposits in one transaction, in ${TX_DENOM}`);
    maxAmount = amountOf(o.max_amount, `${where}.max_amount`);
  } else if (o.max_amount !== undefined) fail(`${where}.max_amount`, `bounds sends and opens only, and messages lists neither; remove it, or add ${FUND_MOVING_MESSAGES.join(' or ')}`);
  const namesContracts = list.some((m) => CONTRACT_MESSAGES.includes(m));
  let contracts: string[] | undefined;
  if (namesContracts) {
    const v = o.contracts ?? tokenContracts;
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string')) fail(`${where}.contracts`, 'expected a non-empty list of contract ids, or ["*"]');
    for (const c of v as string[]) if (c !== '*') contractIdOf(c, `${where}.contracts`);
    contracts = v as string[];
  } else if (o.contracts !== undefined) fail(`${where}.contracts`, `bounds claims and closes only, and messages lists neither; remove it, or add ${CONTRACT_MESSAGES.join(' or ')}`);
  return { messages: list, max_fee: maxFee, ...(maxAmount !== undefined ? { max_amount: maxAmount } : {}), ...(contracts ? { contracts } : {}) };
}

function contractIdOf(text: string, where: string): bigint {
  try {
    return parseContractId(text);
  } catch (e) {
    if (e instanceof InputError) fail(where, `${e.message}`);
    throw e;
  }
}

export class TokenStore {
  private records: TokenRecord[] = [];
  private byHash = new Map<string, TokenRecord>();

  private constructor(readonly file: string) {}

  /** Load (a missing file is an empty store). Throws on a corrupt file rather than serving with no tokens. */
  static load(file: string): TokenStore {
    const store = new TokenStore(file);
    const raw = readPrivateFile(file, 4 * 1024 * 1024);
    if (raw) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new InputError('BAD_TOKENS', `${file}: not JSON`);
      }
      if (!Array.isArray(parsed)) throw new InputError('BAD_TOKENS', `${file}: expected a JSON list of tokens`);
      store.records = parsed.map((r: TokenRecord, i: number) => {
        if (typeof r?.name !== 'string' || !/^[0-9a-f]{64}$/.test(r?.sha256 ?? '')) throw new InputError('BAD_TOKENS', `${file}: entry ${i}: needs name and sha256`);
        return { ...r, policy: parsePolicy(r.policy, `${file}: ${r.name}.policy`) };
      });
    }
    for (const r of store.records) if (!r.revoked_at) store.byHash.set(r.sha256, r);
    return store;
  }

  /** The live (not revoked) token matching this bearer value. */
  lookup(token: string): TokenRecord | undefined {
    if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return undefined;
    return this.byHash.get(hashToken(token));
  }

  list(): TokenRecord[] {
    return this.records.slice();
  }

  /** Create a token; returns the secret, which is never stored. */
  create(name: string, policy: Policy): string {
    if (!NAME_RE.test(name)) throw new InputError('BAD_TOKEN_NAME', 'token name: letters, digits, ".", "_" or "-", at most 64');
    if (this.records.some((r) => r.name === name && !r.revoked_at)) throw new InputError('TOKEN_EXISTS', `token ${name}: exists; revoke it first`);
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    this.records.push({ name, sha256: hashToken(token), policy, created_at: new Date().toISOString() });
    this.save();
    return token;
  }

  revoke(name: string): void {
    const r = this.records.find((x) => x.name === name && !x.revoked_at);
    if (!r) throw new InputError('NO_SUCH_TOKEN', `token ${name}: no live token with this name`);
    r.revoked_at = new Date().toISOString();
    this.save();
  }

  private save(): void {
    ensurePrivateDir(path.dirname(this.file));
    writeFileAtomic(this.file, JSON.stringify(this.records, null, 1) + '\n');
  }
}


/** Token bucket per token name. */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  /** `clock` returns milliseconds; tests inject one to check refill without sleeping. */
  constructor(private readonly clock: () => number = () => performance.now()) {}

  take(name: string, rate: Policy['rate']): boolean {
    const now = this.clock();
    let b = this.buckets.get(name);
    if (!b) this.buckets.set(name, (b = { tokens: rate.burst, at: now }));
    return takeToken(b, now, rate.burst, rate.per_second);
  }

  /** Seconds until `name` may take one again (0 if it may now): the Retry-After of a refusal. Not on the hot path. */
  retryAfter(name: string, rate: Policy['rate']): number {
    const b = this.buckets.get(name);
    if (!b) return 0;
    const tokens = tokensAt(b, this.clock(), rate.burst, rate.per_second);
    return tokens >= 1 ? 0 : (1 - tokens) / rate.per_second;
  }
}
