/**
 * A claim-signing child process for crash and concurrency tests. argv: STORE CONTRACT COUNT [BLOCK]
 * (COUNT 0 = until killed). Prints "ready", then one line per released claim: "<nonce> <preimage> <sighex>".
 * stdout is a pipe, and pipe writes are synchronous on Linux: a line in the pipe is a released claim.
 */
import { writeSync } from 'node:fs';
import { ClaimSigner } from '../../src/claims/index.js';
import { openNonceStore } from '../../src/nonces/index.js';
import { privateKeyToSigner } from '../../src/signers/index.js';
import { sha256, toHex, utf8 } from '../../src/crypto/index.js';

if (process.argv.length < 5) {
  // Guard: a worker started without its arguments (e.g. by a test runner's file discovery) does nothing.
  process.stderr.write('usage: claim-worker STORE CONTRACT COUNT [BLOCK]\n');
  process.exit(0);
}
const [storeSpec = '', contract = '1', countArg = '0', blockArg = '1'] = process.argv.slice(2);
export const WORKER_KEY = sha256(utf8('arkeo-signer crash test key'));

const store = await openNonceStore(storeSpec, '/nonexistent-home', { create: true });
const claims = await ClaimSigner.create(privateKeyToSigner(WORKER_KEY), store, { blockSize: Number(blockArg) });
writeSync(1, 'ready\n');
const count = Number(countArg);
for (let i = 0; count === 0 || i < count; i++) {
  const c = await claims.signClaim(BigInt(contract));
  writeSync(1, `${c.nonce} ${c.preimage} ${toHex(c.signature)}\n`);
}
await store.close();
