import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { ArkeoSignerError, CryptoError, InputError, type ErrorContext } from '../errors.js';
import { sha256Hex, curveEngineNote } from '../crypto/secp256k1.js';
import { toBech32PubKey } from '../crypto/address.js';
import { toHex, utf8, parseHex } from '../crypto/bytes.js';
import { Keyring, type PassphraseSource } from '../keyring/keyring.js';
import { SigningThread, KmsError, type PinSource } from '../signers/index.js';
import { backendOf, describeServed, servedBackends, type KeyBackend, type KeySigner, type OpenSignerOptions, type Serving } from '../keys/index.js';
import { ClaimSigner, ClaimPolicyError, claimSigner, parseContractId, parseDecimal, readDelegates, MAX_INT64 } from '../claims/index.js';
import { defaultNonceStorePath, openNonceStore } from '../nonces/open.js';
import { NonceStoreError, SpendVelocityError, type NonceStore } from '../nonces/store.js';
import { AuditLog, AuditShipper, type AuditInput, type AuditWhat, type AuditWho } from '../audit/index.js';
import { registerAuditMetrics } from '../audit/ship/metrics.js';
import { ensurePrivateDir } from '../fsutil.js';
import { HttpError, readJsonBody, sendJson } from '../http.js';
import { log } from '../log.js';
import { loadConfig, type DaemonConfig } from './config.js';
import { RateLimiter, TokenStore, type Operation, type TokenRecord } from './tokens.js';
import { createMetrics, type Metrics } from './metrics.js';
import { OPENAPI } from './openapi.js';
import { checkTx, readSignDoc, txFields, txHashWith } from './tx-policy.js';
import { peerCredentials, peerCredentialsAvailable } from './peercred.js';
import { FailureBudget, peerOf } from './peers.js';
import { KnownPeers } from './known-peers.js';

/**
 * The local key daemon: keys in memory, HTTP/1.1 + JSON over a 0600 unix socket (and optionally TLS/mTLS over
 * TCP), bearer tokens with per-token policy, and a tamper-evident audit log. A signature leaves only after its
 * nonce is durable and its audit entry is on disk; if either store fails, nothing is signed (fail closed).
 */
interface LoadedKey {
  name: string;
  address: string;
  bech32: string;
  publicKey: Uint8Array;
  /** In the signing thread for a key whose private key is in this process; else its backend's own signer. */
  signer: KeySigner;
  /** The key's kind (its backend's), for the audit entries. */
  kind: string;
  /** Signs in the signing thread: unavailable when the thread is. */
  inThread: boolean;
  claims: ClaimSigner;
  /** Served as a claim delegate: claims on contracts naming it as delegate, nothing else (keyring.delegates_only). */
  delegateOnly: boolean;
}

/** An operation checked (and for a claim, its nonce reserved): what the audit entry records (with the key's address
 * and backend), and the reply once signed. */
interface Prepared {
  what: AuditInput['what'];
  reply: Promise<object>;
}

interface Ctx {
  who: AuditWho;
  token?: TokenRecord;
  started: number;
  /** The loaded key the request named: the `key` label of its metrics, whatever the outcome. */
  keyName?: string;
}

export interface DaemonStartOptions {
  /** Where a `file` keyring's passphrase comes from. */
  passphrase?: PassphraseSource;
  /** Config file path, kept for SIGHUP reloads. */
  configFile?: string;
  /** Check the whole audit chain before serving (the tail is always checked against the head). */
  verifyAudit?: boolean;
  /** Start even though the audit log does not match its head; recorded in the log. */
  acceptAuditLog?: boolean;
  /** The PIN of PKCS#11 keys (asked once per key at start, kept for re-login). */
  pkcs11Pin?: PinSource;
}

const MAX_KEY_NAME = 200;
const KNOWN_ROUTES = new Set(['GET /healthz', 'GET /metrics', 'GET /openapi.json', 'GET /v1/keys', 'POST /v1/claims', 'POST /v1/arkcontract', 'POST /v1/sign', 'POST /v1/tx/sign']);
/** Path → the one method it serves, for 405 and its Allow header. */
const METHOD_OF = new Map([...KNOWN_ROUTES].map((r) => [r.slice(r.indexOf(' ') + 1), r.slice(0, r.indexOf(' '))]));
const BEARER_CHALLENGE = 'Bearer realm="arkeo-signer"';

export class SignerDaemon {
  readonly metrics: Metrics = createMetrics();
  private readonly keys = new Map<string, LoadedKey>();
  /** Each served backend's own keys, metrics and health, made at start (so its metrics exist with no keys too). */
  private readonly serving = new Map<KeyBackend, Serving>();
  /** Keys sign in this thread, on the second core, while the event loop serves HTTP (and inline when it is idle). */
  private readonly signingThread = new SigningThread();
  private readonly limiter = new RateLimiter();
  private readonly failures = new FailureBudget();
  private readonly servers: http.Server[] = [];
  private inFlight = 0;
  private nonceProblem: string | undefined;
  private stopping: Promise<void> | undefined;
  /** The socket this process bound (its inode): only that is removed on shutdown, never another daemon's. */
  private socketIno: number | undefined;
  /** [audit.ship]: each durable entry also goes off the host; never awaited by a request. */
  private shipper: AuditShipper | undefined;

