import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import type { Readable } from 'node:stream';
import { ArkeoSignerError, InputError } from '../errors.js';
import { NonceStoreError, type NonceStore } from '../nonces/store.js';
import { isLoopbackHost, sendJson } from '../http.js';
import { log } from '../log.js';
import { ClaimPolicyError } from '../claims/service.js';
import { MAX_REQUEST_BODY, PayerError, type OutgoingRequest, type PaidReply, type Payer } from './payer.js';
import type { ProxyMetrics } from './metrics.js';
import type { ProxyAudit } from './audit.js';

/** When a spend velocity refusal says the next claim is possible (ours, or the key daemon's for its token). */
const retryAfterOf = (e: unknown): number | undefined => (e as { retryAfterSeconds?: number }).retryAfterSeconds;

/**
 * The local signing proxy: an unchanged application talks plain HTTP to a loopback port (or a unix socket); each
 * request goes to the sentinel's /{service}/… with a fresh claim, and the reply streams back. `GET /healthz` and
 * `GET /metrics` are answered here.
 */
export interface Listen {
  host?: string;
  port?: number;
  socket?: string;
}

/** `127.0.0.1:8080`, `[::1]:8080`, `localhost:8080`, `unix:/path` or `/path`. Only loopback: whoever reaches the port spends the deposit. */
export function parseListen(text: string): Listen {
  if (text.startsWith('unix:') || text.startsWith('/')) {
    const socket = text.replace(/^unix:/, '');
    if (!socket.startsWith('/')) throw new InputError('BAD_LISTEN', `--listen: unix socket path must be absolute, got "${socket}"`);
    return { socket };
  }
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$/.exec(text);
  if (!m) throw new InputError('BAD_LISTEN', `--listen: expected 127.0.0.1:PORT, [::1]:PORT or unix:/path, got "${text.slice(0, 100)}"`);
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (port > 65535) throw new InputError('BAD_LISTEN', `--listen: port ${port} out of range`);
  if (!isLoopbackHost(host)) throw new InputError('BAD_LISTEN', `--listen: ${host} is not a loopback address; anyone who can reach the proxy spends your deposit, so it listens on 127.0.0.1, ::1 or a unix socket only`);
  return { host, port };
}

const RESPONSE_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'trailer', 'upgrade']);

export interface ProxyRoute {
  listen: Listen;
  /** One contract (ContractPayer) or a pool of them (PoolPayer). */
  payer: Payer;
}

export interface ProxyServerOptions {
  routes: ProxyRoute[];
  store: NonceStore;
  metrics: ProxyMetrics;
  /**
   * The proxy's audit log, when it signs with its own keys (the payers' claim sources write the claim entries): the
   * sentinel's answer to each claim is recorded here, and /healthz reports the log.
   */
  audit?: ProxyAudit;
}


