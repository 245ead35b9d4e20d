import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { BIN, run, runAsync, tempDir } from '../helpers.js';
import { referenceSections } from '../../src/cli/reference.js';
import { committedReference } from './reference-doc.js';
import { PostgresNonceStore } from '../../src/nonces/index.js';
import { rawRequest, startTestDaemon } from '../support/daemon.js';

/** One line on stderr, no stack trace, never the catch-all. */
const ONE_LINE = /^[^\n]+\n$/;
function assertOneLine(r: { stderr: string }, what: string): void {
  assert.match(r.stderr.replace(/^WARNING: [^\n]*\n/gm, ''), ONE_LINE, `${what}: ${JSON.stringify(r.stderr)}`);
  assert.doesNotMatch(r.stderr, /unexpected failure|\n\s+at /, what);
}

const KEY_HEX = '11'.repeat(32);

/** A home with one test-backend key, alice. */
function homeWithKey(): string {
  const home = tempDir();
  const r = run(BIN.arkeoSigner, ['keys', 'import-hex', 'alice', KEY_HEX, '--home', home]);
  assert.equal(r.status, 0, r.stderr);
  return home;
}

/** A daemon config under `home` (every path inside it), for CLI runs of daemon start / token create. */
function daemonConfig(home: string, extra = ''): string {
  const file = path.join(home, 'daemon.toml');
  const signer = path.join(home, 'signer');
  fs.writeFileSync(
    file,
    `[keyring]\nbackend = "test"\nhome = "${home}"\n${extra}\n[listen]\nsocket = "${signer}/keyd.sock"\n[nonces]\nstore = "${signer}/nonces.db"\n[audit]\npath = "${signer}/audit.log"\n[tokens]\npath = "${signer}/tokens.json"\n`,
  );
  return file;
}

/** chattr needs CAP_LINUX_IMMUTABLE and a file system that has attributes; skip with the reason otherwise. */
function chattr(flag: string, file: string): boolean {
  return spawnSync('chattr', [flag, file], { encoding: 'utf8' }).status === 0;
}

// ------------------------------------------------------------------------------------------------ item 11: --help

test('--help and -h print each command\'s usage on stdout and exit 0, for every command and subcommand; it is the reference\'s section', async () => {
  const top = run(BIN.arkeoSigner, ['--help']);
  assert.equal(top.status, 0);
  // The enumeration below must cover every command the top-level usage lists.
  const listed = new Set([...top.stdout.matchAll(/^ {2}arkeo-signer (\w+)/gm)].map((m) => m[1]));
  assert.deepEqual([...listed].sort(), ['audit', 'claim', 'console', 'contract', 'curl', 'daemon', 'doctor', 'keys', 'nonce', 'proxy', 'settle', 'tx', 'verify', 'version']);

  // Every command and group the tables hold, each expected to print its section of docs/reference/cli.md.
  const reference = committedReference();
  const cases = referenceSections()
    .filter((s) => s.command.startsWith('arkeo-signer'))
    .map((s) => ({ args: s.command.split(' ').slice(1), expect: reference.get(s.command) }));
  assert.deepEqual(
    cases.filter((c) => c.args.length === 2 && ['keys', 'claim', 'nonce', 'daemon', 'audit'].includes(c.args[0]!)).map((c) => c.args.join(' ')).sort(),
    ['audit drill', 'audit tail', 'audit verify', 'claim arkcontract', 'claim contract', 'claim explain', 'claim sign', 'daemon init', 'daemon start', 'daemon token', 'keys add', 'keys delete', 'keys export', 'keys import', 'keys import-hex', 'keys list', 'keys migrate', 'keys rename', 'keys show', 'nonce set', 'nonce show', 'nonce sync'],
  );
  assert.deepEqual(cases.filter((c) => c.args.length === 3).map((c) => c.args.join(' ')).sort(), ['claim contract add', 'claim contract list', 'daemon token create', 'daemon token list', 'daemon token revoke']);

  // A home that does not exist: help must not need (or create) anything.
  const home = path.join(tempDir(), 'nowhere');
  const jobs = cases.flatMap((c) => ['--help', '-h'].map((flag) => ({ ...c, argv: [...c.args, flag, ...(c.args.length > 1 ? ['--home', home] : [])] })));
  const results: { argv: string[]; expect?: string; r: Awaited<ReturnType<typeof runAsync>> }[] = [];
  for (let i = 0; i < jobs.length; i += 4) {
    results.push(...(await Promise.all(jobs.slice(i, i + 4).map(async (j) => ({ ...j, r: await runAsync(BIN.arkeoSigner, j.argv, { env: { ARKEO_HOME: home } }) })))));
  }
  for (const { argv, expect, r } of results) {
    const what = argv.join(' ');
    assert.equal(r.status, 0, `${what}: ${r.stderr}`);
    assert.equal(r.stderr, '', what);
    assert.match(r.stdout, /Usage/, what);
    assert.equal(r.stdout, expect, what);
  }
  assert.equal(fs.existsSync(home), false, 'help created nothing');
});

