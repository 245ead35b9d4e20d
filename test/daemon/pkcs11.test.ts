import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { BIN, run, tempDir } from '../helpers.js';
import { reinitToken, startSoftHsm, USER_PIN } from '../support/softhsm.js';
import { auditEntries, rawRequest } from '../support/daemon.js';
import { buildOracle, goAvailable, oracleLines } from '../interop/oracle.js';
import { Keyring } from '../../src/keyring/index.js';
import { addPkcs11Key } from '../../src/keys/index.js';
import { loadPkcs11Module, releasePkcs11Module } from '../../src/signers/index.js';
import { DaemonClient, SignerDaemon, TokenStore, defaultConfig, parsePolicy } from '../../src/daemon/index.js';
import { isLowS, parseBech32PubKey, parseHex, toHex, utf8, verifySignature } from '../../src/crypto/index.js';

/**
 * The daemon serving a PKCS#11 key from a real SoftHSM2 token through its session pool, beside a local key in the
 * signing thread: 1,000 claims over the unix socket, with every session closed under it halfway.
 */
let haveGo = false;
before(() => {
  haveGo = goAvailable();
  if (haveGo) buildOracle();
});

function metric(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').pop()) : NaN;
}

test('daemon: 1,000 claims with a PKCS#11 key (4 sessions), sessions closed from outside halfway; all verify (ours and Go); healthz, metrics, audit backend', { timeout: 300_000 }, async (t) => {
  const hsm = startSoftHsm(t);
  if (!hsm) return;
  const TOKEN = 'daemon-token';
  hsm.initToken(TOKEN);
  const home = tempDir();
  const kr = Keyring.open({ backend: 'test', dir: home });
  const added = await addPkcs11Key(kr, 'hsm', { uri: `pkcs11:token=${TOKEN};object=daemon-key`, module: hsm.module, create: true, pin: async () => USER_PIN });
  await kr.importPrivateKey('dog', secp256k1.utils.randomSecretKey());
  const pub = added.publicKey!;
  const config = defaultConfig(home);
  config.pkcs11.sessions = 4;
  const token = TokenStore.load(config.tokens.path).create('load', parsePolicy({ keys: ['*'], operations: ['claim', 'raw'], contracts: ['*'], rate: { per_second: 1e6, burst: 1e6 } }));
  let pinAsked = 0;
  const daemon = await SignerDaemon.start(config, { pkcs11Pin: async () => (pinAsked++, USER_PIN) });
  const client = new DaemonClient(config.listen.socket, { token });
  const { mod, slot } = (() => {
    const m = loadPkcs11Module(hsm.module);
    return { mod: m, slot: m.lib.C_GetSlotList(true).find((s) => m.lib.C_GetTokenInfo(s).label.trim() === TOKEN)! };
  })();
  try {
    const health = await rawRequest(config.listen.socket, 'GET', '/healthz');
    assert.equal(health.status, 200, health.body);
    assert.deepEqual(health.json!.tokens, { hsm: 'ok' });
    assert.equal(health.json!.key_count, 2);

    const claims: { nonce: bigint; preimage: string; signature: string }[] = [];
    for (let half = 0; half < 2; half++) {
      if (half === 1) mod.lib.C_CloseAllSessions(slot); // no request in flight: the pool's sessions go stale
      for (let wave = 0; wave < 10; wave++) {
        const got = await Promise.all(Array.from({ length: 50 }, () => client.claim(77n, 'hsm')));
        claims.push(...got.map((c) => ({ nonce: BigInt(c.nonce), preimage: c.preimage, signature: c.signature })));
      }
    }
    assert.equal(claims.length, 1000);
    assert.deepEqual(
      claims.map((c) => c.nonce).sort((a, b) => (a < b ? -1 : 1)),
      Array.from({ length: 1000 }, (_, i) => BigInt(i + 1)),
      'nonces 1…1000, each once',
    );
    for (const c of claims) {
      const sig = parseHex(c.signature, 'sig');
      assert.equal(c.preimage, `77:${c.nonce}:`);
      assert.ok(isLowS(sig) && verifySignature(pub, utf8(c.preimage), sig), `nonce ${c.nonce} verifies`);
    }
    assert.equal(pinAsked, 1, 'the PIN was asked once, at start');

    const metrics = (await rawRequest(config.listen.socket, 'GET', '/metrics')).body;
    const highS = metric(metrics, 'arkeo_signer_pkcs11_events', 'key="hsm",event="high_s"');
    t.diagnostic(`daemon: ${highS} of ${metric(metrics, 'arkeo_signer_pkcs11_events', 'key="hsm",event="signatures"')} raw token signatures were high-S and normalised; reopened ${metric(metrics, 'arkeo_signer_pkcs11_events', 'key="hsm",event="reopened"')}`);
    assert.ok(highS > 0, 'high-S signatures came from the token and were normalised');
    assert.ok(metric(metrics, 'arkeo_signer_pkcs11_events', 'key="hsm",event="reopened"') >= 1, 'the pool reopened after the close');
    assert.equal(metric(metrics, 'arkeo_signer_pkcs11_events', 'key="hsm",event="failures"'), 0);
    assert.equal(metric(metrics, 'arkeo_signer_pkcs11_token_healthy', 'key="hsm"'), 1);
    assert.ok(metric(metrics, 'arkeo_signer_pkcs11_sessions', 'key="hsm"') <= 4);

    const local = await client.claim(77n, 'dog');
    assert.equal(local.nonce, '1', 'each key has its own nonces');
    const entries = auditEntries(config).filter((e) => e.what.op === 'claim' && e.result === 'ok');
    assert.equal(entries.filter((e) => e.what.backend === 'pkcs11').length, 1000);
    assert.equal(entries.filter((e) => e.what.backend === 'local').length, 1);

    if (haveGo) {
      const verdicts = oracleLines(['verify-raw'], claims.map((c) => `${toHex(pub)} ${toHex(utf8(c.preimage))} ${c.signature}`));
      assert.ok(verdicts.length === 1000 && verdicts.every((v) => v === 'true'), 'cosmos-sdk VerifySignature accepts all 1,000');
    } else if (process.env.CI === 'true') assert.fail('the go toolchain (interop oracle) is required under CI');

    // The token loses the key (re-initialised from outside): the reserved nonce is spent, nothing is released,
    // the audit log has the error, /healthz says why, and the local key keeps signing.
    reinitToken(hsm, TOKEN);
    const failed = await rawRequest(config.listen.socket, 'POST', '/v1/claims', { token, body: JSON.stringify({ key: 'hsm', contract: '77' }) });
    assert.equal(failed.status, 500);
    assert.equal(failed.json!.code, 'KEY_NOT_ON_TOKEN');
    assert.doesNotMatch(failed.body, /signature|arkauth/);
    const last = auditEntries(config).slice(-2);
    assert.equal(last[0]!.result, 'ok', 'the entry written while signing');
    assert.equal(last[1]!.result, 'error');
    assert.equal(last[1]!.what.nonce, '1001');
    assert.equal(last[1]!.what.backend, 'pkcs11');
    const sick = await rawRequest(config.listen.socket, 'GET', '/healthz');
    assert.equal(sick.status, 503);
    assert.match((sick.json!.tokens as Record<string, string>).hsm!, /^error: pkcs11 token "daemon-token" object "daemon-key" \(key hsm\): last attempt failed \(KEY_NOT_ON_TOKEN\)$/);
    assert.equal((await client.claim(77n, 'dog')).nonce, '2');
  } finally {
    client.close();
    releasePkcs11Module(mod);
    await daemon.stop();
  }
});

