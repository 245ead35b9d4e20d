import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Keyring } from '../../src/keyring/index.js';
import { openKey } from '../../src/cli/open-key.js';
import { parseArkAuth } from '../../src/claims/index.js';
import { parseHex, publicKeyFromPrivate, sha256, utf8, verifySignature } from '../../src/crypto/index.js';
import { startTestDaemon } from '../support/daemon.js';
import { BIN, runAsync, tempDir } from '../helpers.js';

/**
 * The CLI chooses where a command's key is in one place (src/cli/open-key.ts, openKey): the key daemon named by
 * --daemon or $ARKEO_SIGNER_DAEMON, as a Signer of kind 'daemon', else the key record of the keyring the flags
 * name. The daemon and the keyring here each hold a key called `k`, different keys, so every signature says which
 * one was used.
 */
const DAEMON_KEY = sha256(utf8('open-key test: the daemon key'));
const KEYRING_KEY = sha256(utf8('open-key test: the keyring key'));
const DAEMON_PUB = publicKeyFromPrivate(DAEMON_KEY);
const KEYRING_PUB = publicKeyFromPrivate(KEYRING_KEY);

async function setUp(t: { after(fn: () => unknown): void }) {
  const d = await startTestDaemon({ k: Buffer.from(DAEMON_KEY).toString('hex') }, { app: { keys: ['k'], operations: ['claim', 'raw'], contracts: ['*'], rate: { per_second: 1000, burst: 1000 } } });
  t.after(() => d.daemon.stop());
  const home = tempDir();
  await Keyring.open({ backend: 'test', dir: home }).importPrivateKey('k', KEYRING_KEY.slice());
  const tokenFile = path.join(home, 'token');
  fs.writeFileSync(tokenFile, d.tokens.app!, { mode: 0o600 });
  return { d, home, tokenFile };
}

test('openKey: --daemon or ARKEO_SIGNER_DAEMON gives the daemon key as a Signer of kind daemon; without either, the keyring key (control)', { timeout: 60_000 }, async (t) => {
  const { d, home, tokenFile } = await setUp(t);
  const message = utf8('which key?');
  const before = process.env.ARKEO_SIGNER_DAEMON;
  delete process.env.ARKEO_SIGNER_DAEMON;
  t.after(() => (before === undefined ? delete process.env.ARKEO_SIGNER_DAEMON : (process.env.ARKEO_SIGNER_DAEMON = before)));

  const local = await openKey({ home }, 'k');
  try {
    assert.equal(local.daemon, undefined);
    assert.equal(local.signer.kind, 'local');
    assert.ok(verifySignature(KEYRING_PUB, message, await local.signer.sign(message)), 'the keyring key signed');
  } finally {
    local.close();
  }

  for (const [how, flags] of [
    ['--daemon', { home, daemon: d.socket, 'token-file': tokenFile }],
    ['ARKEO_SIGNER_DAEMON', { home, 'token-file': tokenFile }],
  ] as const) {
    if (how === 'ARKEO_SIGNER_DAEMON') process.env.ARKEO_SIGNER_DAEMON = d.socket;
    const remote = await openKey(flags, 'k');
    try {
      assert.ok(remote.daemon, how);
      assert.equal(remote.signer.kind, 'daemon', how);
      assert.deepEqual(await remote.signer.publicKey(), DAEMON_PUB, how);
      assert.ok(verifySignature(DAEMON_PUB, message, await remote.signer.sign(message)), `${how}: the daemon key signed`);
    } finally {
      remote.close();
    }
  }
});

test('claim sign and signhere take the daemon key with --daemon, and the keyring key without it (control)', { timeout: 60_000 }, async (t) => {
  const { d, home, tokenFile } = await setUp(t);
  const env = { ARKEO_SIGNER_DAEMON: undefined, ARKEO_SIGNER_TOKEN: undefined };
  const daemon = ['--daemon', d.socket, '--token-file', tokenFile];

  const viaDaemon = await runAsync(BIN.arkeoSigner, ['claim', 'sign', '--contract', '5', '--key', 'k', ...daemon], { env });
  assert.equal(viaDaemon.status, 0, viaDaemon.stderr);
  const claimed = parseArkAuth(viaDaemon.stdout.trim());
  assert.ok(verifySignature(DAEMON_PUB, utf8(`5:${claimed.nonce}:`), claimed.signature), 'claim sign --daemon: the daemon key signed');
  const here = await runAsync(BIN.arkeoSigner, ['claim', 'sign', '--contract', '5', '--key', 'k', '--home', home, '--create-nonce-store'], { env });
  assert.equal(here.status, 0, here.stderr);
  const claimedHere = parseArkAuth(here.stdout.trim());
  assert.ok(verifySignature(KEYRING_PUB, utf8(`5:${claimedHere.nonce}:`), claimedHere.signature), 'claim sign without a daemon: the keyring key signed');

  const signed = await runAsync(BIN.signhere, ['-u', 'k', '-m', 'hello', '-daemon', d.socket, '-token-file', tokenFile, '-home', home], { env });
  assert.equal(signed.status, 0, signed.stderr);
  assert.ok(verifySignature(DAEMON_PUB, utf8('hello'), parseHex(signed.stdout.trim(), 'signature', 64)), 'signhere -daemon: the daemon key signed');
  const signedHere = await runAsync(BIN.signhere, ['-u', 'k', '-m', 'hello', '-home', home], { env });
  assert.equal(signedHere.status, 0, signedHere.stderr);
  assert.ok(verifySignature(KEYRING_PUB, utf8('hello'), parseHex(signedHere.stdout.trim(), 'signature', 64)), 'signhere without a daemon: the keyring key signed');
});
