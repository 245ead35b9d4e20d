import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN, listFiles, requireComponent, run, tempDir } from '../helpers.js';
import { buildOracle, goAvailable, oracle, oracleJson } from '../interop/oracle.js';
import { GOLDEN_DIR, KEY_OUTPUT_KEYRING, LOCAL_NAMES, readGolden, type GoldenKeyOutput, type GoldenNameOutput } from '../interop/goldens.js';
import { keyJson, keyText } from '../../src/cli/output.js';
import { InputError } from '../../src/errors.js';

/**
 * Issue 14, items 3 to 6, against files and bytes from the Go oracle (test/vectors/go-key-output*, written by
 * `npm run vectors` through cosmos-sdk v0.50.11's keyring and its client/keys output code): the keyring holds local
 * keys under odd names (195 bytes, ".hidden", spaces, %, non-ASCII, YAML words), an offline key, two multisig keys
 * and a ledger key, all written by Go. Runs without Go.
 */
const golden = readGolden<GoldenKeyOutput>('go-key-output.json');
const k = (home: string, ...args: string[]) => ['keys', ...args, '--home', home];

/** A private copy of the Go keyring (git checks files out 0644 in 0755 folders; keyrings are 0700/0600). */
function goKeyring(): string {
  const home = tempDir();
  fs.cpSync(path.join(GOLDEN_DIR, KEY_OUTPUT_KEYRING), home, { recursive: true });
  const dir = path.join(home, 'keyring-test');
  fs.chmodSync(dir, 0o700);
  for (const f of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, f), 0o600);
  return home;
}

