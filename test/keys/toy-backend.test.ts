import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Keyring } from '../../src/keyring/index.js';
import { addFormFor, deleteKey, openSigner, registerBackend, unregisterBackend, type ExternalBackend } from '../../src/keys/index.js';
import { ClaimSigner, parseArkAuth } from '../../src/claims/index.js';
import { SqliteNonceStore } from '../../src/nonces/index.js';
import { PREFIXES, parseHex, publicKeyFromPrivate, toAddress, utf8, verifySignature } from '../../src/crypto/index.js';
import { auditEntries, rawRequest, startTestDaemon } from '../support/daemon.js';
import { REPO_ROOT, run, tempDir } from '../helpers.js';
import { KIND, TOY_WARNING, privateKeyOf, toyBackend } from './toy-backend.js';

/**
 * A backend defined in the tests and nowhere else (toy-backend.ts), registered with one line: openSigner,
 * ClaimSigner and the daemon (its claims, /healthz section, metrics and audit entries) serve it, and the CLI takes
 * its `keys add` flag and signs claims with its keys, without a change to keys/, the daemon or the CLI.
 */
registerBackend(toyBackend);
after(() => unregisterBackend(toyBackend));

const SEED = 'seven silly seeds';
const PUBLIC_KEY = publicKeyFromPrivate(privateKeyOf(SEED));

async function addToyKey(home: string, name: string): Promise<void> {
  await Keyring.open({ backend: 'test', dir: home }).addExternalKey(name, PUBLIC_KEY, KIND, { seed: SEED });
}

test('toy backend: openSigner → ClaimSigner.signClaim signs with the key its record names', async () => {
  const home = tempDir();
  await addToyKey(home, 'toy');
  const keyring = Keyring.open({ backend: 'test', dir: home });
  assert.equal((await keyring.get('toy')).kind, KIND);
  const signer = await openSigner(keyring, 'toy');
  assert.equal(signer.kind, KIND);
  assert.deepEqual(await signer.publicKey(), PUBLIC_KEY);
  const store = SqliteNonceStore.open(path.join(home, 'nonces.db'));
  try {
    const claims = await ClaimSigner.create(signer, store);
    const one = await claims.signClaim(7n);
    const two = await claims.signClaim(7n);
    assert.equal(one.preimage, '7:1:');
    assert.equal(two.preimage, '7:2:');
    for (const c of [one, two]) assert.ok(verifySignature(PUBLIC_KEY, utf8(c.preimage), c.signature), `${c.preimage} verifies`);
  } finally {
    signer.destroy();
    await store.close();
  }
  const deleted = await deleteKey(keyring, 'toy');
  assert.deepEqual(deleted, { kind: KIND, destroyedObjects: 0, note: 'Key reference deleted; the toy seed went with it' });
  await assert.rejects(deleteKey(keyring, 'gone'), /not found/);
});

test('toy backend: an in-process daemon serves its claims, its /healthz section and its metrics', { timeout: 60_000 }, async (t) => {
  const d = await startTestDaemon({}, { app: { keys: ['toy'], operations: ['claim', 'raw'], contracts: ['*'], rate: { per_second: 1000, burst: 1000 } } }, (c) => addToyKey(c.keyring.home, 'toy'));
  t.after(() => d.daemon.stop());
  const claim = await rawRequest(d.socket, 'POST', '/v1/claims', { token: d.tokens.app, body: JSON.stringify({ contract: '1', key: 'toy' }) });
  assert.equal(claim.status, 200, claim.body);
  assert.equal(claim.json!.preimage, '1:1:');
  assert.ok(verifySignature(PUBLIC_KEY, utf8(claim.json!.preimage as string), parseHex(claim.json!.signature as string, 'signature', 64)), 'the daemon signed with the toy key');
  const raw = await rawRequest(d.socket, 'POST', '/v1/sign', { token: d.tokens.app, body: JSON.stringify({ key: 'toy', message: 'hello toy' }) });
  assert.equal(raw.status, 200, raw.body);
  assert.ok(verifySignature(PUBLIC_KEY, utf8('hello toy'), parseHex(raw.json!.signature as string, 'signature', 64)));
  const health = await rawRequest(d.socket, 'GET', '/healthz');
  assert.equal(health.status, 200, health.body);
  assert.deepEqual(health.json!.toys, { toy: 'ok' });
  assert.equal(health.json!.tokens, undefined, 'no PKCS#11 section without PKCS#11 keys');
  assert.equal(health.json!.cloud, undefined, 'no cloud section without cloud keys');
  const metrics = await rawRequest(d.socket, 'GET', '/metrics');
  assert.match(metrics.body, /^arkeo_signer_toy_signatures\{key="toy"\} 2$/m);
  assert.match(metrics.body, /^# TYPE arkeo_signer_pkcs11_token_healthy gauge$/m, 'the built-in backends keep their metrics');
  const signed = auditEntries(d.config).filter((e) => e.result === 'ok' && (e.what.op === 'claim' || e.what.op === 'raw'));
  assert.deepEqual(signed.map((e) => e.what.backend), [KIND, KIND], 'the audit entries name the backend');
});

test('registerBackend: a keys add selector another backend has, or a second default form, is refused; a new selector chooses its form (control)', (t) => {
  const like = (kind: string, selectors: string[]): ExternalBackend => ({ ...toyBackend, kinds: [kind], add: { ...toyBackend.add!, selectors } });
  assert.throws(() => registerBackend(like('toy-clash', ['pkcs11'])), /^InputError: key backend toy: keys add --pkcs11 already chooses another backend$/);
  assert.throws(() => registerBackend(like('toy-default', [])), /^InputError: key backend toy: its keys add form needs an option that chooses it/);
  const other = like('toy-other', ['toy-other']);
  registerBackend(other);
  t.after(() => unregisterBackend(other));
  assert.equal(addFormFor({ 'toy-other': 'x' }), other.add);
  assert.equal(addFormFor({ 'toy-seed': 'x' }), toyBackend.add);
  assert.deepEqual(addFormFor({ recover: true }).selectors, [], 'no selector given: the default form (a key made here)');
});

/** The CLI as compiled (not the bundles: the toy registers itself in dist/src's registry), with or without the toy. */
const CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'arkeo-signer.js');
const WITH_TOY = { NODE_OPTIONS: `--import=${pathToFileURL(path.join(REPO_ROOT, 'dist', 'test', 'keys', 'toy-register.js')).href}` };

