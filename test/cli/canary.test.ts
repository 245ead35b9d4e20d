import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN, run, tempDir } from '../helpers.js';

/**
 * Canary secrets: a mnemonic, its private key, a keyring passphrase and an armor passphrase, pushed through
 * every command, success and failure, with debug logging on. Only the two outputs whose whole point is to show
 * a secret (the new mnemonic of `keys add`, `export --unarmored-hex`) may contain one, and only on the stream
 * that is meant for it.
 */
const CANARY_MNEMONIC = 'element lawn liquid because erosion pelican laptop flip lunch shiver because lady impact raw keep front document property trumpet just resemble train ranch catch';
const CANARY_PRIV = '07d874b1e85534f33f298c6cc9697eb272f59f751ceda9d09a938d93174944c7';
const CANARY_KEYRING_PASS = 'canary-keyring-pass-5f1e';
const CANARY_ARMOR_PASS = 'canary-armor-pass-77ab';
const CANARIES = [CANARY_PRIV, CANARY_KEYRING_PASS, CANARY_ARMOR_PASS, 'pelican laptop flip', Buffer.from(CANARY_PRIV, 'hex').toString('base64')];

function assertClean(what: string, text: string): void {
  for (const c of CANARIES) assert.ok(!text.includes(c), `${what} leaked a canary secret (${c.slice(0, 6)}…)`);
}

test('no private key, mnemonic or passphrase appears in any log line or error message', { timeout: 300_000 }, () => {
  const home = tempDir();
  const env = { ARKEO_SIGNER_LOG: 'debug', ARKEO_KEYRING_PASSPHRASE: CANARY_KEYRING_PASS };
  const file = ['--home', home, '--keyring-backend', 'file'];
  const armorFile = path.join(tempDir(), 'k.armor');
  const steps: { args: string[]; input?: string; bin?: string; env?: Record<string, string | undefined>; secretOnStdout?: boolean }[] = [
    { args: ['keys', 'add', 'c', '--recover', ...file], input: CANARY_MNEMONIC + '\n' },
    { args: ['keys', 'add', 'c2', '--recover', ...file], input: CANARY_MNEMONIC + '\n' },
    { args: ['keys', 'add', 'bad', '--recover', ...file], input: CANARY_MNEMONIC.replace('catch', 'cat') + '\n' },
    { args: ['keys', 'add', 'bad', '--recover', ...file], input: CANARY_MNEMONIC.replace('catch', 'zzzz') + '\n' },
    { args: ['keys', 'import-hex', 'h', CANARY_PRIV.slice(0, 63) + 'z', ...file] },
    { args: ['keys', 'import-hex', 'h', CANARY_PRIV, ...file] },
    { args: ['keys', 'list', ...file] },
    { args: ['keys', 'show', 'c', ...file, '-o', 'json'] },
    { args: ['keys', 'list', ...file], env: { ARKEO_KEYRING_PASSPHRASE: CANARY_KEYRING_PASS + 'x' } },
    { args: ['keys', 'export', 'c', ...file], input: CANARY_ARMOR_PASS + '\n' },
    { args: ['keys', 'export', 'c', ...file], input: 'short\n' },
    { args: ['keys', 'export', 'c', '--unarmored-hex', '--unsafe', ...file], input: 'y\n', secretOnStdout: true },
    { args: ['keys', 'migrate', '--from', 'file', '--to', 'test', '--home', home] },
    { bin: BIN.signhere, args: ['-home', home, '-keyring-backend', 'file', '-u', 'c', '-m', '1:1:', '-output', 'json'] },
    { bin: BIN.signhere, args: ['-home', home, '-keyring-backend', 'file', '-u', 'missing'] },
    { bin: BIN.signhere, args: ['-home', home, '-keyring-backend', 'file', '-u', 'c'], env: { ARKEO_KEYRING_PASSPHRASE: 'wrong-pass-123' } },
  ];
  let exportedArmor = '';
  for (const step of steps) {
    const r = run(step.bin ?? BIN.arkeoSigner, step.args, { input: step.input, env: { ...env, ...step.env } });
    assertClean(`${step.args.join(' ')} stderr`, r.stderr);
    if (!step.secretOnStdout) assertClean(`${step.args.join(' ')} stdout`, r.stdout);
    else assert.equal(r.stdout, CANARY_PRIV + '\n', 'the unarmored export does print the key');
    if (r.stdout.includes('BEGIN TENDERMINT PRIVATE KEY')) exportedArmor = r.stdout;
  }
  assert.ok(exportedArmor, 'the armor export ran');
  fs.writeFileSync(armorFile, exportedArmor);
  for (const pass of [CANARY_ARMOR_PASS + 'x', CANARY_ARMOR_PASS]) {
    const r = run(BIN.arkeoSigner, ['keys', 'import', 'imp', armorFile, '--home', tempDir()], { input: pass + '\n', env });
    assertClean('import stderr', r.stderr);
    assertClean('import stdout', r.stdout);
  }
  // And nothing secret was written outside the keyring files themselves.
  for (const f of fs.readdirSync(home, { recursive: true }) as string[]) {
    const p = path.join(home, f);
    if (fs.statSync(p).isFile()) assertClean(`file ${f}`, fs.readFileSync(p, 'latin1'));
  }
});
