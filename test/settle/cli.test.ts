import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN, runAsync, tempDir } from '../helpers.js';
import { startSentinelRules } from '../support/sentinel-rules.js';
import { bird, dog, fox, world } from './support.js';

/**
 * `arkeo-signer settle` as an operator runs it: a config file (flags win over it), --once and its exit code, the
 * provider taken from the sentinel's /metadata.json and pinned in the store (a sentinel that later names another
 * provider is refused; --provider decides), and bad input refused in one line with exit 2.
 */
const ONE_LINE = /^[^\n]+\n$/;

async function setUp(t: Parameters<typeof world>[0], options: Parameters<typeof world>[1] = {}) {
  const w = await world(t, options);
  const home = tempDir();
  assert.equal((await runAsync(BIN.arkeoSigner, ['keys', 'import-hex', 'dog', Buffer.from(dog.priv).toString('hex'), '--home', home])).status, 0);
  const config = path.join(home, 'settle.toml');
  const cli = (...args: string[]) => runAsync(BIN.arkeoSigner, ['settle', ...args, '--home', home], { env: { ARKEO_NODE: undefined, ARKEO_NONCE_STORE: undefined, ARKEO_SIGNER_DAEMON: undefined, ARKEO_SIGNER_LOG: undefined } });
  return { w, home, config, cli };
}

test('settle --once from a config file: the provider from /metadata.json, pinned; a flag wins over the file; one line per transaction', { timeout: 120_000 }, async (t) => {
  const { w, home, config, cli } = await setUp(t);
  const id = await w.open();
  w.claim(id, 500n);
  const store = path.join(home, 'settle.db');
  // The file asks for a minimum no claim reaches; --min-value on the command line wins.
  fs.writeFileSync(config, `sentinel = "${w.sentinel.url}"\nnode = "${w.chain.url}"\nkey = "dog"\nnonce_store = "${store}"\nmin_value = 999999999\nbatch = 5\ninterval = 1\n`);
  const r = await cli('--config', config, '--min-value', '0', '--once', '--create-nonce-store');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`provider ${fox.bech32} taken from the sentinel's /metadata\\.json and pinned in the store`));
  assert.match(r.stderr, /settle: tx [0-9A-F]{64} height \d+: 1 claim\(s\) settled \(contracts 1\), the provider received 4500uarkeo, fee \d+uarkeo\n/);
  assert.equal(w.chain.contract(id)!.nonce, 500n);
  // Without the flag, the file's minimum holds: the next claim waits (exit 0: waiting is not a problem).
  w.claim(id, 600n);
  const waits = await cli('--config', config, '--once');
  assert.equal(waits.status, 0, waits.stderr);
  assert.equal(w.chain.contract(id)!.nonce, 500n, 'below the file\'s min_value: not sent');

  // Another sentinel on the same store names another provider: refused, whatever it says; --provider decides.
  const other = await startSentinelRules({ provider: bird.pub, services: ['mock'] });
  t.after(() => other.close());
  const refused = await cli('--config', config, '--sentinel', other.url, '--once');
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, new RegExp(`^arkeo-signer: sentinel ${other.url}/metadata\\.json names provider ${bird.bech32}, but this store settles for ${fox.bech32}; give --provider to choose`));
  assert.match(refused.stderr.split('\n').filter((l) => l.startsWith('arkeo-signer:')).join('\n') + '\n', ONE_LINE);
  const chosen = await cli('--config', config, '--sentinel', other.url, '--provider', fox.bech32, '--once');
  assert.equal(chosen.status, 0, chosen.stderr);
});

test('settle --once exits 1 when the cycle met a problem (a fee payer without funds), saying so in one line', { timeout: 120_000 }, async (t) => {
  const { w, home, cli } = await setUp(t, { feePayerBalance: 10n });
  const id = await w.open();
  w.claim(id, 500n);
  const r = await cli('--sentinel', w.sentinel.url, '--node', w.chain.url, '--key', 'dog', '--provider', fox.bech32, '--once', '--nonce-store', path.join(home, 's.db'), '--create-nonce-store');
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`WARNING: settle: fee payer ${dog.address} has 10uarkeo, less than one transaction's fee \\(~\\d+uarkeo\\): nothing sent; fund it \\(1 claim\\(s\\) wait\\)\\n`));
  assert.equal(w.chain.contract(id)!.nonce, 0n);
});

test('bad input is refused before anything is opened: one line, exit 2', { timeout: 120_000 }, async (t) => {
  const { w, config, cli } = await setUp(t);
  const base = ['--sentinel', w.sentinel.url, '--node', w.chain.url, '--key', 'dog', '--once'];
  fs.writeFileSync(config, 'sentinel = "http://127.0.0.1:1"\nmin_valu = 5\n');
  for (const [args, why] of [
    [[...base, '--listen', '0.0.0.0:9464'], /--listen 0\.0\.0\.0:9464: not a loopback address/],
    [[...base, '--batch', '0'], /--batch: expected a whole number from 1 to 100/],
    [[...base, '--interval', '0'], /--interval: expected seconds from 0\.1 to 86400/],
    [[...base, '--provider', 'arkeopub1nope'], /public key|bech32|checksum/i],
    [[...base, '--fees', '200uarkeo', '--gas-prices', '0.001uarkeo'], /--fees and --gas-prices cannot be used together/],
    [['--node', w.chain.url, '--key', 'dog', '--once'], /settle: --sentinel is required/],
    [['--config', config], /settle\.toml: unknown setting "min_valu"/],
    [[...base, '--sentinel', 'ftp://x'], /--sentinel: expected http\(s\):\/\//],
  ] as const) {
    const r = await cli(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, ONE_LINE, args.join(' '));
    assert.match(r.stderr, why, args.join(' '));
  }
  assert.equal(w.chain.included().filter((i) => i.messages.includes('/arkeo.arkeo.MsgClaimContractIncome')).length, 0);
});
