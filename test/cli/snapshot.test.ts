import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { BIN, REPO_ROOT, readVector, requireComponent, requireVectors, tempDir, type ClaimVectors } from '../helpers.js';

/**
 * signhere and `arkeo-signer claim` started from their startup snapshots (dist/snapshot, src/cli/snapshot-blobs.mjs)
 * answer exactly as the bundles do, are used only by the node that built them, and hold no key.
 * The bins run two ways: `node dist/bin/x.js` (the bundle: the launcher line is a comment to JavaScript), and
 * executed as a user's shell runs an installed bin (the launcher line starts the snapshot when it may).
 */

const SNAPSHOT_LINE = /^(signhere|claim): started from its startup snapshot .*\n/m;
const GO_LOG_TIME = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d /gm;

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

function env(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const e: Record<string, string | undefined> = { ...process.env, ARKEO_KEYRING_PASSPHRASE: undefined, ARKEO_ARMOR_PASSPHRASE: undefined, ARKEO_SIGNER_LOG: undefined, ARKEO_SIGNER_CRYPTO: undefined, ARKEO_SIGNER_SNAPSHOT: undefined, ARKEO_HOME: undefined, ARKEO_SIGNER_DAEMON: undefined, ARKEO_NONCE_STORE: undefined, ...extra };
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  return e as NodeJS.ProcessEnv;
}

/** The bundle: `node BIN ARGS`. */
function bundle(bin: string, args: string[], extra?: Record<string, string | undefined>, input = ''): Ran {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: env(extra), input, timeout: 60_000 });
}

/** The installed command: BIN executed, its first lines deciding (PATH finds this test's node first). */
function command(bin: string, args: string[], extra?: Record<string, string | undefined>, input = ''): Ran {
  const PATH = extra?.PATH ?? `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}`;
  return spawnSync(bin, args, { encoding: 'utf8', env: env({ ...extra, PATH }), input, timeout: 60_000 });
}

/** Wall-clock seconds in Go-log lines differ between two runs; nothing else may. */
const same = (r: Ran) => ({ status: r.status, stdout: r.stdout, stderr: r.stderr.replace(GO_LOG_TIME, 'TIME ') });

const blob = (root: string, name: string) => path.join(root, 'dist', 'snapshot', `${name}.blob`);

/** npm run build builds the blobs for the node running it; a node that cannot is a missing component. */
function requireBlobs(t: TestContext, root = REPO_ROOT): boolean {
  const supported = process.features.require_module === true && process.platform !== 'win32';
  if (!supported) {
    t.skip(`Node ${process.version} builds no startup snapshot (no require() of ES modules): the bundles run`);
    return false;
  }
  return requireComponent(t, fs.existsSync(blob(root, 'signhere')) && fs.existsSync(blob(root, 'claim')), 'dist/snapshot/*.blob (npm run build)');
}

/** A home whose test keyring holds the vector keys dog, cat, fox and pig. */
function vectorHome(): { home: string; keys: ClaimVectors['keys'] } {
  const home = tempDir();
  const { keys } = readVector<ClaimVectors>('arkeo-claims.json');
  for (const [name, k] of Object.entries(keys)) {
    const r = bundle(BIN.arkeoSigner, ['keys', 'add', name, '--recover', '--home', path.join(home, '.arkeo')], {}, k.mnemonic + '\n');
    assert.equal(r.status, 0, r.stderr);
  }
  fs.chmodSync(home, 0o700);
  return { home, keys };
}

/** A copy of the built package (bins, snapshot builders, package.json; node_modules and native/ linked). */
function packageCopy(from = REPO_ROOT): string {
  const root = tempDir('arkeo-signer-snapshot-');
  fs.cpSync(path.join(from, 'dist', 'bin'), path.join(root, 'dist', 'bin'), { recursive: true });
  fs.mkdirSync(path.join(root, 'dist', 'snapshot'));
  for (const f of fs.readdirSync(path.join(from, 'dist', 'snapshot'))) {
    if (f.endsWith('.cjs') || f.endsWith('.mjs')) fs.copyFileSync(path.join(from, 'dist', 'snapshot', f), path.join(root, 'dist', 'snapshot', f));
  }
  fs.copyFileSync(path.join(from, 'package.json'), path.join(root, 'package.json'));
  fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(root, 'node_modules'));
  fs.symlinkSync(path.join(REPO_ROOT, 'native'), path.join(root, 'native'));
  return root;
}