  private constructor(
    private config: DaemonConfig,
    private tokens: TokenStore,
    private readonly store: NonceStore,
    readonly audit: AuditLog,
    private readonly configFile?: string,
  ) {
    this.audit.onFlush = (s) => this.metrics.auditLatency.observe(s);
    this.knownPeers = KnownPeers.load(KnownPeers.fileBeside(config.tokens.path));
  }

  private readonly knownPeers: KnownPeers;

  static async start(config: DaemonConfig, options: DaemonStartOptions = {}): Promise<SignerDaemon> {
    // Everything that can fail without holding a resource comes first, so a failed start leaves nothing running.
    const tokens = TokenStore.load(config.tokens.path);
    const audit = await AuditLog.open(config.audit.path, { verifyChain: options.verifyAudit, acceptMismatch: options.acceptAuditLog });
    let store: NonceStore | undefined;
    let daemon: SignerDaemon | undefined;
    let shipper: AuditShipper | undefined;
    try {
      // Opening reads the certificate files (a bad one stops the start); an unreachable receiver does not.
      if (config.audit.ship) {
        shipper = AuditShipper.open(config.audit.ship, { file: audit.file, durable: audit.durable });
        audit.onCommit = (lines, offset, seq, hash) => shipper!.committed(lines, offset, seq, hash);
      }
      // A long-lived server: SQLite commits (and their fsync) run in a writer thread, off the event loop.
      const create = config.nonces.create ?? config.nonces.store === defaultNonceStorePath(config.keyring.home);
      store = await openNonceStore(config.nonces.store, config.keyring.home, { writerThread: true, create });
      daemon = new SignerDaemon(config, tokens, store, audit, options.configFile);
      daemon.shipper = shipper;
      registerAuditMetrics(daemon.metrics.registry, audit, shipper);
      await daemon.loadKeys(options.passphrase, options.pkcs11Pin);
      await daemon.listen();
      await audit.append({ who: { transport: 'local' }, what: { op: 'start' }, result: 'started', reason: `${daemon.keys.size} key(s); ${curveEngineNote()}` });
      log('info', `arkeo-signer daemon: ${daemon.keys.size} key(s) loaded, listening on ${config.listen.socket}${config.listen.tcp ? ` and ${config.listen.tcp} (TLS)` : ''}; ${curveEngineNote()}`);
      if (!peerCredentialsAvailable()) log('warn', 'native/peercred addon not built: unix-socket callers are audited by token only, without uid/pid');
      return daemon;
    } catch (e) {
      if (daemon) await daemon.closeAll();
      else {
        await store?.close();
        await audit.close();
        await shipper?.close(0);
      }
      throw e;
    }
  }

  private async loadKeys(passphrase?: PassphraseSource, pin?: PinSource): Promise<void> {
    const kr = Keyring.open({ backend: this.config.keyring.backend, dir: this.config.keyring.home, passphrase });
    kr.assertExists();
    const wanted = this.config.keyring.keys;
    // delegates_only: the host holds keys that can sign claims and nothing else; the funded account key stays
    // elsewhere. Keys are matched with the record by public key (keys add NAME --delegate-for ACCOUNT).
    const delegatesOnly = this.config.keyring.delegates_only === true;
    const delegates = delegatesOnly ? new Set(readDelegates(this.config.keyring.home).map((r) => r.pubkey)) : undefined;
    const skipped: string[] = [];
    const p = this.config.pkcs11;
    const options: OpenSignerOptions = { pkcs11: { pin, module: p.module, sessions: p.sessions, retries: p.retries }, cloud: { timeoutMs: this.config.cloud.timeout_ms, retries: this.config.cloud.retries } };
    for (const backend of servedBackends()) {
      const serving = await backend.serve?.({ registry: this.metrics.registry });
      if (serving) this.serving.set(backend, serving);
    }
    for (const info of await kr.list()) {
      const backend = backendOf(info.kind);
      if (!backend?.served || (wanted && !wanted.includes(info.name))) continue;
      if (delegates && !delegates.has(toBech32PubKey(info.publicKey!))) {
        skipped.push(info.name);
        continue;
      }
      // Keys whose private key is in this process (local keys) move into the signing thread, which signs whenever
      // a queue forms; a claim arriving while it is idle is signed on the event loop (inlineWhenIdle), which skips
      // two thread wake-ups (the benchmarks' figures in the README). Other keys sign through their backend's own
      // signer: PKCS#11 keys through a pool of logged-in sessions, cloud keys through their SDK client with as many
      // calls in flight as requests (the KMS does the work). A cloud key is checked against its recorded public key
      // here: a mismatch stops the start.
      const serving = this.serving.get(backend);
      const key = { keyring: kr, name: info.name, kind: info.kind, info };
      const opts = serving?.optionsFor?.(info, options) ?? options;
      const signer = backend.inProcess ? await this.signingThread.adopt(await backend.open(key, opts), { inlineWhenIdle: true }) : await backend.open(key, opts);
      serving?.served(info.name, signer);
      const claims = await ClaimSigner.create(signer, this.store, { blockSize: this.config.nonces.block_size });
      this.keys.set(info.name, { name: info.name, address: info.address, bech32: toBech32PubKey(info.publicKey!), publicKey: info.publicKey!, signer, kind: info.kind, inThread: backend.inProcess, claims, delegateOnly: delegatesOnly });
    }
    for (const name of wanted ?? []) {
      if (skipped.includes(name)) throw new InputError('NOT_A_DELEGATE', `keyring.keys: ${name} is not recorded as a claim delegate, and keyring.delegates_only is set (record it with keys add … --delegate-for ACCOUNT, or remove it from keyring.keys)`);
      if (!this.keys.has(name)) throw new InputError('KEY_NOT_FOUND', `keyring.keys: ${name} is not ${describeServedKey()} key in ${kr.location}`);
    }
    if (skipped.length) log('info', `keyring.delegates_only: not serving ${skipped.length} key(s) that are not recorded claim delegates`);
    if (delegatesOnly && this.keys.size === 0) throw new InputError('NO_KEYS', `${kr.location}: keyring.delegates_only is set and no key is recorded as a claim delegate (keys add NAME --delegate-for ACCOUNT)`);
    if (this.keys.size === 0) throw new InputError('NO_KEYS', `${kr.location}: no ${describeServed()} keys to serve`);
    this.metrics.keysLoaded.set(this.keys.size);
  }

