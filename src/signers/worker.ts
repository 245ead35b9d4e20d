import { Worker } from 'node:worker_threads';
import { CryptoError } from '../errors.js';
import type { LocalSigner, Signer } from './signer.js';

/** Messages to and from signing-thread.ts. Keys travel only inward, in transferred (moved, not copied) buffers. */
export type ThreadRequest =
  | { type: 'add'; id: number; keyId: number; key: ArrayBuffer; verify: boolean }
  | { type: 'sign'; jobs: { id: number; keyId: number; message: Uint8Array }[] }
  | { type: 'remove'; keyId: number }
  | { type: 'close' };
export type ThreadReply =
  | { type: 'added'; id: number; publicKey?: Uint8Array; error?: string }
  | { type: 'signed'; results: { id: number; signature?: Uint8Array; error?: string }[] }
  | { type: 'closed' };

interface Waiting {
  resolve: (v: Uint8Array) => void;
  reject: (e: unknown) => void;
}

const MESSAGES: Record<string, string> = {
  SELF_CHECK_FAILED: 'signature failed its self-check in the signing thread; not released',
  SIGNER_DESTROYED: 'this signer was removed; its key is gone',
};

/**
 * Signing on a second core. A server's event loop parses HTTP, keeps nonces and writes the audit log; ECDSA plus
 * the verify-after-sign check is the largest share of its CPU per claim, so it runs here, in one worker thread
 * that holds the keys. Requests made in the same event-loop turn travel as one message (one wake-up of the
 * thread, one reply). Keys are moved into the thread and zeroed there on `remove` or `close`.
 */
export class SigningThread {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, Waiting>();
  private readonly adding = new Map<number, { resolve: (pub: Uint8Array) => void; reject: (e: unknown) => void }>();
  private queue: { id: number; keyId: number; message: Uint8Array }[] = [];
  private scheduled = false;
  private nextId = 1;
  private failure: string | undefined;
  private closing: Promise<void> | undefined;

  constructor() {
    this.worker = new Worker(new URL('./signing-thread.js', import.meta.url));
    this.worker.on('message', (r: ThreadReply) => this.onReply(r));
    this.worker.on('error', (e) => this.fail(`signing thread failed (${e.name})`));
    this.worker.on('exit', (code) => this.fail(`signing thread exited (code ${code})`));
  }

  /** Why the thread cannot sign, or undefined while it can. */
  get problem(): string | undefined {
    return this.failure;
  }

  /**
   * Move a local key into the thread: the key's bytes are copied into a buffer that is transferred, and `local`
   * is destroyed (zeroed) here. Resolves with a Signer that signs in the thread.
   */
  async adopt(local: LocalSigner, options: { verify?: boolean; inlineWhenIdle?: boolean } = {}): Promise<ThreadSigner> {
    const keyId = this.nextId++;
    const buffer = local.exportKeyForTransfer();
    // inlineWhenIdle keeps `local` (see ThreadSigner.sign); the caller's process holds the key either way, the
    // thread is there for the second core, not for isolation.
    const inline = options.inlineWhenIdle ? local : undefined;
    if (!inline) local.destroy();
    const publicKey = await new Promise<Uint8Array>((resolve, reject) => {
      if (this.failure) return reject(this.unavailable());
      this.adding.set(keyId, { resolve, reject });
      this.worker.postMessage({ type: 'add', id: keyId, keyId, key: buffer, verify: options.verify ?? true } satisfies ThreadRequest, [buffer]);
    });
    return new ThreadSigner(this, keyId, publicKey, inline);
  }

  /**
   * Whether a job may be signed on the caller's thread now: the signing thread has nothing queued or in hand, and
   * no job was signed inline in this event-loop turn yet. Under load the thread is busy and gets every job; at
   * low load a job skips two thread wake-ups, which here cost more than the signature (see the benchmarks).
   */
  takeInlineTurn(): boolean {
    if (this.waiting.size > 0 || this.queue.length > 0 || this.inlineTaken || this.failure || this.closing) return false;
    this.inlineTaken = true;
    this.signedInline++;
    setImmediate(this.endInlineTurn);
    return true;
  }

