import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ClaimSigner, ClaimPolicyError } from '../../src/claims/index.js';
import { SpendVelocityError, SqliteNonceStore } from '../../src/nonces/index.js';
import { privateKeyToSigner } from '../../src/signers/index.js';
import { sha256, utf8 } from '../../src/crypto/index.js';
import { BIN, requireComponent, run, tempDir } from '../helpers.js';
import { startPostgres, type PgServer } from '../support/postgres.js';

/**
 * Spend velocity as claims see it: the contract's max_spend_per_hour / per_day (claim contract add), a token's
 * (the daemon passes them per claim) and a signer's own (the proxy's per-upstream keys) bound what is reserved in
 * any hour / day; a claim over them is refused before any nonce is used, saying when one fits again.
 */
const KEY = sha256(utf8('arkeo-signer velocity test key'));
const KEY_HEX = Buffer.from(KEY).toString('hex');

async function refusal(p: Promise<unknown>): Promise<SpendVelocityError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  assert.ok(e instanceof SpendVelocityError, `expected a velocity refusal, got ${e === undefined ? 'a signature' : String(e)}`);
  return e;
}

test('ClaimSigner: the contract\'s, the signer\'s and a token\'s velocity limits, each refusing before a nonce is used', { timeout: 30_000 }, async () => {
  const store = SqliteNonceStore.open(path.join(tempDir(), 'nonces.db'));
  try {
    await store.putContract({ contractId: 1n, rate: 10n, deposit: 1_000_000n, maxSpendPerHour: 30n, source: 'manual' });
    await store.putContract({ contractId: 2n, rate: 10n, deposit: 1_000_000n, source: 'manual' });
    await store.putContract({ contractId: 3n, rate: 10n, deposit: 1_000_000n, maxSpendPerHour: 1_000_000n, maxSpendPerDay: 1_000_000n, source: 'manual' });
    const claims = await ClaimSigner.create(privateKeyToSigner(KEY), store, { blockSize: 64 });

    // The contract's own limit: three claims of 10, then a refusal with the time and the key and contract it was about.
    for (let i = 1n; i <= 3n; i++) {
      const c = await claims.signClaim(1n);
      assert.equal(c.nonce, i);
      assert.equal(c.cost, 10n, 'a claim says what it costs');
    }
    const over = await refusal(claims.signClaim(1n));
    assert.equal(over.scope, 'contract');
    assert.match(over.message, /^contract 1: the contract's limit \(max_spend_per_hour\) is 30 uarkeo per hour, 30 is spent in the last hour and a claim costs 10; the next claim is possible at \d{4}-\d\d-\d\dT\d\d:\d\d:00Z \(in \d+ s\); nothing was signed$/);
    assert.deepEqual([over.context.contract, over.context.address, over.context.velocity_scope], ['1', claims.address, 'contract']);
    assert.equal(await store.current(1n, claims.address), 3n, 'no nonce used by the refusal');

    // A token's limit: its own window on the contract; another token, or none, is not bound by it.
    const token = { name: 'alice', perHour: 20n };
    await claims.signClaim(2n, { tokenVelocity: token });
    await claims.signClaim(2n, { tokenVelocity: token });
    const tokenOver = await refusal(claims.signClaim(2n, { tokenVelocity: token }));
    assert.equal(tokenOver.scope, 'token:alice');
    assert.match(tokenOver.message, /token alice's limit on it \(max_spend_per_hour\) is 20 uarkeo per hour/);
    assert.equal((await claims.signClaim(2n, { tokenVelocity: { name: 'bob', perHour: 20n } })).nonce, 3n);
    assert.equal((await claims.signClaim(2n)).nonce, 4n, 'no token limit: signed');

    // The signer's own limit (the proxy's per-upstream keys) tightens the contract's; a looser one does not lift it.
    const tight = await ClaimSigner.create(privateKeyToSigner(KEY), store, { contractVelocity: { perDay: 20n } });
    await tight.signClaim(3n);
    await tight.signClaim(3n);
    assert.equal((await refusal(tight.signClaim(3n))).window, 'day');
    const loose = await ClaimSigner.create(privateKeyToSigner(KEY), store, { contractVelocity: { perHour: 1_000_000_000n } });
    await refusal(loose.signClaim(1n));

    // A limit on a contract whose rate is unknown cannot be counted: refused, as the token's max_spend is.
    await assert.rejects(claims.signClaim(9n, { tokenVelocity: token }), (e: unknown) => e instanceof ClaimPolicyError && e.code === 'CONTRACT_UNKNOWN' && /velocity limit applies but the contract's rate is unknown/.test(e.message));
    // Control: with no limit anywhere, the unregistered contract is signed as before.
    assert.equal((await claims.signClaim(9n)).nonce, 1n);
    await claims.close();
    await tight.close();
    await loose.close();
  } finally {
    await store.close();
  }
});

let pg: PgServer | undefined;
after(() => pg?.destroy());

for (const engine of ['SQLite', 'PostgreSQL'] as const) {
  test(`claim sign (${engine}): over the contract's max spend per hour it exits 1 with one line naming the time; a larger limit signs`, { timeout: 180_000 }, async (t) => {
    const home = tempDir();
    let store: string[] = [];
    if (engine === 'PostgreSQL') {
      pg ??= await startPostgres();
      if (!requireComponent(t, pg !== undefined, 'PostgreSQL server binaries (apt-get install postgresql)')) return;
      store = ['--nonce-store', pg!.url];
    }
    assert.equal(run(BIN.arkeoSigner, ['keys', 'import-hex', 'k', KEY_HEX, '--home', home]).status, 0);
    const cli = (...args: string[]) => run(BIN.arkeoSigner, [...args, '--home', home, ...store]);
    const add = cli('claim', 'contract', 'add', '--id', '5', '--rate', '10', '--deposit', '100000', '--max-spend-per-hour', '30', '--max-spend-per-day', '1000', ...(engine === 'PostgreSQL' ? ['--create-nonce-store'] : []));
    assert.equal(add.status, 0, add.stderr);
    assert.match(add.stdout, /^contract 5: rate 10, deposit 100000, at most 30 per hour and 1000 per day; highest nonce that will be signed: 10000\n$/);
    const shown = JSON.parse(cli('claim', 'contract', 'list', '-o', 'json').stdout) as Record<string, string>[];
    assert.deepEqual([shown[0]!.max_spend_per_hour, shown[0]!.max_spend_per_day], ['30', '1000']);
    // A limit below one claim's cost would refuse everything forever: a usage error, nothing recorded.
    const below = cli('claim', 'contract', 'add', '--id', '6', '--rate', '10', '--deposit', '100000', '--max-spend-per-hour', '5');
    assert.equal(below.status, 2);
    assert.match(below.stderr, /--max-spend-per-hour: 5 is below the cost of one claim \(the rate, 10\)/);

    const sign = (contract: string, ...extra: string[]) => cli('claim', 'sign', '--contract', contract, '--key', 'k', ...extra);
    const started = Date.now();
    for (let i = 1; i <= 3; i++) assert.equal(sign('5', ...(i === 2 ? ['--block-size', '8'] : [])).status, 0, `claim ${i}`);
    const ended = Date.now();
    const over = sign('5');
    assert.equal(over.status, 1);
    assert.equal(over.stdout, '', 'nothing signed');
    const m = /^arkeo-signer: contract 5: the contract's limit \(max_spend_per_hour\) is 30 uarkeo per hour, 30 is spent in the last hour and a claim costs 10; the next claim is possible at (\S+) \(in (\d+) s\); nothing was signed\n$/.exec(over.stderr);
    assert.ok(m, `one line naming the time: ${over.stderr}`);
    // The claims were reserved between `started` and `ended`: they free the hour at the end of their minute + 1 h.
    const at = Date.parse(m[1]!);
    assert.ok(at >= (Math.floor(started / 60_000) + 1) * 60_000 + 3_600_000 && at <= (Math.floor(ended / 60_000) + 1) * 60_000 + 3_600_000, m[1]);
    const nonces = JSON.parse(cli('nonce', 'show', '-o', 'json').stdout) as { contract_id: string; last_reserved: string }[];
    assert.equal(nonces.find((n) => n.contract_id === '5')!.last_reserved, '3', 'the refusal used no nonce; the block of 8 took one nonce alone');

    // Control: raise the limit and the same claim signs.
    assert.equal(cli('claim', 'contract', 'add', '--id', '5', '--rate', '10', '--deposit', '100000', '--max-spend-per-hour', '1000').status, 0);
    const signed = sign('5', '-o', 'json');
    assert.equal(signed.status, 0, signed.stderr);
    assert.equal(JSON.parse(signed.stdout).nonce, '4');
  });
}

test('proxy (a local key, then the key daemon\'s): over the contract\'s max spend per hour it answers 429 with Retry-After and keeps the contract open; the config keys parse', { timeout: 60_000 }, async () => {
  const { inProcessProxy, post, payg } = await import('../proxy/support.js');
  const { toAddress } = await import('../../src/crypto/index.js');
  const CALL = { jsonrpc: '2.0', id: 1, method: 'eth_blockNumber' };
  for (const mode of ['local', 'daemon'] as const) {
  // --contract auto registers the sentinel's rate and deposit again: the operator's velocity limit must survive it.
  // With --daemon the daemon refuses (its store holds the limit), and its Retry-After reaches the application.
  const p = await inProcessProxy('auto', (s, pub) => s.contracts.set(7n, payg(7n, pub)), { mode, prepare: (store) => store.putContract({ contractId: 7n, rate: 10n, deposit: 1_000_000n, maxSpendPerHour: 50n, source: 'manual' }) });
  try {
    const replies = [];
    for (let i = 0; i < 7; i++) replies.push(await post(p.url, CALL));
    assert.deepEqual(replies.map((r) => r.status), [200, 200, 200, 200, 200, 429, 429]);
    const over = replies[5]!;
    assert.equal(JSON.parse(over.text).code, 'SPEND_VELOCITY');
    assert.match(JSON.parse(over.text).error, /^(daemon: )?contract 7: the contract's limit \(max_spend_per_hour\) is 50 uarkeo per hour.*possible at \S+Z \(in \d+ s\); nothing was signed$/);
    assert.ok(Number(over.headers.get('retry-after')) > 3_500, `Retry-After ${over.headers.get('retry-after')}`);
    assert.equal(p.sentinel.claims.get(7n)!.nonce, 5n, 'the sentinel saw five claims');
    assert.equal(await p.store.current(7n, toAddress(p.pub)), 5n, 'no nonce reserved by the refusals');
    assert.equal((await fetch(p.url + '/healthz')).status, 200, 'the contract is not stopped: the limit frees with time');
    // Control: a larger limit, and the next request is paid and served.
    await p.store.putContract({ ...(await p.store.getContract(7n))!, maxSpendPerHour: 1_000n });
    assert.equal((await post(p.url, CALL)).status, 200, mode);
  } finally {
    await p.close();
  }
  }

  // The proxy config's keys: per upstream, an integer or a decimal string of uarkeo, at least 1.
  const { loadProxyConfig } = await import('../../src/proxy/index.js');
  const { writeFileSync } = await import('node:fs');
  const file = path.join(tempDir(), 'proxy.toml');
  const upstream = (extra: string) => `[[upstream]]\nlisten = "127.0.0.1:8545"\nsentinel = "http://127.0.0.1:1"\nservice = "eth-mainnet-fullnode"\ncontract = "7"\nkey = "k"\n${extra}\n`;
  writeFileSync(file, upstream('max_spend_per_hour = 1000\nmax_spend_per_day = "5000"'));
  const u = loadProxyConfig(file).upstreams[0]!;
  assert.deepEqual([u.maxSpendPerHour, u.maxSpendPerDay], [1000n, 5000n]);
  writeFileSync(file, upstream(''));
  assert.deepEqual([loadProxyConfig(file).upstreams[0]!.maxSpendPerHour, loadProxyConfig(file).upstreams[0]!.maxSpendPerDay], [undefined, undefined]);
  writeFileSync(file, upstream('max_spend_per_hour = 0'));
  assert.throws(() => loadProxyConfig(file), (e: unknown) => /upstream 1: max_spend_per_hour: 0 is out of range/.test((e as Error).message));
  writeFileSync(file, upstream('max_spend_per_day = 1.5'));
  assert.throws(() => loadProxyConfig(file), (e: unknown) => /upstream 1: "max_spend_per_day" must be an amount of uarkeo/.test((e as Error).message));
});
