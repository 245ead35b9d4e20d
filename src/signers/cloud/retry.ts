import { ArkeoSignerError } from '../../errors.js';

/**
 * A cloud KMS call failed, or answered something we refuse. `code` is stable for programs; the message is one
 * line that names the key and says what to do, and never carries a token or credential (see `oneLine`).
 */
export class KmsError extends ArkeoSignerError {}

/** How an SDK error is to be treated: retried after a pause (throttle, transient) or thrown at once (fatal). */
export interface Classified {
  kind: 'throttle' | 'transient' | 'fatal';
  /** The server's own hint (Azure `Retry-After`), in milliseconds. */
  retryAfterMs?: number;
  /** The error to throw if this is the last attempt (or fatal). */
  error: KmsError;
}

export interface RetryPolicy {
  /** Per attempt: the call is aborted after this long. Default 5,000 ms. */
  timeoutMs: number;
  /** Attempts after the first, for throttling and transient errors only. Default 4. */
  retries: number;
  /** Backoff: full jitter over min(max, base × 2^attempt). Defaults 50 ms and 2,000 ms. */
  backoffBaseMs: number;
  backoffMaxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { timeoutMs: 5_000, retries: 4, backoffBaseMs: 50, backoffMaxMs: 2_000 };

/** Upper bounds of the latency histogram's buckets, in milliseconds (the last bucket is +Inf). */
export const LATENCY_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;

export interface CloudStatsSnapshot {
  /** API attempts made (each retry is one more). */
  calls: number;
  /** Attempts answered with throttling (AWS ThrottlingException, Azure 429, GCP RESOURCE_EXHAUSTED). */
  throttles: number;
  /** Attempts that failed otherwise (transient or fatal, timeouts included). */
  errors: number;
  /** Attempts that hit the per-call timeout. */
  timeouts: number;
  /** Retries made. */
  retries: number;
  /** Signatures released (low-S, verified). */
  signatures: number;
  /** Released signatures whose raw form from the backend was high-S and was normalised. */
  highSNormalised: number;
  /** Signatures refused by the self-check (never retried, never released). */
  selfCheckFailures: number;
  /** Backend latency of attempts: count, sum and a cumulative histogram over LATENCY_BUCKETS_MS (+Inf last). */
  latency: { count: number; sumMs: number; maxMs: number; buckets: number[] };
}

/**
 * Counters a daemon can expose (as Prometheus metrics or otherwise); plain numbers, no dependency. One object
 * may be shared by several signers. `onAttempt`, if set, is called after each backend attempt.
 */
export class CloudStats {
  calls = 0;
  throttles = 0;
  errors = 0;
  timeouts = 0;
  retries = 0;
  signatures = 0;
  highSNormalised = 0;
  selfCheckFailures = 0;
  private latencyCount = 0;
  private latencySum = 0;
  private latencyMax = 0;
  private readonly latencyBuckets = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
  onAttempt?: (a: { op: string; ms: number; outcome: 'ok' | 'throttle' | 'error' | 'timeout' }) => void;

  recordLatency(ms: number): void {
    this.latencyCount++;
    this.latencySum += ms;
    if (ms > this.latencyMax) this.latencyMax = ms;
    let i = LATENCY_BUCKETS_MS.findIndex((b) => ms <= b);
    if (i < 0) i = LATENCY_BUCKETS_MS.length;
    this.latencyBuckets[i]!++;
  }

  snapshot(): CloudStatsSnapshot {
    let run = 0;
    const cumulative = this.latencyBuckets.map((n) => (run += n));
    return {
      calls: this.calls,
      throttles: this.throttles,
      errors: this.errors,
      timeouts: this.timeouts,
      retries: this.retries,
      signatures: this.signatures,
      highSNormalised: this.highSNormalised,
      selfCheckFailures: this.selfCheckFailures,
      latency: { count: this.latencyCount, sumMs: this.latencySum, maxMs: this.latencyMax, buckets: cumulative },
    };
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Full jitter (AWS architecture blog's "full jitter"): uniform in [0, min(max, base × 2^attempt)]. */
export function backoffMs(attempt: number, policy: RetryPolicy): number {
  return Math.random() * Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** attempt);
}

/**
 * Run one backend call with a per-attempt timeout, retrying throttling and transient failures with jittered
 * exponential backoff (or the server's Retry-After, capped at backoffMaxMs). Fatal errors are thrown at once.
 * Nothing here serialises calls: any number may be in flight.
 */
export async function withRetry<T>(op: string, policy: RetryPolicy, stats: CloudStats, classify: (e: unknown, timedOut: boolean) => Classified, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error(`timed out after ${policy.timeoutMs} ms`));
    }, policy.timeoutMs);
    const started = performance.now();
    stats.calls++;
    try {
      const out = await call(controller.signal);
      const ms = performance.now() - started;
      stats.recordLatency(ms);
      stats.onAttempt?.({ op, ms, outcome: 'ok' });
      return out;
    } catch (e) {
      const ms = performance.now() - started;
      stats.recordLatency(ms);
      const c = classify(e, timedOut);
      if (c.kind === 'throttle') stats.throttles++;
      else stats.errors++;
      if (timedOut) stats.timeouts++;
      stats.onAttempt?.({ op, ms, outcome: c.kind === 'throttle' ? 'throttle' : timedOut ? 'timeout' : 'error' });
      if (c.kind === 'fatal') throw c.error;
      if (attempt >= policy.retries) {
        throw new KmsError(c.error.code, `${c.error.message} (gave up after ${attempt + 1} attempts)`, { cause: c.error });
      }
      stats.retries++;
      const pause = c.retryAfterMs !== undefined ? Math.min(c.retryAfterMs, policy.backoffMaxMs) + Math.random() * policy.backoffBaseMs : backoffMs(attempt, policy);
      await sleep(pause);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * An SDK's error text made safe for one line: newlines folded, anything shaped like a bearer token, a JWT, a
 * SigV4 credential or signature, or a SAS/query secret replaced by `***`, and at most 200 characters.
 */
export function oneLine(text: unknown): string {
  let s = String(text ?? '').replace(/\s+/g, ' ').trim();
  s = s
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 ***')
    .replace(/eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*/g, '***')
    .replace(/\b(Signature|Credential|X-Amz-Security-Token|X-Amz-Credential|X-Amz-Signature|access_token|refresh_token|client_secret|sig|token)=([^&\s,;"]+)/gi, '$1=***')
    .replace(/\b(AKIA|ASIA)[A-Z0-9]{12,}/g, '***');
  return s.length > 200 ? `${s.slice(0, 197)}...` : s;
}
