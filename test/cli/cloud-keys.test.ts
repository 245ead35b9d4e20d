import { test, before, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { BIN, runAsync, tempDir } from '../helpers.js';
import { buildOracle, goAvailable, oracleLines } from '../interop/oracle.js';
import { startCloudBackend, type CloudBackend } from '../support/cloud-keys.js';
import { Keyring } from '../../src/keyring/index.js';
import { CloudKeySigner, openSigner } from '../../src/keys/index.js';
import { ClaimSigner, parseArkAuth } from '../../src/claims/index.js';
import { openNonceStore } from '../../src/nonces/index.js';
import { isLowS, toAddress, toHex, utf8, verifySignature } from '../../src/crypto/index.js';
import type { CloudKind } from '../../src/signers/index.js';

/**
 * Cloud KMS keys through the CLIs, one test per backend (see test/support/cloud-keys.ts for what each runs
 * against: local-kms, a real AWS KMS emulator; OUR test servers for Azure Key Vault and Cloud KMS).
 * "1,000 claims through claim sign" is read as: 1,000 claims through the code `claim sign` runs (openSigner +
 * ClaimSigner + the SQLite nonce store at the home's default path, in this process, 16 in flight), then 20 real
 * `arkeo-signer claim sign` processes (4 at a time) on the same key and store: nonces 1001…1020.
 */
let haveGo = false;
before(() => {
  haveGo = goAvailable();
  if (haveGo) buildOracle();
});

const FLAG: Record<CloudKind, string> = { 'aws-kms': '--awskms', 'azure-kv': '--azurekv', 'gcp-kms': '--gcpkms' };
const cli = (home: string, args: string[]) => runAsync(BIN.arkeoSigner, [...args, '--home', home]);

async function pool<T>(n: number, width: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  }));
  return out;
}

