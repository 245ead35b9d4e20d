import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Keyring } from '../../src/keyring/index.js';
import { LocalSigner } from '../../src/signers/index.js';
import { deleteKey, openSigner, registerBackend, unregisterBackend, type ExternalBackend, type KeySigner } from '../../src/keys/index.js';
import { ClaimSigner } from '../../src/claims/index.js';
import { SqliteNonceStore } from '../../src/nonces/index.js';
import { parseHex, publicKeyFromPrivate, sha256, utf8, verifySignature } from '../../src/crypto/index.js';
import { auditEntries, rawRequest, startTestDaemon } from '../support/daemon.js';
import { tempDir } from '../helpers.js';

/**
 * A backend defined here and nowhere else, registered with one line: openSigner, ClaimSigner and the daemon (its
 * claims, /healthz section, metrics and audit entries) serve it without a change to keys/, the daemon or the CLI.
 *
 * The toy: the private key is SHA-256 of a seed kept in the key's external-key file (so, no secret at all: a test
 * only), signed in this process by a signer that says its own kind.
 */
const KIND = 'toy-seed';

function privateKeyOf(seed: string): Uint8Array {
  return sha256(utf8(`toy-backend:${seed}`));
}

class ToySigner implements KeySigner {
  readonly kind = KIND;
  signatures = 0;
  private readonly inner: LocalSigner;
  constructor(seed: string) {
    this.inner = new LocalSigner(privateKeyOf(seed));
  }
  publicKey(): Promise<Uint8Array> {
    return this.inner.publicKey();
  }
  async sign(message: Uint8Array): Promise<Uint8Array> {
    this.signatures++;
    return this.inner.sign(message);
  }
  destroy(): void {
    this.inner.destroy();
  }
}

const toyBackend: ExternalBackend<ToySigner> = {
  kinds: [KIND],
  description: 'toy',
  served: true,
  inProcess: false,
  async open(key) {
    const info = key.info ?? (await key.keyring.get(key.name));
    return new ToySigner(info.external!.location.seed!);
  },
  deleted: () => 'Key reference deleted; the toy seed went with it',
  async serve({ registry }) {
    const { Gauge } = await import('prom-client');
    const signatures = new Gauge({ name: 'arkeo_signer_toy_signatures', help: 'Signatures per toy key', labelNames: ['key'], registers: [registry] });
    const keys = new Map<string, ToySigner>();
    return {
      served: (name, signer) => void keys.set(name, signer),
      scrape: () => keys.forEach((s, key) => signatures.set({ key }, s.signatures)),
      health: async () => (keys.size ? { section: 'toys', entries: Object.fromEntries([...keys.keys()].map((k) => [k, 'ok'])), ok: true } : undefined),
    };
  },
};

registerBackend(toyBackend);
after(() => unregisterBackend(toyBackend));

const SEED = 'seven silly seeds';
const PUBLIC_KEY = publicKeyFromPrivate(privateKeyOf(SEED));

async function addToyKey(home: string, name: string): Promise<void> {
  await Keyring.open({ backend: 'test', dir: home }).addExternalKey(name, PUBLIC_KEY, KIND, { seed: SEED });
}

test('toy backend: openSigner → ClaimSigner.signClaim signs with the key its record names', async () => {
  const home = tempDir();
  await addToyKey(home, 'toy');
  const keyring = Keyring.open({ backend: 'test', dir: home });
  assert.equal((await keyring.get('toy')).kind, KIND);
  const signer = await openSigner(keyring, 'toy');
  assert.equal(signer.kind, KIND);
  assert.deepEqual(await signer.publicKey(), PUBLIC_KEY);
  const store = SqliteNonceStore.open(path.join(home, 'nonces.db'));
  try {
    const claims = await ClaimSigner.create(signer, store);
    const one = await claims.signClaim(7n);
    const two = await claims.signClaim(7n);
    assert.equal(one.preimage, '7:1:');
    assert.equal(two.preimage, '7:2:');
    for (const c of [one, two]) assert.ok(verifySignature(PUBLIC_KEY, utf8(c.preimage), c.signature), `${c.preimage} verifies`);
  } finally {
    signer.destroy();
    await store.close();
  }
  const deleted = await deleteKey(keyring, 'toy');
  assert.deepEqual(deleted, { kind: KIND, destroyedObjects: 0, note: 'Key reference deleted; the toy seed went with it' });
  await assert.rejects(deleteKey(keyring, 'gone'), /not found/);
});

test('toy backend: an in-process daemon serves its claims, its /healthz section and its metrics', { timeout: 60_000 }, async (t) => {
  const d = await startTestDaemon({}, { app: { keys: ['toy'], operations: ['claim', 'raw'], contracts: ['*'], rate: { per_second: 1000, burst: 1000 } } }, (c) => addToyKey(c.keyring.home, 'toy'));
  t.after(() => d.daemon.stop());
  const claim = await rawRequest(d.socket, 'POST', '/v1/claims', { token: d.tokens.app, body: JSON.stringify({ contract: '1', key: 'toy' }) });
  assert.equal(claim.status, 200, claim.body);
  assert.equal(claim.json!.preimage, '1:1:');
  assert.ok(verifySignature(PUBLIC_KEY, utf8(claim.json!.preimage as string), parseHex(claim.json!.signature as string, 'signature', 64)), 'the daemon signed with the toy key');
  const raw = await rawRequest(d.socket, 'POST', '/v1/sign', { token: d.tokens.app, body: JSON.stringify({ key: 'toy', message: 'hello toy' }) });
  assert.equal(raw.status, 200, raw.body);
  assert.ok(verifySignature(PUBLIC_KEY, utf8('hello toy'), parseHex(raw.json!.signature as string, 'signature', 64)));
  const health = await rawRequest(d.socket, 'GET', '/healthz');
  assert.equal(health.status, 200, health.body);
  assert.deepEqual(health.json!.toys, { toy: 'ok' });
  assert.equal(health.json!.tokens, undefined, 'no PKCS#11 section without PKCS#11 keys');
  assert.equal(health.json!.cloud, undefined, 'no cloud section without cloud keys');
  const metrics = await rawRequest(d.socket, 'GET', '/metrics');
  assert.match(metrics.body, /^arkeo_signer_toy_signatures\{key="toy"\} 2$/m);
  assert.match(metrics.body, /^# TYPE arkeo_signer_pkcs11_token_healthy gauge$/m, 'the built-in backends keep their metrics');
  const signed = auditEntries(d.config).filter((e) => e.result === 'ok' && (e.what.op === 'claim' || e.what.op === 'raw'));
  assert.deepEqual(signed.map((e) => e.what.backend), [KIND, KIND], 'the audit entries name the backend');
});