test('golden: the Go keyring holds every record kind and the names issue 14 reported', { timeout: 60_000 }, () => {
  const kinds = new Set(golden.records.map((r) => r.kind));
  assert.deepEqual([...kinds].sort(), ['ledger', 'local', 'multi', 'offline']);
  assert.ok(LOCAL_NAMES.some((n) => Buffer.byteLength(n) === 195), 'a 195-byte name');
  assert.ok(LOCAL_NAMES.includes('.hidden'));
  assert.equal(golden.outputs.show.length, golden.records.length, 'Go lists every record, .hidden included');
  assert.match(golden.outputs.list_json, /\\"threshold\\":2,\\"public_keys\\":\[/, 'Go prints the multisig threshold and keys');
});

test('keys list -o json and text: arkeod bytes for every record (local, offline, ledger, multi)', { timeout: 120_000 }, () => {
  const home = goKeyring();
  const json = run(BIN.arkeoSigner, k(home, 'list', '-o', 'json'));
  assert.equal(json.status, 0, json.stderr);
  assert.equal(json.stdout, golden.outputs.list_json, 'same bytes, no newline after the array (Fprintf "%s")');
  const text = run(BIN.arkeoSigner, k(home, 'list'));
  assert.equal(text.status, 0, text.stderr);
  assert.equal(text.stdout, golden.outputs.list_text);
  // The names Go listed are the names we list, in the same order (a byte-wise sort), .hidden and all.
  const names = run(BIN.arkeoSigner, k(home, 'list', '-n', '-o', 'json'));
  assert.deepEqual(JSON.parse(names.stdout), golden.outputs.show.map((s) => s.name));
});

test('keys show NAME -o json and text: arkeod bytes for each record, the 195-byte name and .hidden included', { timeout: 300_000 }, () => {
  const home = goKeyring();
  for (const want of golden.outputs.show) {
    // "--" ends the flags, as with arkeod (cobra): a name such as "- dash" is then a name.
    const json = run(BIN.arkeoSigner, ['keys', 'show', '--home', home, '-o', 'json', '--', want.name]);
    assert.equal(json.status, 0, `${want.name}: ${json.stderr}`);
    assert.equal(json.stdout, want.json, want.name);
    const text = run(BIN.arkeoSigner, ['keys', 'show', '--home', home, '--', want.name]);
    assert.equal(text.stdout, want.text, want.name);
  }
});

test('arkeod output for 120 names (YAML words, numbers, dates, indicators, quotes, folding, controls): JSON and text', { timeout: 60_000 }, () => {
  const names = readGolden<GoldenNameOutput[]>('go-name-outputs.json');
  assert.ok(names.length >= 120);
  let refused = 0;
  for (const g of names) {
    const name = JSON.stringify(Buffer.from(g.name, 'hex').toString('utf8'));
    // Go's own KeyOutput, decoded, through our serializers: the bytes must be Go's.
    const ko = JSON.parse(g.json) as Record<string, string>;
    assert.equal(keyJson(ko), g.json, `${name}: JSON`);
    if (g.text_error) {
      refused++;
      assert.throws(() => keyText([ko]), (e: unknown) => e instanceof InputError && /control character/.test(e.message) && e.message.includes(JSON.stringify(ko.name)), name);
    } else {
      assert.equal(keyText([ko]), g.text, `${name}: text`);
    }
  }
  assert.ok(refused >= 2, 'names arkeod cannot print as text are in the set');
});

test('signhere and keys export use the Go-written 195-byte and .hidden keys; every local key signs as Go signed', { timeout: 300_000 }, () => {
  const home = goKeyring();
  assert.ok(golden.signatures.length === LOCAL_NAMES.length);
  const msgFile = path.join(tempDir(), 'msg');
  for (const s of golden.signatures) {
    fs.writeFileSync(msgFile, Buffer.from(s.msgHex, 'hex'));
    const r = run(BIN.signhere, ['-home', home, '-message-file', msgFile, `-u=${s.name}`]);
    assert.equal(r.status, 0, `${s.name}: ${r.stderr}`);
    assert.equal(r.stdout, s.sigHex + '\n', s.name);
  }
  const long = 'k'.repeat(195);
  assert.equal(run(BIN.arkeoSigner, k(home, 'show', long, '-a')).stdout, golden.signatures.find((s) => s.name === long)!.address + '\n');
  assert.equal(run(BIN.arkeoSigner, k(home, 'show', '.hidden', '-a')).stdout, golden.signatures.find((s) => s.name === '.hidden')!.address + '\n');
  const hex = run(BIN.arkeoSigner, k(home, 'export', '.hidden', '--unarmored-hex', '--unsafe', '-y'));
  assert.match(hex.stdout, /^[0-9a-f]{64}\n$/, hex.stderr);
});

test('migrate: every local key of the Go keyring is copied (odd names included), the others skipped with the reason', { timeout: 300_000 }, () => {
  const home = goKeyring();
  const pass = path.join(tempDir(), 'pass');
  fs.writeFileSync(pass, 'migrate-pass-1\n');
  const r = run(BIN.arkeoSigner, k(home, 'migrate', '--from', 'test', '--to', 'file', '--passphrase-file', pass));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`${LOCAL_NAMES.length} key\\(s\\) migrated, 4 skipped`));
  assert.match(r.stderr, /skipped multi: a multi key: no private key in this keyring to copy/);
  assert.match(r.stderr, /skipped ledger: a ledger key/);
  const listed = run(BIN.arkeoSigner, k(home, 'list', '-n', '-o', 'json', '--keyring-backend', 'file', '--passphrase-file', pass));
  assert.deepEqual(JSON.parse(listed.stdout), golden.signatures.map((s) => s.name), 'every local name, in order');
  // Run again: nothing to copy, everything said.
  const again = run(BIN.arkeoSigner, k(home, 'migrate', '--from', 'test', '--to', 'file', '--passphrase-file', pass));
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /0 key\(s\) migrated, 18 skipped/);
  assert.match(again.stderr, /skipped \.hidden: already in /);
});

test('migrate with one bad key checks everything first and copies nothing; the message names the key and what to do', { timeout: 300_000 }, () => {
  const home = goKeyring();
  const pass = path.join(tempDir(), 'pass');
  fs.writeFileSync(pass, 'migrate-pass-1\n');
  // The target already holds a different key named ".hidden": that one key cannot be migrated.
  const add = run(BIN.arkeoSigner, k(home, 'add', '.hidden', '--keyring-backend', 'file', '--passphrase-file', pass, '--no-backup'));
  assert.equal(add.status, 0, add.stderr);
  const target = path.join(home, 'keyring-file');
  const before = listFiles(target);
  const r = run(BIN.arkeoSigner, k(home, 'migrate', '--from', 'test', '--to', 'file', '--passphrase-file', pass));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^arkeo-signer: nothing was migrated: 1 key\(s\) cannot be: \.hidden: a different key with this name is in \S+keyring-file; rename one of them\n$/);
  assert.deepEqual(listFiles(target), before, 'not one file copied');

  // A source file that cannot be read stops it the same way, named, before anything is copied.
  const other = goKeyring();
  fs.writeFileSync(path.join(other, 'keyring-test', 'broken.info'), 'not a token', { mode: 0o600 });
  const r2 = run(BIN.arkeoSigner, k(other, 'migrate', '--from', 'test', '--to', 'file', '--passphrase-file', pass));
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /nothing was migrated: 1 key\(s\) cannot be: broken\.info cannot be read/);
  assert.deepEqual(listFiles(path.join(other, 'keyring-file')).filter((f) => f.endsWith('.info')), []);
});