  /** Jobs signed on the caller's thread (takeInlineTurn), for tests and the benchmark's notes. */
  signedInline = 0;
  private inlineTaken = false;
  private readonly endInlineTurn = () => {
    this.inlineTaken = false;
  };

  /** @internal used by ThreadSigner */
  sign(keyId: number, message: Uint8Array): Promise<Uint8Array> {
    if (this.failure) return Promise.reject(this.unavailable());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      // Jobs made in the same event-loop turn travel as one message, posted once this turn's I/O callbacks have
      // run (setImmediate). Posting at once to an idle thread cost a message and a wake-up per claim under load
      // (the profile in bench/README.md), and saved nothing at low load, where the turn ends right after the request.
      this.waiting.set(id, { resolve, reject });
      this.queue.push({ id, keyId, message });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.postQueued);
      }
    });
  }

  /** @internal used by ThreadSigner */
  remove(keyId: number): void {
    if (!this.failure) this.worker.postMessage({ type: 'remove', keyId } satisfies ThreadRequest);
  }

  private readonly postQueued = () => this.post();

  private post(): void {
    this.scheduled = false;
    const jobs = this.queue;
    this.queue = [];
    if (jobs.length && !this.failure) this.worker.postMessage({ type: 'sign', jobs } satisfies ThreadRequest);
  }

  private onReply(r: ThreadReply): void {
    if (r.type === 'added') {
      const w = this.adding.get(r.id);
      this.adding.delete(r.id);
      if (r.publicKey) w?.resolve(new Uint8Array(r.publicKey));
      else w?.reject(new CryptoError(r.error ?? 'BAD_KEY', 'the signing thread refused the key'));
    } else if (r.type === 'signed') {
      for (const res of r.results) {
        const w = this.waiting.get(res.id);
        this.waiting.delete(res.id);
        if (res.signature) w?.resolve(new Uint8Array(res.signature));
        else w?.reject(new CryptoError(res.error ?? 'SIGN_FAILED', MESSAGES[res.error ?? ''] ?? 'the signing thread could not sign'));
      }
    }
  }

  private unavailable(): CryptoError {
    return new CryptoError('SIGNER_UNAVAILABLE', `${this.failure}; nothing was signed`);
  }

  private fail(reason: string): void {
    if (this.failure) return;
    this.failure = this.closing ? 'signing thread closed' : reason;
    const err = this.unavailable();
    for (const w of [...this.waiting.values(), ...this.adding.values()]) w.reject(err);
    this.waiting.clear();
    this.adding.clear();
  }

  /** Zero every key in the thread, then stop it. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.failure) {
        const closed = new Promise<void>((resolve) => {
          const done = (r: ThreadReply) => r.type === 'closed' && resolve();
          this.worker.on('message', done);
          this.worker.once('exit', () => resolve());
        });
        this.post(); // jobs batched for this turn go first: they were asked before close
        this.worker.postMessage({ type: 'close' } satisfies ThreadRequest);
        await closed;
      }
      await this.worker.terminate();
    })();
    return this.closing;
  }
}

/** A key that lives in a SigningThread (and, with inlineWhenIdle, on the event loop too); same bytes out as LocalSigner. */
export class ThreadSigner implements Signer {
  readonly kind = 'local';
  constructor(
    private readonly thread: SigningThread,
    private readonly keyId: number,
    private readonly pub: Uint8Array,
    private readonly inline?: LocalSigner,
  ) {
    inline?.lockKeyPages();
  }

  async publicKey(): Promise<Uint8Array> {
    return this.pub.slice();
  }

  sign(message: Uint8Array): Promise<Uint8Array> {
    if (this.inline && this.thread.takeInlineTurn()) return this.inline.sign(message);
    return this.thread.sign(this.keyId, message);
  }

  /** Zero the key in the thread (and its inline copy). */
  destroy(): void {
    this.inline?.destroy();
    this.thread.remove(this.keyId);
  }
}
