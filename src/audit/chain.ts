import * as fs from 'node:fs';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { sha256Hex } from '../crypto/secp256k1.js';

/**
 * The audit log's chain, checked in one place for every reader (the daemon at start, `audit verify`, the console):
 * each line is a JSON entry with its sequence number, the SHA-256 of the previous line and, last, an HMAC-SHA256
 * under the log's key; a head file beside the log records the last committed (seq, hash).
 */
export const GENESIS = '0'.repeat(64);
export const MAC_SUFFIX = /,"mac":"([0-9a-f]{64})"\}$/;

export { sha256Hex };

export function macOf(key: Uint8Array, body: string): string {
  return createHmac('sha256', key).update(body).digest('hex');
}

/** Does the line end in the MAC of the rest under `key`? (`mac` is MAC_SUFFIX's match on the line.) */
export function macMatches(key: Uint8Array, line: string, mac: RegExpExecArray): boolean {
  return timingSafeEqual(Buffer.from(macOf(key, line.slice(0, mac.index)), 'hex'), Buffer.from(mac[1]!, 'hex'));
}

/** `<log>.key` holds the HMAC key; `<log>.head` the last committed {seq, hash}. */
export const keyPathOf = (logPath: string) => `${logPath}.key`;
export const headPathOf = (logPath: string) => `${logPath}.head`;

/** The head file of a log: its (seq, hash), or why there is none to use. */
export function readHeadFile(logPath: string): { seq: number; hash: string } | 'missing' | 'unreadable' {
  let text: string;
  try {
    text = fs.readFileSync(headPathOf(logPath), 'utf8');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'unreadable';
  }
  try {
    const h = JSON.parse(text) as { seq: unknown; hash: unknown };
    if (!Number.isSafeInteger(h.seq) || (h.seq as number) < 0 || typeof h.hash !== 'string' || !/^[0-9a-f]{64}$/.test(h.hash)) return 'unreadable';
    return { seq: h.seq as number, hash: h.hash };
  } catch {
    return 'unreadable';
  }
}

/**
 * The checks of the chain (sequence, previous-hash link, MAC), one line at a time, so that a reader can check a
 * whole file or follow a growing log without holding it in memory. The first broken link is named by its line.
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
    if (this.key && !macMatches(this.key, line, m)) return this.fail(n, `line ${n}: MAC mismatch (edited or forged without the audit key)`);
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