test('signhere -h and -help print its usage and exit 0 (on stderr, as the Go tool does); it is the reference\'s section', () => {
  for (const flag of ['-h', '-help', '--help']) {
    const r = run(BIN.signhere, [flag]);
    assert.equal(r.status, 0, flag);
    assert.match(r.stderr, /^Usage of signhere:\n {2}-u string/, flag);
    assert.equal(r.stderr, committedReference().get('signhere'), flag);
  }
});

// ------------------------------------------------------------------------------------------------ item 10: one line per file error

test('daemon start: an immutable, append-only (with a torn line) or symlinked audit.log is one line naming the file and what to do', (t) => {
  const home = homeWithKey();
  const config = daemonConfig(home);
  const log = path.join(home, 'signer', 'audit.log');
  fs.mkdirSync(path.dirname(log), { recursive: true, mode: 0o700 });

  fs.writeFileSync(log, '');
  if (!chattr('+i', log)) return t.skip('chattr +i not available here (needs CAP_LINUX_IMMUTABLE)');
  try {
    const r = run(BIN.arkeoSigner, ['daemon', 'start', '--config', config]);
    assert.equal(r.status, 1);
    assertOneLine(r, 'immutable');
    assert.match(r.stderr, /audit\.log: cannot open the audit log \(EPERM\): .*immutable.*chattr -i/);
  } finally {
    chattr('-i', log);
  }

  fs.writeFileSync(log, '{"seq":1,"torn');
  assert.ok(chattr('+a', log));
  try {
    const r = run(BIN.arkeoSigner, ['daemon', 'start', '--config', config]);
    assert.equal(r.status, 1);
    assertOneLine(r, 'append-only');
    assert.match(r.stderr, /audit\.log: cannot cut the torn last line .*append-only.*chattr -a/);
  } finally {
    chattr('-a', log);
  }

  fs.rmSync(log);
  fs.symlinkSync(path.join(home, 'elsewhere.log'), log);
  const r = run(BIN.arkeoSigner, ['daemon', 'start', '--config', config]);
  assert.equal(r.status, 1);
  assertOneLine(r, 'symlink');
  assert.match(r.stderr, /audit\.log: is a symbolic link; refusing/);
  assert.equal(fs.existsSync(path.join(home, 'elsewhere.log')), false, 'nothing written through the link');
});

test('daemon init in a directory that cannot be written: one line naming the config file and what to do', (t) => {
  const dir = path.join(tempDir(), 'ro');
  fs.mkdirSync(dir, { mode: 0o700 });
  if (!chattr('+i', dir)) return t.skip('chattr +i not available here (needs CAP_LINUX_IMMUTABLE)');
  try {
    const r = run(BIN.arkeoSigner, ['daemon', 'init', '--config', path.join(dir, 'daemon.toml')]);
    assert.equal(r.status, 1);
    assertOneLine(r, 'init');
    assert.match(r.stderr, /ro\/daemon\.toml: cannot write the config in \S+ro \(EPERM\): .*--config PATH/);
    assert.doesNotMatch(r.stderr, /\.tmp/, 'the temp file is not what the user asked for');
  } finally {
    chattr('-i', dir);
  }
});

