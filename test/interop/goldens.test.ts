import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeRecord, type KeyRecord } from '../../src/keyring/index.js';
import { tempDir } from '../helpers.js';
import {
  GOLDEN_DIR,
  checkArmors,
  checkKeyrings,
  checkManifest,
  checkMatrix,
  checkRecords,
  checkSignatures,
  readGolden,
  type GoldenArmor,
  type GoldenKeyrings,
  type GoldenMatrix,
  type GoldenRecord,
  type GoldenSignature,
} from './goldens.js';

/**
 * Our code against files the Go oracle wrote (`npm run vectors`): runs on every machine, Go or not.
 * Git checks files out 0644 in 0755 folders; the keyrings are copied to a private temp dir before opening.
 */
function privateCopy(src: string): string {
  const dst = tempDir();
  fs.cpSync(src, dst, { recursive: true });
  for (const d of ['keyring-test', 'keyring-file']) {
    fs.chmodSync(path.join(dst, d), 0o700);
    for (const f of fs.readdirSync(path.join(dst, d))) fs.chmodSync(path.join(dst, d, f), 0o600);
  }
  return dst;
}

test('golden files are exactly what the oracle wrote (MANIFEST.sha256)', { timeout: 120_000 }, () => {
  assert.deepEqual(checkManifest(), []);
});

test('Go-written keyrings (test and file) open, list and sign as Go did', { timeout: 120_000 }, async () => {
  assert.deepEqual(await checkKeyrings(readGolden<GoldenKeyrings>('go-keyrings.json'), privateCopy(path.join(GOLDEN_DIR, 'go-keyrings'))), []);
});

test('Record bytes and Item JSON equal the SDK marshalling, names with Go escapes included', { timeout: 120_000 }, () => {
  const golden = readGolden<GoldenRecord[]>('go-records.json');
  assert.ok(golden.length >= 10);
  assert.deepEqual(checkRecords(golden), []);
});

test('Go armors import; Go signatures reproduce; the claim matrix matches Go', { timeout: 120_000 }, () => {
  assert.deepEqual(checkArmors(readGolden<GoldenArmor[]>('go-armor.json')), []);
  assert.deepEqual(checkSignatures(readGolden<GoldenSignature[]>('go-signatures.json')), []);
  assert.deepEqual(checkMatrix(readGolden<GoldenMatrix>('claim-matrix.json')), []);
});

test('harness: a corrupted golden file and a one-byte change in the Record encoder are caught', { timeout: 120_000 }, async () => {
  const copy = tempDir();
  fs.cpSync(GOLDEN_DIR, copy, { recursive: true });
  // One byte of one golden changed: the manifest and the comparison both notice.
  const file = path.join(copy, 'go-records.json');
  const golden = JSON.parse(fs.readFileSync(file, 'utf8')) as GoldenRecord[];
  const flip = (h: string) => h.slice(0, -1) + (h.endsWith('0') ? '1' : '0');
  golden[3]!.recordHex = flip(golden[3]!.recordHex);
  fs.writeFileSync(file, JSON.stringify(golden, null, 1) + '\n');
  assert.deepEqual(checkManifest(copy), ['golden changed or missing: go-records.json', 'golden not in manifest: go-records.json']);
  assert.equal(checkRecords(golden).length, 2, 'the Record and its Item JSON no longer match');

  // Our encoder changed by one byte: every record differs from Go.
  const oneByteOff = (r: KeyRecord) => {
    const bytes = encodeRecord(r);
    bytes[bytes.length - 33]! ^= 0x01;
    return bytes;
  };
  const pristine = readGolden<GoldenRecord[]>('go-records.json');
  assert.equal(checkRecords(pristine, oneByteOff).filter((m) => m.startsWith('Record')).length, pristine.length);

  // A damaged Go keyring file is reported, not skipped silently.
  const home = privateCopy(path.join(copy, 'go-keyrings'));
  const info = path.join(home, 'keyring-test', 'key-1.info');
  fs.writeFileSync(info, fs.readFileSync(info, 'utf8').slice(0, -4));
  const problems = await checkKeyrings(readGolden<GoldenKeyrings>('go-keyrings.json'), home);
  assert.ok(problems.some((p) => p.startsWith('test: our list')), problems.join('\n'));

  // A golden signature changed by one bit fails.
  const sigs = readGolden<GoldenSignature[]>('go-signatures.json');
  sigs[0]!.sigHex = flip(sigs[0]!.sigHex);
  assert.ok(checkSignatures(sigs).length >= 1);
});
