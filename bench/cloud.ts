/**
 * Claims/s and latency with each cloud signer, against the servers the tests use: local-kms (a real AWS KMS
 * emulator), our Azure Key Vault test server, our Cloud KMS test server. Two figures each: through ClaimSigner in
 * this process, and through the daemon (a `daemon start` process serving a key added with `keys add --<kind>
 * --create`, loaded by bench/c/loadgen.c over the unix socket at 1 and 32 claims in flight). These measure our
 * client path plus a local server on this machine, not the clouds (a real KMS adds tens of milliseconds of
 * network and its own quotas). `BENCH_SKIP_KMS=1` leaves the section out; `node dist/bench/cloud.js` runs it alone.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TokenStore, exampleConfig, parsePolicy } from '../src/daemon/index.js';
import { buildLoadgen, cpuNote, load, repeated, stop, waitFor } from './daemon.js';
import { ClaimSigner } from '../src/claims/index.js';
import { SqliteNonceStore } from '../src/nonces/index.js';
import { AwsKmsSigner, AzureKvSigner, GcpKmsSigner, createAwsKmsKey, createAzureKvKey, createGcpKmsKey, type CloudSigner } from '../src/signers/index.js';
import { findLocalKms, startLocalKms } from '../test/support/local-kms.js';
import { hasOpenssl, startAzureKvTestServer } from '../test/support/azure-kv-test-server.js';
import { startGcpKmsTestServer } from '../test/support/gcp-kms-test-server.js';
import type { Row } from './claims.js';

const N1 = Number(process.env.BENCH_KMS_CLAIMS_1 ?? 300);
const N32 = Number(process.env.BENCH_KMS_CLAIMS_32 ?? 2000);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

async function measure(label: string, signer: CloudSigner): Promise<Row[]> {
  const rows: Row[] = [];
  for (const [inFlight, count] of [[1, N1], [32, N32]] as const) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arkeo-bench-kms-'));
    const store = SqliteNonceStore.open(path.join(dir, 'nonces.db'));
    const cs = await ClaimSigner.create(signer, store);
    await cs.signClaim(1n); // warm: connection, token, public key
    const lat: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < count) {
          next++;
          const t = performance.now();
          await cs.signClaim(1n);
          lat.push(performance.now() - t);
        }
      }),
    );
    const secs = (performance.now() - started) / 1000;
    await cs.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
    rows.push({ name: `cloud claims, ${label}, ${inFlight} in flight`, value: Math.round(count / secs), unit: 'claims/s', note: `p50 ${pct(lat, 50).toFixed(2)} ms, p99 ${pct(lat, 99).toFixed(2)} ms; ${count} claims, SQLite nonces, block 1` });
  }
  return rows;
}

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'arkeo-signer.js');

/** Run a CLI without blocking the event loop: the Azure and GCP test servers answer it from this process. */
function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d));
    p.on('exit', (status) => resolve({ status, stderr }));
  });
}

/**
 * The daemon serving a cloud key: `keys add kms <addArgs>` (creates the key), then `daemon start`, then loadgen at
 * 1 and 32 connections (each keeps one claim in flight). `env` carries what the SDK's default chain reads.
 */
