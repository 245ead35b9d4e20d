import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT, SHARED_DIR, VECTORS, tempDir } from '../helpers.js';
import { checkAgainstSource, checkRecorded, recordedHashes } from './shared-vectors.js';

const README = path.join(REPO_ROOT, 'test', 'vectors', 'README.md');
const SOURCE = path.join(SHARED_DIR, 'vectors');

test('test/vectors/shared matches the SHA-256 list in test/vectors/README.md', () => {
  const recorded = recordedHashes(README);
  assert.ok(recorded.has('arkeo-claims.json'), 'the table lists the claim vectors');
  assert.deepEqual(checkRecorded(VECTORS, recorded), []);
});

// On the project's machines and in CI the source is beside the repository; a clone standing alone (CI included:
// the suite must pass without ../shared) relies on the recorded hashes above, which the source check keeps honest
// wherever the source is present (a re-copy changes both or fails here).
test('test/vectors/shared is byte-identical to ../shared/vectors when that exists', (t) => {
  if (!fs.existsSync(SOURCE)) {
    t.diagnostic(`${SOURCE} not present: checked against the recorded SHA-256 list only`);
    return;
  }
  assert.deepEqual(checkAgainstSource(VECTORS, SOURCE), []);
});

test('harness: a changed, an added and a missing vector file are each caught', () => {
  const copy = tempDir();
  fs.cpSync(VECTORS, copy, { recursive: true });
  const recorded = recordedHashes(README);
  const source = tempDir();
  fs.cpSync(VECTORS, source, { recursive: true });

  fs.appendFileSync(path.join(copy, 'localorai', 'wallets.txt'), ' ');
  fs.writeFileSync(path.join(copy, 'extra.json'), '{}');
  fs.rmSync(path.join(copy, 'cosmos-sdk-v0.50.11', 'keyring_test-pubkey.armor'));
  fs.writeFileSync(path.join(source, 'new-upstream.json'), '{}');

  assert.deepEqual(checkRecorded(copy, recorded).map((p) => p.split(':')[0]), [
    'extra.json',
    'localorai/wallets.txt',
    'cosmos-sdk-v0.50.11/keyring_test-pubkey.armor',
  ]);
  assert.deepEqual(checkAgainstSource(copy, source).map((p) => p.split(':')[0]), [
    'cosmos-sdk-v0.50.11/keyring_test-pubkey.armor',
    'localorai/wallets.txt',
    'new-upstream.json',
    'extra.json',
  ]);
});
