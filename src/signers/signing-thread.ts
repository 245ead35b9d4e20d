/**
 * The body of a SigningThread (see worker.ts): holds private keys in this thread's memory and signs batches of
 * messages with the same code as LocalSigner (RFC 6979, low-S, verified before release). It never posts a key
 * back; it answers with public keys, signatures and error codes only.
 */
import { parentPort } from 'node:worker_threads';
import { sha256 } from '../crypto/index.js';
import { wipe } from '../crypto/bytes.js';
import { LocalSigner } from './signer.js';
import type { ThreadReply, ThreadRequest } from './worker.js';

const port = parentPort!;
const keys = new Map<number, LocalSigner>();

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
        void signer.publicKey().then((pub) => reply({ type: 'added', id: m.id, publicKey: pub }));
      } catch (e) {
        reply({ type: 'added', id: m.id, error: (e as { code?: string }).code ?? 'BAD_KEY' });
      } finally {
        wipe(key);
      }
      return;
    }
    case 'sign': {
      const out: ThreadReply & { type: 'signed' } = { type: 'signed', results: [] };
      for (const job of m.jobs) {
        const signer = keys.get(job.keyId);
        try {
          if (!signer) throw Object.assign(new Error(), { code: 'SIGNER_DESTROYED' });
          out.results.push({ id: job.id, signature: signer.signDigestSync(sha256(job.message)) });
        } catch (e) {
          out.results.push({ id: job.id, error: (e as { code?: string }).code ?? 'SIGN_FAILED' });
        }
      }
      reply(out);
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
