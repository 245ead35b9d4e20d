import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN, readVector, requireVectors, run, runAsync, tempDir, type ClaimVectors } from '../helpers.js';
import { startFakeArkeo, chainContractJson } from '../support/fake-arkeo.js';
import { Keyring } from '../../src/keyring/index.js';
import { ClaimSigner, parseArkAuth, sentinelV1017 } from '../../src/claims/index.js';
import { SqliteNonceStore } from '../../src/nonces/index.js';
import { parseHex, signMessage, toHex, utf8, verifySignature } from '../../src/crypto/index.js';
import { openLocalSigner } from '../../src/keys/index.js';

const ONE_LINE = /^[^\n]+\n$/;

function dogHome(): { home: string; v: ClaimVectors } {
  const v = readVector<ClaimVectors>('arkeo-claims.json');
  const home = tempDir();
  assert.equal(run(BIN.arkeoSigner, ['keys', 'import-hex', 'dog', v.keys.dog!.priv, '--home', home]).status, 0);
  return { home, v };
}

test('claim sign: arkauth values the sentinel emulation accepts, nonces 1, 2, 3…; json and delegate forms', { timeout: 180_000 }, (t) => {
  if (!requireVectors(t)) return;
  const { home, v } = dogHome();
  const dog = v.keys.dog!;
  const sign = (...extra: string[]) => run(BIN.arkeoSigner, ['claim', 'sign', '--contract', '1', '--key', 'dog', '--home', home, ...extra]);
  const first = sign();
  assert.equal(first.status, 0, first.stderr);
  assert.equal(first.stdout, v.headers.find((h) => h.kind === 'arkauth-3')!.value + '\n', 'nonce 1 for contract 1 is the vector header');
  assert.match(first.stderr, /no registered rate\/deposit/);
  const second = JSON.parse(sign('-o', 'json').stdout) as Record<string, string>;
  assert.equal(second.nonce, '2');
  assert.equal(second.preimage, '1:2:');
  assert.equal(second.signature, v.signatures.find((s) => s.key === 'dog' && s.message === '1:2:')!.signature);
  assert.equal(second.header, `arkauth: ${second.arkauth}`);
  assert.equal(second.pubkey, dog.bech32PubKey);
  const delegate = sign('--form', '4-part').stdout.trim();
  assert.match(delegate, new RegExp(`^1:${dog.bech32PubKey}:3:[0-9a-f]{128}$`));
  assert.ok(sentinelV1017(delegate, { client: parseHex(v.keys.cat!.pub, 'x') }).accepted);
  const chainId = sign('--profile', 'chain-id', '--chain-id', 'arkeo-main-v1', '-o', 'json');
  const c = JSON.parse(chainId.stdout) as Record<string, string>;
  assert.equal(c.preimage, '1:4:arkeo-main-v1');
  assert.equal(sign('--profile', 'chain-id').status, 2, 'chain-id needs --chain-id');
  assert.equal(sign('--profile', 'other').status, 2);
  const shown = JSON.parse(run(BIN.arkeoSigner, ['nonce', 'show', '--home', home, '-o', 'json']).stdout) as { last_reserved: string }[];
  assert.equal(shown[0]!.last_reserved, '4', 'the usage errors consumed no nonce');
});