type BuildSnapshots = (root: string, options?: { plain?: boolean }) => string[];
async function buildSnapshots(root: string, options?: { plain?: boolean }): Promise<string[]> {
  const mod = (await import(pathToFileURL(path.join(root, 'dist', 'snapshot', 'blobs.mjs')).href)) as { buildSnapshots: BuildSnapshots };
  return mod.buildSnapshots(root, options);
}

/** Whether the repository's blobs were built by this test's node (npm test builds them so; a hand-run may not). */
function builtByThisNode(): boolean {
  const line = fs.readFileSync(BIN.signhere, 'utf8').split('\n')[1] ?? '';
  return line.includes(` m='${fs.realpathSync(process.execPath)}';`);
}

test('signhere from its snapshot answers byte for byte as the bundle: signatures, json, flags, errors and exit codes, engines', { timeout: 300_000 }, (t) => {
  if (!requireVectors(t) || !requireBlobs(t)) return;
  const { home } = vectorHome();
  const msgFile = path.join(tempDir(), 'msg');
  fs.writeFileSync(msgFile, Buffer.from([0, 1, 2, 255, 10]));
  const cases: { args: string[]; env?: Record<string, string>; input?: string }[] = [
    { args: ['-u', 'dog', '-m', '1:1:'] },
    { args: ['-u=cat', '-m=42:7:', '-output', 'json'] },
    { args: ['-u', 'fox', '-message-file', msgFile] },
    { args: ['-u', 'pig', '-message-file', '-'], input: '3:3:' },
    { args: [], env: { HOME: home } },
    { args: ['-u', 'nobody'] },
    { args: ['-home', path.join(home, 'nope')] },
    { args: ['-x'] },
    { args: ['-u'] },
    { args: ['-h'] },
    { args: ['-output', 'yaml'] },
    { args: ['-u', 'dog', '-m', 'm', '-keyring-backend', 'file'], input: '' },
    { args: ['-u', 'dog', '-m', 'noble'], env: { ARKEO_SIGNER_CRYPTO: 'noble' } },
    { args: ['-u', 'dog', '-m', 'system'], env: { ARKEO_SIGNER_CRYPTO: 'system' } },
    { args: ['-u', 'dog', '-m', 'native'], env: { ARKEO_SIGNER_CRYPTO: 'native' } },
    { args: ['-u', 'dog', '-m', 'debug'], env: { ARKEO_SIGNER_LOG: 'debug' } },
  ];
  for (const c of cases) {
    const e = { ARKEO_HOME: path.join(home, '.arkeo'), ...c.env };
    if (c.env?.HOME) delete (e as Record<string, string>).ARKEO_HOME;
    const plain = bundle(BIN.signhere, c.args, e, c.input);
    const snap = command(BIN.signhere, c.args, e, c.input);
    assert.doesNotMatch(plain.stderr, SNAPSHOT_LINE);
    // With the debug level the snapshot says it started (that line only): the proof that it was used.
    if (c.env?.ARKEO_SIGNER_LOG === 'debug') {
      if (builtByThisNode()) assert.match(snap.stderr, SNAPSHOT_LINE, 'the command started from its snapshot');
      snap.stderr = snap.stderr.replace(SNAPSHOT_LINE, '');
    }
    assert.deepEqual(same(snap), same(plain), `signhere ${c.args.join(' ')} ${JSON.stringify(c.env ?? {})}`);
  }
  // The control: the cases above are not all alike (errors exit 1 and 2, signatures differ).
  const statuses = new Set(cases.map((c) => bundle(BIN.signhere, c.args, { ARKEO_HOME: path.join(home, '.arkeo'), ...c.env }, c.input).status));
  assert.deepEqual([...statuses].sort(), [0, 1, 2]);
});

