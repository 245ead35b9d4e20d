import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { LocalSigner } from '../../src/signers/index.js';
import { sha256, toHex, utf8 } from '../../src/crypto/index.js';
import { BIN, requireComponent, run, tempDir } from '../helpers.js';
import { buildOracle, goAvailable, oracle } from '../interop/oracle.js';

/**
 * Bytes as the user gave them (issue 14, items 1–2): a message that is not UTF-8 is signed as its exact bytes,
 * as Go's signhere signs them; a secret piped in by a slow writer is waited for, as arkeod's reader does.
 */
const KEY = sha256(utf8('arkeo-signer argv test key'));

function keyHome(): string {
  const home = tempDir();
  assert.equal(run(BIN.arkeoSigner, ['keys', 'import-hex', 'k', toHex(KEY), '--home', home]).status, 0);
  return home;
}

/** Through a shell, because Node's spawn can only pass argv as UTF-8 text. */
function sh(script: string, env: Record<string, string>) {
  return spawnSync('bash', ['-c', script], { env: { ...process.env, NODE: process.execPath, ...env }, encoding: 'utf8', timeout: 60_000 });
}

// Guards the bug where `signhere -m $'\xff'` signed EF BF BD (the replacement character) with exit 0.
test('a message that is not valid UTF-8 is signed as its exact bytes (-m X and -m=X), and verify reads it the same way', { timeout: 60_000 }, async () => {
  const home = keyHome();
  const want = toHex(await new LocalSigner(KEY).sign(new Uint8Array([0xff, 0x41, 0xc3])));
  const env = { H: home, BIN: BIN.signhere, AS: BIN.arkeoSigner };
  const spaced = sh(`exec "$NODE" "$BIN" -home "$H" -u k -m "$(printf '\\xffA\\xc3')"`, env);
  assert.equal(spaced.status, 0, spaced.stderr);
  assert.equal(spaced.stdout.trim(), want);
  const joined = sh(`exec "$NODE" "$BIN" -home "$H" -u k -m="$(printf '\\xffA\\xc3')"`, env);
  assert.equal(joined.stdout.trim(), want);
  const pub = run(BIN.arkeoSigner, ['keys', 'show', 'k', '-p', '--home', home]).stdout.trim();
  const verify = sh(`exec "$NODE" "$AS" verify --pubkey '${pub}' --message "$(printf '\\xffA\\xc3')" --signature ${want}`, env);
  assert.equal(verify.status, 0, verify.stderr);
  assert.equal(verify.stdout, 'valid\n');
  // A real U+FFFD typed by the user is UTF-8 and is signed as such.
  const replacement = toHex(await new LocalSigner(KEY).sign(utf8('\uFFFD')));
  assert.equal(run(BIN.signhere, ['-home', home, '-u', 'k', '-m', '\uFFFD']).stdout.trim(), replacement);
});

// Guards the bug where `(sleep 0.4; echo "$MNEMONIC") | keys add --recover` failed with "mnemonic: no input".
test('secrets piped in by a slow writer are waited for, line by line', { timeout: 60_000 }, () => {
  const home = tempDir();
  const mnemonic = 'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art';
  const r = sh(`(sleep 0.4; echo "$M") | "$NODE" "$AS" keys add bob --recover --home "$H" -o json`, { M: mnemonic, H: home, AS: BIN.arkeoSigner });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).name, 'bob');
  // file keyring: passphrase and its confirmation written by a writer that pauses between lines.
  const file = sh(`(sleep 0.3; echo 'correct horse 1'; sleep 0.3; echo 'correct horse 1') | "$NODE" "$AS" keys import-hex f ${'11'.repeat(32)} --keyring-backend file --home "$H"`, { H: home, AS: BIN.arkeoSigner });
  assert.equal(file.status, 0, file.stderr);
  const list = sh(`(sleep 0.3; echo 'correct horse 1') | "$NODE" "$AS" keys list --keyring-backend file --home "$H" -o json`, { H: home, AS: BIN.arkeoSigner });
  assert.equal(list.status, 0, list.stderr);
  assert.equal(JSON.parse(list.stdout)[0].name, 'f');
});

// Guards the gap where `keys show arkeo1…` worked in arkeod and said "key not found" here (issue 14, item 6).
test('keys show takes an address as arkeod does', { timeout: 30_000 }, () => {
  const home = keyHome();
  const byName = JSON.parse(run(BIN.arkeoSigner, ['keys', 'show', 'k', '--home', home, '-o', 'json']).stdout) as { address: string };
  const byAddress = run(BIN.arkeoSigner, ['keys', 'show', byName.address, '--home', home, '-o', 'json']);
  assert.equal(byAddress.status, 0, byAddress.stderr);
  assert.deepEqual(JSON.parse(byAddress.stdout), byName);
  const valoper = run(BIN.arkeoSigner, ['keys', 'show', byName.address, '--bech', 'val', '-a', '--home', home]).stdout.trim();
  assert.equal(run(BIN.arkeoSigner, ['keys', 'show', valoper, '-a', '--home', home]).stdout.trim(), byName.address);
  const unknown = run(BIN.arkeoSigner, ['keys', 'show', 'arkeo1hnyy4gp5tgarpg3xu6w5cw4zsyphx2lyr6fljp', '--home', home]);
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /key not found/);
});

// The same bytes as Go: the interop oracle (cosmos-sdk v0.50.11's keyring) signs FF 41 C3 with the same key file.
test('signhere -m with a non-UTF-8 byte matches the Go keyring signature over the same bytes (interop oracle)', { timeout: 20 * 60_000 }, (t) => {
  if (!requireComponent(t, goAvailable(), 'Go toolchain (the interop oracle)')) return;
  buildOracle();
  const home = keyHome();
  const go = oracle(['sign', home, 'test', 'k', 'ff41c3']).trim();
  const ours = sh(`exec "$NODE" "$BIN" -home "$H" -u k -m "$(printf '\\xffA\\xc3')"`, { H: home, BIN: BIN.signhere });
  assert.equal(ours.status, 0, ours.stderr);
  assert.equal(ours.stdout.trim(), go);
});