test('a missing --message-file, --token-file, --policy or --key-file is one line naming it', () => {
  const home = homeWithKey();
  const config = daemonConfig(home);
  const nope = path.join(home, 'nope');
  const pub = run(BIN.arkeoSigner, ['keys', 'show', 'alice', '-p', '--home', home]).stdout.trim();
  const cases: [string, string, string[], number, RegExp][] = [
    ['verify --message-file', BIN.arkeoSigner, ['verify', '--pubkey', pub, '--message-file', nope, '--signature', '00'.repeat(64)], 2, /--message-file \S+nope: cannot read \(ENOENT\)/],
    ['signhere -message-file', BIN.signhere, ['-home', home, '-message-file', nope], 1, /-message-file \S+nope: cannot read \(ENOENT\)/],
    ['claim sign --token-file', BIN.arkeoSigner, ['claim', 'sign', '--contract', '1', '--key', 'alice', '--daemon', path.join(home, 'sock'), '--token-file', nope], 1, /--token-file \S+nope: cannot read \(ENOENT\)/],
    ['signhere -token-file', BIN.signhere, ['-daemon', path.join(home, 'sock'), '-token-file', nope], 1, /--token-file \S+nope: cannot read \(ENOENT\)/],
    ['token create --policy', BIN.arkeoSigner, ['daemon', 'token', 'create', '--config', config, '--name', 't', '--keys', 'alice', '--policy', nope], 1, /--policy \S+nope: cannot read \(ENOENT\)/],
    // audit verify's 1 means a broken chain: a key file that cannot be read stops the check, exit 2.
    ['audit verify --key-file', BIN.arkeoSigner, ['audit', 'verify', config, '--key-file', nope], 2, /--key-file \S+nope: cannot read \(ENOENT\)/],
  ];
  for (const [what, bin, args, status, message] of cases) {
    const r = run(bin, args);
    assert.equal(r.status, status, `${what}: ${r.stderr}`);
    assertOneLine(r, what);
    assert.match(r.stderr, message, what);
  }
});

