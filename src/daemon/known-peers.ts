import * as fs from 'node:fs';
import { readPrivateFile, writeFileAtomic } from '../fsutil.js';
import { log } from '../log.js';

/**
 * Which peers each token has been used from (peers.ts says what a peer is: a uid on the unix socket, an IPv4
 * address or IPv6 /64 on TLS), kept beside the tokens so a restart does not make every peer new again. A token
 * used from a peer it never came from is the first sign of a leaked token: the daemon counts it
 * (arkeo_signer_token_new_peer_total, which an alert rule watches) and logs it. Bounded: past MAX_PAIRS, new pairs
 * are still reported but no longer remembered.
 */
const MAX_PAIRS = 10_000;
const MAX_FILE = 2 * 1024 * 1024;

export class KnownPeers {
  private readonly pairs = new Set<string>();
  private dirty = false;
  private writing = false;

  private constructor(private readonly file: string) {}

  static load(file: string): KnownPeers {
    const known = new KnownPeers(file);
    let raw: Buffer | undefined;
    try {
      raw = readPrivateFile(file, MAX_FILE);
    } catch (e) {
      log('warn', `${file}: ${(e as Error).message}; starting with no known peers (each token's next peer counts as new)`);
    }
    if (raw) {
      try {
        const list = JSON.parse(raw.toString('utf8')) as unknown;
        if (Array.isArray(list)) for (const p of list.slice(0, MAX_PAIRS)) if (typeof p === 'string') known.pairs.add(p);
      } catch {
        log('warn', `${file}: not JSON; starting with no known peers (each token's next peer counts as new)`);
      }
    }
    return known;
  }

  /** Record that `token` was used from `peer`; true when that is the first time. */
  first(token: string, peer: string): boolean {
    const pair = `${token}\t${peer}`;
    if (this.pairs.has(pair)) return false;
    if (this.pairs.size < MAX_PAIRS) {
      this.pairs.add(pair);
      this.persist();
    }
    return true;
  }

  /** Written off the request's path; a lost write only means a peer is reported new once more after a restart. */
  private persist(): void {
    this.dirty = true;
    if (this.writing) return;
    this.writing = true;
    setImmediate(() => {
      this.writing = false;
      if (!this.dirty) return;
      this.dirty = false;
      try {
        writeFileAtomic(this.file, JSON.stringify([...this.pairs]));
      } catch (e) {
        log('warn', `${this.file}: cannot record known peers (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
    });
  }

  static fileBeside(tokensPath: string): string {
    return tokensPath.replace(/[^/]*$/, 'token-peers.json');
  }

  /** For tests and doctor: whether the file exists. */
  static exists(file: string): boolean {
    return fs.existsSync(file);
  }
}