test('spend ceiling: registered terms bound the nonce; arkcontract needs --allow-management-spend', { timeout: 180_000 }, (t) => {
  if (!requireVectors(t)) return;
  const { home, v } = dogHome();
  const add = run(BIN.arkeoSigner, ['claim', 'contract', 'add', '--id', '1', '--rate', '10', '--deposit', '25', '--home', home]);
  assert.equal(add.status, 0, add.stderr);
  assert.match(add.stdout, /highest nonce that will be signed: 2/);
  const sign = () => run(BIN.arkeoSigner, ['claim', 'sign', '--contract', '1', '--key', 'dog', '--home', home]);
  assert.equal(sign().status, 0);
  assert.equal(sign().status, 0);
  const over = sign();
  assert.equal(over.status, 1);
  assert.equal(over.stdout, '');
  assert.equal(over.stderr, 'arkeo-signer: contract 1: nonce 3 × rate 10 = 30 exceeds the deposit 25; nothing was signed\n');
  run(BIN.arkeoSigner, ['claim', 'contract', 'add', '--id', '1', '--rate', '10', '--deposit', '1000', '--max-spend', '30', '--home', home]);
  assert.equal(sign().status, 0);
  assert.match(sign().stderr, /exceeds the max spend 30/);

  const ac = (...extra: string[]) => run(BIN.arkeoSigner, ['claim', 'arkcontract', '--contract', '1', '--key', 'dog', '--timestamp', '1700000000', '--home', home, ...extra]);
  const refused = ac();
  assert.equal(refused.status, 1);
  assert.equal(refused.stdout, '');
  assert.match(refused.stderr, /also a valid claim for nonce 1700000000; settled on chain it would cost 1700000000 × rate 10 = 17000000000, capped at the deposit 1000.*--allow-management-spend/);
  const allowed = ac('--allow-management-spend');
  assert.equal(allowed.stdout, v.headers.find((h) => h.kind === 'arkcontract')!.value + '\n');
  assert.match(run(BIN.arkeoSigner, ['claim', 'arkcontract', '--contract', '77', '--key', 'dog', '--home', home]).stderr, /rate is unknown/);
  const list = JSON.parse(run(BIN.arkeoSigner, ['claim', 'contract', 'list', '--home', home, '-o', 'json']).stdout);
  assert.deepEqual(list, [{ contract_id: '1', rate: '10', deposit: '1000', max_spend: '30', max_nonce: '3', source: 'manual' }]);
  const unknownRequired = run(BIN.arkeoSigner, ['claim', 'sign', '--contract', '9', '--key', 'dog', '--home', home, '--require-terms']);
  assert.equal(unknownRequired.status, 1);
  assert.match(unknownRequired.stderr, /no registered rate and deposit/);
});

test('claim explain: each verifier, accepted or rejected and why', { timeout: 180_000 }, (t) => {
  if (!requireVectors(t)) return;
  const v = readVector<ClaimVectors>('arkeo-claims.json');
  const dog = v.keys.dog!;
  const explain = (value: string, ...extra: string[]) => run(BIN.arkeoSigner, ['claim', 'explain', value, '--pubkey', dog.bech32PubKey, ...extra]);
  const ok = explain(v.headers.find((h) => h.kind === 'arkauth-3')!.value);
  assert.equal(ok.status, 0);
  assert.equal(ok.stdout, 'sentinel-v1.0.17: accepted (branch 2 "compat": Sign(pre))\nchain-v1.0.17: accepted (branch 3: Sign("1:1:") without chain id)\n');
  const dc = explain(v.headers.find((h) => h.kind === 'rejected-double-colon')!.value);
  assert.equal(dc.status, 1);
  assert.match(dc.stdout, /^sentinel-v1.0.17: rejected: 400\/401 before the signature check: .*bech32/m);
  const chainSig = v.signatures.find((s) => s.message === '1:1:arkeo-main-v1')!.signature;
  const withChain = JSON.parse(explain(`1:1:${chainSig}`, '--chain-id', 'arkeo-main-v1', '-o', 'json').stdout);
  assert.equal(withChain['sentinel-v1.0.17'].accepted, false);
  assert.match(withChain['sentinel-v1.0.17'].reason, /chain-id preimage is never accepted/);
  assert.equal(withChain['chain-v1.0.17'].accepted, true);
  const ac = run(BIN.arkeoSigner, ['claim', 'explain', v.headers.find((h) => h.kind === 'arkcontract')!.value, '--pubkey', dog.pub, '--kind', 'arkcontract']);
  assert.equal(ac.stdout, 'sentinel-v1.0.17: accepted (branch Sign("1:1700000000:") by contract.Client)\n');
  for (const args of [['x'.repeat(5000), '--pubkey', dog.pub], ['1:1:ab', '--pubkey', 'nope'], ['1:1:ab'], ['1:1:ab', '--pubkey', dog.pub, '--chain-id', 'bad id']]) {
    const r = run(BIN.arkeoSigner, ['claim', 'explain', ...args]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, ONE_LINE);
  }
});

