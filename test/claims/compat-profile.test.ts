import { test } from 'node:test';
import assert from 'node:assert/strict';
import { claimPreimage } from '../../src/claims/index.js';
import { sha256, toHex, utf8 } from '../../src/crypto/index.js';
import { BIN, listFiles, run, tempDir } from '../helpers.js';

/**
 * The compat profile and a chain id (issue 17 item 2). Today's sentinel accepts only "<cid>:<nonce>:", so the
 * compat profile never puts a chain id on the wire, and the CLI refuses a --chain-id given without
 * --profile chain-id rather than silently dropping it.
 */

test('claimPreimage: the compat profile ignores a chain id at the wire level', { timeout: 30_000 }, () => {
  // Guards a compat preimage that grows the chain id ("42:17:arkeo-main-v1"), which today's sentinel rejects.
  assert.equal(claimPreimage(42n, 17n, 'compat', 'arkeo-main-v1'), '42:17:');
  assert.equal(claimPreimage(42n, 17n, 'compat'), '42:17:');
  assert.equal(claimPreimage(42n, 17n, 'chain-id', 'arkeo-main-v1'), '42:17:arkeo-main-v1', 'only the chain-id profile carries it');
});

test('claim sign --chain-id without --profile chain-id: exit 2, a usage error naming --profile chain-id, nothing signed or reserved', { timeout: 60_000 }, () => {
  // Guards profileOf in src/cli/claim.ts: without the refusal the CLI would sign "42:1:" (the chain id silently
  // dropped, not what the user asked for) and spend nonce 1.
  const home = tempDir();
  const key = toHex(sha256(utf8('arkeo-signer compat-profile test key')));
  const imported = run(BIN.arkeoSigner, ['keys', 'import-hex', 'K', key, '--home', home]);
  assert.equal(imported.status, 0, imported.stderr);
  const before = listFiles(home);
  const refused = run(BIN.arkeoSigner, ['claim', 'sign', '--contract', '42', '--key', 'K', '--chain-id', 'arkeo-main-v1', '--home', home]);
  assert.equal(refused.status, 2, refused.stderr);
  assert.match(refused.stderr, /--profile chain-id/);
  assert.equal(refused.stdout, '', 'nothing on stdout');
  assert.doesNotMatch(refused.stderr, /[0-9a-f]{128}/, 'no signature anywhere');
  assert.deepEqual(listFiles(home), before, 'no nonce store created, no file touched');
  // The refused command reserved nothing: the first real claim on contract 42 still gets nonce 1.
  const ok = run(BIN.arkeoSigner, ['claim', 'sign', '--contract', '42', '--key', 'K', '--home', home, '-o', 'json']);
  assert.equal(ok.status, 0, ok.stderr);
  const claim = JSON.parse(ok.stdout) as Record<string, string>;
  assert.equal(claim.nonce, '1');
  assert.equal(claim.preimage, '42:1:');
});
