/**
 * Claims/s and latency through ClaimSigner with each cloud signer, against the servers the tests use: local-kms
 * (a real AWS KMS emulator), our Azure Key Vault test server, our Cloud KMS test server. These measure our
 * client path plus a local server on this machine, not the clouds (a real KMS adds tens of milliseconds of
 * network and its own quotas). `BENCH_SKIP_KMS=1` leaves the section out; `node dist/bench/cloud.js` runs it alone.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
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
