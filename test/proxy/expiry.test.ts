import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChainClient } from '../../src/tx/index.js';
import { createProxyMetrics } from '../../src/proxy/index.js';
import { watchExpiry } from '../../src/proxy/expiry.js';
import { chainContractJson } from '../support/fake-arkeo.js';
import { privateKeyToSigner } from '../../src/signers/index.js';
import { sha256, toBech32PubKey, utf8 } from '../../src/crypto/index.js';

/**
 * The expiry gauge the "contract within a day of expiry" alert reads: the chain's expiry height (opened at +
 * duration) at the block rate the proxy observes. The node here is a small server of this test that answers the two
 * LCD routes with a height that grows 10 blocks per reading.
 */
test('a contract\'s expiry time: first at 6 s a block, then at the rate seen between readings', { timeout: 30_000 }, async (t) => {
  const client = await privateKeyToSigner(sha256(utf8('expiry test client'))).publicKey();
  let height = 1000;
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (req.url === '/cosmos/base/tendermint/v1beta1/blocks/latest') {
      height += 10;
      res.end(JSON.stringify({ block: { header: { height: String(height) } } }));
    } else res.end(JSON.stringify({ contract: chainContractJson(7, toBech32PubKey(client), { height: '900', duration: '2000' }) }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const metrics = createProxyMetrics();
  const read = async () => (await metrics.contractExpiry.get()).values.find((v) => v.labels.contract === '7')?.value;
  const w = watchExpiry(new ChainClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), 7n, { upstream: 'u', contract: '7' }, metrics, 200);
  t.after(() => w.stop());
  for (let i = 0; i < 50 && (await read()) === undefined; i++) await new Promise((r) => setTimeout(r, 20));
  const first = (await read())!;
  // Expiry height 2900, first reading at 1010: 1890 blocks × 6 s.
  assert.ok(Math.abs(first - (Date.now() / 1000 + 1890 * 6)) < 5, `first estimate ${first}`);
  await new Promise((r) => setTimeout(r, 500));
  const later = (await read())!;
  // Ten blocks per ~0.2 s reading: a fast chain, so the expiry is now minutes away, not hours.
  assert.ok(later < Date.now() / 1000 + 600, `estimate at the observed rate ${later - Date.now() / 1000} s ahead`);
  assert.ok(later > Date.now() / 1000, 'still in the future');
});