test('arkeo-signer claim from its snapshot: the same claims, nonces, json and errors as the bundle; other commands run the bundle', { timeout: 300_000 }, (t) => {
  if (!requireVectors(t) || !requireBlobs(t)) return;
  const { home } = vectorHome();
  const dir = tempDir();
  const stores = { plain: path.join(dir, 'plain.db'), snap: path.join(dir, 'snap.db') };
  const e = { ARKEO_HOME: path.join(home, '.arkeo'), ARKEO_SIGNER_LOG: 'debug' };
  const strip = (r: Ran) => ({ ...r, stderr: r.stderr.replace(SNAPSHOT_LINE, '') });
  const claim = (how: 'plain' | 'snap', args: string[]) =>
    strip((how === 'plain' ? bundle : command)(BIN.arkeoSigner, ['claim', ...args.map((a) => (a === 'STORE' ? stores[how] : a))], e));
  const first = { plain: claim('plain', ['sign', '--contract', '42', '--key', 'dog', '--nonce-store', 'STORE', '--create-nonce-store']), snap: claim('snap', ['sign', '--contract', '42', '--key', 'dog', '--nonce-store', 'STORE', '--create-nonce-store']) };
  assert.equal(first.plain.status, 0, first.plain.stderr);
  assert.deepEqual(same(first.snap), same(first.plain));
  if (builtByThisNode()) {
    const third = path.join(dir, 'third.db');
    const started = command(BIN.arkeoSigner, ['claim', 'sign', '--contract', '43', '--key', 'cat', '--nonce-store', third, '--create-nonce-store'], e);
    assert.match(started.stderr, SNAPSHOT_LINE, 'claim sign started from its snapshot');
    assert.match(started.stdout, /^43:1:[0-9a-f]{128}\n$/);
  }
  for (const args of [
    ['sign', '--contract', '43', '--key', 'cat', '--nonce-store', 'STORE'],
    ['sign', '--contract', '42', '--key', 'dog', '--nonce-store', 'STORE', '--output', 'json'],
    ['sign', '--contract', '42', '--key', 'nobody', '--nonce-store', 'STORE'],
    ['sign', '--key', 'dog', '--nonce-store', 'STORE'],
    ['sign', '--contract', 'x', '--key', 'dog', '--nonce-store', 'STORE'],
    ['sign', '--contract', '42', '--key', 'dog', '--nonce-store', path.join(dir, 'none.db')],
    ['contract', 'list', '--nonce-store', 'STORE'],
    ['explain', 'not a header'],
    ['--help'],
    ['frobnicate'],
  ]) {
    const plain = claim('plain', args);
    const snap = claim('snap', args);
    assert.deepEqual(same(snap), same(plain), `claim ${args.join(' ')}`);
  }
  // Commands other than claim, and a broken one, run the bundle (no snapshot line), as before.
  const version = command(BIN.arkeoSigner, ['version'], { ARKEO_SIGNER_LOG: 'debug' });
  assert.equal(version.status, 0, version.stderr);
  assert.doesNotMatch(version.stderr, SNAPSHOT_LINE);
  assert.deepEqual(same(command(BIN.arkeoSigner, ['nope'])), same(bundle(BIN.arkeoSigner, ['nope'])));
});

