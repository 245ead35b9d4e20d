import { test } from 'node:test';
import assert from 'node:assert/strict';
import { privateKeyToSigner } from '../../src/signers/index.js';
import { parseHex, toAddress, toBech32PubKey } from '../../src/crypto/index.js';
import { BIN, readVector, runAsync, tempDir, type ClaimVectors } from '../helpers.js';
import { startChainRules, type ChainRules } from '../support/chain-rules.js';

/**
 * `contract open/close/list/show` and `tx send/show` as a user runs them, against the chain-rules test server
 * (test/support/chain-rules.ts, our stand-in for an Arkeo node's LCD that applies the ante handler's and the
 * keeper's rules from the spec). The keys are the claims spec's cat (client) and fox (provider).
 */
const KEYS = readVector<ClaimVectors>('arkeo-claims.json').keys;
const pub = async (name: string) => privateKeyToSigner(parseHex(KEYS[name]!.priv, name)).publicKey();
const ONE_LINE = /^[^\n]+\n$/;

async function setUp(t: { after: (fn: () => Promise<void>) => void }): Promise<{ chain: ChainRules; cli: (...args: string[]) => ReturnType<typeof runAsync>; home: string; fox: string; cat: string; catAddress: string; foxAddress: string }> {
  const [catPub, foxPub, dogPub] = await Promise.all([pub('cat'), pub('fox'), pub('dog')]);
  const chain = await startChainRules({
    blockIntervalMs: 100,
    accounts: [dogPub, catPub, foxPub].map((k) => ({ address: toAddress(k), balance: 10n ** 12n })),
    providers: [{ pubkey: toBech32PubKey(foxPub), service: 'mock', payAsYouGoRate: 10n, subscriptionRate: 10n, settlementDuration: 10n }],
  });
  t.after(() => chain.close());
  const home = tempDir();
  // `contract show` and `tx show` read the chain only: they take no --home (an unknown flag is a usage error).
  const cli = (...args: string[]) => runAsync(BIN.arkeoSigner, [...args, ...(args[1] === 'show' ? [] : ['--home', home])], { env: { ...process.env, ARKEO_NODE: chain.url } });
  for (const name of ['cat', 'fox']) assert.equal((await runAsync(BIN.arkeoSigner, ['keys', 'import-hex', name, KEYS[name]!.priv, '--home', home])).status, 0);
  return { chain, cli, home, fox: toBech32PubKey(foxPub), cat: toBech32PubKey(catPub), catAddress: toAddress(catPub), foxAddress: toAddress(foxPub) };
}

test('contract open → list → show → close, and tx send → show: what the block says, the terms recorded for claims', { timeout: 180_000 }, async (t) => {
  const { chain, cli, fox, cat, catAddress } = await setUp(t);
  const before = chain.balance(catAddress);
  const opened = await cli('contract', 'open', '--key', 'cat', '--provider', fox, '--service', 'mock', '--deposit', '1000', '--duration', '100', '-o', 'json', '--create-nonce-store');
  assert.equal(opened.status, 0, opened.stderr);
  const o = JSON.parse(opened.stdout);
  assert.equal(o.contract_id, '1');
  assert.equal(o.included.code, 0);
  assert.ok(o.included.events.some((e: { type: string }) => e.type === 'arkeo.arkeo.EventOpenContract'));
  const c = chain.contract(1n)!;
  assert.ok(c, 'the chain has the contract');
  // The provider's rate (10) and settlement duration (10) were taken from the chain; the client paid deposit,
  // the open cost and the fee, and nothing else.
  assert.equal(before - chain.balance(catAddress), 1000n + 20_000_000n + BigInt(o.fee.replace('uarkeo', '')));
  const showRun = await cli('contract', 'show', '1', '-o', 'json');
  assert.equal(showRun.status, 0, showRun.stderr);
  const shown = JSON.parse(showRun.stdout);
  assert.deepEqual([shown.contract_id, shown.service, shown.rate, shown.deposit, shown.client, shown.spender, shown.type, shown.open], ['1', 'mock', '10uarkeo', '1000', cat, cat, 'PAY_AS_YOU_GO', true]);
  // The claims side knows the terms: the 101st claim would exceed the deposit and is refused before any nonce.
  const terms = JSON.parse((await cli('claim', 'contract', 'list', '-o', 'json')).stdout);
  assert.deepEqual(terms.map((x: Record<string, string>) => [x.contract_id, x.rate, x.deposit, x.max_nonce]), [['1', '10', '1000', '100']]);
  const listed = JSON.parse((await cli('contract', 'list', '--key', 'cat', '--open', '-o', 'json')).stdout);
  assert.deepEqual(listed.map((x: Record<string, string>) => x.contract_id), ['1']);
  assert.deepEqual(JSON.parse((await cli('contract', 'list', '--key', 'fox', '-o', 'json')).stdout), [], 'control: fox is no party to it');

  const sent = await cli('tx', 'send', '--key', 'cat', '--to', toAddress(await pub('dog')), '--amount', '1234', '-o', 'json');
  assert.equal(sent.status, 0, sent.stderr);
  const s = JSON.parse(sent.stdout);
  const txShown = JSON.parse((await cli('tx', 'show', s.tx_hash, '-o', 'json')).stdout);
  assert.equal(txShown.height, s.included.height);
  assert.equal(txShown.code, 0);

  const closed = await cli('contract', 'close', '--id', '1', '--key', 'cat', '-o', 'json');
  assert.equal(closed.status, 0, closed.stderr);
  assert.ok(JSON.parse(closed.stdout).included.events.some((e: { type: string }) => e.type === 'arkeo.arkeo.EventCloseContract'));
});

