import { isIPv4, isIPv6 } from 'node:net';
import { takeToken, tokensAt, type Bucket } from './bucket.js';

/**
 * Requests refused before any token is accepted (a missing, unknown or revoked token; an unknown route or method)
 * cost the caller nothing but each writes an audit line. A per-peer budget keeps a broken or hostile client from
 * filling the disk with them; requests with a valid token never draw on it.
 *
 * A peer is, on the unix socket, the caller's uid (SO_PEERCRED; the socket is 0600, so in practice the daemon's
 * user or root), or the whole socket when the peercred addon is not built. Per connection would not do: a client
 * opens a new connection for a fresh budget. On TLS it is the remote IPv4 address or IPv6 /64 (one host is
 * usually given a whole /64).
 */
export function peerOf(transport: string, uid: number | undefined, remoteAddress: string | undefined): string {
  if (transport === 'unix') return uid !== undefined ? `uid:${uid}` : 'unix';
  let a = (remoteAddress ?? '').replace(/%.*$/, '');
  if (/^::ffff:/i.test(a) && isIPv4(a.slice(7))) a = a.slice(7);
  if (isIPv4(a)) return `ip:${a}`;
  if (isIPv6(a)) return `ip:${ipv6Prefix64(a)}`;
  return `${transport}:?`;
}

/** The first four groups of an IPv6 address, expanded: "2001:db8::1" → "2001:db8:0:0::/64". */
function ipv6Prefix64(a: string): string {
  const [head, tail] = a.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  // An embedded IPv4 tail ("::1.2.3.4") is two groups; it only ever sits in the last 32 bits.
  const tailGroups = t.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const groups = tail === undefined ? h : [...h, ...Array<string>(Math.max(0, 8 - h.length - tailGroups)).fill('0'), ...t];
  return groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':') + '::/64';
}

export interface FailureBudgetOptions {
  /** Failures a peer may have in a row before it is refused. */
  burst: number;
  /** Failures per second it earns back. */
  perSecond: number;
  /** While over budget, at most one refusal per peer per window is audited. */
  windowMs: number;
  /** Peers tracked at once; past this, new peers share one budget (memory stays bounded). */
  maxPeers: number;
}

export const FAILURE_BUDGET: FailureBudgetOptions = { burst: 10, perSecond: 1 / 6, windowMs: 60_000, maxPeers: 10_000 };

export type FailureVerdict =
  | { allowed: true }
  /** `audit`: whether this refusal is the one of its window to record; `unaudited`: refusals since the last one that was. */
  | { allowed: false; retryAfterSeconds: number; audit: boolean; unaudited: number };

const OVERFLOW = '(overflow)';

interface PeerState extends Bucket {
  auditedAt: number;
  unaudited: number;
}

export class FailureBudget {
  private readonly peers = new Map<string, PeerState>();
  private prunedAt = -Infinity;

  constructor(
    private readonly options: FailureBudgetOptions = FAILURE_BUDGET,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** Record one failure of `peer`: allowed while within budget, else refused with a Retry-After. */
  fail(peer: string): FailureVerdict {
    const { burst, perSecond, windowMs } = this.options;
    const now = this.clock();
    const p = this.stateOf(peer, now);
    if (takeToken(p, now, burst, perSecond)) return { allowed: true };
    // Rounded to the millisecond first, so float noise (3.0000000000000004 s) does not add a second.
    const retryAfterSeconds = Math.max(1, Math.ceil(Math.round(((1 - p.tokens) / perSecond) * 1000) / 1000));
    if (now - p.auditedAt >= windowMs) {
      const unaudited = p.unaudited;
      p.auditedAt = now;
      p.unaudited = 0;
      return { allowed: false, retryAfterSeconds, audit: true, unaudited };
    }
    p.unaudited++;
    return { allowed: false, retryAfterSeconds, audit: false, unaudited: p.unaudited };
  }

  get size(): number {
    return this.peers.size;
  }

  private stateOf(peer: string, now: number): PeerState {
    let p = this.peers.get(peer);
    if (p) return p;
    if (this.peers.size >= this.options.maxPeers && peer !== OVERFLOW) {
      // A full table is scanned at most once a second: under a flood from many addresses it stays full.
      if (now - this.prunedAt >= 1000) this.prune(now);
      if (this.peers.size >= this.options.maxPeers) return this.stateOf(OVERFLOW, now);
    }
    p = { tokens: this.options.burst, at: now, auditedAt: -Infinity, unaudited: 0 };
    this.peers.set(peer, p);
    return p;
  }

  /** Forget peers whose budget has refilled and whose last audited refusal is a window old: they are as new. */
  private prune(now: number): void {
    const { burst, perSecond, windowMs } = this.options;
    this.prunedAt = now;
    for (const [k, p] of this.peers) {
      if (k !== OVERFLOW && tokensAt(p, now, burst, perSecond) >= burst && now - p.auditedAt >= windowMs) this.peers.delete(k);
    }
  }
}