  private serverOptions(): http.ServerOptions {
    const l = this.config.limits;
    return {
      headersTimeout: l.header_timeout_ms,
      requestTimeout: l.request_timeout_ms,
      keepAliveTimeout: l.keep_alive_timeout_ms,
      maxHeaderSize: 16 * 1024,
      // Node checks the two timeouts above on this interval (default 30 s): keep slow-header clients bounded.
      connectionsCheckingInterval: 250,
    } as http.ServerOptions;
  }

  private async listen(): Promise<void> {
    const sock = this.config.listen.socket;
    ensurePrivateDir(path.dirname(sock));
    await removeStaleSocket(sock);
    const unix = http.createServer(this.serverOptions(), (req, res) => void this.handle(req, res, { transport: 'unix', ...peerCredentials(req.socket) }));
    // Created 0600 from the start (umask), then checked: only the owner (and root) may connect.
    const old = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => unix.once('error', reject).listen(sock, () => resolve()));
    } finally {
      process.umask(old);
    }
    this.servers.push(unix);
    this.socketIno = fs.lstatSync(sock).ino;
    fs.chmodSync(sock, 0o600);
    const { tcp, tls_cert, tls_key, client_ca } = this.config.listen;
    if (tcp && tls_cert && tls_key) {
      const tls = https.createServer(
        {
          ...this.serverOptions(),
          cert: fs.readFileSync(tls_cert),
          key: fs.readFileSync(tls_key),
          ...(client_ca ? { ca: fs.readFileSync(client_ca), requestCert: true, rejectUnauthorized: true } : {}),
          minVersion: 'TLSv1.3',
        },
        (req, res) => {
          const s = req.socket as TLSSocket;
          const cert = client_ca ? s.getPeerCertificate() : undefined;
          void this.handle(req, res, { transport: 'tls', remote: `${s.remoteAddress}:${s.remotePort}`, client_cert: cert?.subject ? String(cert.subject.CN ?? '') : undefined });
        },
      );
      const i = tcp.lastIndexOf(':');
      await new Promise<void>((resolve, reject) => tls.once('error', reject).listen(Number(tcp.slice(i + 1)), tcp.slice(0, i).replace(/^\[|\]$/g, ''), () => resolve()));
      this.servers.push(tls);
    }
  }

  /** The TCP port actually bound (for tests that ask for port 0). */
  get tcpPort(): number | undefined {
    const a = this.servers[1]?.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  // ------------------------------------------------------------------------------------------------ requests

  private async handle(req: http.IncomingMessage, res: http.ServerResponse, who: AuditWho): Promise<void> {
    this.inFlight++;
    const ctx: Ctx = { who, started: performance.now() };
    const url = req.url ?? '';
    const query = url.indexOf('?');
    const route = `${req.method} ${query < 0 ? url : url.slice(0, query)}`;
    try {
      switch (route) {
        case 'GET /healthz':
          return await this.health(res);
        case 'GET /metrics':
          await this.healthState();
          this.tokenMetrics();
          res.writeHead(200, { 'content-type': this.metrics.registry.contentType });
          res.end(await this.metrics.registry.metrics());
          return;
        case 'GET /openapi.json':
          return sendJson(res, 200, OPENAPI);
        case 'GET /v1/keys':
          this.authenticate(req, ctx);
          return sendJson(res, 200, [...this.keys.values()].filter((k) => allowed(ctx.token!.policy.keys, k.name)).map((k) => ({ name: k.name, address: k.address, pubkey: k.bech32, pubkey_hex: toHex(k.publicKey) })));
        case 'POST /v1/claims':
          return await this.signing(req, res, ctx, 'claim', (body, key) => this.claim(body, key, ctx));
        case 'POST /v1/arkcontract':
          return await this.signing(req, res, ctx, 'arkcontract', (body, key) => this.arkcontract(body, key, ctx));
        case 'POST /v1/sign':
          return await this.signing(req, res, ctx, 'raw', (body, key) => this.raw(body, key, ctx));
        case 'POST /v1/tx/sign':
          return await this.signing(req, res, ctx, 'tx', (body, key) => this.tx(body, key, ctx));
        default: {
          // Only a known path is named in the reply (the method comes from Node's fixed list, the path from anyone).
          const path = route.slice(route.indexOf(' ') + 1);
          const method = METHOD_OF.get(path);
          this.chargeFailure(req, ctx, { op: method ? 'wrong-method' : 'unknown-route' });
          if (method) throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${path} accepts ${method} only`, { allow: method }).about({ op: 'wrong-method' });
          throw new HttpError(404, 'NOT_FOUND', 'no such route (see /openapi.json)').about({ op: 'unknown-route' });
        }
      }
    } catch (e) {
      await this.fail(res, ctx, route, e);
    } finally {
      this.inFlight--;
      this.metrics.latency.observe({ operation: KNOWN_ROUTES.has(route) ? route : 'other' }, (performance.now() - ctx.started) / 1000);
    }
  }

  private authenticate(req: http.IncomingMessage, ctx: Ctx): void {
    const header = req.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    const rec = token ? this.tokens.lookup(token) : undefined;
    if (!rec) {
      const reason = !header ? 'missing' : 'invalid';
      this.metrics.authFailures.inc({ reason });
      this.chargeFailure(req, ctx);
      // RFC 6750 §3: the challenge says which scheme to use, and for a token that was sent, that it was not accepted.
      throw new HttpError(401, 'UNAUTHENTICATED', !header ? 'missing bearer token' : 'unknown or revoked token', {
        'www-authenticate': !header ? BEARER_CHALLENGE : `${BEARER_CHALLENGE}, error="invalid_token"`,
      });
    }
    ctx.token = rec;
    ctx.who.token = rec.name; // `who` is this request's own object
    const peer = peerOf(ctx.who.transport, ctx.who.uid, req.socket.remoteAddress);
    if (this.knownPeers.first(rec.name, peer)) {
      this.metrics.newPeers.inc({ token: rec.name });
      log('warn', `token ${rec.name}: first use from ${peer}`);
    }
    if (!this.limiter.take(rec.name, rec.policy.rate)) {
      const rate = rec.policy.rate;
      throw new HttpError(429, 'RATE_LIMITED', `token ${rec.name}: rate limit of ${rate.per_second}/s exceeded`, { 'retry-after': String(Math.max(1, Math.ceil(this.limiter.retryAfter(rec.name, rate)))) });
    }
  }

  /**
   * A request refused before any token was accepted draws on its peer's budget (see peers.ts for what a peer is).
   * Over budget it becomes a 429 with Retry-After, and only the first such refusal per window is audited, with the
   * count of those that were not: the rest are counted in arkeo_signer_failures_unaudited_total.
   */
  private chargeFailure(req: http.IncomingMessage, ctx: Ctx, what?: AuditInput['what']): void {
    const verdict = this.failures.fail(peerOf(ctx.who.transport, ctx.who.uid, req.socket.remoteAddress));
    if (verdict.allowed) return;
    const earlier = verdict.unaudited > 0 ? `; ${verdict.unaudited} more since the last audited one were not audited` : '';
    const e = new HttpError(429, 'TOO_MANY_FAILURES', `too many failed requests from this peer; retry after ${verdict.retryAfterSeconds} s${verdict.audit ? earlier : ''}`, {
      'retry-after': String(verdict.retryAfterSeconds),
    });
    e.audit = verdict.audit;
    throw what ? e.about(what) : e;
  }

  /**
   * Shared path of every signing operation: auth, body, policy, health, then `run` (checks, and the nonce for a
   * claim), then signing and the audit entry side by side, then the reply.
   */
  private async signing(req: http.IncomingMessage, res: http.ServerResponse, ctx: Ctx, op: Operation, run: (body: Record<string, unknown>, key: LoadedKey) => Promise<Prepared>): Promise<void> {
    this.authenticate(req, ctx);
    const body = await readJsonBody(req, this.config.limits.max_body_bytes);
    const policy = ctx.token!.policy;
    const keyName = body.key;
    if (typeof keyName !== 'string' || keyName.length === 0 || keyName.length > MAX_KEY_NAME) throw new HttpError(400, 'BAD_FIELD', 'key: expected a key name');
    const key = this.keys.get(keyName);
    // Only names of loaded keys are echoed into replies and the audit log (the field could hold anything).
    const shown = key ? keyName : '(not a loaded key)';
    ctx.keyName = key?.name;
    if (!policy.operations.includes(op)) throw denied(`operation ${op} is not allowed for token ${ctx.token!.name}`, { op, key: shown });
    if (!allowed(policy.keys, keyName)) throw denied(`key ${shown} is not allowed for token ${ctx.token!.name}`, { op, key: shown });
    if (!key) throw new HttpError(404, 'UNKNOWN_KEY', 'no such key is loaded').about({ op, key: shown });
    if (!this.audit.healthy) throw new HttpError(503, 'AUDIT_UNAVAILABLE', `audit log unavailable (${this.audit.problem}); refusing to sign`);
    if (key.inThread && this.signingThread.problem) throw new HttpError(503, 'SIGNER_UNAVAILABLE', `${this.signingThread.problem}; nothing was signed`).about({ op, key: shown, address: key.address });
    let prepared: Prepared;
    try {
      prepared = await run(body, key);
    } catch (e) {
      // A refusal from the policy, the claim rules or the nonce store says which key and contract it was about.
      throw withContext(e, { op, key: shown, address: key.address });
    }
    // The entry needs only the message, so it is written while the signing thread signs (a claim signed inline is
    // signed already); either way the signature is released only after the entry is durable. Should signing fail, fail() appends an error entry for the same request:
    // an "ok" entry followed by an "error" entry with the same nonce means nothing was released.
    const audited = this.audit.append({ who: ctx.who, what: prepared.what, result: 'ok', status: 200, latency_us: (performance.now() - ctx.started) * 1000 });
    audited.catch(ignore); // handled below; this keeps a failure during signing from counting as unhandled
    let reply: object;
    try {
      reply = await prepared.reply;
    } catch (e) {
      await audited.catch(ignore);
      throw withContext(e, prepared.what);
    }
    await audited;
    this.metrics.signatures.inc({ key: key.name, operation: op, result: 'ok' });
    sendJson(res, 200, reply);
  }

  private contractOf(body: Record<string, unknown>, policy: TokenRecord['policy'], op: string): bigint {
    const raw = body.contract;
    const text = typeof raw === 'number' && Number.isSafeInteger(raw) ? String(raw) : raw;
    if (typeof text !== 'string') throw new HttpError(400, 'BAD_FIELD', 'contract: expected a decimal contract id');
    const id = parseContractId(text);
    if (!allowed(policy.contracts, String(id))) throw denied(`contract ${id} is not allowed for this token`, { op, contract: String(id) });
    return id;
  }

  private async claim(body: Record<string, unknown>, key: LoadedKey, ctx: Ctx): Promise<Prepared> {
    checkFields(body, ['key', 'contract', 'delegate', 'resync']);
    const policy = ctx.token!.policy;
    const contract = this.contractOf(body, policy, 'claim');
    if (body.delegate !== undefined && typeof body.delegate !== 'boolean') throw new HttpError(400, 'BAD_FIELD', 'delegate: expected true or false');
    const resync = body.resync === undefined ? undefined : await this.provenResync(body.resync, contract, key);
    const t0 = performance.now();
    let r;
    try {
      if (resync !== undefined) await this.store.raise(contract, key.address, resync);
      r = await key.claims.reserveClaim(contract, {
        maxSpend: policy.max_spend !== undefined ? BigInt(policy.max_spend) : undefined,
        delegate: body.delegate as boolean | undefined,
        delegateOnly: key.delegateOnly || policy.delegate_contracts_only === true,
        ...tokenVelocity(ctx.token!),
      });
      this.nonceProblem = undefined;
    } catch (e) {
      if (e instanceof NonceStoreError && e.code === 'NONCE_STORE_UNAVAILABLE') this.nonceProblem = e.message;
      if (e instanceof SpendVelocityError) throw this.velocityRefusal(e, ctx.token!.name, String(contract));
      throw e;
    } finally {
      this.metrics.nonceLatency.observe((performance.now() - t0) / 1000);
    }
    // A reserved nonce counts as spent (it may be signed), as in the velocity windows.
    if (r.cost !== undefined) this.metrics.spend.inc({ contract: String(contract) }, Number(r.cost));
    return {
      what: { op: 'claim', contract: String(contract), nonce: String(r.nonce), ...(resync !== undefined ? { resync_to: String(resync) } : {}), msg_sha256: sha256Hex(r.preimage), key: key.address, backend: key.kind },
      reply: key.claims.signReserved(r).then((c) => ({ contract: String(c.contractId), nonce: String(c.nonce), preimage: c.preimage, signature: toHex(c.signature), arkauth: c.arkauth })),
    };
  }

  /**
   * A claim over a spend velocity limit: 429 with Retry-After (when a wait helps; a limit below one claim's cost is
   * a 403), counted by scope, and audited like any refusal, with the contract, key and limit it was about.
   */
  private velocityRefusal(e: SpendVelocityError, token: string, contract: string): HttpError {
    this.metrics.velocityRefusals.inc({ scope: e.context.velocity_scope ?? 'contract', token, contract });
    const wait = e.retryAfterSeconds;
    return new HttpError(wait === undefined ? 403 : 429, e.code, e.message, wait === undefined ? undefined : { 'retry-after': String(wait) }).about(e.context);
  }

  /**
   * `resync: {nonce, signature}`: the claim a sentinel holds above ours, as a paying client read it. The nonce is
   * moved past only when that claim is signed by this key (or the contract's registered client or delegate): a
   * token may not raise its own nonce (each one is paid as nonce × rate), nor may a lying provider through it.
   */
  private async provenResync(raw: unknown, contract: bigint, key: LoadedKey): Promise<bigint> {
    const o = raw as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new HttpError(400, 'BAD_FIELD', 'resync: expected {"nonce": "N", "signature": "<128 hex>"}');
    checkFields(o, ['nonce', 'signature']);
    if (typeof o.nonce !== 'string') throw new HttpError(400, 'BAD_FIELD', 'resync.nonce: expected a decimal string');
    const nonce = parseDecimal(o.nonce, 'resync.nonce', 1n, MAX_INT64);
    if (typeof o.signature !== 'string' || !/^[0-9a-fA-F]{128}$/.test(o.signature)) throw new HttpError(400, 'BAD_FIELD', 'resync.signature: expected 64 bytes as hex');
    const terms = await this.store.getContract(contract);
    const trusted = [key.publicKey, terms?.client, terms?.delegate].filter((k): k is Uint8Array => k !== undefined);
    if (!claimSigner(contract, nonce, parseHex(o.signature, 'resync.signature', 64), trusted)) {
      throw new HttpError(409, 'PROVIDER_UNPROVEN_NONCE', `contract ${contract}: the claim given for nonce ${nonce} is not signed by key ${key.name}${terms?.client || terms?.delegate ? " or the contract's registered parties" : ''}; the nonce stays where it is and nothing was signed`).about({
        op: 'claim',
        contract: String(contract),
        resync_to: String(nonce),
        key: key.address,
        backend: key.kind,
      });
    }
    return nonce;
  }

  private async arkcontract(body: Record<string, unknown>, key: LoadedKey, ctx: Ctx): Promise<Prepared> {
    checkFields(body, ['key', 'contract', 'timestamp']);
    const policy = ctx.token!.policy;
    const contract = this.contractOf(body, policy, 'arkcontract');
    const ts = timestampOf(body.timestamp);
    const checked = await key.claims.checkArkContract(contract, ts, { allowManagementSpend: policy.allow_management_spend, delegateOnly: key.delegateOnly });
    return {
      what: { op: 'arkcontract', contract: String(contract), nonce: String(ts), msg_sha256: sha256Hex(checked.preimage), key: key.address, backend: key.kind },
      reply: key.claims.signCheckedArkContract(checked).then((s) => ({ contract: String(contract), timestamp: String(ts), preimage: s.preimage, signature: toHex(s.signature), arkcontract: s.arkcontract })),
    };
  }

  private async raw(body: Record<string, unknown>, key: LoadedKey, ctx: Ctx): Promise<Prepared> {
    checkFields(body, ['key', 'message', 'message_hex']);
    // Whatever the token allows: a delegate key signs claims and nothing else, so a stolen host cannot sign a transaction with it.
    if (key.delegateOnly) throw denied(`key ${key.name} is served as a claim delegate (keyring.delegates_only): it signs claims only, never raw messages`, { op: 'raw' });
    if ((body.message === undefined) === (body.message_hex === undefined)) throw new HttpError(400, 'BAD_FIELD', 'give exactly one of message or message_hex');
    if (body.message !== undefined && typeof body.message !== 'string') throw new HttpError(400, 'BAD_FIELD', 'message: expected a string');
    if (body.message_hex !== undefined && typeof body.message_hex !== 'string') throw new HttpError(400, 'BAD_FIELD', 'message_hex: expected hex');
    const message = body.message !== undefined ? utf8(body.message as string) : parseHex(body.message_hex as string, 'message_hex');
    rawScope(message, ctx.token!.policy);
    return { what: { op: 'raw', msg_sha256: sha256Hex(message), key: key.address, backend: key.kind }, reply: key.signer.sign(message).then((signature) => ({ signature: toHex(signature), pubkey: key.bech32 })) };
  }

  /**
   * A transaction's SignDoc, read whole and held against the token's tx policy before the key signs it. Unlike a
   * claim, the entry is written after signing, so that it can name the transaction by the hash the chain will give
   * it (SHA-256 of TxRaw, which needs the signature); the signature still leaves only once the entry is durable.
   */
  private async tx(body: Record<string, unknown>, key: LoadedKey, ctx: Ctx): Promise<Prepared> {
    checkFields(body, ['key', 'sign_doc']);
    const tx = readSignDoc(body.sign_doc);
    const fields = txFields(tx);
    const token = ctx.token!;
    // parsePolicy gives every token granted "tx" its tx object; a record without one signs nothing.
    if (!token.policy.tx) throw denied(`token ${token.name} has no tx policy`, { op: 'tx', ...fields });
    checkTx(tx, token.policy.tx, key, token.name, { op: 'tx', ...fields });
    let signature: Uint8Array;
    try {
      signature = await key.signer.sign(tx.signDoc);
    } catch (e) {
      throw withContext(e, { op: 'tx', ...fields });
    }
    const txHash = txHashWith(tx, signature);
    return {
      what: { op: 'tx', ...fields, tx_hash: txHash, key: key.address, backend: key.kind },
      reply: Promise.resolve({ signature: Buffer.from(signature).toString('base64'), tx_hash: txHash }),
    };
  }

  /** Each backend's gauges, read from its signers' own counters when scraped. */
  private tokenMetrics(): void {
    for (const serving of this.serving.values()) serving.scrape?.();
  }

  /**
   * What /healthz reports, checked now (a durable nonce store write, the audit file). The health gauges are set
   * here, so a scrape of /metrics reads them as fresh as /healthz does, whether or not anyone polls /healthz.
   */
  private async healthState() {
    let nonce = this.nonceProblem ? `error: ${this.nonceProblem}` : 'ok';
    if (!this.nonceProblem) {
      try {
        await this.store.check();
      } catch (e) {
        nonce = `error: ${(e as Error).message}`;
      }
    }
    const auditProblem = this.audit.checkFile();
    const audit = auditProblem ? `error: ${auditProblem}` : 'ok';
    const inThread = [...this.keys.values()].some((k) => k.inThread);
    const keys = inThread && this.signingThread.problem ? `error: ${this.signingThread.problem}` : this.keys.size > 0 ? 'ok' : 'error: no keys';
    // Each backend's own section (PKCS#11 keys: `tokens`; cloud keys: `cloud`, a fresh read of each key).
    const sections = (await Promise.all([...this.serving.values()].map((s) => s.health?.()))).filter((h) => h !== undefined);
    const ok = nonce === 'ok' && audit === 'ok' && keys === 'ok' && sections.every((h) => h.ok);
    this.metrics.auditHealthy.set(this.audit.healthy && !auditProblem ? 1 : 0);
    this.metrics.nonceHealthy.set(nonce === 'ok' ? 1 : 0);
    // Shipping has its own field and is not part of `ok`: a syslog outage must not take the signer out of service.
    const shipping = this.shipper ? { audit_ship: this.shipper.health(), audit_ship_acked: this.shipper.status().acked } : {};
    return { ok, keys, key_count: this.keys.size, nonce_store: nonce, audit, audit_entries: this.audit.lastSeq, ...shipping, ...Object.fromEntries(sections.map((h) => [h.section, h.entries])) };
  }

  private async health(res: http.ServerResponse): Promise<void> {
    const state = await this.healthState();
    sendJson(res, state.ok ? 200 : 503, state);
  }

  /** Errors: a status, a one-line reason, an audit entry, and never a secret. */
  private async fail(res: http.ServerResponse, ctx: Ctx, route: string, e: unknown): Promise<void> {
    let status = 500;
    let code = 'INTERNAL';
    let message = 'internal error';
    if (e instanceof HttpError) [status, code, message] = [e.status, e.code, e.message];
    else if (e instanceof ClaimPolicyError) [status, code, message] = [403, e.code, e.message];
    else if (e instanceof NonceStoreError) [status, code, message] = e.code === 'SPEND_LIMIT' ? [403, e.code, e.message] : [503, e.code, e.message];
    else if (e instanceof ArkeoSignerError && e.code === 'AUDIT_UNAVAILABLE') [status, code, message] = [503, e.code, e.message];
    else if (e instanceof InputError) [status, code, message] = [400, e.code, e.message];
    else if (e instanceof CryptoError) [status, code, message] = [e.code === 'SIGNER_UNAVAILABLE' ? 503 : 500, e.code, e.message];
    // A cloud outage or throttling is the backend's state, not ours: 503, so clients back off and retry.
    else if (e instanceof KmsError) [status, code, message] = [['UNAVAILABLE', 'TIMEOUT', 'THROTTLED'].includes(e.code) ? 503 : 500, e.code, e.message];
    else log('error', `request ${KNOWN_ROUTES.has(route) ? route : 'to an unknown route'}: ${((e as Error)?.cause as Error | undefined)?.name ?? (e as Error)?.name ?? 'error'}`);
    const context = e instanceof ArkeoSignerError ? e.context : {};
    const what: AuditWhat = { ...context, op: context.op ?? route.slice(0, 60) };
    const result: AuditInput['result'] = status === 401 ? 'unauthenticated' : status === 403 || status === 429 ? 'denied' : 'error';
    if (ctx.token) this.metrics.signatures.inc({ key: ctx.keyName ?? '', operation: what.op, result });
    let headers = e instanceof HttpError ? e.headers : undefined;
    if (e instanceof HttpError && !e.audit) this.metrics.unaudited.inc();
    else {
      try {
        const known = what.op !== 'unknown-route';
        await this.audit.append({ who: ctx.who, what: known ? { ...what, path: route.slice(0, 60) } : what, result, status, reason: message.slice(0, 300), latency_us: (performance.now() - ctx.started) * 1000 });
      } catch {
        // A different status: the 401's challenge or the 429's Retry-After no longer applies.
        if (status < 500) [status, code, message, headers] = [503, 'AUDIT_UNAVAILABLE', `audit log unavailable; ${message}`, undefined];
      }
    }
    if (!res.headersSent) sendJson(res, status, { error: message, code }, { close: status === 413 || status === 400, headers });
  }

  // ------------------------------------------------------------------------------------------------ lifecycle

  /**
   * SIGHUP: re-read the config's limits and the tokens file; requests in flight are not interrupted. Resolves
   * when the reload is recorded in the audit log.
   */
  async reload(): Promise<void> {
    try {
      const fresh = this.configFile ? loadConfig(this.configFile) : this.config;
      for (const key of ['listen', 'keyring', 'nonces', 'audit'] as const) {
        if (JSON.stringify(fresh[key]) !== JSON.stringify(this.config[key])) log('warn', `reload: [${key}] changed; it takes effect on restart`);
      }
      const tokens = TokenStore.load(fresh.tokens.path);
      this.config = { ...this.config, limits: fresh.limits, tokens: fresh.tokens };
      this.tokens = tokens;
      for (const s of this.servers) Object.assign(s, this.serverOptions());
      log('info', `reload: ${tokens.list().filter((t) => !t.revoked_at).length} live token(s)`);
      await this.audit.append({ who: { transport: 'local' }, what: { op: 'reload' }, result: 'ok' }).catch(() => {});
    } catch (e) {
      log('error', `reload failed, keeping the previous config and tokens: ${(e as Error).message}`);
    }
  }

  /** SIGTERM: stop accepting, finish requests in flight, flush the audit log and the stores, zero the keys. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const closed = Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      for (const s of this.servers) s.closeIdleConnections();
      const deadline = Date.now() + this.config.limits.request_timeout_ms;
      while (this.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      for (const s of this.servers) s.closeAllConnections();
      await closed;
      await this.audit.append({ who: { transport: 'local' }, what: { op: 'stop' }, result: 'stopped' }).catch(() => {});
      await this.closeAll();
    })();
    return this.stopping;
  }

  private async closeAll(): Promise<void> {
    // After a failed start some listeners may be open: close them, or they keep the process alive.
    for (const s of this.servers) {
      if (s.listening) s.close();
      s.closeAllConnections();
    }
    // Unused nonces of held blocks go back to the store, so a clean stop skips none (only a crash does).
    for (const k of this.keys.values()) await k.claims.close().catch(() => {});
    for (const k of this.keys.values()) k.signer.destroy();
    this.keys.clear();
    await this.signingThread.close();
    await this.store.close().catch(() => {});
    await this.audit.close();
    // After the log's last entry (the stop) is durable: it and a last head record get a moment to leave.
    await this.shipper?.close();
    try {
      const sock = this.config.listen.socket;
      if (this.socketIno !== undefined && fs.lstatSync(sock).ino === this.socketIno) fs.rmSync(sock);
    } catch {
      /* gone already */
    }
  }
}

/**
 * The arkcontract timestamp, typed like the contract id: a JSON number only when it is a safe integer (a larger one
 * has already been rounded by JSON.parse, and signing the rounded value would sign something the client never
 * asked for), a string only of decimal digits; anything else (a list, an object, a boolean) is a 400 BAD_FIELD.
 */
function timestampOf(raw: unknown): bigint {
  if (raw === undefined) return BigInt(Math.floor(Date.now() / 1000));
  if (typeof raw === 'number' && !Number.isSafeInteger(raw)) throw new HttpError(400, 'BAD_FIELD', 'timestamp: a JSON number must be a whole number up to 2^53-1; send larger values as a decimal string');
  if (typeof raw !== 'number' && (typeof raw !== 'string' || !/^[0-9]{1,20}$/.test(raw))) throw new HttpError(400, 'BAD_FIELD', 'timestamp: expected a decimal string or a whole JSON number (unix seconds)');
  try {
    return parseDecimal(String(raw), 'timestamp', 1n, MAX_INT64);
  } catch (e) {
    if (e instanceof InputError) throw new HttpError(400, 'BAD_FIELD', e.message);
    throw e;
  }
}

const ignore = () => {};

/**
 * A token's contract list and spend ceiling bind its raw signing too: raw signs SHA-256(message), so a message
 * `<cid>:<n>:…` is a claim (or an `arkcontract`) for contract cid at nonce n, and a 32-byte message may be
 * SHA-256 of one, which both verifiers also accept (and cannot be told apart from any other digest). A token
 * limited to some contracts, to delegate contracts or by a spend ceiling signs neither kind raw; claims go
 * through /v1/claims, where the nonce store and the ceiling apply.
 */
function rawScope(message: Uint8Array, policy: TokenRecord['policy']): void {
  const spendBound = policy.max_spend !== undefined || policy.max_spend_per_hour !== undefined || policy.max_spend_per_day !== undefined;
  const bounded = !policy.contracts.includes('*') || policy.delegate_contracts_only === true || spendBound;
  if (!bounded) return;
  const claim = /^\+?([0-9]{1,20}):[+-]?[0-9]{1,20}(?::|$)/.exec(Buffer.from(message.subarray(0, 48)).toString('latin1'));
  if (claim) {
    const id = String(BigInt(claim[1]!));
    if (allowed(policy.contracts, id) && !spendBound && policy.delegate_contracts_only !== true) return;
    throw denied(`raw: this message is a claim or arkcontract preimage for contract ${id}, and this token is limited${allowed(policy.contracts, id) ? ' (by its spend ceiling or to delegate contracts)' : ` to contracts ${policy.contracts.join(', ')}`}; sign claims with POST /v1/claims`, { op: 'raw', contract: id });
  }
  if (message.length === 32) {
    throw denied('raw: a 32-byte message may be the SHA-256 of a claim, which the sentinel and the chain accept as one, and this token is limited to some contracts or a spend ceiling; sign claims with POST /v1/claims', { op: 'raw' });
  }
}

/** A token's spend velocity limits, as the claim signer takes them (none: nothing). */
function tokenVelocity(token: TokenRecord): { tokenVelocity?: { name: string; perHour?: bigint; perDay?: bigint } } {
  const { max_spend_per_hour: hour, max_spend_per_day: day } = token.policy;
  if (hour === undefined && day === undefined) return {};
  return { tokenVelocity: { name: token.name, ...(hour !== undefined ? { perHour: BigInt(hour) } : {}), ...(day !== undefined ? { perDay: BigInt(day) } : {}) } };
}

function denied(message: string, what: AuditWhat): HttpError {
  return new HttpError(403, 'DENIED', message).about(what);
}

/**
 * An error with what the request was about added as fields. Anything that is not one of ours (a bug, a thrown
 * value) becomes a 500 "internal error" that keeps its cause for the log and the fields for the audit entry.
 */
function withContext(e: unknown, context: ErrorContext): ArkeoSignerError {
  if (e instanceof ArkeoSignerError) return e.about(context);
  return new ArkeoSignerError('INTERNAL', 'internal error', { cause: e, context });
}

function allowed(list: string[], value: string): boolean {
  return list.includes('*') || list.includes(value);
}

/** Unknown fields are refused. Their names are echoed only when they look like field names: a client that put a
 * secret in the wrong place must not find it in our replies or audit log. */
function checkFields(body: Record<string, unknown>, known: string[]): void {
  for (const k of Object.keys(body)) {
    if (!known.includes(k)) throw new HttpError(400, 'BAD_FIELD', /^[a-z_]{1,32}$/.test(k) ? `unknown field "${k}"` : 'unknown field');
  }
}

/** "a local, pkcs11 or cloud KMS": what the daemon serves, with its article. */
function describeServedKey(): string {
  const d = describeServed();
  return `${/^[aeiou]/.test(d) ? 'an' : 'a'} ${d}`;
}

/** A socket file left by a crashed daemon is removed; a live one means another daemon is running. */
async function removeStaleSocket(sock: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(sock);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new InputError('SOCKET_PATH', `${sock}: exists and is not a socket; refusing to replace it`);
  const live = await new Promise<boolean>((resolve) => {
    const c = net.connect(sock, () => (c.destroy(), resolve(true)));
    c.on('error', () => resolve(false));
  });
  if (live) throw new InputError('SOCKET_IN_USE', `${sock}: another daemon is listening`);
  fs.rmSync(sock);
}

