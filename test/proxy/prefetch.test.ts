import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toAddress } from '../../src/crypto/index.js';
import { openNonceStore } from '../../src/nonces/index.js';
import { tempDir } from '../helpers.js';
import type { Signer } from '../../src/signers/index.js';
import { claimSignedBy } from '../support/sentinel-rules.js';
import { KEY_PRIV, inProcessProxy, payg, post, type InProcess } from './support.js';

/**
 * `arkeo-signer proxy` signs each contract's next claim while the current request is in flight (`prefetch`), so a
 * request waits only for a claim that is already durable. What that must not change: the sentinel still gets
 * nonces in order, a provider's word still moves nothing without proof, the ceiling still holds, and a clean stop
 * gives the claim signed ahead back. Each case runs its control: the same payer signing one claim at a time.
 */
const CALL = { jsonrpc: '2.0', id: 1, method: 'eth_blockNumber' };

/** A real signer whose signatures wait while the gate is shut. */
function gatedSigner(inner: Signer): Signer & { shut(): void; open(): void } {
  let gate: Promise<void> = Promise.resolve();
  let release = () => {};
  return {
    kind: inner.kind,
    publicKey: () => inner.publicKey(),
    sign: async (m: Uint8Array) => {
      await gate;
      return inner.sign(m);
    },
    shut() {
      gate = new Promise((r) => (release = r));
    },
    open() {
      release();
    },
  };
}

async function storeReaches(p: InProcess, nonce: bigint): Promise<void> {
  const addr = toAddress(p.pub);
  for (let i = 0; i < 200 && (await p.store.current(7n, addr)) < nonce; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(await p.store.current(7n, addr), nonce);
}

for (const prefetch of [true, false]) {
  test(`${prefetch ? 'signing ahead' : 'control, one claim at a time'}: with the signer stalled after the first request, the second ${prefetch ? 'is served with the claim already signed' : 'waits for its signature'}; a clean stop leaves the store at the last claim sent`, { timeout: 30_000 }, async () => {
    let gate: ReturnType<typeof gatedSigner> | undefined;
    const p = await inProcessProxy('auto', () => {}, { prefetch, wrapSigner: (s) => (gate = gatedSigner(s)) });
    try {
      assert.equal((await post(p.url, CALL)).status, 200);
      // Signing ahead: claim 2 is durable (reserved, signed) before the application sends its second request.
      await storeReaches(p, prefetch ? 2n : 1n);
      gate!.shut();
      const second = post(p.url, CALL);
      const early = await Promise.race([second.then((r) => r.status), new Promise<'waiting'>((r) => setTimeout(() => r('waiting'), 500))]);
      assert.equal(early, prefetch ? 200 : 'waiting');
      gate!.open();
      assert.equal((await second).status, 200);
      assert.deepEqual(p.sentinel.accepted.map((c) => c.nonce), [1n, 2n]);
    } finally {
      gate?.open();
      await p.close();
    }
    // Given back at the stop: the next process signs 3 next, not 4 (compare-and-set in the store).
    assert.equal(await reopenedCurrent(p), 2n);
  });
}

/** The store's mark after the proxy stopped (the test harness closed it: read the file again). */
async function reopenedCurrent(p: InProcess): Promise<bigint> {
  const store = await openNonceStore(p.store.description.replace(/^sqlite:/, ''), tempDir());
  try {
    return await store.current(7n, toAddress(p.pub));
  } finally {
    await store.close();
  }
}

for (const prefetch of [true, false]) {
  test(`${prefetch ? 'signing ahead' : 'control'}: 400 bad nonce (2/50) proven by our claim: the claim signed ahead (below 50) is dropped, the retry is served at 51, one bad nonce`, { timeout: 30_000 }, async () => {
    const p = await inProcessProxy('auto', () => {}, { prefetch });
    try {
      assert.equal((await post(p.url, CALL)).status, 200);
      p.sentinel.claims.set(7n, claimSignedBy(KEY_PRIV, 7n, 50n));
      const r = await post(p.url, CALL);
      assert.equal(r.status, 200, r.text);
      assert.equal(p.sentinel.claims.get(7n)!.nonce, 51n);
      assert.deepEqual(p.sentinel.events.filter((e) => e.status === 400).map((e) => [e.nonce, e.body]), [[2n, 'bad nonce (2/50)']]);
      assert.equal((await post(p.url, CALL)).status, 200);
      assert.deepEqual(p.sentinel.accepted.map((c) => c.nonce), [1n, 51n, 52n]);
    } finally {
      await p.close();
    }
    assert.equal(await reopenedCurrent(p), 52n);
  });

  test(`${prefetch ? 'signing ahead' : 'control'}: a sentinel that names a nonce nobody signed gets one refused claim, then nothing; the store is not moved to its number`, { timeout: 30_000 }, async () => {
    const p = await inProcessProxy('auto', () => {}, { prefetch });
    try {
      assert.equal((await post(p.url, CALL)).status, 200);
      p.sentinel.faults.inflateNonce = 1000n;
      for (let i = 0; i < 4; i++) assert.equal(JSON.parse((await post(p.url, CALL)).text).code, 'PROVIDER_UNPROVEN_NONCE');
      assert.equal(p.sentinel.events.filter((e) => e.status === 400).length, 1);
    } finally {
      await p.close();
    }
    assert.equal(await reopenedCurrent(p), 2n, 'the claim that met the lie; the one signed ahead went back');
  });

  test(`${prefetch ? 'signing ahead' : 'control'}: the spend ceiling (deposit 100, rate 10): nonces 1–10 served, then 402 CONTRACT_SPENT; nothing reserved past it`, { timeout: 30_000 }, async () => {
    const p = await inProcessProxy('auto', (s, pub) => s.contracts.set(7n, payg(7n, pub, { deposit: 100n })), { prefetch });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await post(p.url, CALL)).status);
      assert.deepEqual(statuses, [...Array(10).fill(200), 402, 402]);
      assert.equal(await p.store.current(7n, toAddress(p.pub)), 10n);
      assert.equal(p.sentinel.events.filter((e) => e.status === 402).length, 0, 'our ceiling stopped first');
    } finally {
      await p.close();
    }
  });
}

test('with the key daemon nothing is signed ahead (the daemon takes no claim back); control: a local key signs the next claim ahead', { timeout: 30_000 }, async () => {
  for (const mode of ['daemon', 'local'] as const) {
    const p = await inProcessProxy('auto', () => {}, { mode, prefetch: true });
    try {
      assert.equal((await post(p.url, CALL)).status, 200);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(await p.store.current(7n, toAddress(p.pub)), mode === 'daemon' ? 1n : 2n, mode);
    } finally {
      await p.close();
    }
  }
});
