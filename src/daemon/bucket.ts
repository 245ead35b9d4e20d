/**
 * The token bucket shared by the per-token rate limit (tokens.ts) and the per-peer failure budget (peers.ts): a
 * bucket holds `tokens` as of `at` (milliseconds), earns `perSecond` back, and holds at most `burst`.
 */
export interface Bucket {
  tokens: number;
  at: number;
}

/** The tokens `b` holds at `now`, without changing it. */
export function tokensAt(b: Bucket, now: number, burst: number, perSecond: number): number {
  return Math.min(burst, b.tokens + ((now - b.at) / 1000) * perSecond);
}

/** Refill `b` up to `now`, then take one token if it holds one. */
export function takeToken(b: Bucket, now: number, burst: number, perSecond: number): boolean {
  b.tokens = tokensAt(b, now, burst, perSecond);
  b.at = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}
