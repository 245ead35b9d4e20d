import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { BIN, run, runAsync, tempDir } from '../helpers.js';
import { toAddress } from '../../src/crypto/index.js';
import { privateKeyToSigner } from '../../src/signers/index.js';
import { openNonceStore } from '../../src/nonces/index.js';
import { ChainClient } from '../../src/tx/chain.js';
import { ContractPayer, SigningProxy, createProxyMetrics } from '../../src/proxy/index.js';
import { bech32Pub, startSentinelRules, type SentinelRules } from '../support/sentinel-rules.js';
import { chainContractJson, startFakeArkeo, type FakeArkeo } from '../support/fake-arkeo.js';
import { KEY_HEX, KEY_PRIV, SERVICE, payg } from './support.js';

/**
 * `--contract auto` with and without `--node`. Sentinel v1.0.17 answers /active-contract/{service}/{spender} only
 * when it is configured with a hub (its arkeo-mainnet-fullnode service); without one it panics and drops the
 * connection (the sentinel-rules server's opt-in `dropActiveContract` fault). With --node the contract comes from the
 * chain's /arkeo/active-contract/{provider}/{service}/{spender} (a hand-written LCD stand-in, test/support/fake-arkeo.ts).
 */
const CALL = { jsonrpc: '2.0', id: 1, method: 'eth_blockNumber' };

async function setup(t: { after(fn: () => Promise<void>): void }): Promise<{ s: SentinelRules; lcd: FakeArkeo; home: string; pub: Uint8Array }> {
  const s = await startSentinelRules({ services: [SERVICE] });
  t.after(() => s.close());
  const lcd = await startFakeArkeo();
  t.after(() => lcd.close());
  const pub = await privateKeyToSigner(KEY_PRIV).publicKey();
  s.contracts.set(7n, payg(7n, pub, { deposit: 5000n }));
  s.faults.dropActiveContract = true;
  // The chain's record of the same contract, between the sentinel's provider and our key.
  lcd.activeContracts.set(`${bech32Pub(s.providerPubkey)}/${SERVICE}/${bech32Pub(pub)}`, chainContractJson(7, bech32Pub(pub), { provider: bech32Pub(s.providerPubkey), deposit: '5000', queries_per_minute: '1000000' }));
  const home = tempDir();
  assert.equal(run(BIN.arkeoSigner, ['keys', 'import-hex', 'k', KEY_HEX, '--home', home]).status, 0);
  return { s, lcd, home, pub };
}

test('curl --contract auto: a sentinel that drops /active-contract gets the real cause in one line; with --node (or ARKEO_NODE) the chain finds the contract and the request is paid', { timeout: 60_000 }, async (t) => {
  const { s, lcd, home, pub } = await setup(t);
  const store = path.join(home, 'n.db');
  const curl = (extra: string[], env: Record<string, string> = {}) =>
    runAsync(BIN.arkeoSigner, ['curl', '-v', '-d', JSON.stringify(CALL), '-H', 'content-type: application/json', `${s.url}/${SERVICE}/`, '--key', 'k', '--home', home, '--nonce-store', store, '--create-nonce-store', ...extra], { env: { ARKEO_NODE: undefined, ...env } });
  const dropped = await curl([]);
  assert.equal(dropped.status, 1, dropped.stderr);
  assert.equal(dropped.stderr.trim().split('\n').length, 1, dropped.stderr);
  assert.match(
    dropped.stderr,
    new RegExp(`^arkeo-signer: the sentinel ${s.url} closed the connection on /active-contract/${SERVICE}/${bech32Pub(pub)}: sentinel v1\\.0\\.17 does this when it has no arkeo-mainnet-fullnode service configured; pass --node URL to find the contract on the chain, or --contract ID\\n$`),
  );
  assert.doesNotMatch(dropped.stderr, /check the URL and that the sentinel is up/);
  assert.equal(s.accepted.length, 0);
  // The control: the same sentinel, the contract found on the chain.
  const paid = await curl(['--node', lcd.url]);
  assert.equal(paid.status, 0, paid.stderr);
  assert.match(paid.stdout, /"result":"0x/);
  assert.match(paid.stderr, /\* summary: 200 tier paid; contract 7 nonce 1 consumed yes, spend 10 of 5000;/);
  assert.deepEqual(lcd.asked, [`/arkeo/active-contract/${bech32Pub(s.providerPubkey)}/${SERVICE}/${bech32Pub(pub)}`]);
  const viaEnv = await curl([], { ARKEO_NODE: lcd.url });
  assert.equal(viaEnv.status, 0, viaEnv.stderr);
  assert.deepEqual(s.accepted.map((c) => [c.contractId, c.nonce]), [[7n, 1n], [7n, 2n]]);
  // The chain's terms and parties are registered: its rate and deposit are the ceiling.
  const st = await openNonceStore(store, home);
  try {
    const terms = (await st.getContract(7n))!;
    assert.deepEqual([terms.rate, terms.deposit, terms.source, Buffer.from(terms.client!).equals(Buffer.from(pub))], [10n, 5000n, `${lcd.url}/arkeo/active-contract`, true]);
  } finally {
    await st.close();
  }
  // The chain has no contract for this key: one line, exit 1, nothing sent.
  lcd.activeContracts.clear();
  const none = await curl(['--node', lcd.url]);
  assert.equal(none.status, 1, none.stderr);
  assert.equal(none.stderr.trim().split('\n').length, 1, none.stderr);
  assert.match(none.stderr, /no active contract on the chain \(node http:\/\/127\.0\.0\.1:\d+\) between provider arkeopub1\S+ and arkeopub1\S+ for eth-mainnet-fullnode/);
  // Without the fault the sentinel's own route still finds it (no node needed).
  s.faults.dropActiveContract = false;
  const sentinelRoute = await curl([]);
  assert.equal(sentinelRoute.status, 0, sentinelRoute.stderr);
  assert.deepEqual(s.accepted.at(-1)!.nonce, 3n);
});

test('proxy payer with a chain client: --contract auto found on the chain while the sentinel drops /active-contract; without it the start fails with the cause', { timeout: 30_000 }, async (t) => {
  const { s, lcd, pub } = await setup(t);
  const signer = privateKeyToSigner(KEY_PRIV);
  const store = await openNonceStore(path.join(tempDir(), 'n.db'), tempDir(), { create: true });
  let proxy: SigningProxy | undefined;
  try {
    await assert.rejects(ContractPayer.open({ claims: signer, store, sentinel: s.url, service: SERVICE, contract: 'auto' }), (e: Error & { code?: string }) => e.code === 'ACTIVE_CONTRACT_DROPPED' && /pass --node URL/.test(e.message));
    const metrics = createProxyMetrics();
    const payer = await ContractPayer.open({ claims: signer, store, sentinel: s.url, service: SERVICE, contract: 'auto', chain: new ChainClient(lcd.url), metrics });
    proxy = await SigningProxy.start({ routes: [{ listen: { host: '127.0.0.1', port: 0 }, payer }], store, metrics });
    const r = await fetch(proxy.addresses()[0]!, { method: 'POST', body: JSON.stringify(CALL), headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 200, await r.clone().text());
    assert.equal(r.headers.get('tier'), 'paid');
    assert.equal(payer.contractId, 7n);
    assert.equal(await store.current(7n, toAddress(pub)), 1n);
  } finally {
    await proxy?.stop(1000);
    await store.close();
  }
});
