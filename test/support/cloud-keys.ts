import * as fs from 'node:fs';
import * as path from 'node:path';
import { createPublicKey } from 'node:crypto';
import type { TestContext } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { GetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import type { CloudKind } from '../../src/signers/index.js';
import { requireComponent, tempDir } from '../helpers.js';
import { findLocalKms, startLocalKms } from './local-kms.js';
import { hasOpenssl, startAzureKvTestServer } from './azure-kv-test-server.js';
import { startGcpKmsTestServer } from './gcp-kms-test-server.js';

/**
 * One cloud backend for the keyring-level tests (keys add --create, claim sign, the daemon), started for a test:
 *   aws-kms  → nsmithuk/local-kms, a REAL AWS KMS EMULATOR (child process);
 *   azure-kv → OUR AZURE KEY VAULT TEST SERVER (test/support/azure-kv-test-server.ts; not Azure, not an emulator);
 *   gcp-kms  → OUR CLOUD KMS TEST SERVER (test/support/gcp-kms-test-server.ts; not Google, not an emulator).
 * Credentials come through each SDK's own default chain, never through our flags or files: AWS from dummy
 * environment keys (local-kms does not check them); Azure through DefaultAzureCredential limited by
 * AZURE_TOKEN_CREDENTIALS=AzureCliCredential to a FAKE `az` CLI of ours on PATH that prints the test server's
 * token; GCP over plain gRPC to a loopback server (--insecure-grpc), which takes no credential.
 */
export interface CloudBackend {
  kind: CloudKind;
  /** What the tests ran against, for diagnostics. */
  server: string;
  /** `keys add NAME` + these: create a key there. */
  createArgs(keyName: string): string[];
  /** The key's public key read from the server's side, not through our signer. */
  serverPublicKey(ref: string): Promise<Uint8Array>;
  /** Make the backend unreachable (SIGKILL local-kms; stop our server), and bring it back. */
  kill(): Promise<void>;
  revive(): Promise<void>;
  /** A secret the backend uses that must never show up in our files or messages (Azure's bearer token). */
  secret?: string;
}

const AZURE_TOKEN = 'canary-azure-keyring-token-5d1b9e';
const AZURE_VAULT = 'https://arkeo-keys.vault.azure.net';
const GCP_RING = 'projects/arkeo-keys/locations/global/keyRings/claims';

/** Sets the environment the SDKs' default chains read, for this process and the CLIs it starts; undone in t.after. */
function setEnv(t: TestContext, vars: Record<string, string>): void {
  const old = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  t.after(() => {
    for (const [k, v] of Object.entries(old)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
}

/** Starts the backend (stopped in t.after); undefined when it is missing and the test was skipped (never under CI). */
export async function startCloudBackend(t: TestContext, kind: CloudKind): Promise<CloudBackend | undefined> {
  if (kind === 'aws-kms') {
    const bin = findLocalKms();
    if (!requireComponent(t, bin !== undefined, 'local-kms (go install github.com/nsmithuk/local-kms@v0.0.0-20260228092603-2a5e92d09ab6, or $LOCAL_KMS_BIN)')) return undefined;
    setEnv(t, { AWS_ACCESS_KEY_ID: 'local-kms-test', AWS_SECRET_ACCESS_KEY: 'local-kms-test', AWS_EC2_METADATA_DISABLED: 'true' });
    const kms = await startLocalKms(bin!, tempDir('arkeo-local-kms-'));
    t.after(() => kms.stop());
    return {
      kind,
      server: 'local-kms (real AWS KMS emulator)',
      createArgs: () => ['--awskms', '--create', '--region', kms.region, '--endpoint', kms.endpoint],
      serverPublicKey: async (ref) => {
        const client = new KMSClient({ region: kms.region, endpoint: kms.endpoint });
        try {
          const out = await client.send(new GetPublicKeyCommand({ KeyId: ref.replace(/^awskms:/, '') }));
          const jwk = createPublicKey({ key: Buffer.from(out.PublicKey!), format: 'der', type: 'spki' }).export({ format: 'jwk' });
          return secp256k1.Point.fromBytes(Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')])).toBytes(true);
        } finally {
          client.destroy();
        }
      },
      kill: () => kms.kill(),
      revive: () => kms.start(),
    };
  }
  if (kind === 'azure-kv') {
    if (!requireComponent(t, hasOpenssl(), 'openssl (for the Azure test server certificate)')) return undefined;
    const dir = tempDir('arkeo-azkv-keys-');
    const server = await startAzureKvTestServer({ token: AZURE_TOKEN, dir });
    t.after(() => server.stop());
    // The fake Azure CLI: what `az account get-access-token --output json --resource …` prints when logged in.
    const bin = path.join(dir, 'fake-az-bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'az'), `#!/bin/sh\necho '{"accessToken":"${AZURE_TOKEN}","expires_on":'$(( $(date +%s) + 3600 ))',"tokenType":"Bearer"}'\n`, { mode: 0o755 });
    const ca = path.join(dir, 'test-server-ca.pem');
    fs.writeFileSync(ca, server.ca);
    setEnv(t, { PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}`, AZURE_TOKEN_CREDENTIALS: 'AzureCliCredential' });
    return {
      kind,
      server: 'our Azure Key Vault TEST SERVER (not Azure)',
      createArgs: (keyName) => ['--azurekv', '--create', '--vault', AZURE_VAULT, '--key-name', keyName, '--endpoint', server.url, '--ca-file', ca],
      serverPublicKey: async (ref) => {
        const [, name, version] = /\/keys\/([^/]+)\/([0-9a-f]{32})$/.exec(ref)!;
        const v = server.keys.get(name!)!.find((x) => x.version === version)!;
        return secp256k1.getPublicKey(v.priv, true);
      },
      kill: () => server.stop(),
      revive: () => server.start(),
      secret: AZURE_TOKEN,
    };
  }
  const server = await startGcpKmsTestServer();
  t.after(() => server.stop());
  return {
    kind,
    server: 'our Cloud KMS TEST SERVER (not Google)',
    createArgs: (keyName) => ['--gcpkms', '--create', '--key-ring', GCP_RING, '--key-id', keyName, '--create-key-ring', '--endpoint', `127.0.0.1:${server.port}`, '--insecure-grpc'],
    serverPublicKey: async (ref) => secp256k1.getPublicKey(server.versions.get(ref.replace(/^gcpkms:/, ''))!.priv, true),
    kill: () => server.stop(),
    revive: () => server.start(),
  };
}

/** The value of one sample in a Prometheus text exposition, NaN when absent. */
export function metric(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').pop()) : NaN;
}
