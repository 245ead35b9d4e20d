import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseCommand } from '../../src/cli/table.js';
import { CONTRACT_OPEN } from '../../src/cli/tables/chain.js';
import { publicKeyFromPrivate, sha256, signMessage, toAddress, toBech32PubKey, toHex, utf8 } from '../../src/crypto/index.js';
import { BIN, REPO_ROOT, run, runAsync, tempDir } from '../helpers.js';
import { startFakeArkeo, chainContractJson } from '../support/fake-arkeo.js';

/**
 * Issue 16 from the command line: `keys add NAME --delegate-for ACCOUNT`, contract parties, `claim sign`
 * choosing the form and refusing before any nonce, `claim arkcontract` refused for a delegate, `claim explain`
 * with --client/--delegate, --contract-json and --lcd, and the rotation listing.
 */
const ONE_LINE = /^[^\n]+\n$/;
const priv = (label: string) => toHex(sha256(utf8(`arkeo-signer cli delegate test ${label}`)));
const KEYS = { cold: priv('cold'), stranger: priv('stranger') };
const pubOf = (hex: string) => toBech32PubKey(publicKeyFromPrivate(Buffer.from(hex, 'hex')));

function home(): { home: string; cli: (...args: string[]) => ReturnType<typeof run> } {
  const dir = tempDir();
  const cli = (...args: string[]) => run(BIN.arkeoSigner, [...args, '--home', dir]);
  assert.equal(cli('keys', 'import-hex', 'cold', KEYS.cold).status, 0);
  return { home: dir, cli };
}

test('keys add NAME --delegate-for ACCOUNT: records the delegate and prints the contract open command that names it, which our parser takes', { timeout: 120_000 }, () => {
  const { home: dir, cli } = home();
  const added = cli('keys', 'add', 'hot', '--delegate-for', 'cold', '--no-backup');
  assert.equal(added.status, 0, added.stderr);
  const hotPub = /pubkey: .*"key":"([^"]+)"/.exec(added.stdout)![1]!;
  const hotBech = toBech32PubKey(new Uint8Array(Buffer.from(hotPub, 'base64')));
  const commandLine = added.stdout.split('\n').find((l) => l.startsWith('arkeo-signer contract open '));
  assert.ok(commandLine, added.stdout);
  assert.doesNotMatch(added.stdout, /arkeod tx/, 'no arkeod command to paste any more');
  // The printed words, the shell's quotes taken off, are a valid `contract open` command line.
  const words = commandLine.split(' ').slice(3).map((w) => w.replace(/^"|"$/g, ''));
  const parsed = parseCommand(CONTRACT_OPEN, words);
  assert.equal(parsed.values.delegate, hotBech, 'the new key is the delegate');
  assert.equal(parsed.values.key, 'cold', '--key is the account: the chain requires the signer to be the client');
  assert.equal(parsed.values.type, 'pay-as-you-go');
  assert.equal(parsed.values.authorization, 'strict');
  assert.equal(parsed.values.provider, '$PROVIDER_PUBKEY');
  // Control: the parser does refuse a command line the table does not describe.
  assert.throws(() => parseCommand(CONTRACT_OPEN, [...words, '--from', 'cold']), /unknown|--from/);
  const record = JSON.parse(fs.readFileSync(path.join(dir, 'arkeo-signer', 'delegates.json'), 'utf8'));
  assert.deepEqual(
    record.delegates.map((r: Record<string, string>) => [r.name, r.pubkey, r.account, r.account_name]),
    [['hot', hotBech, pubOf(KEYS.cold), 'cold']],
  );
  assert.equal(fs.statSync(path.join(dir, 'arkeo-signer', 'delegates.json')).mode & 0o777, 0o600);
  // JSON output carries the same command.
  const json = JSON.parse(cli('keys', 'add', 'hot2', '--delegate-for', pubOf(KEYS.cold), '-o', 'json', '--no-backup').stdout);
  assert.match(json.open_contract, /^arkeo-signer contract open --provider \$PROVIDER_PUBKEY .*--delegate arkeopub1\S+ --key arkeo1\S+ --node \$ARKEO_NODE$/);
  assert.equal(json.delegate_for, pubOf(KEYS.cold));
});

test('keys add --delegate-for: an address, an unknown name, or --dry-run is refused in one line and no key is made', { timeout: 120_000 }, () => {
  const { cli } = home();
  const address = toAddress(publicKeyFromPrivate(Buffer.from(KEYS.cold, 'hex')));
  for (const [args, why] of [
    [['--delegate-for', address], /an address does not give the account's public key/],
    [['--delegate-for', 'nobody'], /not a key in .*arkeopub1/],
    [['--delegate-for', 'cold', '--dry-run'], /--delegate-for does not go with --dry-run/],
  ] as const) {
    const r = cli('keys', 'add', 'hot', ...args, '--no-backup');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, ONE_LINE);
    assert.match(r.stderr, why);
  }
  assert.doesNotMatch(cli('keys', 'list', '-n').stdout, /hot/, 'no key was created');
});