async function cliFlow(t: TestContext, kind: CloudKind): Promise<void> {
  const backend: CloudBackend | undefined = await startCloudBackend(t, kind);
  if (!backend) return;
  const home = tempDir();
  const dir = path.join(home, 'keyring-test');

  // keys add --create: the key is made in the backend, its public key read, an offline record + sidecar stored.
  const add = await cli(home, ['keys', 'add', 'kms', ...backend.createArgs('claims-key'), '-o', 'json']);
  assert.equal(add.status, 0, add.stderr);
  const added = JSON.parse(add.stdout) as Record<string, string>;
  assert.equal(added.kind, kind);
  assert.equal(added.type, 'offline', 'arkeod sees an offline record');
  const pub = await backend.serverPublicKey(added.reference!);
  assert.equal(added.address, toAddress(pub), "the address is the backend key's");
  assert.equal((await cli(home, ['keys', 'show', 'kms', '-a'])).stdout, toAddress(pub) + '\n');
  assert.match((await cli(home, ['keys', 'list'])).stdout, new RegExp(`kind: ${kind}\\n {2}name: kms\\n`));
  const sidecar = JSON.parse(fs.readFileSync(path.join(dir, 'kms.external.json'), 'utf8')) as { kind: string; location: Record<string, string> };
  assert.equal(sidecar.kind, kind);
  assert.equal(sidecar.location.ref, added.reference);
  assert.ok(sidecar.location.endpoint, 'the non-default endpoint is stored');
  assert.deepEqual(Object.keys(sidecar.location).filter((k) => !['ref', 'endpoint', 'ca_file', 'insecure'].includes(k)), [], 'location only: no credential field');
  for (const f of fs.readdirSync(dir)) {
    const text = fs.readFileSync(path.join(dir, f), 'latin1');
    for (const secret of ['local-kms-test', backend.secret].filter(Boolean) as string[]) assert.ok(!text.includes(secret), `${f}: holds no credential`);
  }

  // 1,000 claims through claim sign's code path, 16 in flight, on the home's default nonce store.
  const keyring = Keyring.open({ backend: 'test', dir: home });
  const signer = (await openSigner(keyring, 'kms')) as CloudKeySigner;
  assert.ok(signer instanceof CloudKeySigner && signer.kind === kind);
  const store = await openNonceStore(undefined, home, { create: true });
  const signed: { msg: string; sig: Uint8Array }[] = [];
  const started = performance.now();
  try {
    const claims = await ClaimSigner.create(signer, store, { profile: 'compat', blockSize: 1 });
    await pool(1000, 16, async () => {
      const c = await claims.signClaim(42n);
      signed.push({ msg: c.preimage, sig: c.signature });
    });
    await claims.close();
  } finally {
    await store.close();
    await signer.close();
  }
  const ms = performance.now() - started;
  assert.deepEqual(signed.map((s) => Number(s.msg.split(':')[1])).sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i + 1), 'nonces 1…1000, each once');
  for (const s of signed) {
    assert.ok(isLowS(s.sig), 'released signatures are low-S');
    assert.ok(verifySignature(pub, utf8(s.msg), s.sig), `${s.msg} verifies`);
  }
  const stats = signer.stats.snapshot();
  assert.equal(stats.signatures, 1000);
  t.diagnostic(`${kind} against ${backend.server}: 1,000 in-process claims in ${ms.toFixed(0)} ms; ${stats.highSNormalised} of 1000 raw signatures were high-S and normalised (CloudStats)`);
  assert.ok(stats.highSNormalised > 0, 'the backend gave high-S signatures, and they were normalised');

  // 20 real claim sign processes, 4 at a time, on the same store: nonces 1001…1020, each once.
  const procs = await pool(20, 4, () => cli(home, ['claim', 'sign', '--contract', '42', '--key', 'kms']));
  const nonces: bigint[] = [];
  for (const r of procs) {
    assert.equal(r.status, 0, r.stderr);
    const a = parseArkAuth(r.stdout.trim());
    nonces.push(a.nonce);
    const msg = `42:${a.nonce}:`;
    assert.ok(isLowS(a.signature) && verifySignature(pub, utf8(msg), a.signature));
    signed.push({ msg, sig: a.signature });
  }
  assert.deepEqual(nonces.map(Number).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => 1001 + i));

  // signhere -u, verify --key, claim arkcontract: unchanged commands, the cloud key behind them.
  const sh = await runAsync(BIN.signhere, ['-u', 'kms', '-m', 'hello', '-home', home]);
  assert.equal(sh.status, 0, sh.stderr);
  assert.match(sh.stdout, /^[0-9a-f]{128}\n$/);
  assert.equal((await cli(home, ['verify', '--key', 'kms', '-m', 'hello', '-s', sh.stdout.trim()])).stdout, 'valid\n');
  assert.equal((await cli(home, ['verify', '--key', 'kms', '-m', 'hellO', '-s', sh.stdout.trim()])).status, 1);
  const ark = await cli(home, ['claim', 'arkcontract', '--contract', '9', '--key', 'kms', '--timestamp', '1700000000', '--allow-management-spend']);
  assert.equal(ark.status, 0, ark.stderr);
  const [, ts, sig] = ark.stdout.trim().split(':');
  assert.ok(verifySignature(pub, utf8(`9:${ts}:`), Buffer.from(sig!, 'hex')));
  signed.push({ msg: 'hello', sig: Buffer.from(sh.stdout.trim(), 'hex') });

  if (haveGo) {
    const verdicts = oracleLines(['verify-raw'], signed.map((s) => `${toHex(pub)} ${toHex(utf8(s.msg))} ${toHex(s.sig)}`));
    assert.equal(verdicts.length, 1021);
    assert.ok(verdicts.every((v) => v === 'true'), 'cosmos-sdk secp256k1 VerifySignature accepts all 1,021');
  } else if (process.env.CI === 'true') assert.fail('the go toolchain (interop oracle) is required under CI');

  // A wrong public key recorded for the key (the record and sidecar say another key, same reference): refused,
  // one line naming the key, nothing on stdout, and the nonce store untouched.
  const info = await keyring.get('kms');
  await keyring.delete('kms');
  await keyring.addExternalKey('kms', secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true), kind, info.external!.location);
  const refused = await cli(home, ['claim', 'sign', '--contract', '42', '--key', 'kms']);
  assert.equal(refused.status, 1);
  assert.equal(refused.stdout, '');
  // Node's own warnings (the AWS SDK warns on Node 20 that later versions need 22) may precede it: our error is one line.
  const ours = refused.stderr.split('\n').filter((l) => l.startsWith('arkeo-signer:'));
  assert.equal(ours.length, 1, refused.stderr);
  assert.match(ours[0]!, /^arkeo-signer: key kms: [^\n]*is not the recorded [0-9a-f]{66}[^\n]*nothing was signed$/);
  assert.ok(refused.stderr.endsWith(ours[0]! + '\n'));
  await keyring.delete('kms');
  await keyring.addExternalKey('kms', pub, kind, info.external!.location);
  const after = await cli(home, ['claim', 'sign', '--contract', '42', '--key', 'kms']);
  assert.equal(after.status, 0, after.stderr);
  assert.equal(parseArkAuth(after.stdout.trim()).nonce, 1021n, 'the refusal came before a nonce was reserved');

  // keys delete removes our records only: the key is still in the backend and re-adds with the same address.
  const del = await cli(home, ['keys', 'delete', 'kms', '-y']);
  assert.equal(del.status, 0, del.stderr);
  assert.match(del.stderr, new RegExp(`the ${kind} key in the cloud was not touched`));
  assert.ok(!fs.existsSync(path.join(dir, 'kms.external.json')));
  // The same key by reference (no --create), with the creation flags other than where the server is left out.
  const where = backend.createArgs('x').filter((a, i, all) => ['--endpoint', '--ca-file', '--insecure-grpc'].includes(a) || ['--endpoint', '--ca-file'].includes(all[i - 1]!));
  const readd = await cli(home, ['keys', 'add', 'again', FLAG[kind], added.reference!, ...where, '-o', 'json']);
  assert.equal(readd.status, 0, readd.stderr);
  assert.equal((JSON.parse(readd.stdout) as { address: string }).address, toAddress(pub), 'the existing key comes back with the same address');
}

