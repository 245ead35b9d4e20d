import * as https from 'node:https';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { OVERSIZED_REPLY_PADDING, signWithFaults, takeFault, type ReplyFaults, type SignatureFaults } from './cloud-faults.js';

/**
 * AZURE KEY VAULT TEST SERVER, written for our tests: NOT Azure Key Vault and not an emulator of it. No Key Vault
 * emulator with P-256K signing can be had from the registries this project reaches (lowkey-vault's jar is not
 * served here), so this serves the few Key Vault REST calls our signer and createAzureKvKey make, in the shapes
 * the Key Vault REST reference documents: create an EC key (POST /keys/{name}/create), get a key, sign
 * (POST /keys/{name}/{version}/sign, ES256K over the digest as given, raw r||s base64url), update attributes
 * (PATCH, to disable), delete (DELETE /keys/{name}, GET /deletedkeys/{name}). It answers an unauthenticated
 * request with 401 and a Bearer challenge, as Key Vault does, and then requires the one token the test hands it.
 * Signatures are made with @noble/curves with a random nonce and without low-S normalisation (about half come
 * out high-S), as real Key Vault's are not normalised either; HTTPS with a self-signed certificate made by openssl.
 * Test knobs (cloud-faults.ts): `corruptSignature`, `otherKeySignature`, `oversizedReplies` and `stalledReplies`
 * spoil the next N sign answers.
 */
interface KeyVersion {
  version: string;
  priv: Uint8Array;
  enabled: boolean;
  created: number;
}
export interface AzureKvTestServer extends SignatureFaults, ReplyFaults {
  url: string;
  port: number;
  /** PEM of the server's self-signed certificate, to trust in the client (ca option or NODE_EXTRA_CA_CERTS). */
  ca: string;
  tls: { key: string; cert: string };
  keys: Map<string, KeyVersion[]>;
  signs: number;
  highS: number;
  /** Stop listening and drop every connection (a killed server); state is kept for start(). */
  stop(): Promise<void>;
  /** Listen again on the same port. */
  start(): Promise<void>;
}

export function hasOpenssl(): boolean {
  return spawnSync('openssl', ['version']).status === 0;
}

function selfSignedCert(dir: string): { key: string; cert: string } {
  const keyFile = path.join(dir, 'kv.key');
  const certFile = path.join(dir, 'kv.crt');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  return { key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(certFile, 'utf8') };
}

const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');