test('claim sign with registered parties: the delegate signs 4-part; 3-part from it, the client, a stranger and arkcontract by it are refused before any nonce; explain agrees; rotation list', { timeout: 180_000 }, () => {
  const { cli } = home();
  const hot = JSON.parse(cli('keys', 'add', 'hot', '--delegate-for', 'cold', '-o', 'json', '--no-backup').stdout);
  const hotBech = /--delegate (\S+)/.exec(hot.open_contract)![1]!;
  assert.equal(cli('keys', 'import-hex', 'stranger', KEYS.stranger).status, 0);
  const add = cli('claim', 'contract', 'add', '--id', '7', '--rate', '10', '--deposit', '1000', '--client', pubOf(KEYS.cold), '--delegate', hotBech);
  assert.equal(add.status, 0, add.stderr);
  assert.match(add.stdout, /client arkeopub1\S+, delegate arkeopub1/);
  const sign = (...extra: string[]) => cli('claim', 'sign', '--contract', '7', ...extra);
  const good = sign('--key', 'hot');
  assert.equal(good.status, 0, good.stderr);
  assert.equal(good.stderr, '', 'no warning: the form is the one both verifiers accept');
  assert.match(good.stdout, new RegExp(`^7:${hotBech}:1:[0-9a-f]{128}\\n$`));
  const explained = run(BIN.arkeoSigner, ['claim', 'explain', good.stdout.trim(), '--client', pubOf(KEYS.cold), '--delegate', hotBech]);
  assert.equal(explained.status, 0, explained.stdout);
  assert.match(explained.stdout, /^sentinel-v1\.0\.17: accepted .*\nchain-v1\.0\.17: accepted/);
  for (const [args, why] of [
    [['--key', 'hot', '--form', '3-part'], /3-part header from the delegate would be accepted by the chain and rejected by the sentinel/],
    [['--key', 'cold'], /names the delegate .* settles only its claims, not the client's/],
    [['--key', 'stranger', '--form', '4-part'], /is not a party of the contract/],
  ] as const) {
    const r = sign(...args);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, ONE_LINE);
    assert.match(r.stderr, why);
  }
  const ac = cli('claim', 'arkcontract', '--contract', '7', '--key', 'hot', '--timestamp', '5');
  assert.equal(ac.status, 1);
  assert.match(ac.stderr, /arkcontract must be signed by the contract's client .*its delegate.*400/);
  const shown = JSON.parse(cli('nonce', 'show', '-o', 'json').stdout) as { contract_id: string; last_reserved: string }[];
  assert.deepEqual(shown.map((r) => r.last_reserved), ['1'], 'only the accepted claim used a nonce');
  assert.match(sign('--key', 'hot').stdout, /^7:arkeopub1\S+:2:/, 'and the next one is 2');
  // Rotation: which contracts still name this delegate.
  cli('claim', 'contract', 'add', '--id', '8', '--rate', '10', '--deposit', '1000', '--client', pubOf(KEYS.cold));
  const named = JSON.parse(cli('claim', 'contract', 'list', '--delegate', hotBech, '-o', 'json').stdout) as { contract_id: string; delegate: string }[];
  assert.deepEqual(named.map((c) => [c.contract_id, c.delegate]), [['7', hotBech]]);
});

test('claim explain with the parties from --contract-json and --lcd: the unrelated 4-part key is a finding; the delegate\'s 3-part header too', { timeout: 180_000 }, async (t) => {
  const fake = await startFakeArkeo();
  t.after(() => fake.close());
  try {
    const cold = pubOf(KEYS.cold);
    const delegatePriv = Buffer.from(priv('delegate'), 'hex');
    const delegate = toBech32PubKey(publicKeyFromPrivate(delegatePriv));
    const contract = chainContractJson(7, cold, { delegate });
    fake.contracts.set('7', contract);
    const file = path.join(tempDir(), 'contract.json');
    fs.writeFileSync(file, JSON.stringify({ contract }));
    const strangerSig = toHex(signMessage(Buffer.from(KEYS.stranger, 'hex'), utf8('7:3:')));
    const unrelated = `7:${pubOf(KEYS.stranger)}:3:${strangerSig}`;
    const plainByDelegate = `7:3:${toHex(signMessage(delegatePriv, utf8('7:3:')))}`;
    for (const source of [['--contract-json', file], ['--lcd', fake.url], ['--client', cold, '--delegate', delegate]]) {
      const r = await runAsync(BIN.arkeoSigner, ['claim', 'explain', unrelated, ...source]);
      assert.equal(r.status, 1, source.join(' '));
      assert.match(r.stdout, /^sentinel-v1\.0\.17: accepted/m);
      assert.match(r.stdout, /^chain-v1\.0\.17: rejected/m);
      assert.match(r.stdout, /^finding: the sentinel accepts this, the chain will not settle it: the 4-part header names arkeopub1\S+, which is neither the contract's client nor its delegate/m);
      const p = JSON.parse((await runAsync(BIN.arkeoSigner, ['claim', 'explain', plainByDelegate, ...source, '-o', 'json'])).stdout);
      assert.equal(p['sentinel-v1.0.17'].accepted, false, `delegate 3-part, sentinel (${source[0]})`);
      assert.equal(p['chain-v1.0.17'].accepted, true, `delegate 3-part, chain (${source[0]})`);
      assert.match(p.findings.join('\n'), /the chain would settle this, but the sentinel rejects it/);
    }
    // With one --pubkey (no delegate) the old single-key reading stands: the same unrelated header, checked
    // against that key as client and spender.
    const legacy = await runAsync(BIN.arkeoSigner, ['claim', 'explain', unrelated, '--pubkey', cold]);
    assert.match(legacy.stdout, /^chain-v1\.0\.17: rejected/m);
    for (const bad of [['--client', cold, '--pubkey', cold], ['--delegate', delegate], ['--contract-json', path.join(tempDir(), 'missing.json')]]) {
      const r = await runAsync(BIN.arkeoSigner, ['claim', 'explain', unrelated, ...bad]);
      assert.notEqual(r.status, 0, bad.join(' '));
      assert.match(r.stderr, ONE_LINE);
    }
  } finally {
    await fake.close();
  }
});
