import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ensurePrivateDir, FILE_MODE, writeFileAtomic } from '../fsutil.js';
import { toHex } from '../crypto/bytes.js';
import { sha256 } from '../crypto/secp256k1.js';
import type { TxIntent } from './sign.js';

/**
 * What this machine has signed and sent, per account, written down (and fsync'd) before the transaction leaves:
 * after a crash, a timeout or a kill -9, the next run looks each unfinished one up by its hash before it signs
 * anything, so a retry never pays twice. One JSON line per event, appended (atomic for lines this small, even
 * with two processes on one account); the last line of a hash is its state.
 */
export type JournalState = 'sent' | 'included' | 'dead';

export interface JournalEntry {
  hash: string;
  chainId: string;
  accountNumber: string;
  sequence: string;
  /** SHA-256 of the messages and memo: the same intent signed again would carry the same digest. */
  intent: string;
  /** The TxRaw, base64: resent unchanged (same hash) when it may not have reached the node. */
  tx: string;
  state: JournalState;
  /** Which process run wrote it: a run never waits on its own unfinished entries. */
  run: string;
  at: string;
  height?: string;
  code?: number;
}

/** Read at most this much of a journal; a longer one is compacted to its unfinished entries. */
const MAX_JOURNAL_BYTES = 4 * 1024 * 1024;

export function intentDigest(intent: Pick<TxIntent, 'messages' | 'memo'>): string {
  const parts: Uint8Array[] = [];
  for (const m of intent.messages) parts.push(Buffer.from(`${m.typeUrl}\n${m.value.length}\n`), m.value);
  parts.push(Buffer.from(`memo\n${intent.memo ?? ''}`));
  return toHex(sha256(Buffer.concat(parts)));
}

/**
 * Where a TxSender writes down what it sends, before it sends it: the file journal below (one per home), or a
 * database (the settler keeps its transactions beside its claims, in the nonce store). `record` is durable when it
 * returns, since the sender broadcasts only after it has; `unfinished` gives the entries whose last state is
 * `sent`, oldest first, so that the next run looks each one up by its hash before it signs anything.
 */
export interface Journal {
  /** This process's run id: a sender never waits on its own run's unfinished entries. */
  readonly run: string;
  unfinished(address: string): JournalEntry[] | Promise<JournalEntry[]>;
  record(address: string, entry: Omit<JournalEntry, 'run' | 'at'>): void | Promise<void>;
  update(address: string, entry: JournalEntry, state: JournalState, result?: { height?: bigint; code?: number }): void | Promise<void>;
}

export class TxJournal implements Journal {
  /** This process's run id. */
  readonly run = toHex(randomBytes(8));

  constructor(readonly dir: string) {}

  private file(address: string): string {
    return path.join(this.dir, `${address}.jsonl`);
  }

  /** The entries whose last state is `sent`, oldest first. */
  unfinished(address: string): JournalEntry[] {
    return [...this.latest(address).values()].filter((e) => e.state === 'sent');
  }

  private latest(address: string): Map<string, JournalEntry> {
    const byHash = new Map<string, JournalEntry>();
    let text: string;
    try {
      const fd = fs.openSync(this.file(address), 'r');
      try {
        const size = fs.fstatSync(fd).size;
        const buf = Buffer.alloc(Math.min(size, MAX_JOURNAL_BYTES));
        fs.readSync(fd, buf, 0, buf.length, Math.max(0, size - buf.length));
        text = buf.toString('utf8');
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return byHash;
      throw e;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const e = JSON.parse(line) as JournalEntry;
        if (typeof e.hash === 'string' && typeof e.state === 'string') {
          byHash.delete(e.hash); // keep insertion order = order of the last state
          byHash.set(e.hash, e);
        }
      } catch {
        // A torn last line (a crash mid-append) carries nothing that was acted on: the append is fsync'd before
        // the transaction is sent.
      }
    }
    return byHash;
  }

  /** Append durably: the caller sends the transaction only after this returns. */
  record(address: string, entry: Omit<JournalEntry, 'run' | 'at'>): void {
    ensurePrivateDir(this.dir);
    const file = this.file(address);
    const line = JSON.stringify({ ...entry, run: this.run, at: new Date().toISOString() }) + '\n';
    const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT, FILE_MODE);
    try {
      fs.writeSync(fd, line);
      fs.fsyncSync(fd);
      if (fs.fstatSync(fd).size > MAX_JOURNAL_BYTES) this.compact(address);
    } finally {
      fs.closeSync(fd);
    }
  }

  update(address: string, entry: JournalEntry, state: JournalState, result: { height?: bigint; code?: number } = {}): void {
    const { run: _run, at: _at, ...rest } = entry;
    this.record(address, { ...rest, state, ...(result.height !== undefined ? { height: String(result.height) } : {}), ...(result.code !== undefined ? { code: result.code } : {}) });
  }

  private compact(address: string): void {
    const keep = this.unfinished(address);
    writeFileAtomic(this.file(address), keep.map((e) => JSON.stringify(e) + '\n').join(''));
  }
}