test('nonce sync takes max(local, sentinel, chain); contract add --lcd; set never goes back without --force (fake sentinel + LCD)', { timeout: 180_000 }, async (t) => {
  if (!requireVectors(t)) return;
  const { home, v } = dogHome();
  const fake = await startFakeArkeo();
  // t.after as well as finally: after a timeout the finally never runs, and a live server would keep the file from ending.
  t.after(() => fake.close());
  try {
    // The sentinel's nonce counts only with dog's own claim at that nonce (a provider's word alone moves nothing).
    const dogClaim = (nonce: number) => toHex(signMessage(parseHex(v.keys.dog!.priv, 'dog'), utf8(`1:${nonce}:`)));
    fake.claims.set('1', { provider: '', contract_id: 1, spender: v.keys.dog!.bech32PubKey, nonce: 41, signature: 'ab', claimed: false });
    const unproven = await runAsync(BIN.arkeoSigner, ['nonce', 'sync', '--contract', '1', '--key', 'dog', '--home', home, '--sentinel', fake.url]);
    assert.equal(unproven.status, 1);
    assert.match(unproven.stderr, /says it holds nonce 41, but it shows no signature for it; .* the local nonce is unchanged\n$/);
    fake.claims.set('1', { provider: '', contract_id: 1, spender: v.keys.dog!.bech32PubKey, nonce: 41, signature: dogClaim(41), claimed: false });
    fake.contracts.set('1', chainContractJson(1, v.keys.dog!.bech32PubKey, { nonce: '17', deposit: '5000', rate: { denom: 'uarkeo', amount: '7' } }));
    const sync = await runAsync(BIN.arkeoSigner, ['nonce', 'sync', '--contract', '1', '--key', 'dog', '--home', home, '--sentinel', fake.url, '--lcd', fake.url, '-o', 'json']);
    assert.equal(sync.status, 0, sync.stderr);
    assert.deepEqual(JSON.parse(sync.stdout), { contract_id: '1', signer: v.keys.dog!.address, local: '0', sentinel: '41', chain: '17', now: '41' });
    assert.match((await runAsync(BIN.arkeoSigner, ['claim', 'sign', '--contract', '1', '--key', 'dog', '--home', home])).stdout, /^1:42:/);
    fake.claims.set('1', { nonce: 3 });
    assert.match((await runAsync(BIN.arkeoSigner, ['nonce', 'sync', '--contract', '1', '--key', 'dog', '--home', home, '--sentinel', fake.url])).stdout, /local 42, sentinel 3 → 42/);

    const add = await runAsync(BIN.arkeoSigner, ['claim', 'contract', 'add', '--id', '1', '--lcd', fake.url, '--home', home, '-o', 'json']);
    // --lcd also records the contract's parties: here its client, dog, and no delegate.
    assert.deepEqual(JSON.parse(add.stdout), { contract_id: '1', rate: '7', deposit: '5000', max_spend: null, max_nonce: '714', source: fake.url, client: v.keys.dog!.bech32PubKey });

    const back = await runAsync(BIN.arkeoSigner, ['nonce', 'set', '--contract', '1', '--key', 'dog', '--nonce', '5', '--home', home]);
    assert.equal(back.status, 1);
    assert.match(back.stderr, /refusing to move the nonce back from 42 to 5/);
    assert.equal((await runAsync(BIN.arkeoSigner, ['nonce', 'set', '--contract', '1', '--key', 'dog', '--nonce', '5', '--force', '--home', home])).status, 0);
    assert.match((await runAsync(BIN.arkeoSigner, ['claim', 'sign', '--contract', '1', '--key', 'dog', '--home', home])).stdout, /^1:6:/);

    // Hostile or broken replies: one line, non-zero, nothing changed.
    fake.raw.set('/claim/1', { status: 200, body: 'not json' });
    fake.raw.set('/claim/2', { status: 200, body: JSON.stringify({ nonce: -4 }) });
    fake.raw.set('/claim/3', { status: 500, body: '{}' });
    fake.raw.set('/claim/4', { status: 200, body: Buffer.alloc(2 * 1024 * 1024, 0x20) });
    fake.raw.set('/arkeo/contract/5', { status: 200, body: JSON.stringify({ contract: chainContractJson(6, v.keys.dog!.bech32PubKey) }) });
    fake.raw.set('/arkeo/contract/6', { status: 200, body: JSON.stringify({ contract: { ...chainContractJson(6, 'arkeo1notapubkey') } }) });
    const cases: string[][] = [
      ['nonce', 'sync', '--contract', '1', '--sentinel', fake.url],
      ['nonce', 'sync', '--contract', '2', '--sentinel', fake.url],
      ['nonce', 'sync', '--contract', '3', '--sentinel', fake.url],
      ['nonce', 'sync', '--contract', '4', '--sentinel', fake.url],
      ['nonce', 'sync', '--contract', '1', '--sentinel', 'ftp://x'],
      ['nonce', 'sync', '--contract', '1', '--sentinel', 'http://127.0.0.1:1'],
      ['claim', 'contract', 'add', '--id', '5', '--lcd', fake.url],
      ['claim', 'contract', 'add', '--id', '6', '--lcd', fake.url],
      ['claim', 'contract', 'add', '--id', '7', '--lcd', fake.url],
    ];
    for (const args of cases) {
      const r = await runAsync(BIN.arkeoSigner, [...args, ...(args[0] === 'nonce' ? ['--key', 'dog'] : []), '--home', home]);
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, ONE_LINE, args.join(' '));
    }
    assert.match((await runAsync(BIN.arkeoSigner, ['nonce', 'show', '--home', home])).stdout, /^1\tarkeo1\S+\t6\t/);
  } finally {
    await fake.close();
  }
});