test('refused before signing, one line each: not the client, a wrong rate, an unknown provider, PAYG open, a contract that does not exist; exit codes from the table', { timeout: 180_000 }, async (t) => {
  const { chain, cli, fox } = await setUp(t);
  const open = ['contract', 'open', '--key', 'cat', '--provider', fox, '--service', 'mock', '--deposit', '1000', '--duration', '100', '--create-nonce-store'];
  assert.equal((await cli(...open)).status, 0);
  const txsBefore = chain.included().length;
  for (const [args, status, why] of [
    [['contract', 'close', '--id', '1', '--key', 'fox'], 2, /only the contract's client .* can close it/],
    [['contract', 'close', '--id', '9', '--key', 'cat'], 2, /--id 9: the chain has no such contract/],
    [[...open, '--rate', '11uarkeo'], 2, /--rate 11uarkeo: the provider's rate is 10uarkeo/],
    [[...open.slice(0, 7), 'no-such-service', ...open.slice(8)], 2, /the chain has no provider .* for service "no-such-service"/],
    [[...open, '--authorization', 'open'], 2, /only subscriptions can be open/],
    [['tx', 'send', '--key', 'cat', '--to', 'arkeo1nothing', '--amount', '5'], 2, /./],
    [['tx', 'send', '--key', 'cat', '--to', toAddress(await pub('dog')), '--amount', '0'], 2, /--amount: amounts must be above 0/],
    [['tx', 'send', '--key', 'cat', '--to', toAddress(await pub('dog')), '--amount', '5', '--fees', '1uarkeo', '--gas', '200000'], 1, /insufficient fees.*nothing was charged/],
    [['tx', 'send', '--key', 'cat', '--to', toAddress(await pub('dog')), '--amount', '5', '--node', 'http://127.0.0.1:9'], 1, /node http:\/\/127\.0\.0\.1:9\/.*check the URL and that the node is up/],
    [['tx', 'send', '--key', 'cat', '--to', toAddress(await pub('dog')), '--amount', '5', '--chain-id', 'arkeo-main-v1'], 1, /serves chain "arkeo-local-1", not "arkeo-main-v1"/],
    [['tx', 'send', '--key', 'cat', '--to', toAddress(await pub('dog')), '--amount', '5', '--frobnicate'], 2, /./],
  ] as const) {
    const r = await cli(...args);
    assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, ONE_LINE, args.join(' '));
    assert.match(r.stderr, why, args.join(' '));
  }
  assert.equal(chain.included().length, txsBefore, 'nothing was included: every refusal came before a fee');
  assert.equal((await cli('tx', 'show', 'AB'.repeat(32))).status, 1, 'an unknown hash: not in a block');
});

test('--offline signs without a node exactly what the node would get; --generate-only signs nothing', { timeout: 120_000 }, async (t) => {
  const { chain, cli, catAddress } = await setUp(t);
  const acct = chain.account(catAddress)!;
  const dog = toAddress(await pub('dog'));
  const off = await cli('tx', 'send', '--key', 'cat', '--to', dog, '--amount', '7', '--offline', '--chain-id', 'arkeo-local-1', '--account-number', String(acct.accountNumber), '--sequence', String(acct.sequence), '--gas', '200000', '--fees', '200uarkeo', '-o', 'json');
  assert.equal(off.status, 0, off.stderr);
  const signed = JSON.parse(off.stdout);
  const res = await fetch(`${chain.url}/cosmos/tx/v1beta1/txs`, { method: 'POST', body: JSON.stringify({ tx_bytes: signed.tx_bytes, mode: 'BROADCAST_MODE_SYNC' }) });
  const body = (await res.json()) as { tx_response: { code: number; txhash: string } };
  assert.equal(body.tx_response.code, 0, 'the node takes the offline-signed transaction');
  assert.equal(body.tx_response.txhash, signed.tx_hash);
  for (let i = 0; i < 100 && (await fetch(`${chain.url}/cosmos/tx/v1beta1/txs/${signed.tx_hash}`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 50));
  const gen = await cli('tx', 'send', '--key', 'cat', '--to', dog, '--amount', '7', '--generate-only', '--gas', '200000', '--fees', '200uarkeo', '-o', 'json');
  assert.equal(gen.status, 0, gen.stderr);
  const doc = JSON.parse(gen.stdout);
  assert.match(doc.sign_doc, /^[0-9a-f]+$/);
  assert.equal(doc.sequence, String(acct.sequence + 1n), 'the account as the node has it now');
});
