import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { SqliteNonceStore } from '../../src/nonces/index.js';
import { rawRequest, startTestDaemon } from '../support/daemon.js';

/**
 * Issue 17 item 4: a token's max_spend and the contract's own max spend are two ceilings, and the tighter one
 * must win whichever side it is on. The attack suite only had a token ceiling on a contract without one, so a
 * looser token ceiling overriding a contract's tighter one went unnoticed.
 */

const SIG = /[0-9a-f]{128}/;

test('max spend: the tighter of token and contract wins, either way round (rate 10, ceiling 20: nonce 3 is 403 SPEND_LIMIT)', { timeout: 60_000 }, async (t) => {
  const d = await startTestDaemon(
    { k: randomBytes(32).toString('hex') },
    {
      // Contract 9 has max spend 20; this token's own ceiling of 1,000 is looser and must not lift it.
      loose: { keys: ['k'], operations: ['claim'], contracts: ['9'], max_spend: '1000', rate: { per_second: 1000, burst: 1000 } },
      // Contract 8 has max spend 1,000; this token's ceiling of 20 is tighter and must hold.
      tight: { keys: ['k'], operations: ['claim'], contracts: ['8'], max_spend: '20', rate: { per_second: 1000, burst: 1000 } },
    },
  );
  // t.after as well as finally: after a timeout the finally never runs, and a live daemon would keep the file from ending.
  t.after(() => d.daemon.stop());
  try {
    const terms = SqliteNonceStore.open(d.config.nonces.store);
    try {
      await terms.putContract({ contractId: 9n, rate: 10n, deposit: 100_000n, maxSpend: 20n, source: 'manual' });
      await terms.putContract({ contractId: 8n, rate: 10n, deposit: 100_000n, maxSpend: 1000n, source: 'manual' });
    } finally {
      await terms.close();
    }
    for (const [token, contract] of [['loose', '9'], ['tight', '8']] as const) {
      const claim = () => rawRequest(d.socket, 'POST', '/v1/claims', { token: d.tokens[token], body: JSON.stringify({ contract, key: 'k' }) });
      const one = await claim();
      const two = await claim();
      assert.deepEqual([one.status, two.status], [200, 200], `${token}: ${one.body} ${two.body}`);
      assert.deepEqual([one.json!.nonce, two.json!.nonce], ['1', '2'], token);
      const three = await claim();
      assert.equal(three.status, 403, `${token}: ${three.body}`);
      assert.equal(three.json!.code, 'SPEND_LIMIT', token);
      assert.match(String(three.json!.error), /nonce 3 × rate 10 = 30 exceeds the max spend 20/, token);
      assert.doesNotMatch(three.body, SIG, `${token}: no signature`);
    }
  } finally {
    await d.daemon.stop();
  }
});
