import { test } from 'node:test';
import assert from 'node:assert/strict';
import { privateKeyToSigner } from '../../src/signers/index.js';
import { sha256, utf8 } from '../../src/crypto/index.js';
import { inProcessProxy, post } from './support.js';

/**
 * A claim we refuse to sign (our key is not a party of the contract as registered) reaches the application as
 * what it is: 403 with the one-line reason, not an opaque 500; nothing goes to the sentinel.
 */
const CALL = { jsonrpc: '2.0', id: 1, method: 'eth_blockNumber' };

test('our own refusal to sign is a 403 with its reason; control: the same proxy with our key registered as the client is paid', { timeout: 60_000 }, async () => {
  const stranger = await privateKeyToSigner(sha256(utf8('claim refusal test: another client'))).publicKey();
  for (const [client, status] of [['another key', 403], ['our key', 200]] as const) {
    const p = await inProcessProxy(7n, () => {}, {
      prepare: async (store) => store.putContract({ contractId: 7n, rate: 10n, deposit: 1_000_000n, source: 'manual', client: client === 'our key' ? await privateKeyToSigner(sha256(utf8('arkeo-signer proxy test key'))).publicKey() : stranger }),
    });
    try {
      const r = await post(p.url, CALL);
      assert.equal(r.status, status, `${client}: ${r.text}`);
      if (status === 403) {
        const body = JSON.parse(r.text) as { error: string; code: string };
        assert.equal(body.code, 'WRONG_KEY');
        assert.doesNotMatch(body.error, /internal error|\n/);
        assert.equal(p.sentinel.claims.size, 0, 'nothing reached the sentinel');
      }
    } finally {
      await p.close();
    }
  }
});
