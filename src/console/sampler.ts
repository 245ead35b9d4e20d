import * as http from 'node:http';

/**
 * The daemon as its operators' tools see it: `/healthz` and `/metrics` over its socket (neither needs a token).
 * The sampler keeps a window of derived points (claims/s, p50/p99 latency, auth failures) for the Overview chart.
 */

export interface Health {
  reachable: boolean;
  status?: number;
  /** The daemon's /healthz body as it is (keys, nonce_store, audit, and whatever else it reports). */
  body?: Record<string, unknown>;
  error?: string;
  at: number;
}

export interface Sample {
  /** Unix seconds (fractional: samples may come faster than one a second). */
  t: number;
  claimsPerSecond: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  authFailures: number;
}

const CLAIM_ROUTE = 'POST /v1/claims';
const MAX_REPLY = 4 * 1024 * 1024;

export function getOverSocket(socket: string, path: string, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, path, method: 'GET', agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_REPLY) req.destroy(new Error('reply too large'));
        else chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer in time')));
    req.on('error', reject);
    req.end();
  });
}

/** One metric sample line: name, labels, value. */
export interface PromLine {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text format, as far as the console needs it (no timestamps, no exemplars). */
export function parseProm(text: string): PromLine[] {
  const out: PromLine[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const value = m[3] === '+Inf' ? Infinity : Number(m[3]);
    out.push({ name: m[1]!, labels, value });
  }
  return out;
}

interface Counters {
  at: number;
  claimsOk: number;
  authFailures: number;
  /** Cumulative bucket counts of the claim route's latency, by upper bound. */
  buckets: [number, number][];
}

function counters(lines: PromLine[], at: number): Counters {
  let claimsOk = 0;
  let authFailures = 0;
  const buckets: [number, number][] = [];
  for (const l of lines) {
    if (l.name === 'arkeo_signer_signatures_total' && l.labels.operation === 'claim' && l.labels.result === 'ok') claimsOk += l.value;
    else if (l.name === 'arkeo_signer_auth_failures_total') authFailures += l.value;
    else if (l.name === 'arkeo_signer_request_seconds_bucket' && l.labels.operation === CLAIM_ROUTE) buckets.push([l.labels.le === '+Inf' ? Infinity : Number(l.labels.le), l.value]);
  }
  buckets.sort((a, b) => a[0] - b[0]);
  return { at, claimsOk, authFailures, buckets };
}

/** histogram_quantile over the difference of two cumulative histograms (linear within a bucket). */
export function quantile(q: number, before: [number, number][], after: [number, number][]): number | null {
  const delta = after.map(([le, c], i) => [le, c - (before.find((b) => b[0] === le)?.[1] ?? 0)] as [number, number]);
  const total = delta.at(-1)?.[1] ?? 0;
  if (!(total > 0)) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, c] of delta) {
    if (c >= rank) {
      if (le === Infinity) return prevLe; // above the highest finite bound: report that bound
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(c - prevCount, 1e-9);
    }
    prevLe = le;
    prevCount = c;
  }
  return prevLe;
}

export class DaemonSampler {
  health: Health = { reachable: false, at: 0 };
  readonly samples: Sample[] = [];
  private prev: Counters | undefined;
  private timer: NodeJS.Timeout | undefined;
  private metricsText = '';

  constructor(
    private readonly socket: string,
    private readonly intervalMs: number,
    private readonly windowMs = 3600_000,
  ) {}

  start(): void {
    void this.sample();
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** The last /metrics lines (for per-key and per-status counters). */
  get metrics(): PromLine[] {
    return parseProm(this.metricsText);
  }

  private busy = false;

  async sample(): Promise<void> {
    // A slow daemon must not pile up overlapping samples (nor put them out of order).
    if (this.busy) return;
    this.busy = true;
    try {
      await this.sampleOnce();
    } finally {
      this.busy = false;
    }
  }

  private async sampleOnce(): Promise<void> {
    const at = Date.now();
    try {
      const h = await getOverSocket(this.socket, '/healthz');
      let body: Record<string, unknown> | undefined;
      try {
        body = JSON.parse(h.body) as Record<string, unknown>;
      } catch {
        body = undefined;
      }
      this.health = { reachable: true, status: h.status, body, at, error: body ? undefined : 'healthz reply is not JSON' };
      const m = await getOverSocket(this.socket, '/metrics');
      if (m.status !== 200) throw new Error(`/metrics answered ${m.status}`);
      this.metricsText = m.body;
      const now = counters(parseProm(m.body), at);
      const prev = this.prev;
      this.prev = now;
      // A restart resets counters: that interval says nothing.
      if (prev && now.claimsOk >= prev.claimsOk) {
        const seconds = (now.at - prev.at) / 1000;
        const p50 = quantile(0.5, prev.buckets, now.buckets);
        const p99 = quantile(0.99, prev.buckets, now.buckets);
        this.push({
          t: at / 1000,
          claimsPerSecond: seconds > 0 ? (now.claimsOk - prev.claimsOk) / seconds : null,
          p50Ms: p50 === null ? null : p50 * 1000,
          p99Ms: p99 === null ? null : p99 * 1000,
          authFailures: Math.max(0, now.authFailures - prev.authFailures),
        });
      }
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      this.health = { reachable: false, at, error: code === 'ENOENT' || code === 'ECONNREFUSED' ? `daemon not running (${code} on ${this.socket})` : `daemon: ${code ?? (e as Error).message}` };
      this.prev = undefined;
      this.push({ t: at / 1000, claimsPerSecond: null, p50Ms: null, p99Ms: null, authFailures: 0 });
    }
  }

  private push(s: Sample): void {
    this.samples.push(s);
    const oldest = s.t - this.windowMs / 1000;
    while (this.samples.length && this.samples[0]!.t < oldest) this.samples.shift();
  }

  /** Auth failures counted by the daemon in the last `ms` (includes those over the per-peer budget, which are not audited). */
  authFailuresSince(ms: number): number {
    const since = (Date.now() - ms) / 1000;
    return this.samples.filter((s) => s.t >= since).reduce((a, s) => a + s.authFailures, 0);
  }
}
