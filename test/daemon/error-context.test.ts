import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteNonceStore } from '../../src/nonces/index.js';
import { sha256, toHex, utf8, publicKeyFromPrivate, toAddress } from '../../src/crypto/index.js';
import { auditEntries, rawRequest, startTestDaemon } from '../support/daemon.js';

/**
 * A refusal carries what it was about as fields, so its audit entry and its metric say which key and contract:
 * a spend-limit refusal from the nonce store deep below the daemon as much as a policy refusal at the door.
 */
const KEY = toHex(sha256(utf8('arkeo-signer error context test key')));
const ADDRESS = toAddress(publicKeyFromPrivate(Buffer.from(KEY, 'hex')));

test('daemon: a spend-limit refusal is audited and counted with its key and contract, like a success', { timeout: 60_000 }, async (t) => {
  const d = await startTestDaemon({ k: KEY }, { capped: { keys: ['k'], operations: ['claim'], contracts: ['*'], max_spend: '2', rate: { per_second: 1000, burst: 1000 } } }, (c) => (c.nonces.block_size = 1));
  t.after(() => d.daemon.stop());
  const store = SqliteNonceStore.open(d.config.nonces.store);
  await store.putContract({ contractId: 42n, rate: 1n, deposit: 1000n, source: 'manual' });
  await store.close();
  const claim = () => rawRequest(d.socket, 'POST', '/v1/claims', { token: d.tokens.capped, body: JSON.stringify({ key: 'k', contract: '42' }) });
  for (const nonce of ['1', '2']) assert.equal((await claim()).json!.nonce, nonce);
  const refused = await claim();
  assert.equal(refused.status, 403, refused.body);
  assert.equal(refused.json!.code, 'SPEND_LIMIT');
  const entry = auditEntries(d.config).at(-1)!;
  assert.equal(entry.result, 'denied');
  assert.deepEqual([entry.what.op, entry.what.key, entry.what.address, entry.what.contract], ['claim', 'k', ADDRESS, '42']);
  const metrics = (await rawRequest(d.socket, 'GET', '/metrics')).body;
  assert.match(metrics, /arkeo_signer_signatures_total\{key="k",operation="claim",result="ok"\} 2/);
  assert.match(metrics, /arkeo_signer_signatures_total\{key="k",operation="claim",result="denied"\} 1/, 'the same key label as on success');
});