test('aws-kms via local-kms (real AWS KMS emulator): keys add --awskms --create, show, list; 1,000 claims + 20 claim sign processes, ours and Go; signhere, verify, arkcontract; wrong key refused; delete keeps the key', { timeout: 180_000 }, (t) => cliFlow(t, 'aws-kms'));
test('azure-kv via OUR Azure Key Vault TEST SERVER: the same through keys add --azurekv --create', { timeout: 180_000 }, (t) => cliFlow(t, 'azure-kv'));
test('gcp-kms via OUR Cloud KMS TEST SERVER: the same through keys add --gcpkms --create', { timeout: 180_000 }, (t) => cliFlow(t, 'gcp-kms'));

test('keys add cloud flags: one line for each misuse, nothing recorded, no backend contacted', { timeout: 60_000 }, async () => {
  const home = tempDir();
  const env = { AWS_REGION: undefined, AWS_DEFAULT_REGION: undefined } as unknown as Record<string, string>;
  const cases: [string[], number, RegExp][] = [
    [['--awskms'], 2, /^keys add: --awskms needs a key reference, or --create$/],
    [['--awskms', '--create'], 1, /^key x: --create needs --region \(aws-kms: /],
    [['--awskms', 'awskms:arn:aws:kms:eu-west-2:111122223333:alias/x', '--region', 'eu-west-2'], 2, /^keys add: --region goes with --create$/],
    // Plain gRPC carries signing requests unencrypted: never to another machine.
    [['--gcpkms', '--create', '--key-ring', 'projects/pp-arkeo/locations/global/keyRings/r', '--key-id', 'k', '--endpoint', '10.0.0.1:443', '--insecure-grpc'], 1, /^key x: plain gRPC \(insecure\) is allowed to a loopback address only, not 10\.0\.0\.1$/],
    [['--azurekv', '--create', '--vault', 'https://v.vault.azure.net', '--key-name', 'k', '--insecure-grpc'], 2, /^keys add: --insecure-grpc does not go with --azurekv$/],
    [['--awskms', 'gcpkms:projects/pp-arkeo/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1'], 1, /^key x: gcpkms:\S+ is a gcp-kms reference, not aws-kms$/],
    [['--awskms', 'awskms:arn:aws:kms:eu-west-2:111122223333:alias/x', '--endpoint', 'http://kms.example.com'], 1, /^key x: endpoint must be https \(http only to a loopback address/],
    [['--azurekv', 'x', '--pkcs11', 'pkcs11:token=a'], 2, /^keys add: give one of --pkcs11, --awskms, --azurekv, --gcpkms$/],
  ];
  const results = await Promise.all(cases.map(([args]) => runAsync(BIN.arkeoSigner, ['keys', 'add', 'x', ...args, '--home', home], { env })));
  results.forEach((r, i) => {
    const [args, status, message] = cases[i]!;
    const ours = r.stderr.split('\n').filter((l) => l.startsWith('arkeo-signer:'));
    assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(ours.length, 1, r.stderr);
    assert.match(ours[0]!.replace(/^arkeo-signer: /, ''), message);
  });
  assert.equal((await runAsync(BIN.arkeoSigner, ['keys', 'list', '-n', '--home', home])).stdout, '', 'nothing recorded');
});
