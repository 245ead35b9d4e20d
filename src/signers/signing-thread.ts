/**
 * The body of a SigningThread (see worker.ts): holds private keys in this thread's memory and signs batches of
 * messages with the same code as LocalSigner (RFC 6979, low-S, verified before release). It never posts a key
 * back; it answers with public keys, signatures and error codes only.
 */
import { parentPort } from 'node:worker_threads';
import { sha256 } from '../crypto/secp256k1.js';
import { wipe } from '../crypto/bytes.js';
import { LocalSigner } from './signer.js';
import { log } from '../log.js';
import type { ThreadReply, ThreadRequest } from './worker.js';

const port = parentPort!;
const keys = new Map<number, LocalSigner>();
const REPLY_EVERY_MS = 0.25;
let lockWarned = false;

function reply(r: ThreadReply): void {
  port.postMessage(r);
}

port.on('message', (m: ThreadRequest) => {
  switch (m.type) {
    case 'add': {
      const key = new Uint8Array(m.key);
      try {
        const signer = new LocalSigner(key, { verify: m.verify });
        keys.set(m.keyId, signer);
        // This thread holds keys for the process's lifetime: keep their pages out of swap, and say once if not.
        const notLocked = signer.lockKeyPages();
        if (notLocked && !lockWarned) {
          lockWarned = true;
          log('warn', notLocked);
        }
        void signer.publicKey().then((pub) => reply({ type: 'added', id: m.id, publicKey: pub }));
      } catch (e) {
        reply({ type: 'added', id: m.id, error: (e as { code?: string }).code ?? 'BAD_KEY' });
      } finally {
        wipe(key);
      }
      return;
    }
    case 'sign': {
      // Results go back in slices of about REPLY_EVERY_MS, not all at the end: while this thread signs the rest of
      // a large batch, the event loop can already audit and answer the first ones.
      let results: { id: number; signature?: Uint8Array; error?: string }[] = [];
      let since = performance.now();
      for (const job of m.jobs) {
        const signer = keys.get(job.keyId);
        try {
          if (!signer) throw Object.assign(new Error(), { code: 'SIGNER_DESTROYED' });
          results.push({ id: job.id, signature: signer.signDigestSync(sha256(job.message)) });
        } catch (e) {
          results.push({ id: job.id, error: (e as { code?: string }).code ?? 'SIGN_FAILED' });
        }
        if (performance.now() - since >= REPLY_EVERY_MS) {
          reply({ type: 'signed', results });
          results = [];
          since = performance.now();
        }
      }
      if (results.length) reply({ type: 'signed', results });
      return;
    }
    case 'remove':
      keys.get(m.keyId)?.destroy();
      keys.delete(m.keyId);
      return;
    case 'close':
      for (const k of keys.values()) k.destroy();
      keys.clear();
      reply({ type: 'closed' });
      return;
  }
});
