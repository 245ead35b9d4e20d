import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteNonceStore } from '../../src/nonces/index.js';
import { publicKeyFromPrivate, sha256, signMessage, toHex, utf8 } from '../../src/crypto/index.js';
import { auditEntries, rawRequest, startTestDaemon } from '../support/daemon.js';

/**
 * A token's contract list and spend ceiling bind every way it can sign a claim: raw messages that are claims (or
 * their SHA-256), and the resync a paying client asks for, which must carry a claim this key really signed.
 */
const KEY = toHex(sha256(utf8('arkeo-signer raw scope test key')));
const OTHER = sha256(utf8('arkeo-signer raw scope other key'));
const RATE = { per_second: 1000, burst: 1000 };
const SIG = /[0-9a-f]{128}/;

test('raw: a token limited to contract 42 signs no claim of another contract, in any form; other messages and contract 42 are signed', { timeout: 60_000 }, async (t) => {
  const d = await startTestDaemon({ k: KEY }, {
    only42: { keys: ['k'], operations: ['claim', 'raw'], contracts: ['42'], rate: RATE },
    capped: { keys: ['k'], operations: ['claim', 'raw'], contracts: ['*'], max_spend: '100', rate: RATE },
    any: { keys: ['k'], operations: ['claim', 'raw'], contracts: ['*'], rate: RATE },
  });
  t.after(() => d.daemon.stop());
  const sign = (token: string, body: object) => rawRequest(d.socket, 'POST', '/v1/sign', { token: d.tokens[token], body: JSON.stringify({ key: 'k', ...body }) });
  const digest = toHex(sha256(utf8('43:1:')));
  for (const body of [{ message: '43:1:' }, { message: '43:999:' }, { message: '43:1700000000' }, { message: '0043:5:' }, { message: '+43:5:' }, { message: '43:5:arkeo-main-v1' }, { message_hex: toHex(utf8('43:7:')) }, { message_hex: digest }]) {
    const r = await sign('only42', body);
    assert.equal(r.status, 403, `${JSON.stringify(body)}: ${r.body}`);
    assert.equal(r.json!.code, 'DENIED');
    assert.doesNotMatch(r.body, SIG);
  }
  for (const body of [{ message: '43:1:' }, { message_hex: digest }]) assert.equal((await sign('capped', body)).status, 403, `a spend ceiling binds raw too: ${JSON.stringify(body)}`);
  // Controls: what the guard must let through.
  for (const [token, body] of [['only42', { message: 'hello' }], ['only42', { message: '42:1:' }], ['only42', { message: '12345' }], ['any', { message: '43:1:' }], ['any', { message_hex: digest }], ['capped', { message: 'a transaction' }]] as const) {
    const r = await sign(token, body);
    assert.equal(r.status, 200, `${token} ${JSON.stringify(body)}: ${r.body}`);
  }
  const refused = auditEntries(d.config).filter((e) => e.what?.op === 'raw' && e.status === 403);
  assert.ok(refused.some((e) => e.what.contract === '43'), 'the refusal is audited with the contract');
});

test('claims: a resync moves the nonce only with a claim this key signed; anything else is refused (409), audited, and changes nothing', { timeout: 60_000 }, async (t) => {
  const d = await startTestDaemon({ k: KEY }, { claimer: { keys: ['k'], operations: ['claim'], contracts: ['*'], rate: RATE } }, (c) => (c.nonces.block_size = 1));
  t.after(() => d.daemon.stop());
  const claim = (body: object) => rawRequest(d.socket, 'POST', '/v1/claims', { token: d.tokens.claimer, body: JSON.stringify({ key: 'k', contract: '7', ...body }) });
  const ours = (nonce: bigint) => toHex(signMessage(Buffer.from(KEY, 'hex'), utf8(`7:${nonce}:`)));
  assert.equal((await claim({})).json!.nonce, '1');
  for (const resync of [
    { nonce: '500', signature: toHex(signMessage(OTHER, utf8('7:500:'))) },
    { nonce: '500', signature: ours(499n) },
    { nonce: '500', signature: '00'.repeat(64) },
  ]) {
    const r = await claim({ resync });
    assert.equal(r.status, 409, r.body);
    assert.equal(r.json!.code, 'PROVIDER_UNPROVEN_NONCE');
  }
  for (const resync of [{ nonce: '500' }, { nonce: 500, signature: ours(500n) }, { nonce: '500', signature: 'zz' }, 'x']) {
    assert.equal((await claim({ resync })).status, 400, JSON.stringify(resync));
  }
  assert.equal((await claim({})).json!.nonce, '2', 'nothing moved, nothing was consumed');
  const proven = await claim({ resync: { nonce: '500', signature: ours(500n) } });
  assert.equal(proven.status, 200, proven.body);
  assert.equal(proven.json!.nonce, '501');
  const entries = auditEntries(d.config).filter((e) => e.what?.resync_to === '500');
  assert.deepEqual(entries.map((e) => e.result === 'ok'), [false, false, false, true]);
  // A registered party of the contract (its client, when this key is the delegate) proves a nonce too.
  const store = SqliteNonceStore.open(d.config.nonces.store);
  await store.putContract({ contractId: 7n, rate: 1n, deposit: 1_000_000n, source: 'manual', client: publicKeyFromPrivate(OTHER), delegate: publicKeyFromPrivate(Buffer.from(KEY, 'hex')) });
  await store.close();
  const byClient = await claim({ delegate: true, resync: { nonce: '900', signature: toHex(signMessage(OTHER, utf8('7:900:'))) } });
  assert.equal(byClient.status, 200, byClient.body);
  assert.equal(byClient.json!.nonce, '901');
});