test('daemon start as a process: [pkcs11] pin_file and sessions from the config; a refused PIN stops the start with one line naming the token', { timeout: 120_000 }, async (t) => {
  const hsm = startSoftHsm(t);
  if (!hsm) return;
  hsm.initToken('proc-token');
  const home = tempDir();
  const env = { ...hsm.env, ARKEO_HOME: home };
  const pinFile = path.join(home, 'pin');
  fs.writeFileSync(pinFile, USER_PIN + '\n', { mode: 0o600 });
  const add = run(BIN.arkeoSigner, ['keys', 'add', 'hsm', '--pkcs11', 'pkcs11:token=proc-token;object=k', '--create', '--pkcs11-module', hsm.module, '--pin-file', pinFile, '-o', 'json'], { env });
  assert.equal(add.status, 0, add.stderr);
  const pub = parseBech32PubKey(JSON.parse(run(BIN.signhere, ['-u', 'hsm', '-home', home, '-pin-file', pinFile, '-output', 'json'], { env }).stdout).pubkey, 'arkeopub');
  assert.equal(run(BIN.arkeoSigner, ['daemon', 'init'], { env }).status, 0);
  const config = path.join(home, 'signer', 'daemon.toml');
  const socket = path.join(home, 'signer', 'keyd.sock');
  const write = (pin: string) => fs.writeFileSync(config, fs.readFileSync(config, 'utf8').replace(/^sessions = \d+$/m, 'sessions = 3').replace(/^# pin_file = .*$/m, `pin_file = "${pin}"`));
  write(pinFile);
  const tok = run(BIN.arkeoSigner, ['daemon', 'token', 'create', '--name', 'app', '--keys', 'hsm'], { env });
  assert.equal(tok.status, 0, tok.stderr);
  const child = spawn(process.execPath, [BIN.arkeoSigner, 'daemon', 'start'], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    for (let i = 0; i < 200 && !/listening on/.test(err); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(err, /1 key\(s\) loaded/);
    const client = new DaemonClient(socket, { token: tok.stdout.trim() });
    try {
      const c = await client.claim(5n, 'hsm');
      assert.ok(verifySignature(pub, utf8(c.preimage), parseHex(c.signature, 'sig')));
      const m = (await rawRequest(socket, 'GET', '/metrics')).body;
      assert.equal(metric(m, 'arkeo_signer_pkcs11_sessions', 'key="hsm"'), 1, 'sessions open as needed, up to 3');
    } finally {
      client.close();
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  assert.ok(!err.includes(USER_PIN), 'the PIN is not logged');
  const bad = path.join(home, 'bad-pin');
  fs.writeFileSync(bad, '99999999\n');
  fs.writeFileSync(config, fs.readFileSync(config, 'utf8').replace(/^pin_file = .*$/m, `pin_file = "${bad}"`));
  const refused = run(BIN.arkeoSigner, ['daemon', 'start'], { env });
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /^arkeo-signer: pkcs11 token "proc-token": C_Login failed \(CKR_PIN_INCORRECT\)[^\n]*tried once, not retried[^\n]*\n$/);
});

test('daemon under steady claim load: the SoftHSM2 token directory taken away, then put back: 503 SIGNER_UNAVAILABLE at once while gone, signing again within 5 s of its return, and every signature released has its audit entry', { timeout: 120_000 }, async (t) => {
  // SoftHSM2 marks a token invalid when its directory goes away and never looks at the directory again until
  // C_Finalize/C_Initialize (C_GetTokenInfo answers CKR_GENERAL_ERROR, object handles CKR_OBJECT_HANDLE_INVALID,
  // and a C_Initialize while the directory is away fails): only reopening the module brings it back.
  const hsm = startSoftHsm(t);
  if (!hsm) return;
  const TOKEN = 'vanishing-token';
  hsm.initToken(TOKEN);
  const home = tempDir();
  const kr = Keyring.open({ backend: 'test', dir: home });
  const pub = (await addPkcs11Key(kr, 'hsm', { uri: `pkcs11:token=${TOKEN};object=k`, module: hsm.module, create: true, pin: async () => USER_PIN })).publicKey!;
  const config = defaultConfig(home);
  config.pkcs11.sessions = 4;
  const token = TokenStore.load(config.tokens.path).create('load', parsePolicy({ keys: ['hsm'], operations: ['claim'], contracts: ['*'], rate: { per_second: 1e6, burst: 1e6 } }));
  let pinAsked = 0;
  const daemon = await SignerDaemon.start(config, { pkcs11Pin: async () => (pinAsked++, USER_PIN) });
  const away = `${hsm.tokens}.away`;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const replies: { sentAt: number; at: number; status: number; body: string; json?: Record<string, any> }[] = [];
  const ok = () => replies.filter((r) => r.status === 200);
  let running = true;
  // Four clients, each sending a claim as soon as (10 ms after) the previous one is answered.
  const clients = Array.from({ length: 4 }, async () => {
    while (running) {
      const sentAt = performance.now();
      const r = await rawRequest(config.listen.socket, 'POST', '/v1/claims', { token, body: JSON.stringify({ key: 'hsm', contract: '91' }) });
      replies.push({ sentAt, at: performance.now(), status: r.status, body: r.body, json: r.json });
      await sleep(10);
    }
  });
  let restoredAt = 0;
  let sick: Awaited<ReturnType<typeof rawRequest>> | undefined;
  let during = '';
  try {
    try {
      while (ok().length < 100) await sleep(20);
      fs.renameSync(hsm.tokens, away);
      const removedAt = performance.now();
      // Gone long enough for several attempts to reopen the module to fail (C_Initialize fails without the directory).
      while (performance.now() - removedAt < 1_500) await sleep(20);
      sick = await rawRequest(config.listen.socket, 'GET', '/healthz');
      during = (await rawRequest(config.listen.socket, 'GET', '/metrics')).body;
      fs.renameSync(away, hsm.tokens);
      restoredAt = performance.now();
      // The bound: a claim sent after the return is signed within 5 s of it.
      while (!ok().some((r) => r.sentAt > restoredAt) && performance.now() - restoredAt < 5_000) await sleep(10);
      const back = ok().find((r) => r.sentAt > restoredAt);
      assert.ok(back && back.at - restoredAt <= 5_000, 'a claim sent after the token directory came back was signed within 5 s of it');
      t.diagnostic(`recovery: first claim signed ${(back.at - restoredAt).toFixed(0)} ms after the token directory came back`);
      const signedBefore = ok().length;
      while (ok().length < signedBefore + 100) await sleep(20);
    } finally {
      running = false;
      await Promise.all(clients);
      if (fs.existsSync(away)) fs.renameSync(away, hsm.tokens);
    }
    // While it was gone: /healthz said so, with the last error and the next attempt, and so did the metrics.
    assert.equal(sick!.status, 503);
    assert.match((sick!.json!.tokens as Record<string, string>).hsm!, /^recovering: pkcs11 token "vanishing-token" object "k" \(key hsm\): the token is unavailable \(.+\); reopening it, attempt \d+ in \d+ ms$/);
    t.diagnostic(`/healthz while gone: ${(sick!.json!.tokens as Record<string, string>).hsm}`);
    assert.equal(metric(during, 'arkeo_signer_pkcs11_token_healthy', 'key="hsm"'), 0);
    assert.ok(metric(during, 'arkeo_signer_pkcs11_events', 'key="hsm",event="recovery_attempts"') >= 2, 'attempts made while the directory was away');
    const failed = replies.filter((r) => r.status !== 200);
    const failedAfter = failed.filter((r) => r.sentAt > restoredAt).length;
    const wait = failed.map((r) => r.at - r.sentAt).sort((a, b) => a - b);
    t.diagnostic(`${replies.length} claims: ${ok().length} signed, ${failed.length} refused (${failedAfter} of them sent after the return); refusal latency median ${wait[wait.length >> 1]?.toFixed(1)} ms`);
    assert.ok(failed.length > 0);
    for (const r of failed) {
      assert.equal(r.status, 503, r.body);
      assert.equal(r.json!.code, 'SIGNER_UNAVAILABLE', r.body);
      assert.match(r.json!.error, /^pkcs11 token "vanishing-token" object "k" \(key hsm\): the token is unavailable \([^\n]*\); reopening it, attempt \d+ in \d+ ms; nothing was signed$/);
      assert.ok(!r.body.includes(USER_PIN) && r.json!.signature === undefined);
    }
    for (const r of ok()) assert.ok(verifySignature(pub, utf8(r.json!.preimage), parseHex(r.json!.signature, 'sig')), `nonce ${r.json!.nonce} verifies`);
    // Released = an 'ok' entry with no 'error' entry after it for the same nonce (README). Exactly the 200s.
    const entries = auditEntries(config).filter((e) => e.what.op === 'claim');
    const refused = new Set(entries.filter((e) => e.result === 'error').map((e) => e.what.nonce as string));
    const released = entries.filter((e) => e.result === 'ok' && !refused.has(e.what.nonce)).map((e) => e.what.nonce as string);
    assert.deepEqual(released.sort(), ok().map((r) => r.json!.nonce as string).sort(), 'each signed reply has its ok entry, and no entry claims a release that did not happen');
    assert.equal(refused.size, failed.length, 'each refusal has its error entry');

    assert.equal(pinAsked, 1, 'logged in again with the PIN it was given at start');
    const health = await rawRequest(config.listen.socket, 'GET', '/healthz');
    assert.equal(health.status, 200, health.body);
    assert.deepEqual(health.json!.tokens, { hsm: 'ok' });
    const m = (await rawRequest(config.listen.socket, 'GET', '/metrics')).body;
    assert.equal(metric(m, 'arkeo_signer_pkcs11_events', 'key="hsm",event="recoveries"'), 1);
    assert.equal(metric(m, 'arkeo_signer_pkcs11_token_healthy', 'key="hsm"'), 1);
  } finally {
    await daemon.stop();
  }
});
