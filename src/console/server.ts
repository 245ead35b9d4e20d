import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ArkeoSignerError, InputError } from '../errors.js';
import { HttpError, isLoopbackHost } from '../http.js';
import { keyPathOf } from '../audit/index.js';
import { openNonceStore } from '../nonces/open.js';
import { type NonceStore } from '../nonces/store.js';
import { fetchChainContract, fetchSentinelNonce } from '../claims/index.js';
import { TokenStore } from '../daemon/tokens.js';
import type { DaemonConfig } from '../daemon/config.js';
import { log } from '../log.js';
import { packageRoot } from '../paths.js';
import { AuditFollower, type AuditFilter } from './audit-index.js';
import { HostCheck, parseAllowedHost, type HostName } from './hosts.js';
import { DaemonSampler } from './sampler.js';
import { TimeSlices } from './slices.js';
import { contractsView, keyNamesByAddress, keysView, publicTokens, tokensView, type PublicToken } from './views.js';
import { SettlementView, type SettlementSource } from './settlement.js';

/**
 * The operator console: a read-only web view of the daemon's audit log, nonce store, tokens and health, and of a
 * settler's store when it is given one (settlement.ts). It holds
 * no signing key and no token hash, changes nothing, and answers 401 to everything until the browser has
 * exchanged the one-time login secret (printed at start) for a session cookie.
 */
export interface ConsoleOptions {
  config: DaemonConfig;
  /** host:port; loopback unless TLS is given. Port 0 picks a free port. */
  listen?: string;
  tls?: { cert: string; key: string };
  /** How often /healthz and /metrics are sampled (default 5 s; the chart keeps an hour). */
  sampleIntervalMs?: number;
  /** How often the audit log is looked at for appends and edits (default 1 s). */
  followIntervalMs?: number;
  /** Full re-check of the chain even when the log only grew (default 15 min). */
  fullCheckMs?: number;
  /** A provider's sentinel and a chain LCD: their view of each contract's nonce, shown beside ours. */
  sentinel?: string;
  lcd?: string;
  /** How often the provider's view is fetched again (default 30 s). */
  providerRefreshMs?: number;
  /** The settler's store (and its node, for values and deadlines): the Settlement view; without it the view says how to add it. */
  settle?: SettlementSource;
  /** How often the Settlement view reads the chain again (default 30 s). */
  settleRefreshMs?: number;
  /** Other names the console answers to (NAME or NAME:PORT; the port defaults to its own): see hosts.ts. */
  allowedHosts?: string[];
  /** The console's clock, unix ms (default Date.now): session expiry and the overview's time windows. */
  now?: () => number;
}

export interface ProviderView {
  sentinel?: string;
  chain?: string;
  error?: string;
  at: number;
}

