import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explainArkAuth, recordDelegate } from '../../src/claims/index.js';
import { SqliteNonceStore } from '../../src/nonces/index.js';
import { parsePolicy } from '../../src/daemon/index.js';
import { publicKeyFromPrivate, sha256, toBech32PubKey, toHex, utf8 } from '../../src/crypto/index.js';
import { rawRequest, startTestDaemon, type TestDaemon } from '../support/daemon.js';

/**
 * Issue 16 item 4: a daemon that holds only a delegate key signs claims for the contracts naming it, and
 * nothing else (no raw message, no arkcontract), whatever its tokens allow; a token can be limited the same way.
 */
const SIG = /[0-9a-f]{128}/;
const hex = (label: string) => toHex(sha256(utf8(`arkeo-signer daemon delegate test ${label}`)));
const KEYS = { cold: hex('cold'), hot: hex('hot') };
const PUB = { cold: publicKeyFromPrivate(Buffer.from(KEYS.cold, 'hex')), hot: publicKeyFromPrivate(Buffer.from(KEYS.hot, 'hex')) };
const EVERYTHING = { keys: ['*'], operations: ['claim', 'arkcontract', 'raw'], contracts: ['*'], rate: { per_second: 1000, burst: 1000 } };

async function registerContracts(d: TestDaemon): Promise<void> {
  const store = SqliteNonceStore.open(d.config.nonces.store);
  try {
    await store.putContract({ contractId: 7n, rate: 1n, deposit: 1_000_000n, source: 'manual', client: PUB.cold, delegate: PUB.hot });
    await store.putContract({ contractId: 8n, rate: 1n, deposit: 1_000_000n, source: 'manual', client: PUB.cold });
    await store.putContract({ contractId: 9n, rate: 1n, deposit: 1_000_000n, source: 'manual' });
  } finally {
    await store.close();
  }
}

test('keyring.delegates_only: only the recorded delegate key is served; it signs 4-part claims and refuses raw, arkcontract and other contracts', { timeout: 60_000 }, async (t) => {
  const d = await startTestDaemon({ cold: KEYS.cold, hot: KEYS.hot }, { all: EVERYTHING, managing: { ...EVERYTHING, allow_management_spend: true } }, (c) => {
    c.keyring.delegates_only = true;
    recordDelegate(c.keyring.home, { name: 'hot', pubkey: toBech32PubKey(PUB.hot), account: toBech32PubKey(PUB.cold) });
  });
  // t.after as well as finally: after a timeout the finally never runs, and a live daemon would keep the file from ending.
  t.after(() => d.daemon.stop());
  try {
    await registerContracts(d);
    const post = (route: string, body: object) => rawRequest(d.socket, 'POST', route, { token: d.tokens.all, body: JSON.stringify(body) });
    const keys = await rawRequest(d.socket, 'GET', '/v1/keys', { token: d.tokens.all });
    assert.deepEqual((JSON.parse(keys.body) as { name: string }[]).map((k) => k.name), ['hot'], 'the account key is not loaded');
    const claim = await post('/v1/claims', { contract: '7', key: 'hot' });
    assert.equal(claim.status, 200, claim.body);
    assert.match(String(claim.json!.arkauth), new RegExp(`^7:${toBech32PubKey(PUB.hot)}:1:`));
    const ex = explainArkAuth(String(claim.json!.arkauth), { client: PUB.cold, delegate: PUB.hot }, 'arkeo-main-v1');
    assert.deepEqual([ex.verdicts['sentinel-v1.0.17']!.accepted, ex.verdicts['chain-v1.0.17']!.accepted], [true, true]);
    for (const [route, body, code] of [
      ['/v1/claims', { contract: '7', key: 'hot', delegate: false }, 'WRONG_FORM'],
      ['/v1/claims', { contract: '8', key: 'hot' }, 'WRONG_KEY'],
      ['/v1/claims', { contract: '9', key: 'hot' }, 'DELEGATE_ONLY'],
      ['/v1/sign', { key: 'hot', message: '7:2:' }, 'DENIED'],
      ['/v1/arkcontract', { contract: '7', key: 'hot', timestamp: '5' }, 'DELEGATE_ONLY'],
    ] as const) {
      const r = await post(route, body);
      assert.equal(r.status, 403, `${route} ${JSON.stringify(body)}: ${r.body}`);
      assert.equal(r.json!.code, code, `${route} ${JSON.stringify(body)}`);
      assert.doesNotMatch(r.body, SIG, 'no signature');
    }
    // A contract whose parties are not registered, with a token that accepts the management-spend risk: nothing
    // else refuses it, so only the delegate-only rule stands between the key and an arkcontract.
    const unregistered = await rawRequest(d.socket, 'POST', '/v1/arkcontract', { token: d.tokens.managing, body: JSON.stringify({ contract: '99', key: 'hot', timestamp: '5' }) });
    assert.equal(unregistered.status, 403, unregistered.body);
    assert.equal(unregistered.json!.code, 'DELEGATE_ONLY');
    assert.doesNotMatch(unregistered.body, SIG);
    const cold = await post('/v1/sign', { key: 'cold', message: 'a transaction' });
    assert.notEqual(cold.status, 200, 'the account key cannot be reached through the daemon');
    const next = await post('/v1/claims', { contract: '7', key: 'hot' });
    assert.equal(next.json!.nonce, '2', 'the refusals consumed no nonce');
  } finally {
    await d.daemon.stop();
  }
});

test('token delegate_contracts_only: claims only where the key is the registered delegate; the policy allows claim only', { timeout: 60_000 }, async (t) => {
  const d = await startTestDaemon({ cold: KEYS.cold, hot: KEYS.hot }, { limited: { keys: ['*'], delegate_contracts_only: true, rate: { per_second: 1000, burst: 1000 } } });
  t.after(() => d.daemon.stop());
  try {
    await registerContracts(d);
    const claim = (contract: string, key: string) => rawRequest(d.socket, 'POST', '/v1/claims', { token: d.tokens.limited, body: JSON.stringify({ contract, key }) });
    assert.equal((await claim('7', 'hot')).status, 200);
    for (const [contract, key] of [['8', 'cold'], ['9', 'hot'], ['7', 'cold']]) {
      const r = await claim(contract!, key!);
      assert.equal(r.status, 403, `${contract}/${key}: ${r.body}`);
      assert.doesNotMatch(r.body, SIG);
    }
    assert.throws(() => parsePolicy({ keys: ['*'], operations: ['claim', 'raw'], delegate_contracts_only: true }), /delegate_contracts_only token signs claims only/);
  } finally {
    await d.daemon.stop();
  }
});