test('toy backend: the CLI takes its keys add flag through the table, and claim sign signs with the key it added', { timeout: 120_000 }, () => {
  const home = tempDir();
  const cli = (args: string[], env: Record<string, string> = WITH_TOY) => run(CLI, [...args, '--home', home], { env: { ARKEO_SIGNER_DAEMON: undefined, ...env } });
  const add = ['keys', 'add', 'toy', '--toy-seed', SEED];

  // Control: a CLI without the toy does not know the flag, and records nothing.
  const unknown = cli(add, {});
  assert.equal(unknown.status, 2, unknown.stderr);
  assert.equal(unknown.stderr, 'arkeo-signer: keys add: unknown flag --toy-seed (arkeo-signer keys add --help lists its flags)\n');

  // With it, the flag, its usage and its paragraph are keys add's own, beside the built-in backends'.
  const help = cli(['keys', 'add', '--help']);
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^ {7}arkeo-signer keys add NAME --toy-seed SEED \[keyring flags\]$/m);
  assert.match(help.stdout, /^ {6}--toy-seed SEED +a toy key made from SEED \(tests only\)$/m);
  assert.match(help.stdout, /^ {2}at most one of --pkcs11, --awskms, --azurekv, --gcpkms or --toy-seed$/m);
  assert.match(help.stdout, /--recover, [^\n]*do not go\n? +with --toy-seed: a toy key is made from its seed$/m);

  // The rules the CLI derives from its selector, and the check it brings, refuse before anything is recorded.
  for (const [args, message] of [
    [[...add, '--recover'], 'keys add: --recover does not go with --toy-seed: a toy key is made from its seed'],
    [[...add, '--pkcs11', 'pkcs11:token=t;object=o'], 'keys add: give one of --pkcs11, --awskms, --azurekv, --gcpkms, --toy-seed'],
    [['keys', 'add', 'toy', '--toy-seed', 'short'], 'keys add: --toy-seed: at least 8 characters'],
  ] as const) {
    const r = cli([...args]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, `arkeo-signer: ${message}\n`);
  }
  assert.ok(!fs.existsSync(path.join(home, 'keyring-test', 'toy.info')), 'nothing recorded by a refused keys add');

  const added = cli([...add, '-o', 'json']);
  assert.equal(added.status, 0, added.stderr);
  const key = JSON.parse(added.stdout) as Record<string, string>;
  assert.equal(key.address, toAddress(PUBLIC_KEY, PREFIXES.account));
  assert.equal(key.kind, KIND);
  assert.equal(key.seed, SEED, "the backend's own JSON fields follow the key's");
  assert.equal(added.stderr, `warning: toy: ${TOY_WARNING}\n`);

  const signed = cli(['claim', 'sign', '--contract', '7', '--key', 'toy', '--nonce-store', path.join(home, 'nonces.db'), '--create-nonce-store']);
  assert.equal(signed.status, 0, signed.stderr);
  const header = parseArkAuth(signed.stdout.trim());
  assert.equal(header.contractId, 7n);
  assert.equal(header.nonce, 1n);
  assert.ok(verifySignature(PUBLIC_KEY, utf8('7:1:'), header.signature), 'claim sign signed with the toy key keys add recorded');

  const gone = cli(['keys', 'delete', 'toy', '-y']);
  assert.equal(gone.status, 0, gone.stderr);
  assert.equal(gone.stderr, 'Key reference deleted; the toy seed went with it\n');
});