async function throughDaemon(label: string, addArgs: string[], extraEnv: Record<string, string>): Promise<Row[]> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'arkeo-bench-kms-daemon-'));
  const loadgen = buildLoadgen(home);
  if (!loadgen) return [{ name: `daemon claims, ${label}`, value: NaN, unit: 'claims/s', note: 'skipped: needs a C compiler for bench/c/loadgen.c' }];
  const rows: Row[] = [];
  try {
    const env = { ...process.env, ...extraEnv, ARKEO_HOME: home };
    const add = await runCli(['keys', 'add', 'kms', ...addArgs], env);
    if (add.status !== 0) return [{ name: `daemon claims, ${label}`, value: NaN, unit: 'claims/s', note: `skipped: keys add failed: ${add.stderr.trim().split('\n').pop()}` }];
    const signer = path.join(home, 'signer');
    fs.mkdirSync(signer, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(signer, 'daemon.toml'), exampleConfig(home), { mode: 0o600 });
    const token = TokenStore.load(path.join(signer, 'tokens.json')).create('bench', parsePolicy({ keys: ['*'], rate: { per_second: 1e6, burst: 1e6 } }));
    const socket = path.join(signer, 'keyd.sock');
    const daemon = spawn(process.execPath, [CLI, 'daemon', 'start'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      await waitFor(daemon, /listening on/);
      let contract = 1;
      for (const inFlight of [1, 32]) {
        const body = `{"contract":"${contract++}","key":"kms"}`;
        const request = path.join(home, `claim-${inFlight}.http`);
        fs.writeFileSync(request, `POST /v1/claims HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        await load(loadgen, socket, request, inFlight, 0, 1); // warm: connections, credentials, the SDK's pools
        const m = await repeated(() => load(loadgen, socket, request, inFlight, 0), 'rate');
        const errors = m.mid.errors ? `; ${m.mid.errors} errors` : '';
        rows.push({ name: `daemon claims, ${label}, ${inFlight} in flight`, value: Math.round(m.mid.rate), unit: 'claims/s', note: `p50 ${m.mid.p50_ms.toFixed(2)} ms, p99 ${m.mid.p99_ms.toFixed(2)} ms${cpuNote(m.mid)}${errors}; nonce block 64; ${m.spread}` });
      }
    } finally {
      await stop(daemon);
    }
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
  return rows;
}

export async function benchCloud(): Promise<Row[]> {
  const rows: Row[] = [];
  process.env.AWS_ACCESS_KEY_ID ??= 'local-kms-bench';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local-kms-bench';
  const bin = findLocalKms();
  if (bin) {
    const kms = await startLocalKms(bin, fs.mkdtempSync(path.join(os.tmpdir(), 'arkeo-bench-local-kms-')));
    try {
      const key = await createAwsKmsKey({ region: kms.region, endpoint: kms.endpoint });
      const signer = new AwsKmsSigner(key.reference, { endpoint: kms.endpoint });
      rows.push(...(await measure('AWS KMS via local-kms (real emulator)', signer)));
      await signer.close();
      rows.push(...(await throughDaemon('AWS KMS key via local-kms (real emulator)', ['--awskms', '--create', '--region', kms.region, '--endpoint', kms.endpoint], {})));
    } finally {
      await kms.stop();
    }
  } else rows.push({ name: 'cloud claims, AWS KMS via local-kms', value: NaN, unit: 'claims/s', note: 'skipped: local-kms not installed' });

  if (hasOpenssl()) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arkeo-bench-azkv-'));
    const token = 'bench-token';
    const server = await startAzureKvTestServer({ token, dir });
    try {
      const credential = { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
      const opts = { endpoint: server.url, ca: server.ca, credential };
      const key = await createAzureKvKey({ vaultUrl: 'https://bench.vault.azure.net', name: 'bench', ...opts });
      const signer = new AzureKvSigner(key.reference, opts);
      rows.push(...(await measure('Azure Key Vault via our test server (in process)', signer)));
      await signer.close();
      // The daemon process gets its token the way DefaultAzureCredential allows without Azure: a fake `az` CLI
      // (as in test/support/cloud-keys.ts), and trusts the test server's certificate through --ca-file.
      const bin = path.join(dir, 'fake-az-bin');
      fs.mkdirSync(bin);
      fs.writeFileSync(path.join(bin, 'az'), `#!/bin/sh\necho '{"accessToken":"${token}","expires_on":'$(( $(date +%s) + 3600 ))',"tokenType":"Bearer"}'\n`, { mode: 0o755 });
      const ca = path.join(dir, 'ca.pem');
      fs.writeFileSync(ca, server.ca);
      const env = { PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}`, AZURE_TOKEN_CREDENTIALS: 'AzureCliCredential' };
      rows.push(...(await throughDaemon('Azure Key Vault key via our test server', ['--azurekv', '--create', '--vault', 'https://bench.vault.azure.net', '--key-name', 'daemon', '--endpoint', server.url, '--ca-file', ca], env)));
    } finally {
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  const gcp = await startGcpKmsTestServer();
  try {
    const endpoint = { host: '127.0.0.1', port: gcp.port, insecure: true };
    const key = await createGcpKmsKey({ keyRing: 'projects/arkeo-bench/locations/global/keyRings/r', keyId: 'bench', createKeyRing: true, endpoint });
    const signer = new GcpKmsSigner(key.reference, { endpoint });
    rows.push(...(await measure('Cloud KMS via our test server (in process)', signer)));
    await signer.close();
    rows.push(...(await throughDaemon('Cloud KMS key via our test server', ['--gcpkms', '--create', '--key-ring', 'projects/arkeo-bench/locations/global/keyRings/r', '--key-id', 'daemon', '--endpoint', `127.0.0.1:${gcp.port}`, '--insecure-grpc'], {})));
  } finally {
    await gcp.stop();
  }
  return rows;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const rows = await benchCloud();
  for (const r of rows) process.stderr.write(`${r.name.padEnd(70)} ${String(r.value).padStart(8)} ${r.unit}  ${r.note ?? ''}\n`);
  process.stdout.write(JSON.stringify({ rows }, null, 2) + '\n');
  process.exit(0);
}