function readBody(req: http.IncomingMessage): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_REQUEST_BODY) return resolve('too-large');
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_REQUEST_BODY) over = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(over ? 'too-large' : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export class SigningProxy {
  private readonly servers: http.Server[] = [];
  private inFlight = 0;
  private drained: (() => void) | undefined;
  private stopping = false;

  private constructor(private readonly options: ProxyServerOptions) {}

  static async start(options: ProxyServerOptions): Promise<SigningProxy> {
    const proxy = new SigningProxy(options);
    try {
      for (const route of options.routes) proxy.servers.push(await proxy.listen(route));
    } catch (e) {
      await proxy.stop(0);
      throw e;
    }
    return proxy;
  }

  /** Where each route listens: `http://127.0.0.1:PORT` or `unix:/path`. */
  addresses(): string[] {
    return this.servers.map((s) => {
      const a = s.address();
      return typeof a === 'string' ? `unix:${a}` : a ? `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : '';
    });
  }

  private async listen(route: ProxyRoute): Promise<http.Server> {
    // keepAliveTimeout above common client pools' idle time, so a reused connection is rarely closed under them.
    const server = http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 120_000 }, (req, res) => void this.handle(route.payer, req, res));
    server.on('upgrade', (req, socket) => {
      // Not proxied: see docs/decisions/proxy-no-websockets.md (the spec does not document websocket proxying, and one claim would pay for a stream).
      socket.end('HTTP/1.1 501 Not Implemented\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{"error":"websocket upgrades are not proxied; use HTTP requests","code":"NO_WEBSOCKETS"}\n');
    });
    const { socket, host, port } = route.listen;
    if (socket && fs.existsSync(socket)) {
      // A socket left by a killed proxy is removed only if nothing answers on it (a running proxy keeps its own).
      const alive = await new Promise<boolean>((r) => {
        const c = net.connect(socket, () => (c.destroy(), r(true)));
        c.on('error', () => r(false));
      });
      if (alive) throw new InputError('LISTEN_IN_USE', `${socket}: another process is listening there`);
      fs.unlinkSync(socket);
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(new InputError('LISTEN_FAILED', `cannot listen on ${socket ?? `${host}:${port}`}: ${e.code ?? e.message}`)));
      if (socket) server.listen(socket, resolve);
      else server.listen(port, host, resolve);
    });
    if (socket) fs.chmodSync(socket, 0o600);
    return server;
  }

  private async handle(payer: Payer, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = performance.now();
    const m = this.options.metrics;
    const path = req.url ?? '/';
    const bare = path.split('?')[0]!;
    let status = 0;
    let tier = 'none';
    let note = '';
    this.inFlight++;
    try {
      if (req.method === 'GET' && (bare === '/healthz' || bare === '/metrics')) {
        if (bare === '/metrics') {
          const text = await m.registry.metrics();
          res.writeHead((status = 200), { 'content-type': m.registry.contentType });
          res.end(text);
        } else await this.health(res).then((s) => (status = s));
        return;
      }
      if (this.stopping) {
        sendJson(res, (status = 503), { error: 'the proxy is stopping', code: 'STOPPING' }, { close: true });
        return;
      }
      const body = await readBody(req);
      if (body === 'too-large') {
        sendJson(res, (status = 413), { error: `request body larger than ${MAX_REQUEST_BODY} bytes (the sentinel's cap); nothing was signed`, code: 'BODY_TOO_LARGE' }, { close: true });
        return;
      }
      const out: OutgoingRequest = { method: req.method ?? 'GET', path, headers: req.headers, body };
      let reply: PaidReply | { status: number; headers: http.IncomingHttpHeaders; body: Readable };
      if (req.method === 'OPTIONS') {
        const r = await payer.sendUnpaid(out);
        reply = { status: r.statusCode ?? 502, headers: r.headers, body: r };
      } else reply = await payer.send(out);
      status = reply.status;
      if ('nonce' in reply && reply.nonce !== undefined) this.options.audit?.replied(payer.name, payer.payers.find((p) => p.contractId === reply.contractId)?.address, reply);
      tier = typeof reply.headers.tier === 'string' ? reply.headers.tier : 'none';
      if ('nonce' in reply && reply.nonce !== undefined) note = ` contract=${reply.contractId} nonce=${reply.nonce} consumed=${reply.consumed}${reply.resynced ? ' resynced' : ''}${reply.reused ? ' resent' : ''}`;
      else if ('contractId' in reply) note = ` contract=${reply.contractId} stopped`;
      const headers: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(reply.headers)) if (v !== undefined && !RESPONSE_HOP_BY_HOP.has(k)) headers[k] = v;
      if (Buffer.isBuffer(reply.body)) {
        headers['content-length'] = reply.body.length;
        res.writeHead(status, headers);
        m.latency.observe({ upstream: payer.name }, (performance.now() - started) / 1000);
        res.end(reply.body);
      } else {
        const upstream = reply.body;
        res.writeHead(status, headers);
        m.latency.observe({ upstream: payer.name }, (performance.now() - started) / 1000);
        // Stream: a slow client slows the upstream read (backpressure); a client that leaves ends the upstream read.
        await new Promise<void>((resolve) => {
          upstream.pipe(res);
          upstream.on('error', () => (res.destroy(), resolve()));
          res.on('close', () => (upstream.destroy(), resolve()));
        });
        return;
      }
    } catch (e) {
      const [code, message] = [(e as { code?: string }).code ?? 'ERROR', (e as Error).message];
      if (e instanceof PayerError && e.code === 'SENTINEL_UNREACHABLE') {
        status = 502;
        // A claim was signed for it and may have reached the sentinel.
        this.options.audit?.replied(payer.name, undefined, { error: message });
      }
      else if (e instanceof PayerError && e.code === 'SENTINEL_BUSY') status = 504;
      else if (e instanceof PayerError && e.code === 'BODY_TOO_LARGE') status = 413;
      // A spend velocity limit (ours, or the daemon's for its token): not now, and nothing was signed.
      // (SpendVelocityError here, or the daemon's DaemonError carrying its Retry-After: 429 with it, 403 without.)
      else if (code === 'SPEND_VELOCITY') status = retryAfterOf(e) === undefined ? 403 : 429;
      else if (e instanceof NonceStoreError) status = 503; // fail closed: no durable nonce, no signature
      // Fail closed too: a claim whose audit entry is not durable never leaves (its nonce is given back).
      else if (e instanceof ArkeoSignerError && e.code === 'AUDIT_UNAVAILABLE') status = 503;
      // Our own refusal to sign (the wrong key or header form for the contract): the app sees why, as the daemon says it.
      else if (e instanceof ClaimPolicyError) status = 403;
      else status = 500;
      note = ` error=${code}`;
      const wait = code === 'SPEND_VELOCITY' ? retryAfterOf(e) : undefined;
      if (!res.headersSent) sendJson(res, status, { error: status === 500 && !(e instanceof PayerError) ? `internal error (${(e as Error).name})` : message, code }, wait !== undefined ? { headers: { 'retry-after': String(wait) } } : {});
      else res.destroy();
    } finally {
      m.requests.inc({ upstream: payer.name, status: String(status), tier });
      // One line per request; the path without its query (it may carry an API key), never a claim.
      log('info', `proxy ${payer.name}: ${req.method} ${bare.slice(0, 200)} ${status} tier=${tier}${note} ${(performance.now() - started).toFixed(1)}ms`);
      if (--this.inFlight === 0) this.drained?.();
    }
  }

  private async health(res: http.ServerResponse): Promise<number> {
    // Every contract, a pool's members one by one: which key pays, how busy it is, and whether it still can.
    const contracts = this.options.routes.flatMap((r) => r.payer.contracts().map((c) => ({ upstream: r.payer.name, ...c })));
    const audit = this.options.audit?.health();
    const fields = audit?.fields ?? {};
    try {
      await this.options.store.check();
    } catch (e) {
      sendJson(res, 503, { status: 'unavailable', reason: (e as Error).message, contracts, ...fields });
      return 503;
    }
    if (audit?.problem) {
      sendJson(res, 503, { status: 'unavailable', reason: `${audit.problem}; nothing is signed`, contracts, ...fields });
      return 503;
    }
    const stopped = contracts.filter((c) => c.stopped);
    if (stopped.length === contracts.length) {
      sendJson(res, 503, { status: 'unavailable', reason: `no contract can pay: ${stopped.map((c) => `${c.contract} ${c.stopped}`).join(', ')}`, contracts, ...fields });
      return 503;
    }
    sendJson(res, 200, { status: 'ok', contracts, ...fields });
    return 200;
  }

  /**
   * Graceful stop: no new connections; requests in flight finish (up to `graceMs`); idle keep-alive connections
   * close; then each payer gives back an unconsumed claim and its unused nonces.
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    const closed = this.servers.map((s) => new Promise<void>((r) => s.close(() => r())));
    for (const s of this.servers) s.closeIdleConnections();
    if (this.inFlight > 0) {
      await Promise.race([new Promise<void>((r) => (this.drained = r)), new Promise((r) => setTimeout(r, graceMs).unref())]);
    }
    for (const s of this.servers) s.closeAllConnections();
    await Promise.all(closed);
    for (const r of this.options.routes) await r.payer.close();
  }
}