export const DEFAULT_LISTEN = '127.0.0.1:7446';
const COOKIE = 'arkeo_console';
const SESSION_MS = 12 * 3600_000;
const ASSETS: Record<string, { file: string; type: string }> = {
  '/assets/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/assets/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};
const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>arkeo-signer console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/app.css">
<script type="module" src="/assets/app.js"></script>
</head>
<body>
<div id="app"></div>
<noscript>The arkeo-signer console needs JavaScript (served by the console itself, nothing from elsewhere).</noscript>
</body>
</html>
`;
const BAD_HOST = 'bad request: expected a Host header naming this console (host:port)\n';
const UNAUTHENTICATED = 'not logged in: open the URL that arkeo-signer console printed when it started (its login secret works once; restart the console for a new one)\n';


const sha = (s: string) => createHash('sha256').update(s).digest();

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:\s[\]]+):(\d{1,5})$/.exec(listen);
  if (!m || Number(m[2]) > 65535) throw new InputError('BAD_LISTEN', `--listen: expected host:port (for example ${DEFAULT_LISTEN}), got "${listen.slice(0, 80)}"`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}


function loadAssets(): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [route, a] of Object.entries(ASSETS)) {
    // From the package root, not this file: this module also runs bundled into dist/bin/arkeo-signer.
    const file = path.join(packageRoot(), 'dist', 'src', 'console', 'web', a.file);
    try {
      out[route] = fs.readFileSync(file);
    } catch {
      throw new InputError('CONSOLE_ASSETS', `console assets missing (${file}): run npm run build, which bundles them`);
    }
  }
  return out;
}

export class ConsoleServer {
  private readonly server: http.Server;
  private readonly sessions = new Map<string, number>();
  private loginSecretHash: Buffer | undefined;
  private readonly follower: AuditFollower;
  private readonly sampler: DaemonSampler;
  private store: NonceStore | undefined;
  private storeError: string | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly assets: Record<string, Buffer>;
  private readonly secure: boolean;
  private names: { at: number; value: ReturnType<typeof keyNamesByAddress> } | undefined;
  private readonly provider = new Map<string, ProviderView>();
  private hostCheck: HostCheck | undefined;
  private readonly slices = new TimeSlices();
  private readonly now: () => number;
  private providerFetching = false;
  private providerAt = 0;
  private readonly settlement: SettlementView | undefined;
  /** The URL with the one-time login secret: print it, never log it. */
  loginUrl = '';
  url = '';

  private constructor(private readonly options: ConsoleOptions) {
    this.assets = loadAssets();
    this.now = options.now ?? Date.now;
    const { config } = options;
    const keyFile = keyPathOf(config.audit.path);
    let key: Uint8Array | undefined;
    if (fs.existsSync(keyFile)) {
      const text = fs.readFileSync(keyFile, 'utf8').trim();
      if (!/^[0-9a-f]{64}$/.test(text)) throw new InputError('AUDIT_KEY', `${keyFile}: not a 32-byte hex audit key`);
      key = new Uint8Array(Buffer.from(text, 'hex'));
    }
    this.follower = new AuditFollower(config.audit.path, key, options.fullCheckMs);
    if (options.settle) this.settlement = new SettlementView(options.settle, this.now, options.settleRefreshMs ?? 30_000);
    this.sampler = new DaemonSampler(config.listen.socket, options.sampleIntervalMs ?? 5000);
    this.secure = Boolean(options.tls);
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void this.handle(req, res);
    this.server = options.tls ? https.createServer({ cert: fs.readFileSync(options.tls.cert), key: fs.readFileSync(options.tls.key), minVersion: 'TLSv1.3' }, handler) : http.createServer(handler);
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 60_000;
  }

  static async start(options: ConsoleOptions): Promise<ConsoleServer> {
    const { host, port } = parseListen(options.listen ?? DEFAULT_LISTEN);
    if (!isLoopbackHost(host) && !options.tls) throw new InputError('BAD_LISTEN', `--listen ${host}: not a loopback address; listening beyond this host needs --tls-cert and --tls-key`);
    const allowedHosts: HostName[] = (options.allowedHosts ?? []).map(parseAllowedHost);
    const c = new ConsoleServer(options);
    await c.openStore();
    try {
      await new Promise<void>((resolve, reject) => c.server.once('error', reject).listen(port, host, () => resolve()));
    } catch (e) {
      await c.store?.close().catch(() => {});
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') throw new InputError('BAD_LISTEN', `--listen ${options.listen ?? DEFAULT_LISTEN}: cannot listen (${code})${code === 'EADDRINUSE' ? '; another console or program uses that port: pick another with --listen' : ''}`);
      throw e;
    }
    c.sampler.start();
    const follow = () => void c.follower.refresh().catch((e) => log('warn', `console: audit log ${options.config.audit.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`));
    follow();
    c.timers.push(setInterval(follow, options.followIntervalMs ?? 1000));
    const addr = c.server.address() as { address: string; port: number };
    c.hostCheck = new HostCheck([host, addr.address, ...(isLoopbackHost(host) ? ['localhost'] : [])], addr.port, allowedHosts);
    const shownHost = host.includes(':') ? `[${host}]` : host;
    c.url = `${c.secure ? 'https' : 'http'}://${shownHost}:${addr.port}/`;
    const secret = randomBytes(32).toString('base64url');
    c.loginSecretHash = sha(secret);
    c.loginUrl = `${c.url}login?secret=${secret}`;
    return c;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  /** Wait until the audit log has been read through (tests and benchmarks). */
  async ready(): Promise<void> {
    await this.follower.refresh();
    while (this.follower.indexing) await this.follower.refresh();
  }

  private async openStore(): Promise<void> {
    if (this.store) return;
    const { nonces, keyring } = this.options.config;
    try {
      this.store = await openNonceStore(nonces.store, keyring.home, { readOnly: true });
      this.storeError = undefined;
    } catch (e) {
      this.storeError = (e as Error).message;
    }
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.sampler.stop();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
    await this.follower.refresh().catch(() => {});
    await this.store?.close().catch(() => {});
    await this.settlement?.close();
  }

  // ------------------------------------------------------------------------------------------------ requests

  private session(req: http.IncomingMessage): boolean {
    const cookie = req.headers.cookie ?? '';
    const m = new RegExp(`(?:^|;\\s*)${COOKIE}=([A-Za-z0-9_-]{43})(?:;|$)`).exec(cookie);
    if (!m) return false;
    const id = sha(m[1]!).toString('hex');
    const until = this.sessions.get(id);
    if (until === undefined) return false;
    if (until < this.now()) {
      this.sessions.delete(id);
      return false;
    }
    return true;
  }

  private login(url: URL, res: http.ServerResponse): void {
    const secret = url.searchParams.get('secret') ?? '';
    const ok = this.loginSecretHash !== undefined && timingSafeEqual(sha(secret), this.loginSecretHash);
    if (!ok) return text(res, 401, UNAUTHENTICATED);
    this.loginSecretHash = undefined; // one time only
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(sha(id).toString('hex'), this.now() + SESSION_MS);
    res.writeHead(303, {
      ...SECURITY_HEADERS,
      location: '/',
      'set-cookie': `${COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_MS / 1000}${this.secure ? '; Secure' : ''}`,
    });
    res.end();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      // Before anything else, the login included: a request for another host is a DNS-rebinding page's.
      const host = this.hostCheck?.check(req.headers.host) ?? 421;
      if (host === 400) return text(res, 400, BAD_HOST);
      if (host === 421) return text(res, 421, `misdirected request: this console does not answer to the host "${req.headers.host}"; if that is its name, start it with --allowed-host ${req.headers.host}\n`);
      // The absolute form (GET http://host/path) names its own host, which browsers never send to a server.
      if (!req.url?.startsWith('/')) return text(res, 400, 'bad request: the request target must be a path\n');
      const url = new URL(req.url, 'http://console');
      if (url.pathname === '/login' && req.method === 'GET') return this.login(url, res);
      if (!this.session(req)) return text(res, 401, UNAUTHENTICATED);
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${req.method ?? 'this method'}: the console is read-only; changes are made with the arkeo-signer CLI`);
      const asset = this.assets[url.pathname];
      if (asset) {
        res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': ASSETS[url.pathname]!.type, 'content-length': asset.length });
        res.end(asset);
        return;
      }
      switch (url.pathname) {
        case '/':
          res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8' });
          res.end(INDEX_HTML);
          return;
        case '/api/overview':
          return json(res, await this.overview());
        case '/api/keys':
          return json(res, await this.keys());
        case '/api/contracts':
          return json(res, await this.contracts());
        case '/api/tokens':
          return json(res, this.tokens());
        case '/api/settlement':
          return json(res, this.settlement ? await this.settlement.view() : { configured: false });
        case '/api/audit':
          return json(res, await this.audit(url));
        case '/api/audit/export':
          return await this.export(url, res);
        default:
          throw new HttpError(404, 'NOT_FOUND', `${url.pathname.slice(0, 80)}: no such page or API`);
      }
    } catch (e) {
      const status = e instanceof HttpError ? e.status : e instanceof InputError ? 400 : 500;
      const message = e instanceof ArkeoSignerError ? e.message : 'internal error';
      if (status === 500) log('error', `console: ${(e as Error)?.name ?? 'error'} serving ${req.method} ${(req.url ?? '').split('?')[0]!.slice(0, 80)}`);
      if (!res.headersSent) json(res, { error: message.split('\n')[0] }, status, status === 405 ? { allow: 'GET, HEAD' } : {});
      else res.destroy();
    }
  }

  /** Key names by address (the keyring's address index), re-read at most every 30 s. */
  private keyNames(): ReturnType<typeof keyNamesByAddress> {
    if (!this.names || this.now() - this.names.at > 30_000) this.names = { at: this.now(), value: keyNamesByAddress(this.options.config) };
    return this.names.value;
  }

  private readTokens(): { tokens: PublicToken[]; error?: string } {
    try {
      return { tokens: publicTokens(TokenStore.load(this.options.config.tokens.path).list()) };
    } catch (e) {
      return { tokens: [], error: (e as Error).message };
    }
  }

  private async overview() {
    await this.openStore();
    const index = this.follower.index;
    const health = this.sampler.health;
    const integrity = this.follower.integrity();
    const alerts: { level: 'error' | 'warning'; text: string; command?: string }[] = [];
    const body = health.body ?? {};
    if (!health.reachable) alerts.push({ level: 'error', text: health.error ?? 'daemon unreachable', command: 'arkeo-signer daemon start --config …' });
    if (health.reachable && body.audit !== undefined && body.audit !== 'ok') alerts.push({ level: 'error', text: `audit log unhealthy: ${String(body.audit)}`, command: 'restart the daemon (it signs nothing until then)' });
    if (!integrity.ok) alerts.push({ level: 'error', text: `audit trail broken at seq ${integrity.brokenAt}: ${integrity.problem}`, command: `arkeo-signer audit verify ${this.options.config.audit.path}` });
    if (this.storeError) alerts.push({ level: 'error', text: `nonce store unavailable to the console: ${this.storeError}` });
    if (health.reachable && body.nonce_store !== undefined && body.nonce_store !== 'ok') alerts.push({ level: 'error', text: `nonce store unavailable: ${String(body.nonce_store)}` });
    for (const c of this.store ? await contractsView(index, this.store, this.keyNames().names).catch(() => []) : []) {
      if (c.fraction !== undefined && c.fraction >= 0.8)
        alerts.push({ level: 'warning', text: `contract ${c.contract} (${c.key ?? c.signer}): ${Math.round(c.fraction * 100)} % of its spend ceiling used`, command: `arkeo-signer claim contract add --id ${c.contract} --lcd URL (after a deposit is added on chain)` });
    }
    const fiveMin = this.now() - 5 * 60_000;
    const audited401 = index.statusesSince(fiveMin).get(401) ?? 0;
    const authBurst = Math.max(audited401, this.sampler.authFailuresSince(5 * 60_000));
    if (authBurst >= 10) alerts.push({ level: 'warning', text: `${authBurst} authentication failures in the last 5 minutes`, command: 'arkeo-signer daemon token list; revoke with arkeo-signer daemon token revoke NAME' });
    const hour = index.statusesSince(this.now() - 3600_000);
    const refusals = [401, 403, 429, 503].map((s) => ({ status: s, lastHour: hour.get(s) ?? 0, total: index.statusTotals.get(s) ?? 0 }));
    return { health, samples: this.sampler.samples, sampleIntervalMs: this.options.sampleIntervalMs ?? 5000, refusals, alerts, integrity, auditEntries: index.count };
  }

  private async keys() {
    await this.openStore();
    const { names, note } = this.keyNames();
    const { tokens, error } = this.readTokens();
    const signers = this.store ? [...new Set((await this.store.list()).map((r) => r.signer))] : [];
    const metricKeys = [...new Set(this.sampler.metrics.filter((l) => l.name === 'arkeo_signer_signatures_total').map((l) => l.labels.key ?? ''))];
    return { keys: keysView(this.follower.index, names, tokens, signers, metricKeys), notes: [note, error].filter(Boolean), keyCount: this.sampler.health.body?.key_count };
  }

  private async contracts() {
    await this.openStore();
    if (!this.store) return { contracts: [], error: this.storeError };
    const { names } = this.keyNames();
    const contracts = await contractsView(this.follower.index, this.store, names);
    const configured = Boolean(this.options.sentinel || this.options.lcd);
    if (configured && this.now() - this.providerAt > (this.options.providerRefreshMs ?? 30_000)) void this.fetchProviderView([...new Set(contracts.map((c) => c.contract))]);
    return {
      contracts: contracts.map((c) => ({ ...c, provider: configured ? (this.provider.get(c.contract) ?? { at: 0 }) : undefined })),
      providerConfigured: configured,
      store: this.store.description.replace(/:\/\/[^@/]*@/, '://'),
    };
  }

  /** The sentinel's and the chain's nonce for each contract, fetched in the background (bounded: 5 s, 1 MiB each). */
  private async fetchProviderView(ids: string[]): Promise<void> {
    if (this.providerFetching) return;
    this.providerFetching = true;
    this.providerAt = this.now();
    try {
      for (const id of ids.slice(0, 200)) {
        const view: ProviderView = { at: this.now() };
        const problems: string[] = [];
        if (this.options.sentinel) view.sentinel = String(await fetchSentinelNonce(this.options.sentinel, BigInt(id)).catch((e) => (problems.push((e as Error).message), '')));
        if (this.options.lcd) view.chain = String(await fetchChainContract(this.options.lcd, BigInt(id)).then((c) => c.nonce).catch((e) => (problems.push((e as Error).message), '')));
        if (view.sentinel === '') delete view.sentinel;
        if (view.chain === '') delete view.chain;
        if (problems.length) view.error = problems.join('; ').slice(0, 300);
        this.provider.set(id, view);
      }
    } finally {
      this.providerFetching = false;
    }
  }

  private tokens() {
    const { tokens, error } = this.readTokens();
    return { tokens: tokensView(this.follower.index, tokens), error, file: this.options.config.tokens.path };
  }

  private filterOf(url: URL, extra: string[]): AuditFilter {
    const known = ['from', 'to', 'token', 'key', 'op', 'contract', 'result', ...extra];
    for (const k of url.searchParams.keys()) if (!known.includes(k)) throw new HttpError(400, 'BAD_PARAMETER', `unknown parameter "${k.slice(0, 32)}" (expected ${known.join(', ')})`);
    const f: AuditFilter = {};
    for (const k of ['token', 'key', 'op', 'contract', 'result'] as const) {
      const v = url.searchParams.get(k);
      if (v === null || v === '') continue;
      if (v.length > 200) throw new HttpError(400, 'BAD_PARAMETER', `${k}: longer than 200 characters`);
      f[k] = v;
    }
    for (const k of ['from', 'to'] as const) {
      const v = url.searchParams.get(k);
      if (v === null || v === '') continue;
      const t = Date.parse(v);
      if (!Number.isFinite(t)) throw new HttpError(400, 'BAD_PARAMETER', `${k}: expected a date and time (ISO 8601), got "${v.slice(0, 40)}"`);
      f[k] = t;
    }
    if (f.from !== undefined && f.to !== undefined && f.from > f.to) throw new HttpError(400, 'BAD_PARAMETER', 'from: after to');
    return f;
  }

  private async audit(url: URL) {
    const f = this.filterOf(url, ['page', 'limit']);
    const page = intParam(url, 'page', 0, 0, 10_000_000);
    const limit = intParam(url, 'limit', 50, 1, 500);
    const index = this.follower.index;
    // The total needs a scan of every entry: in slices, taking turns with other requests (see TimeSlices).
    await this.slices.next();
    const { total, rows } = await index.query(f, page * limit, limit, () => this.slices.pause());
    const entries = index.read(rows).map((line) => {
      try {
        return JSON.parse(line) as object;
      } catch {
        return { unreadable: line.slice(0, 2000) };
      }
    });
    return { total, page, limit, entries, integrity: this.follower.integrity(), values: index.values(), keyNames: Object.fromEntries(this.keyNames().names), logFile: this.options.config.audit.path };
  }

  private async export(url: URL, res: http.ServerResponse): Promise<void> {
    const f = this.filterOf(url, ['format']);
    const format = url.searchParams.get('format') ?? 'jsonl';
    if (format !== 'csv' && format !== 'jsonl') throw new HttpError(400, 'BAD_PARAMETER', `format: expected csv or jsonl, got "${format.slice(0, 20)}"`);
    const index = this.follower.index;
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
      'content-disposition': `attachment; filename="audit-${new Date().toISOString().replace(/[:.]/g, '-')}.${format}"`,
    });
    if (format === 'csv') res.write(CSV_COLUMNS.join(',') + '\n');
    // In slices that take turns with other requests, and no faster than the client reads: at most EXPORT_BUFFERED
    // bytes wait in memory for its socket.
    await this.slices.next();
    for await (const rows of index.matches(f, () => this.slices.pause())) {
      const lines = index.read(rows);
      res.write(format === 'csv' ? lines.map(csvRow).join('') : lines.map((l) => l + '\n').join(''));
      if (!res.destroyed && res.writableLength < EXPORT_BUFFERED) continue;
      if (!(await drained(res))) return; // the client went away: stop, rather than wait for a drain that never comes
      await this.slices.next();
    }
    res.end();
  }
}

function intParam(url: URL, name: string, def: number, min: number, max: number): number {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return def;
  if (!/^\d{1,9}$/.test(v) || Number(v) < min || Number(v) > max) throw new HttpError(400, 'BAD_PARAMETER', `${name}: expected a whole number from ${min} to ${max}`);
  return Number(v);
}

const EXPORT_BUFFERED = 1 << 20;
const CSV_COLUMNS = ['seq', 'ts', 'token', 'transport', 'uid', 'pid', 'remote', 'op', 'key', 'address', 'contract', 'nonce', 'msg_sha256', 'result', 'status', 'reason', 'latency_us'];

function csvField(v: unknown): string {
  if (v === undefined || v === null) return '';
  let s = String(v);
  // A spreadsheet must not run a cell as a formula.
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csvRow(line: string): string {
  let e: Record<string, any>;
  try {
    e = JSON.parse(line) as Record<string, any>;
  } catch {
    return `${csvField('(unreadable line)')}\n`;
  }
  const who = e.who ?? {};
  const what = e.what ?? {};
  const values = [e.seq, e.ts, who.token, who.transport, who.uid, who.pid, who.remote, what.op, what.key, what.address, what.contract, what.nonce, what.msg_sha256, e.result, e.status, e.reason, e.latency_us];
  return values.map(csvField).join(',') + '\n';
}

/** Resolves true once the client has read what was written, false if the connection closed first. */
function drained(res: http.ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    if (res.destroyed || !res.socket || res.socket.destroyed) return resolve(false);
    const settle = (ok: boolean) => () => {
      res.off('drain', onDrain).off('close', onClose);
      resolve(ok);
    };
    const onDrain = settle(true);
    const onClose = settle(false);
    res.on('drain', onDrain).on('close', onClose);
  });
}

function text(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function json(res: http.ServerResponse, body: unknown, status = 200, headers: http.OutgoingHttpHeaders = {}): void {
  const t = JSON.stringify(body, (_k, v) => (typeof v === 'bigint' ? String(v) : v === Infinity ? 'Infinity' : v));
  res.writeHead(status, { ...SECURITY_HEADERS, ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(t) });
  res.end(t);
}