test('claim signing works with every keyring backend (test, file, memory)', { timeout: 180_000 }, async (t) => {
  if (!requireVectors(t)) return;
  const v = readVector<ClaimVectors>('arkeo-claims.json');
  const home = tempDir();
  const passFile = path.join(home, 'pass');
  fs.writeFileSync(passFile, 'file-backend-pass\n');
  assert.equal(run(BIN.arkeoSigner, ['keys', 'import-hex', 'dog', v.keys.dog!.priv, '--home', home, '--keyring-backend', 'file', '--passphrase-file', passFile]).status, 0);
  const viaFile = run(BIN.arkeoSigner, ['claim', 'sign', '--contract', '1', '--key', 'dog', '--home', home, '--keyring-backend', 'file', '--passphrase-file', passFile]);
  assert.equal(viaFile.stdout, v.headers.find((h) => h.kind === 'arkauth-3')!.value + '\n', viaFile.stderr);
  const memory = Keyring.open({ backend: 'memory' });
  await memory.importPrivateKey('dog', parseHex(v.keys.dog!.priv, 'k'));
  const store = SqliteNonceStore.open(path.join(home, 'mem.db'));
  const claims = await ClaimSigner.create(await openLocalSigner(memory, 'dog'), store);
  const c = await claims.signClaim(12345n);
  assert.equal(c.arkauth, `12345:1:${v.signatures.find((s) => s.message === '12345:1:')!.signature}`);
  assert.ok(verifySignature(parseHex(v.keys.dog!.pub, 'p'), utf8(c.preimage), parseArkAuth(c.arkauth).signature));
  await store.close();
});
