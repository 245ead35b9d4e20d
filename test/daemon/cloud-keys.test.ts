import { test, before, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { tempDir } from '../helpers.js';
import { auditEntries, rawRequest } from '../support/daemon.js';
import { metric, startCloudBackend } from '../support/cloud-keys.js';
import { buildOracle, goAvailable, oracleLines } from '../interop/oracle.js';
import { Keyring } from '../../src/keyring/index.js';
import { addCloudKey } from '../../src/keys/index.js';
import { DaemonClient, SignerDaemon, TokenStore, defaultConfig, parsePolicy } from '../../src/daemon/index.js';
import { isLowS, parseHex, toHex, utf8, verifySignature } from '../../src/crypto/index.js';
import type { CloudKind } from '../../src/signers/index.js';

/**
 * The daemon serving a cloud KMS key (one test per backend; see test/support/cloud-keys.ts for what each runs
 * against: local-kms, a real AWS KMS emulator; OUR test servers for Azure Key Vault and Cloud KMS) beside a local
 * key: 1,000 claims over the unix socket, 50 in flight; then the backend killed mid-run (clear errors, nothing
 * released, /healthz 503) and brought back (recovery); then a wrong public key recorded for the key (refused).
 */
let haveGo = false;
before(() => {
  haveGo = goAvailable();
  if (haveGo) buildOracle();
});

const FLAGS: Record<CloudKind, (args: string[]) => Record<string, unknown>> = {
  'aws-kms': (a) => ({ region: a[a.indexOf('--region') + 1], endpoint: a[a.indexOf('--endpoint') + 1] }),
  'azure-kv': (a) => ({ vault: a[a.indexOf('--vault') + 1], keyName: a[a.indexOf('--key-name') + 1], endpoint: a[a.indexOf('--endpoint') + 1], caFile: a[a.indexOf('--ca-file') + 1] }),
  'gcp-kms': (a) => ({ keyRing: a[a.indexOf('--key-ring') + 1], keyId: a[a.indexOf('--key-id') + 1], createKeyRing: true, endpoint: a[a.indexOf('--endpoint') + 1], insecure: true }),
};

async function daemonFlow(t: TestContext, kind: CloudKind): Promise<void> {
  const backend = await startCloudBackend(t, kind);
  if (!backend) return;
  const home = tempDir();
  const kr = Keyring.open({ backend: 'test', dir: home });
  // What `keys add kms --<kind> --create …` runs (the CLI path itself is tested in test/cli/cloud-keys.test.ts).
  const added = await addCloudKey(kr, 'kms', { kind, create: true, ...FLAGS[kind](backend.createArgs('daemon-key')) });
  await kr.importPrivateKey('dog', secp256k1.utils.randomSecretKey());
  const pub = added.publicKey!;
  const config = defaultConfig(home);
  config.cloud = { timeout_ms: 2_000, retries: 2 };
  const token = TokenStore.load(config.tokens.path).create('load', parsePolicy({ keys: ['*'], operations: ['claim', 'raw'], contracts: ['*'], rate: { per_second: 1e6, burst: 1e6 } }));
  const daemon = await SignerDaemon.start(config);
  t.after(() => daemon.stop());
  const client = new DaemonClient(config.listen.socket, { token });
  t.after(() => client.close());
  const socket = config.listen.socket;

  const health = await rawRequest(socket, 'GET', '/healthz');
  assert.equal(health.status, 200, health.body);
  assert.equal(health.json!.key_count, 2);
  assert.equal((health.json!.cloud as Record<string, { backend: string; status: string }>).kms!.status, 'ok');
  assert.equal((health.json!.cloud as Record<string, { backend: string }>).kms!.backend, kind);

  const claims: { nonce: bigint; preimage: string; signature: string }[] = [];
  const started = performance.now();
  for (let wave = 0; wave < 20; wave++) {
    const got = await Promise.all(Array.from({ length: 50 }, () => client.claim(77n, 'kms')));
    claims.push(...got.map((c) => ({ nonce: BigInt(c.nonce), preimage: c.preimage, signature: c.signature })));
  }
  const ms = performance.now() - started;
  assert.deepEqual(claims.map((c) => Number(c.nonce)).sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i + 1), 'nonces 1…1000, each once');
  for (const c of claims) {
    const sig = parseHex(c.signature, 'sig');
    assert.equal(c.preimage, `77:${c.nonce}:`);
    assert.ok(isLowS(sig) && verifySignature(pub, utf8(c.preimage), sig), `nonce ${c.nonce} verifies`);
  }
  const m = (await rawRequest(socket, 'GET', '/metrics')).body;
  const labels = (event: string) => `key="kms",backend="${kind}",event="${event}"`;
  const highS = metric(m, 'arkeo_signer_cloud_events', labels('high_s'));
  t.diagnostic(`${kind} against ${backend.server}: daemon 1,000 claims in ${ms.toFixed(0)} ms (50 in flight); ${highS} of ${metric(m, 'arkeo_signer_cloud_events', labels('signatures'))} raw signatures were high-S and normalised (metrics); calls ${metric(m, 'arkeo_signer_cloud_events', labels('calls'))}`);
  assert.ok(highS > 0, 'high-S signatures came from the backend and were normalised');
  assert.equal(metric(m, 'arkeo_signer_cloud_events', labels('signatures')), 1000);
  assert.equal(metric(m, 'arkeo_signer_cloud_events', labels('errors')), 0);
  assert.equal(metric(m, 'arkeo_signer_cloud_events', labels('throttles')), 0);
  assert.equal(metric(m, 'arkeo_signer_cloud_call_seconds_count', `key="kms",backend="${kind}",op="sign",outcome="ok"`), 1000, 'backend latency observed per call');
  assert.equal(metric(m, 'arkeo_signer_cloud_key_healthy', `key="kms",backend="${kind}"`), 1);
  const entries = auditEntries(config).filter((e) => e.what.op === 'claim' && e.result === 'ok');
  assert.equal(entries.filter((e) => e.what.backend === kind).length, 1000, 'audit entries record the backend kind');
  assert.equal((await client.claim(77n, 'dog')).nonce, '1', 'the local key signs beside it, with its own nonces');
  if (haveGo) {
    const verdicts = oracleLines(['verify-raw'], claims.map((c) => `${toHex(pub)} ${toHex(utf8(c.preimage))} ${c.signature}`));
    assert.ok(verdicts.length === 1000 && verdicts.every((v) => v === 'true'), 'cosmos-sdk VerifySignature accepts all 1,000');
  } else if (process.env.CI === 'true') assert.fail('the go toolchain (interop oracle) is required under CI');

  // The backend dies mid-run: 40 claims in flight, killed after the first few are back. Every reply is either a
  // verified signature or a 503 naming the key, with no signature in it; the failures are audited as errors.
  let done = 0;
  const body = JSON.stringify({ key: 'kms', contract: '77' });
  const inFlight = Array.from({ length: 40 }, (_, i) => new Promise((r) => setTimeout(r, i * 5)).then(() => rawRequest(socket, 'POST', '/v1/claims', { token, body })).finally(() => done++));
  while (done < 5) await new Promise((r) => setTimeout(r, 2));
  await backend.kill();
  const replies = await Promise.all(inFlight);
  const failed = replies.filter((r) => r.status !== 200);
  t.diagnostic(`${kind}: killed mid-run: ${replies.length - failed.length} of 40 signed before, ${failed.length} refused`);
  assert.ok(failed.length > 0, 'some claims met the dead backend');
  for (const r of replies) {
    if (r.status === 200) {
      assert.ok(verifySignature(pub, utf8(r.json!.preimage as string), parseHex(r.json!.signature as string, 'sig')));
      continue;
    }
    assert.equal(r.status, 503, r.body);
    assert.ok(['UNAVAILABLE', 'TIMEOUT'].includes(r.json!.code as string), r.body);
    assert.match(r.json!.error as string, /^key kms: [^\n]*(unavailable|no answer)[^\n]*$/);
    assert.doesNotMatch(r.body, /signature|arkauth/);
  }
  const errors = auditEntries(config).filter((e) => e.what.op === 'claim' && e.result === 'error' && e.what.backend === kind);
  assert.equal(errors.length, failed.length, 'each refusal is audited with the backend');
  const sick = await rawRequest(socket, 'GET', '/healthz');
  assert.equal(sick.status, 503, sick.body);
  assert.match((sick.json!.cloud as Record<string, { status: string }>).kms!.status, /^error: key kms: /);
  assert.equal((await client.claim(77n, 'dog')).nonce, '2', 'the local key keeps signing');

  // Back: /healthz recovers by itself (its fresh read passes), then claims sign again.
  await backend.revive();
  let back = sick;
  for (let i = 0; i < 60 && back.status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 250));
    back = await rawRequest(socket, 'GET', '/healthz');
  }
  assert.equal(back.status, 200, back.body);
  const again = await client.claim(77n, 'kms');
  assert.ok(verifySignature(pub, utf8(again.preimage), parseHex(again.signature, 'sig')));
  assert.equal(metric((await rawRequest(socket, 'GET', '/metrics')).body, 'arkeo_signer_cloud_key_healthy', `key="kms",backend="${kind}"`), 1);
  await daemon.stop();

  // A wrong public key recorded for the key (same reference): the daemon refuses to start, naming the key.
  const info = await kr.get('kms');
  await kr.delete('kms');
  await kr.addExternalKey('kms', secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true), kind, info.external!.location);
  await assert.rejects(SignerDaemon.start(config), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'KEY_MISMATCH');
    assert.match(e.message, /^key kms: [^\n]*is not the recorded [0-9a-f]{66}[^\n]*nothing was signed$/);
    return true;
  });
}

test('daemon + aws-kms via local-kms (real AWS KMS emulator): 1,000 claims, ours and Go; metrics, audit; killed mid-run, 503, recovery; wrong key refused', { timeout: 120_000 }, (t) => daemonFlow(t, 'aws-kms'));
test('daemon + azure-kv via OUR Azure Key Vault TEST SERVER: the same', { timeout: 120_000 }, (t) => daemonFlow(t, 'azure-kv'));
test('daemon + gcp-kms via OUR Cloud KMS TEST SERVER: the same', { timeout: 120_000 }, (t) => daemonFlow(t, 'gcp-kms'));