test('a snapshot starts only on the node that built it, in the folder it was built for; anything else runs the bundle', { timeout: 300_000 }, async (t) => {
  if (!requireVectors(t) || !requireBlobs(t)) return;
  const { home } = vectorHome();
  const root = packageCopy();
  const signhere = path.join(root, 'dist', 'bin', 'signhere.js');
  const e = { ARKEO_HOME: path.join(home, '.arkeo'), ARKEO_SIGNER_LOG: 'debug' };
  const expected = bundle(signhere, ['-u', 'dog', '-m', '1:1:'], e);
  assert.equal(expected.status, 0, expected.stderr);
  const started = (extra: Record<string, string | undefined> = {}) => {
    const r = command(signhere, ['-u', 'dog', '-m', '1:1:'], { ...e, ...extra });
    assert.equal(r.stdout, expected.stdout, r.stderr);
    assert.equal(r.status, 0);
    return SNAPSHOT_LINE.test(r.stderr);
  };

  // The copy's bins still name the folder they were built in: the copy runs its bundles until it builds its own.
  assert.equal(started(), false, 'a copied package does not use the blobs of the folder it was copied from');
  assert.deepEqual(await buildSnapshots(root), []);
  assert.ok(fs.existsSync(blob(root, 'signhere')));
  assert.equal(started(), true, 'control: its own blobs, on this node');
  assert.equal(started({ ARKEO_SIGNER_SNAPSHOT: 'off' }), false, 'ARKEO_SIGNER_SNAPSHOT=off');

  // Another node first on PATH (here: another file that runs this node) gets the bundle.
  const otherBin = tempDir();
  fs.writeFileSync(path.join(otherBin, 'node'), `#!/bin/sh\nexec '${process.execPath}' "$@"\n`, { mode: 0o755 });
  assert.equal(started({ PATH: `${otherBin}:${process.env.PATH}` }), false, 'another node on PATH');
  // This node, replaced in place (its modification time changed): the blob is not used.
  const stamp = path.join(root, 'dist', 'snapshot', 'node.stamp');
  const { mtime } = fs.statSync(stamp);
  fs.utimesSync(stamp, mtime, new Date(mtime.getTime() - 86_400_000));
  assert.equal(started(), false, 'a node whose modification time is not the one the blob was built by');
  fs.rmSync(stamp);
  assert.equal(started(), false, 'no stamp');
  // A blob for another Node version: node itself refuses it (exit 14) — which the launcher line never lets happen.
  const others = fs.existsSync(path.join(REPO_ROOT, '.tmp')) ? fs.readdirSync(path.join(REPO_ROOT, '.tmp')).filter((d) => /^node-v\d/.test(d)) : [];
  const other = others.map((d) => path.join(REPO_ROOT, '.tmp', d, 'bin', 'node')).find((n) => fs.existsSync(n) && spawnSync(n, ['--version'], { encoding: 'utf8' }).stdout.trim() !== process.version);
  if (other) {
    const refused = spawnSync(other, ['--snapshot-blob', blob(root, 'signhere'), signhere, '-h'], { encoding: 'utf8' });
    assert.equal(refused.status, 14, refused.stderr);
    assert.match(refused.stderr, /startup snapshot/);
    assert.equal(started({ PATH: `${path.dirname(other)}:${process.env.PATH}` }), false, `Node ${path.basename(path.dirname(path.dirname(other)))} on PATH`);
  }
  // npm pack ships no blob and no line naming the packing machine's folders.
  assert.deepEqual(await buildSnapshots(root, { plain: true }), []);
  assert.equal(fs.existsSync(blob(root, 'signhere')), false);
  for (const bin of ['signhere.js', 'arkeo-signer.js']) assert.equal(fs.readFileSync(path.join(root, 'dist', 'bin', bin), 'utf8').split('\n')[0], '#!/usr/bin/env node');
  assert.equal(started(), false);
});

test('the blobs hold no key: built beside a keyring, with its passphrase in the environment, they contain none of it', { timeout: 300_000 }, async (t) => {
  if (!requireVectors(t) || !requireBlobs(t)) return;
  const { home, keys } = vectorHome();
  const root = packageCopy();
  const passphrase = 'canary-passphrase-5d1f0e27';
  // The keyring is read once first, in the same process tree, as an operator's shell would have.
  assert.equal(bundle(path.join(root, 'dist', 'bin', 'signhere.js'), ['-u', 'dog'], { ARKEO_HOME: path.join(home, '.arkeo') }).status, 0);
  const set = { ARKEO_HOME: path.join(home, '.arkeo'), ARKEO_KEYRING_PASSPHRASE: passphrase, HOME: home };
  const saved = Object.fromEntries(Object.keys(set).map((k) => [k, process.env[k]]));
  Object.assign(process.env, set);
  try {
    assert.deepEqual(await buildSnapshots(root), []);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  const needles = Object.values(keys).flatMap((k) => [Buffer.from(k.priv, 'hex'), Buffer.from(k.priv, 'utf8'), Buffer.from(k.priv.toUpperCase(), 'utf8'), Buffer.from(k.mnemonic, 'utf8')]);
  needles.push(Buffer.from(passphrase));
  const blobs = ['signhere', 'claim'].map((n) => blob(root, n));
  for (const b of blobs) {
    const bytes = fs.readFileSync(b);
    for (const n of needles) assert.equal(bytes.indexOf(n), -1, `${path.basename(b)} holds ${n.length} bytes of a key or passphrase`);
  }
  // The control: the same search finds a key in a file that has one.
  const withKey = Buffer.concat([fs.readFileSync(blobs[0]!), Buffer.from(Object.values(keys)[0]!.priv, 'hex')]);
  assert.notEqual(withKey.indexOf(needles[0]!), -1);
});
