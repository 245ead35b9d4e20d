import * as http from 'node:http';
import * as net from 'node:net';
import * as fs from 'node:fs';
import { Keyring } from '../../src/keyring/index.js';
import { SignerDaemon, TokenStore, defaultConfig, parsePolicy, type DaemonConfig } from '../../src/daemon/index.js';
import { parseHex } from '../../src/crypto/index.js';
import { tempDir } from '../helpers.js';

/** A daemon in this process on a temp home, with keys imported from hex and tokens made from policies. */
export interface TestDaemon {
  daemon: SignerDaemon;
  config: DaemonConfig;
  home: string;
  tokens: Record<string, string>;
  socket: string;
}

/** `tweak` may change the config, and (awaited) add records to the keyring at `c.keyring.home` before the start. */
export async function startTestDaemon(keys: Record<string, string>, policies: Record<string, object>, tweak: (c: DaemonConfig) => unknown = () => {}): Promise<TestDaemon> {
  const home = tempDir();
  const kr = Keyring.open({ backend: 'test', dir: home });
  for (const [name, hex] of Object.entries(keys)) await kr.importPrivateKey(name, parseHex(hex, 'test key'));
  const config = defaultConfig(home);
  await tweak(config);
  const store = TokenStore.load(config.tokens.path);
  const tokens: Record<string, string> = {};
  for (const [name, p] of Object.entries(policies)) tokens[name] = store.create(name, parsePolicy(p));
  const daemon = await SignerDaemon.start(config);
  return { daemon, config, home, tokens, socket: config.listen.socket };
}

export interface RawReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json?: Record<string, unknown>;
}

/** One request over the unix socket with full control of headers and body. */
export function rawRequest(socket: string, method: string, urlPath: string, opts: { token?: string; body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath: socket, method, path: urlPath, agent: false, headers: { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          let json;
          try {
            json = JSON.parse(body);
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
        });
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Open a connection and send only part of the headers; resolves with how long the server took to close it. */
export function slowHeaders(socket: string, maxWaitMs: number): Promise<{ closedAfterMs: number; response: string }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const c = net.connect(socket, () => c.write('POST /v1/claims HTTP/1.1\r\nHost: x\r\nX-Slow: '));
    let response = '';
    c.on('data', (d) => (response += d.toString()));
    const done = () => resolve({ closedAfterMs: performance.now() - started, response });
    c.on('close', done);
    c.on('error', () => {});
    setTimeout(() => c.destroy(), maxWaitMs);
  });
}

/** The audit log's entries, parsed. */
export function auditEntries(config: DaemonConfig): Record<string, any>[] {
  return fs.readFileSync(config.audit.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}
