/**
 * Spend velocity: how much may be reserved for a contract in any hour and in any day, per scope. The nonce stores
 * check and record it inside the transaction that reserves the nonces (sqlite.ts, postgres.ts); this file holds
 * the arithmetic they share, with no I/O.
 *
 * A window slides over one-minute buckets (docs/decisions/spend-velocity.md): a reservation made at time t is
 * added to the bucket of t's minute, and a bucket counts in a window until the window's start has passed the
 * bucket's end, so a reservation counts against the hour for between 60 and 61 minutes. Reserved nonces count
 * when they are reserved, each at the contract's rate: a reserved nonce may be signed.
 */

/** A bucket is this many milliseconds (a minute): a day's spend of one scope is at most 1,441 rows. */
export const SPEND_BUCKET_MS = 60_000;

export const WINDOW_MS = { hour: 3_600_000, day: 86_400_000 } as const;
export type VelocityWindow = keyof typeof WINDOW_MS;

/** Spend velocity limits in uarkeo, as an operator writes them: at most `perHour` in any hour, `perDay` in any day. */
export interface VelocityLimits {
  perHour?: bigint;
  perDay?: bigint;
}

/** The scope of every claim on a contract; a daemon token's own claims on it are `token:<name>`. */
export const CONTRACT_SCOPE = 'contract';
export const tokenScope = (name: string) => `token:${name}`;

/** One limit a reservation must fit: at most `limit` (uarkeo) reserved under `scope`, on the contract, in any `window`. */
export interface SpendLimit {
  scope: string;
  window: VelocityWindow;
  limit: bigint;
}

/** What a reservation is held against: its cost per nonce (the contract's rate) and the limits it must fit. */
export interface SpendBudget {
  rate: bigint;
  limits: SpendLimit[];
}

/** One scope's spend on one contract: bucket (unix minute) → uarkeo reserved in it, over at least the last day. */
export type SpendBuckets = Map<number, bigint>;

/** Why nothing could be reserved: the limit that binds, and when a claim fits it again (none: never, as it stands). */
export interface VelocityRefusal {
  scope: string;
  window: VelocityWindow;
  limit: bigint;
  /** Spent in the window at `now`. */
  spent: bigint;
  /** What one claim costs (the rate). */
  cost: bigint;
  /** The store's clock, unix ms. */
  now: number;
  /** When one claim fits every refusing limit again, unix ms; undefined when the limit is below one claim's cost. */
  retryAt?: number;
}

/** Build the budget of a claim from the contract's limits and a token's; undefined when neither has one. */
export function spendBudget(rate: bigint, contract: VelocityLimits | undefined, token?: { name: string } & VelocityLimits): SpendBudget | undefined {
  const limits: SpendLimit[] = [];
  const add = (scope: string, l: VelocityLimits | undefined) => {
    if (l?.perHour !== undefined) limits.push({ scope, window: 'hour', limit: l.perHour });
    if (l?.perDay !== undefined) limits.push({ scope, window: 'day', limit: l.perDay });
  };
  add(CONTRACT_SCOPE, contract);
  if (token) add(tokenScope(token.name), token);
  return limits.length ? { rate, limits } : undefined;
}

/** The tighter of two limits (either may be absent). */
export function tighter(a: bigint | undefined, b: bigint | undefined): bigint | undefined {
  return a === undefined ? b : b === undefined || a <= b ? a : b;
}

export const bucketOf = (ms: number) => Math.floor(ms / SPEND_BUCKET_MS);

/** The oldest bucket that still counts in `window` at `now`: one whose end is after the window's start. */
export function firstBucket(now: number, window: VelocityWindow): number {
  return Math.floor((now - WINDOW_MS[window]) / SPEND_BUCKET_MS);
}

/** The oldest bucket a store must keep: the day window's first. */
export const keepFrom = (now: number) => firstBucket(now, 'day');

export function spentIn(buckets: SpendBuckets, window: VelocityWindow, now: number): bigint {
  const from = firstBucket(now, window);
  let sum = 0n;
  for (const [b, amount] of buckets) if (b >= from) sum += amount;
  return sum;
}

/**
 * When one more claim costing `cost` fits `limit` again, if nothing else is reserved meanwhile: the end of the
 * bucket whose leaving the window frees enough, plus the window. undefined when no wait helps (cost > limit).
 */
export function retryAt(buckets: SpendBuckets, window: VelocityWindow, limit: bigint, cost: bigint, now: number): number | undefined {
  if (cost > limit) return undefined;
  const from = firstBucket(now, window);
  const inWindow = [...buckets].filter(([b]) => b >= from).sort((x, y) => x[0] - y[0]);
  const excess = inWindow.reduce((s, [, a]) => s + a, 0n) + cost - limit;
  if (excess <= 0n) return now;
  let freed = 0n;
  for (const [b, amount] of inWindow) {
    freed += amount;
    if (freed >= excess) return (b + 1) * SPEND_BUCKET_MS + WINDOW_MS[window];
  }
  return undefined; // unreachable: freeing every bucket leaves cost <= limit
}

/**
 * How many of `count` nonces the budget admits now (each costs `budget.rate` in every scope), or, when not even
 * one fits, the refusal to report: of the limits that refuse, the one that frees last (a limit no wait frees first).
 */
export function admit(budget: SpendBudget, bucketsOf: (scope: string) => SpendBuckets, count: bigint, now: number): { count: bigint } | { refusal: VelocityRefusal } {
  let n = count;
  const refusing: VelocityRefusal[] = [];
  for (const l of budget.limits) {
    const buckets = bucketsOf(l.scope);
    const spent = spentIn(buckets, l.window, now);
    const room = l.limit - spent;
    const fits = room < 0n || budget.rate <= 0n ? 0n : room / budget.rate;
    if (fits < n) n = fits;
    if (fits === 0n) refusing.push({ scope: l.scope, window: l.window, limit: l.limit, spent, cost: budget.rate, now, retryAt: retryAt(buckets, l.window, l.limit, budget.rate, now) });
  }
  if (n > 0n) return { count: n };
  // Every refusing limit must have freed before a claim fits: the one that frees last (or never) says when.
  const never = refusing.find((r) => r.retryAt === undefined);
  return { refusal: never ?? refusing.reduce((a, b) => (b.retryAt! > a.retryAt! ? b : a)) };
}

/** The scopes a budget charges, each once. */
export function scopesOf(budget: SpendBudget): string[] {
  return [...new Set(budget.limits.map((l) => l.scope))];
}
