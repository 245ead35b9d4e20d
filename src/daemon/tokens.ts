import { randomBytes } from 'node:crypto';
import { sha256Hex } from '../crypto/secp256k1.js';
import { InputError } from '../errors.js';
import * as path from 'node:path';
import { ensurePrivateDir, writeFileAtomic, readPrivateFile } from '../fsutil.js';
import { parseContractId, parseDecimal } from '../claims/index.js';
import { takeToken, tokensAt, type Bucket } from './bucket.js';

/**
 * Bearer tokens. A token is shown once at creation; only its SHA-256 is stored (tokens are 256 random bits, so a
 * fast hash is enough). Each token carries a policy: which keys, operations and contracts it may use, an optional
 * spend ceiling, and a rate limit.
 */
export const OPERATIONS = ['claim', 'arkcontract', 'raw'] as const;
export type Operation = (typeof OPERATIONS)[number];

export interface Policy {
  /** Key names; ["*"] for all. */
  keys: string[];
  /** Default ["claim"]; "raw" (any message) must be granted explicitly. */
  operations: Operation[];
  /** Contract ids (decimal strings); ["*"] for all. */
  contracts: string[];
  /** Per-contract ceiling on nonce × rate for this token (decimal string), below the contract's own limit. */
  max_spend?: string;
  /** Token bucket: sustained requests per second and burst size. */
  rate: { per_second: number; burst: number };
  /** Allow arkcontract signatures that could be settled as an over-limit claim (docs/guides/daemon.md). */
  allow_management_spend?: boolean;
  /** Claims only on contracts whose registered delegate is the key used: a stolen token signs nothing else. */
  delegate_contracts_only?: boolean;
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
  const allowed = ['keys', 'operations', 'contracts', 'max_spend', 'rate', 'allow_management_spend', 'delegate_contracts_only'];
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
  if (o.allow_management_spend !== undefined && typeof o.allow_management_spend !== 'boolean') fail(`${where}.allow_management_spend`, 'expected true or false');
  if (o.delegate_contracts_only !== undefined && typeof o.delegate_contracts_only !== 'boolean') fail(`${where}.delegate_contracts_only`, 'expected true or false');
  if (o.delegate_contracts_only === true && operations.some((op) => op !== 'claim')) fail(`${where}.operations`, 'a delegate_contracts_only token signs claims only; remove arkcontract and raw');
  return {
    keys,
    operations: operations as Operation[],
    contracts,
    max_spend: maxSpend,
    rate: { per_second: ps, burst },
    allow_management_spend: o.allow_management_spend as boolean | undefined,
    ...(o.delegate_contracts_only === true ? { delegate_contracts_only: true } : {}),
  };
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
