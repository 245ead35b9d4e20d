import { createHmac, timingSafeEqual } from 'node:crypto';
import { GENESIS, sha256Hex } from './log.js';

const MAC_SUFFIX = /,"mac":"([0-9a-f]{64})"\}$/;

/**
 * The checks of verifyAuditLog (sequence, previous-hash link, MAC), one line at a time, so that a reader can
 * follow a growing log without holding it in memory. The problem texts are those of verifyAuditLog.
 */
export class AuditChainChecker {
  /** Entries checked so far (the last good sequence number). */
  entries = 0;
  /** SHA-256 of the last good line: what the next line's "prev" must be. */
  prev = GENESIS;
  /** The first broken link; nothing after it is checked. */
  problem: string | undefined;
  /** The sequence number (line) of the first broken link. */
  brokenAt: number | undefined;

  constructor(private readonly key?: Uint8Array) {}

  /** Check the next line (without its newline). Returns the parsed entry, or undefined when this line or an earlier one is broken. */
  next(line: string): Record<string, unknown> | undefined {
    if (this.problem !== undefined) return undefined;
    const n = this.entries + 1;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
      if (typeof entry !== 'object' || entry === null) throw new Error('not an object');
    } catch {
      return this.fail(n, `line ${n}: not a JSON entry (edited)`);
    }
    if (entry.seq !== n) return this.fail(n, `line ${n}: sequence ${String(entry.seq)} where ${n} was expected (an entry was deleted, inserted or reordered)`);
    if (entry.prev !== this.prev) return this.fail(n, `line ${n}: previous-hash link broken (line ${n - 1} was edited, or an entry was removed before line ${n})`);
    const m = MAC_SUFFIX.exec(line);
    if (!m) return this.fail(n, `line ${n}: no MAC (edited or forged)`);
    if (this.key) {
      const want = createHmac('sha256', this.key).update(line.slice(0, m.index)).digest();
      if (!timingSafeEqual(want, Buffer.from(m[1]!, 'hex'))) return this.fail(n, `line ${n}: MAC mismatch (edited or forged without the audit key)`);
    }
    this.prev = sha256Hex(line);
    this.entries = n;
    return entry;
  }

  private fail(n: number, problem: string): undefined {
    this.problem = problem;
    this.brokenAt = n;
    return undefined;
  }
}