export async function startAzureKvTestServer(options: { token: string; dir: string }): Promise<AzureKvTestServer> {
  const tls = selfSignedCert(options.dir);
  const keys = new Map<string, KeyVersion[]>();
  const deleted = new Map<string, KeyVersion[]>();
  const sockets = new Set<Socket>();
  let port = 0;
  const state: AzureKvTestServer = {
    url: '',
    port: 0,
    ca: tls.cert,
    tls,
    keys,
    signs: 0,
    highS: 0,
    corruptSignature: 0,
    otherKeySignature: 0,
    oversizedReplies: 0,
    stalledReplies: 0,
    stop: async () => {},
    start: async () => {},
  };

  const bundle = (base: string, name: string, v: KeyVersion) => {
    const pub = secp256k1.getPublicKey(v.priv, false);
    return {
      key: { kid: `${base}/keys/${name}/${v.version}`, kty: 'EC', crv: 'P-256K', key_ops: ['sign', 'verify'], x: b64u(pub.subarray(1, 33)), y: b64u(pub.subarray(33, 65)) },
      attributes: { enabled: v.enabled, created: v.created, updated: v.created, recoveryLevel: 'Recoverable+Purgeable', recoverableDays: 90 },
    };
  };

  const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown) => {
        const text = JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'x-ms-keyvault-service-version': 'test-server' });
        res.end(text);
      };
      const fail = (status: number, code: string, message: string, inner?: string) => send(status, { error: { code, message, ...(inner ? { innererror: { code: inner } } : {}) } });
      const auth = req.headers.authorization;
      if (!auth) {
        res.writeHead(401, { 'www-authenticate': `Bearer authorization="https://login.example.invalid/test-tenant", resource="https://vault.azure.net"`, 'content-length': '0' });
        res.end();
        return;
      }
      if (auth !== `Bearer ${options.token}`) return fail(401, 'Unauthorized', 'AKV10022: Invalid audience or token.');
      const base = `https://${req.headers.host}`;
      const url = new URL(req.url ?? '/', base);
      let body: Record<string, unknown> = {};
      try {
        if (chunks.length) body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        return fail(400, 'BadParameter', 'The request body is not valid JSON.');
      }
      const parts = url.pathname.split('/').filter(Boolean);
      const method = req.method ?? 'GET';
      if (parts[0] === 'deletedkeys' && parts.length === 2 && method === 'GET') {
        const d = deleted.get(parts[1]!);
        if (!d) return fail(404, 'KeyNotFound', `Deleted Key not found: ${parts[1]}`);
        return send(200, { ...bundle(base, parts[1]!, d.at(-1)!), recoveryId: `${base}/deletedkeys/${parts[1]}`, deletedDate: Math.floor(Date.now() / 1000) });
      }
      if (parts[0] !== 'keys' || parts.length < 2) return fail(404, 'NotFound', 'no such route on this test server');
      const name = parts[1]!;
      if (parts[2] === 'create' && method === 'POST') {
        if (body.kty !== 'EC' && body.kty !== 'EC-HSM') return fail(400, 'BadParameter', 'this test server creates EC keys only');
        if (body.crv !== 'P-256K') return fail(400, 'BadParameter', 'this test server creates curve P-256K only');
        const v: KeyVersion = { version: randomBytes(16).toString('hex'), priv: secp256k1.utils.randomSecretKey(), enabled: true, created: Math.floor(Date.now() / 1000) };
        keys.set(name, [...(keys.get(name) ?? []), v]);
        return send(200, bundle(base, name, v));
      }
      const versions = keys.get(name);
      if (method === 'DELETE' && parts.length === 2) {
        if (!versions) return fail(404, 'KeyNotFound', `A key with (name/id) ${name} was not found in this key vault.`);
        keys.delete(name);
        deleted.set(name, versions);
        return send(200, { ...bundle(base, name, versions.at(-1)!), recoveryId: `${base}/deletedkeys/${name}`, deletedDate: Math.floor(Date.now() / 1000) });
      }
      const wanted = parts[2];
      const v = versions && (wanted ? versions.find((x) => x.version === wanted) : versions.at(-1));
      if (!v) return fail(404, 'KeyNotFound', `A key with (name/id) ${name}${wanted ? `/${wanted}` : ''} was not found in this key vault.`);
      if (method === 'PATCH' && parts.length === 3) {
        const attrs = body.attributes as { enabled?: boolean } | undefined;
        if (attrs && typeof attrs.enabled === 'boolean') v.enabled = attrs.enabled;
        return send(200, bundle(base, name, v));
      }
      if (!v.enabled) return fail(403, 'Forbidden', `Operation ${parts[3] ?? 'get'} is not allowed on a disabled key.`, 'KeyDisabled');
      if (method === 'GET' && parts.length <= 3) return send(200, bundle(base, name, v));
      if (method === 'POST' && parts[3] === 'sign' && parts.length === 4) {
        if (body.alg !== 'ES256K') return fail(400, 'BadParameter', `Algorithm ${String(body.alg)} is not valid for a P-256K key.`);
        const digest = Buffer.from(String(body.value ?? ''), 'base64url');
        if (digest.length !== 32) return fail(400, 'BadParameter', 'ES256K requires a 32-byte digest.');
        // Random-k (extraEntropy) and no low-S normalisation: as a real HSM-backed service answers.
        const sig = signWithFaults(state, digest, v.priv);
        state.signs++;
        if (secp256k1.Signature.fromBytes(sig, 'compact').hasHighS()) state.highS++;
        const reply = { kid: `${base}/keys/${name}/${v.version}`, value: b64u(sig) };
        if (takeFault(state, 'oversizedReplies')) return send(200, { ...reply, padding: 'x'.repeat(OVERSIZED_REPLY_PADDING) });
        if (takeFault(state, 'stalledReplies')) {
          const text = JSON.stringify(reply);
          res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
          res.write(text.slice(0, 10)); // and nothing more, until stop() drops the connection
          return;
        }
        return send(200, reply);
      }
      return fail(405, 'MethodNotAllowed', 'not served by this test server');
    });
  };

  let server: https.Server | undefined;
  const start = async () => {
    server = https.createServer({ key: tls.key, cert: tls.cert }, handler);
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server!.listen(port, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
    state.port = port;
    state.url = `https://127.0.0.1:${port}`;
  };
  state.start = start;
  state.stop = async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    for (const sock of sockets) sock.destroy();
    await new Promise<void>((r) => s.close(() => r()));
  };
  await start();
  return state;
}