test('import of a key already stored under another name: refused, naming that name and the rename that works', { timeout: 120_000 }, () => {
  const home = goKeyring();
  const priv = run(BIN.arkeoSigner, k(home, 'export', 'alice', '--unarmored-hex', '--unsafe', '-y')).stdout.trim();
  const r = run(BIN.arkeoSigner, k(home, 'import-hex', 'bob', priv));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^arkeo-signer: bob: this key \(arkeo1\w+\) is already stored as alice in \S+; use that name, or `keys rename alice bob`\n$/);
  assert.ok(!fs.existsSync(path.join(home, 'keyring-test', 'bob.info')));
});

// ------------------------------------------------------------------------------ live, when Go is on PATH
let haveGo = false;
before(() => {
  haveGo = goAvailable();
  if (haveGo) buildOracle();
});

test('live oracle: Go writes the same records again and prints the committed golden bytes', { timeout: 600_000 }, (t) => {
  if (!requireComponent(t, haveGo, 'the go toolchain (interop oracle)')) return;
  const home = tempDir();
  const hexName = (r: GoldenKeyOutput['records'][number]) => ({ ...r, name: Buffer.from(r.name).toString('hex') });
  oracle(['write-records', home, 'test'], { input: golden.records.map((r) => JSON.stringify(hexName(r))).join('\n') + '\n' });
  // Fresh files (new salts and IVs), the same output: the goldens still say what cosmos-sdk prints.
  assert.deepEqual(oracleJson<GoldenKeyOutput['outputs']>(['key-outputs', home, 'test']), golden.outputs);
});

test('live oracle: keys named with a tab and a newline, written by Go, are listed, shown and signed with', { timeout: 600_000 }, (t) => {
  if (!requireComponent(t, haveGo, 'the go toolchain (interop oracle)')) return;
  const home = tempDir();
  const names = ['tab\tname', 'line\nbreak', '.dot\ttab'];
  const mnemonic = golden.records.find((r) => r.kind === 'local')!.mnemonic!;
  oracle(['write-records', home, 'test'], {
    input: names.map((n, i) => JSON.stringify({ kind: 'local', name: Buffer.from(n).toString('hex'), mnemonic: i === 0 ? mnemonic : golden.records[i + 1]!.mnemonic })).join('\n') + '\n',
  });
  const want = oracleJson<GoldenKeyOutput['outputs']>(['key-outputs', home, 'test']);
  assert.equal(run(BIN.arkeoSigner, k(home, 'list', '-o', 'json')).stdout, want.list_json);
  assert.equal(run(BIN.arkeoSigner, k(home, 'list')).stdout, want.list_text);
  for (const s of want.show) {
    assert.equal(run(BIN.arkeoSigner, ['keys', 'show', '--home', home, '--', s.name]).stdout, s.text, JSON.stringify(s.name));
    const msg = '42:1:';
    const go = oracle(['sign', home, 'test', s.name, Buffer.from(msg).toString('hex')]);
    assert.equal(run(BIN.signhere, ['-home', home, '-m', msg, `-u=${s.name}`]).stdout, go, JSON.stringify(s.name));
  }
  // A new name with a control character is refused at the CLI, with the reason, although arkeod would take it.
  const r = run(BIN.arkeoSigner, k(home, 'add', 'new\tkey', '--no-backup'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^arkeo-signer: key name "new\\tkey": contains a control character \(a tab, newline or escape\); choose a name without one\n$/);
});