test('a file-system error that escapes the typed paths names the path, the code and what to do, not "unexpected failure"', (t) => {
  const home = tempDir();
  const dir = path.join(home, 'keyring-test');
  fs.mkdirSync(dir, { mode: 0o700 });
  if (!chattr('+i', dir)) return t.skip('chattr +i not available here (needs CAP_LINUX_IMMUTABLE)');
  try {
    const r = run(BIN.arkeoSigner, ['keys', 'import-hex', 'alice', KEY_HEX, '--home', home]);
    assert.equal(r.status, 1);
    assertOneLine(r, 'EPERM');
    assert.match(r.stderr, /keyring-test\/\S+: open: operation not permitted; .*lsattr.*\(EPERM\)\n$/);
  } finally {
    chattr('-i', dir);
  }
  const notAFile = run(BIN.arkeoSigner, ['audit', 'verify', home]);
  assert.equal(notAFile.status, 2, 'not a log: bad input, not a broken chain');
  assertOneLine(notAFile, 'audit verify DIR');
  assert.match(notAFile.stderr, /: not a regular file; give the audit log's path/);
});

test('writing to a full stdout (/dev/full): one line, exit 1; to a closed pipe: silence, exit 1; never a stack trace', (t) => {
  if (!fs.existsSync('/dev/full')) return t.skip('no /dev/full');
  const home = homeWithKey();
  const full = fs.openSync('/dev/full', 'w');
  try {
    for (const [bin, args] of [[BIN.arkeoSigner, ['keys', 'list', '--home', home]], [BIN.signhere, ['-home', home, '-u', 'alice']], [BIN.arkeoSigner, ['--help']]] as const) {
      const r = spawnSync(process.execPath, [bin, ...args], { stdio: ['ignore', full, 'pipe'], encoding: 'utf8' });
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
      assertOneLine(r, args.join(' '));
      assert.match(r.stderr, /stdout: cannot write the output \(ENOSPC\)/);
    }
  } finally {
    fs.closeSync(full);
  }
  // A reader that has gone away (`| true`): EPIPE ends the command quietly with exit 1.
  const piped = spawnSync('bash', ['-c', `'${process.execPath}' '${BIN.arkeoSigner}' --help | true; exit \${PIPESTATUS[0]}`], { encoding: 'utf8' });
  assert.equal(piped.status, 1, piped.stderr);
  assert.equal(piped.stderr, '');
});

test('an armor with a malformed salt is one line naming the file, not "unexpected failure (Error)"', () => {
  const home = homeWithKey();
  const passFile = path.join(home, 'armor-pass');
  fs.writeFileSync(passFile, 'armor-pass-1\n');
  const exported = run(BIN.arkeoSigner, ['keys', 'export', 'alice', '--armor-passphrase-file', passFile, '--home', home]);
  assert.equal(exported.status, 0, exported.stderr);
  const armor = path.join(home, 'bad-salt.armor');
  for (const salt of ['AB', 'ABCDEF']) {
    fs.writeFileSync(armor, exported.stdout.replace(/^salt: [0-9A-F]+$/m, `salt: ${salt}`));
    const r = run(BIN.arkeoSigner, ['keys', 'import', 'bob', armor, '--armor-passphrase-file', passFile, '--home', home]);
    assert.equal(r.status, 1, r.stderr);
    assertOneLine(r, `salt ${salt}`);
    assert.match(r.stderr, /bad-salt\.armor: the salt header is \d bytes, expected at least 8 for argon2/);
  }
});

// ------------------------------------------------------------------------------------------------ item 12: a locked file keyring

test('a file keyring that cannot be unlocked is "locked" with exit 1, for keys list and for the daemon, never an empty list', () => {
  const home = tempDir();
  const passFile = path.join(home, 'pass');
  fs.writeFileSync(passFile, 'keyring-pass-1\n');
  assert.equal(run(BIN.arkeoSigner, ['keys', 'import-hex', 'alice', KEY_HEX, '--keyring-backend', 'file', '--passphrase-file', passFile, '--home', home]).status, 0);

  for (const args of [['keys', 'list'], ['keys', 'list', '-n'], ['keys', 'list', '-o', 'json']]) {
    const r = run(BIN.arkeoSigner, [...args, '--keyring-backend', 'file', '--home', home], { input: '' });
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assertOneLine(r, args.join(' '));
    assert.match(r.stderr, /keyring-file: the keyring is locked \(keyring passphrase: no input.*--passphrase-file/);
  }

  const config = daemonConfig(home);
  fs.writeFileSync(config, fs.readFileSync(config, 'utf8').replace('backend = "test"', 'backend = "file"'));
  const d = run(BIN.arkeoSigner, ['daemon', 'start', '--config', config], { input: '' });
  assert.equal(d.status, 1, d.stderr);
  assert.match(d.stderr, /the keyring is locked/);
  assert.doesNotMatch(d.stderr, /no local keys to serve/);
});

test('Ctrl-C at the keyring passphrase prompt (a terminal) is "locked" with exit 1, not an empty list', async (t) => {
  if (spawnSync('script', ['--version']).status !== 0) return t.skip('util-linux script (a pseudo-terminal) not available');
  const home = tempDir();
  const passFile = path.join(home, 'pass');
  fs.writeFileSync(passFile, 'keyring-pass-1\n');
  assert.equal(run(BIN.arkeoSigner, ['keys', 'import-hex', 'alice', KEY_HEX, '--keyring-backend', 'file', '--passphrase-file', passFile, '--home', home]).status, 0);
  // script gives the CLI a terminal; Ctrl-C is sent once the prompt is up (raw mode, so it arrives as a byte).
  const command = [process.execPath, BIN.arkeoSigner, 'keys', 'list', '--keyring-backend', 'file', '--home', home].map((a) => `'${a}'`).join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  let sent = false;
  child.stdout.on('data', (d: Buffer) => {
    output += d.toString();
    if (!sent && output.includes('Enter keyring passphrase')) {
      sent = true;
      child.stdin.write('\u0003');
    }
  });
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  child.stdin.destroy();
  assert.equal(status, 1, output);
  assert.match(output, /keyring-file: the keyring is locked \(keyring passphrase: interrupted\)/);
  assert.doesNotMatch(output, /No records were found/);
});

// ------------------------------------------------------------------------------------------------ item 13: exit codes

test('verify: bad input exits 2 (1 means invalid); it accepts the proto-JSON of keys show -p', () => {
  const home = homeWithKey();
  const pub = run(BIN.arkeoSigner, ['keys', 'show', 'alice', '-p', '--home', home]).stdout.trim();
  assert.match(pub, /^\{"@type":"\/cosmos\.crypto\.secp256k1\.PubKey","key":"[A-Za-z0-9+/]{44}"\}$/);
  const sig = run(BIN.signhere, ['-home', home, '-u', 'alice', '-m', 'hello']).stdout.trim();
  const ok = run(BIN.arkeoSigner, ['verify', '--pubkey', pub, '--message', 'hello', '--signature', sig]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout, 'valid\n');
  assert.equal(run(BIN.arkeoSigner, ['verify', '--pubkey', pub, '--message', 'hellO', '--signature', sig]).status, 1);
  for (const args of [
    ['--pubkey', 'nothex', '--message', 'hello', '--signature', sig],
    ['--pubkey', '{"@type":"/cosmos.crypto.ed25519.PubKey","key":"AAAA"}', '--message', 'hello', '--signature', sig],
    ['--pubkey', pub, '--message', 'hello', '--signature', sig.slice(2)],
    ['--pubkey', pub, '--message', 'hello', '--signature', 'zz'.repeat(64)],
  ]) {
    const r = run(BIN.arkeoSigner, ['verify', ...args]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assertOneLine(r, args.join(' '));
  }
});

test('claim explain and audit verify: 1 is the verdict; input that is not a header, or not a log, exits 2', () => {
  const home = homeWithKey();
  const pub = run(BIN.arkeoSigner, ['keys', 'show', 'alice', '-p', '--home', home]).stdout.trim();
  // A header some verifier rejects is a verdict: exit 1, with the verdicts on stdout.
  const rejected = run(BIN.arkeoSigner, ['claim', 'explain', `1:1:${'00'.repeat(64)}`, '--pubkey', pub]);
  assert.equal(rejected.status, 1, rejected.stderr);
  assert.match(rejected.stdout, /^sentinel-v1\.0\.17: rejected/);
  for (const garbage of ['garbage', 'x'.repeat(5000), '1:1: ab', '']) {
    const r = run(BIN.arkeoSigner, ['claim', 'explain', garbage, '--pubkey', pub]);
    assert.equal(r.status, 2, `${garbage.slice(0, 20)}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assertOneLine(r, garbage.slice(0, 20));
    assert.match(r.stderr, /claim explain: VALUE is not an arkauth header/);
  }
  const unreadable = run(BIN.arkeoSigner, ['claim', 'explain', '1:1:00', '--contract-json', path.join(home, 'nope.json')]);
  assert.equal(unreadable.status, 2, 'parties that cannot be had stop the check');
  // A file that is not an audit log (the daemon's config here) is bad input; a log with a broken link is a verdict.
  const config = daemonConfig(home);
  const notALog = run(BIN.arkeoSigner, ['audit', 'verify', config]);
  assert.equal(notALog.status, 2, notALog.stderr);
  assertOneLine(notALog, 'not a log');
  assert.match(notALog.stderr, /daemon\.toml: not an audit log/);
  assert.equal(run(BIN.arkeoSigner, ['audit', 'verify', path.join(home, 'nope.log')]).status, 2);
  const json = JSON.parse(run(BIN.arkeoSigner, ['verify', '--pubkey', pub, '--message', 'm', '--signature', '00'.repeat(64), '-o', 'json']).stdout);
  assert.deepEqual(json, { valid: false });
  const version = JSON.parse(run(BIN.arkeoSigner, ['version', '-o', 'json']).stdout);
  assert.match(version.version, /^\d+\.\d+\.\d+/);
  assert.equal(typeof version.engine, 'string');
});

test('a bad flag value exits 2, like an unknown flag', () => {
  const home = homeWithKey();
  const config = daemonConfig(home);
  const log = path.join(home, 'some.log');
  fs.writeFileSync(log, '');
  for (const args of [
    ['keys', 'list', '-o', 'yaml', '--home', home],
    ['keys', 'show', 'alice', '--bech', 'foo', '--home', home],
    ['keys', 'list', '--keyring-backend', 'kwallet', '--home', home],
    ['claim', 'sign', '--contract', 'abc', '--key', 'alice', '--home', home],
    ['claim', 'arkcontract', '--contract', '1', '--key', 'alice', '--timestamp', '1x', '--home', home],
    ['claim', 'arkcontract', '--contract', '1', '--key', 'alice', '--timestamp', '-1', '--home', home],
    ['claim', 'explain', '1:1:00', '--pubkey', 'nothex'],
    ['claim', 'contract', 'add', '--id', '1', '--rate', 'x', '--deposit', '1', '--home', home],
    ['nonce', 'set', '--contract', '1', '--key', 'alice', '--nonce', 'x', '--home', home],
    ['audit', 'tail', log, '--lines', 'x'],
    ['daemon', 'token', 'create', '--config', config, '--name', 't', '--keys', 'alice', '--rate', 'fast'],
  ]) {
    const r = run(BIN.arkeoSigner, args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assertOneLine(r, args.join(' '));
  }
});

// ------------------------------------------------------------------------------------------------ item 14: daemon client, remotes, token keys

test('daemon client: no socket or a refused connection asks whether the daemon is running', () => {
  const dir = tempDir();
  const tokenFile = path.join(dir, 'token');
  fs.writeFileSync(tokenFile, 'ark_x\n');
  for (const target of [path.join(dir, 'keyd.sock'), 'https://127.0.0.1:1']) {
    const r = run(BIN.arkeoSigner, ['claim', 'sign', '--contract', '1', '--key', 'alice', '--daemon', target, '--token-file', tokenFile]);
    assert.equal(r.status, 1, r.stderr);
    assertOneLine(r, target);
    assert.match(r.stderr, /daemon: cannot connect \((ENOENT|ECONNREFUSED)\); is the daemon running\?/);
    assert.ok(r.stderr.includes(target), 'names the socket or URL');
  }
});

test('nonce sync: a sentinel that cannot be reached shows the cause, not only "fetch failed"', async () => {
  const home = homeWithKey();
  // A port that was just free: the connection is refused.
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const r = await runAsync(BIN.arkeoSigner, ['nonce', 'sync', '--contract', '1', '--key', 'alice', '--sentinel', `http://127.0.0.1:${port}`, '--home', home]);
  assert.equal(r.status, 1, r.stderr);
  assertOneLine(r, 'sentinel');
  assert.match(r.stderr, /sentinel http:\/\/127\.0\.0\.1:\d+\/claim\/1: fetch failed \(connect ECONNREFUSED [^)]*\); check the URL/);
});

test('daemon token create --keys: names must be keys of the keyring the config names; "*" stays allowed', () => {
  const home = homeWithKey();
  const config = daemonConfig(home);
  const refused = run(BIN.arkeoSigner, ['daemon', 'token', 'create', '--config', config, '--name', 'a', '--keys', 'alice,nosuchkey']);
  assert.equal(refused.status, 2, refused.stderr);
  assertOneLine(refused, 'nosuchkey');
  assert.match(refused.stderr, /--keys: nosuchkey is not a key in \S+keyring-test/);
  assert.equal(refused.stdout, '', 'no token printed');
  assert.equal(fs.existsSync(path.join(home, 'signer', 'tokens.json')), false, 'no token stored');
  for (const [name, keys] of [['b', 'alice'], ['c', '*']]) {
    const r = run(BIN.arkeoSigner, ['daemon', 'token', 'create', '--config', config, '--name', name!, '--keys', keys!]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^ark_/);
  }
  // keyring.keys narrows what the daemon serves: a token for another key of the keyring would never work.
  const narrowed = daemonConfig(home, 'keys = ["alice"]');
  run(BIN.arkeoSigner, ['keys', 'import-hex', 'bob', '22'.repeat(32), '--home', home]);
  const notServed = run(BIN.arkeoSigner, ['daemon', 'token', 'create', '--config', narrowed, '--name', 'd', '--keys', 'bob']);
  assert.equal(notServed.status, 2, notServed.stderr);
  assert.match(notServed.stderr, /bob is not among the keys the daemon serves/);
});

// ------------------------------------------------------------------------------------------------ item 15

test('POST /v1/arkcontract: timestamp typed like the contract id (safe integer or decimal string, else 400 BAD_FIELD)', async () => {
  const d = await startTestDaemon({ alice: KEY_HEX }, { app: { keys: ['*'], operations: ['arkcontract'], contracts: ['*'], allow_management_spend: true } });
  try {
    const post = (timestamp: string) => rawRequest(d.socket, 'POST', '/v1/arkcontract', { token: d.tokens.app, body: `{"contract":"1","key":"alice","timestamp":${timestamp}}` });
    for (const bad of ['["1000"]', '{"t":1}', 'true', '9007199254740993', '1000.5', '0', '"12a"', '" 1000"', '"-5"']) {
      const r = await post(bad);
      assert.equal(r.status, 400, `${bad}: ${r.body}`);
      assert.equal(r.json?.code, 'BAD_FIELD', bad);
      assert.match(String(r.json?.error), /^timestamp: /, bad);
    }
    for (const [good, ts] of [['1700000000', '1700000000'], ['"1700000000"', '1700000000'], ['"18446744073709551615"', undefined]] as const) {
      const r = await post(good);
      if (ts === undefined) {
        // Above int64: a decimal string, but out of range: still a field error, never a rounded signature.
        assert.equal(r.status, 400, r.body);
        assert.equal(r.json?.code, 'BAD_FIELD');
        continue;
      }
      assert.equal(r.status, 200, `${good}: ${r.body}`);
      assert.equal(r.json?.timestamp, ts);
      assert.match(String(r.json?.arkcontract), new RegExp(`^1:${ts}:[0-9a-f]{128}$`));
    }
  } finally {
    await d.daemon.stop();
  }
});

test('a PostgreSQL URL\'s password is redacted in errors, in ?password= and sslpassword= as in user:pass@', async () => {
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const canary = 'Canary-PG-s3cret';
  for (const url of [
    `postgres://arkeo@127.0.0.1:${port}/db?password=${canary}`,
    `postgres://arkeo:${canary}@127.0.0.1:${port}/db`,
    `postgresql://arkeo@127.0.0.1:${port}/db?sslmode=disable&password=${encodeURIComponent(canary + '/x')}`,
  ]) {
    const e = await PostgresNonceStore.open(url, { connectionTimeoutMs: 2000 }).then(
      () => assert.fail('connected to a closed port'),
      (err: Error) => err,
    );
    assert.ok(!e.message.includes(canary) && !e.message.includes(encodeURIComponent(canary)), `${url}: ${e.message}`);
    assert.match(e.message, /nonce store postgres(ql)?:\/\/arkeo(:\*\*\*)?@127\.0\.0\.1:\d+\/db.*: cannot persist \(.*ECONNREFUSED/);
    if (url.includes('password=')) assert.match(e.message, /password=\*\*\*/);
  }
});

test('an error text from the PostgreSQL server that repeats the URL or its password is scrubbed before it is shown', async () => {
  const canary = 'Canary-PG-echo';
  // A fake server that answers the startup message with an ErrorResponse repeating the secrets (as a proxy or a
  // misconfigured server could): S, C and M fields, then the terminator.
  let url = '';
  const server = net.createServer((c) => {
    c.once('data', () => {
      const fields = Buffer.concat([['S', 'FATAL'], ['C', '28P01'], ['M', `rejected ${url} with password ${canary}`]].map(([k, v]) => Buffer.from(`${k}${v}\0`)));
      const body = Buffer.concat([fields, Buffer.from([0])]);
      const head = Buffer.alloc(5);
      head.write('E', 0);
      head.writeInt32BE(body.length + 4, 1);
      c.end(Buffer.concat([head, body]));
    });
    c.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  try {
    url = `postgres://arkeo@127.0.0.1:${(server.address() as net.AddressInfo).port}/db?password=${canary}`;
    const e = await PostgresNonceStore.open(url, { connectionTimeoutMs: 2000 }).then(
      () => assert.fail('opened'),
      (err: Error) => err,
    );
    assert.match(e.message, /cannot persist \(rejected postgres:\/\/arkeo@127\.0\.0\.1:\d+\/db\?password=\*\*\* with password \*\*\*\)/);
    assert.ok(!e.message.includes(canary), e.message);
  } finally {
    server.close();
  }
});

test('the exposed-keyring warning is printed by every command that reads a key, not only keys list', async () => {
  const home = homeWithKey();
  fs.chmodSync(path.join(home, 'keyring-test'), 0o755);
  for (const [bin, args] of [
    [BIN.arkeoSigner, ['keys', 'show', 'alice', '--home', home]],
    [BIN.arkeoSigner, ['keys', 'export', 'alice', '--unarmored-hex', '--unsafe', '-y', '--home', home]],
    [BIN.arkeoSigner, ['claim', 'sign', '--contract', '7', '--key', 'alice', '--home', home]],
    [BIN.signhere, ['-home', home, '-u', 'alice']],
  ] as const) {
    const r = run(bin, [...args]);
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /keyring-test is accessible by group or others \(mode 755\); run: chmod 700/, args.join(' '));
    assert.ok(!r.stderr.includes(KEY_HEX), 'no key in the warning');
  }
});
