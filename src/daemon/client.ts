import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { ArkeoSignerError, CryptoError, InputError } from '../errors.js';
import { parseHex, toHex } from '../crypto/bytes.js';
import { verifySignature } from '../crypto/secp256k1.js';
import { parseBech32PubKey, toAddress } from '../crypto/address.js';
import { SignDoc, TxRaw } from 'cosmjs-types/cosmos/tx/v1beta1/tx';
import { txHashOf } from '../tx/index.js';
import type { Signer } from '../signers/index.js';
import { claimSigner, parseArkAuth, type ClaimSource, type PaidClaim, type ProvenNonce, type UnprovenNonceError } from '../claims/index.js';
import { log } from '../log.js';

/** A client of the local key daemon, over its unix socket or over HTTPS (optionally with a client certificate). */
export class DaemonError extends ArkeoSignerError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    /** The daemon's Retry-After (a spend velocity refusal): whole seconds, passed on to our own callers. */
    readonly retryAfterSeconds?: number,
  ) {
    super(code, message);
  }
}

/** A Retry-After in whole seconds, as the daemon sends it; anything else (a date, garbage, absurd) is ignored. */
function retryAfterOf(header: string | string[] | undefined): number | undefined {
  if (typeof header !== 'string' || !/^\d{1,6}$/.test(header)) return undefined;
  const seconds = Number(header);
  return seconds >= 1 && seconds <= 86_400 ? seconds : undefined;
}

export interface DaemonClientOptions {
  token: string;
  /** For https:// targets: CA to trust, and a client certificate for mutual TLS. */
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  timeoutMs?: number;
}

const MAX_REPLY = 1024 * 1024;

export class DaemonClient {
  private readonly agent: http.Agent;
  private readonly base: { socketPath?: string; host?: string; port?: number; secure: boolean };

  /** `target`: a unix socket path, or https://host:port. */
  constructor(
    readonly target: string,
    private readonly options: DaemonClientOptions,
  ) {
    if (/^https:\/\//.test(target)) {
      const u = new URL(target);
      this.base = { host: u.hostname, port: Number(u.port || 443), secure: true };
      this.agent = new https.Agent({ keepAlive: true, ca: options.ca, cert: options.cert, key: options.key });
    } else if (/^http:\/\//.test(target)) {
      throw new InputError('BAD_DAEMON', 'daemon: plain http:// is not offered; use the unix socket or https://');
    } else {
      this.base = { socketPath: target, secure: false };
      this.agent = new http.Agent({ keepAlive: true });
    }
  }

  request<T = unknown>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const mod = this.base.secure ? https : http;
    return new Promise<T>((resolve, reject) => {
      const req = mod.request(
        {
          ...this.base,
          method,
          path,
          agent: this.agent,
          timeout: this.options.timeoutMs ?? 10_000,
          headers: { authorization: `Bearer ${this.options.token}`, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_REPLY) req.destroy(new DaemonError(0, 'BAD_REPLY', 'daemon reply too large'));
            else chunks.push(c);
          });
          res.on('end', () => {
            let json: { error?: string; code?: string } & Record<string, unknown>;
            try {
              json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              return reject(new DaemonError(res.statusCode ?? 0, 'BAD_REPLY', `daemon ${this.target}: reply is not JSON (HTTP ${res.statusCode})`));
            }
            if (res.statusCode !== 200) return reject(new DaemonError(res.statusCode ?? 0, json.code ?? 'DAEMON_ERROR', `daemon: ${json.error ?? `HTTP ${res.statusCode}`}`, res.statusCode === 429 ? retryAfterOf(res.headers['retry-after']) : undefined));
            resolve(json as T);
          });
        },
      );
      req.on('timeout', () => req.destroy(new DaemonError(0, 'TIMEOUT', `daemon ${this.target}: no answer in time`)));
      req.on('error', (e) => reject(e instanceof DaemonError ? e : new DaemonError(0, 'UNREACHABLE', unreachable(this.target, this.base.secure, e as NodeJS.ErrnoException))));
      req.end(payload);
    });
  }

  keys() {
    return this.request<{ name: string; address: string; pubkey: string; pubkey_hex: string }[]>('GET', '/v1/keys');
  }

  /**
   * `delegate`: true asks for the 4-part form, false for the 3-part form, undefined lets the daemon choose.
   * `resync`: a claim the sentinel holds above ours; the daemon moves past it if its key signed it.
   */
  claim(contract: bigint | string, key: string, delegate?: boolean, resync?: ProvenNonce) {
    return this.request<{ contract: string; nonce: string; preimage: string; signature: string; arkauth: string }>('POST', '/v1/claims', {
      contract: String(contract),
      key,
      ...(delegate !== undefined ? { delegate } : {}),
      ...(resync ? { resync: { nonce: String(resync.nonce), signature: toHex(resync.signature) } } : {}),
    });
  }

  arkcontract(contract: bigint | string, key: string, timestamp?: bigint | string) {
    return this.request<{ arkcontract: string; signature: string; timestamp: string; preimage: string }>('POST', '/v1/arkcontract', { contract: String(contract), key, ...(timestamp !== undefined ? { timestamp: String(timestamp) } : {}) });
  }

  sign(key: string, message: Uint8Array) {
    return this.request<{ signature: string; pubkey: string }>('POST', '/v1/sign', { key, message_hex: toHex(message) });
  }

  /** Sign a transaction's SignDoc bytes under the token's tx policy (the token needs "tx"). */
  signTxDoc(key: string, signDoc: Uint8Array) {
    return this.request<{ signature: string; tx_hash: string }>('POST', '/v1/tx/sign', { key, sign_doc: Buffer.from(signDoc).toString('base64') });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** A connection failure in words a user can act on: most often the daemon is simply not running. */
function unreachable(target: string, secure: boolean, e: NodeJS.ErrnoException): string {
  const where = secure ? target : `socket ${target}`;
  switch (e.code) {
    case 'ENOENT':
    case 'ECONNREFUSED':
      return `daemon: cannot connect (${e.code}); is the daemon running? (${where}; start it with arkeo-signer daemon start, or check --daemon / ARKEO_SIGNER_DAEMON)`;
    case 'EACCES':
    case 'EPERM':
      return `daemon: cannot connect (${e.code}); the socket is 0600: run as the daemon's user (${where})`;
    case 'ENOTSOCK':
      return `daemon: ${target} is not a socket; check --daemon / ARKEO_SIGNER_DAEMON`;
    default:
      return `daemon ${target}: ${e.code ?? e.message}`;
  }
}

/** The same `Signer` shape as a local key, backed by the daemon's raw signing (the token needs "raw"). */
export class DaemonSigner implements Signer {
  readonly kind = 'daemon';
  private pub: Uint8Array | undefined;

  constructor(
    private readonly client: DaemonClient,
    readonly keyName: string,
  ) {}

  async publicKey(): Promise<Uint8Array> {
    if (!this.pub) {
      const k = (await this.client.keys()).find((x) => x.name === this.keyName);
      if (!k) throw new DaemonError(404, 'UNKNOWN_KEY', `daemon: key ${this.keyName} is not available to this token`);
      this.pub = parseBech32PubKey(k.pubkey);
    }
    return this.pub;
  }

  async sign(message: Uint8Array): Promise<Uint8Array> {
    const r = await this.client.sign(this.keyName, message);
    const sig = parseHex(r.signature, 'daemon signature', 64);
    // Trust, but verify: a wrong key or a corrupted reply never leaves here as a valid-looking signature.
    if (!verifySignature(await this.publicKey(), message, sig)) throw new CryptoError('SELF_CHECK_FAILED', `daemon signature for ${this.keyName} does not verify; not released`);
    return sig;
  }
}

/**
 * A `Signer` for transactions: sign(message) asks the daemon to sign `message` as a transaction's SignDoc
 * (POST /v1/tx/sign, under the token's tx policy), so src/tx signTx works with a daemon key unchanged. The token
 * needs "tx" (and the key in its keys). Nothing the daemon answers is taken on trust: the signature must verify
 * against the key's public key, and the transaction hash it recorded must be the one these bytes and that
 * signature make.
 */
export function daemonTxSigner(client: DaemonClient, keyName: string): Signer {
  return new DaemonTxSigner(client, keyName);
}

class DaemonTxSigner implements Signer {
  readonly kind = 'daemon';
  /** The key's public key, from the daemon's key list (GET /v1/keys). */
  private readonly key: DaemonSigner;

  constructor(
    private readonly client: DaemonClient,
    private readonly keyName: string,
  ) {
    this.key = new DaemonSigner(client, keyName);
  }

  publicKey(): Promise<Uint8Array> {
    return this.key.publicKey();
  }

  async sign(signDoc: Uint8Array): Promise<Uint8Array> {
    const pub = await this.publicKey();
    const r = await this.client.signTxDoc(this.keyName, signDoc);
    const sig = typeof r.signature === 'string' && /^[A-Za-z0-9+/]{86}==$/.test(r.signature) ? new Uint8Array(Buffer.from(r.signature, 'base64')) : undefined;
    if (!sig || sig.length !== 64) throw new DaemonError(200, 'BAD_REPLY', `daemon: the transaction signature for ${this.keyName} is not 64 bytes of base64; not released`);
    if (!verifySignature(pub, signDoc, sig)) throw new CryptoError('SELF_CHECK_FAILED', `daemon: the transaction signature for ${this.keyName} does not verify against its public key; not released`);
    if (r.tx_hash !== undefined && r.tx_hash !== hashOf(signDoc, sig)) throw new DaemonError(200, 'BAD_REPLY', `daemon: the transaction hash it recorded for ${this.keyName} is not the hash of this transaction; not released`);
    return sig;
  }
}

/** The hash of TxRaw{body, auth info, [signature]}: the chain's name for the transaction, and the daemon's audit entry's. */
function hashOf(signDoc: Uint8Array, signature: Uint8Array): string | undefined {
  try {
    const doc = SignDoc.decode(signDoc);
    return txHashOf(TxRaw.encode({ bodyBytes: doc.bodyBytes, authInfoBytes: doc.authInfoBytes, signatures: [signature] }).finish());
  } catch {
    return undefined;
  }
}

/**
 * The daemon's claim operation as a paying client's ClaimSource: nonces, spend ceilings and the audit entry are
 * the daemon's, and the token needs "claim" only. A nonce to move past goes with the next claim request, and the
 * daemon checks its proof itself. A claim the sentinel did not consume is not given back (the daemon's store
 * has it as used): it costs one skipped nonce.
 */
export class DaemonClaimSource implements ClaimSource {
  private readonly pending = new Map<bigint, ProvenNonce>();
  private readonly highest = new Map<bigint, bigint>();

  private constructor(
    private readonly client: DaemonClient,
    private readonly keyName: string,
    readonly publicKey: Uint8Array,
    readonly address: string,
    private readonly pubPrefix?: string,
  ) {}

  static async open(client: DaemonClient, keyName: string, pubPrefix?: string): Promise<DaemonClaimSource> {
    const pub = await new DaemonSigner(client, keyName).publicKey();
    return new DaemonClaimSource(client, keyName, pub, toAddress(pub), pubPrefix);
  }

  async sign(contractId: bigint, request: { delegate: boolean }): Promise<PaidClaim> {
    const proof = this.pending.get(contractId);
    const r = await this.client.claim(contractId, this.keyName, request.delegate, proof);
    if (this.pending.get(contractId) === proof) this.pending.delete(contractId);
    // Trust, but verify: the claim must be for this contract, in the form asked, and signed by this key.
    let parsed;
    try {
      parsed = parseArkAuth(r.arkauth, this.pubPrefix);
    } catch (e) {
      throw new DaemonError(200, 'BAD_REPLY', `daemon: the claim it returned is not an arkauth value (${(e as Error).message})`);
    }
    if (parsed.contractId !== contractId || (parsed.spender !== undefined) !== request.delegate || !claimSigner(contractId, parsed.nonce, parsed.signature, [this.publicKey])) {
      throw new CryptoError('SELF_CHECK_FAILED', `daemon: the claim it returned for contract ${contractId} is not one this key signed for it; not sent`);
    }
    this.note(contractId, parsed.nonce);
    return { contractId, nonce: parsed.nonce, arkauth: r.arkauth };
  }

  async raise(contractId: bigint, proven: ProvenNonce): Promise<void> {
    this.pending.set(contractId, proven);
    this.note(contractId, proven.nonce);
  }

  async current(contractId: bigint): Promise<bigint> {
    return this.highest.get(contractId) ?? 0n;
  }

  /** The daemon takes no claim back: its nonce stays spent (the daemon's store and audit log already hold it). */
  readonly takesBack = false;
  async giveBack(): Promise<void> {}

  /**
   * The daemon's audit log is the record of this key's use: hand it the provider's claim as a resync, which it
   * checks, refuses (409 PROVIDER_UNPROVEN_NONCE) and audits. Nothing is signed either way.
   */
  async reportUnproven(e: UnprovenNonceError): Promise<void> {
    if (e.claimed < 1n) return;
    const resync = { nonce: e.claimed, signature: e.signature ?? new Uint8Array(64) };
    await this.client.claim(e.contractId, this.keyName, undefined, resync).then(
      () => log('error', `daemon: contract ${e.contractId}: the daemon signed a claim after an unproven resync to ${e.claimed}`),
      (refused: unknown) => {
        if ((refused as DaemonError).code !== 'PROVIDER_UNPROVEN_NONCE') log('warn', `daemon: could not record the unproven nonce of contract ${e.contractId}: ${(refused as Error).message}`);
      },
    );
  }

  /** The client is the caller's: several contracts may share it. */
  async close(): Promise<void> {}

  private note(contractId: bigint, nonce: bigint): void {
    if (nonce > (this.highest.get(contractId) ?? 0n)) this.highest.set(contractId, nonce);
  }
}

/** The bearer token for CLI clients: --token-file, else $ARKEO_SIGNER_TOKEN. */
export function daemonToken(tokenFile?: string): string {
  if (tokenFile) {
    let text: string;
    try {
      const st = fs.statSync(tokenFile);
      if (!st.isFile() || st.size > 1024) throw new InputError('BAD_TOKEN_FILE', `${tokenFile}: not a token file (expected the token printed by daemon token create)`);
      text = fs.readFileSync(tokenFile, 'utf8');
    } catch (e) {
      if (e instanceof InputError) throw e;
      throw new InputError('BAD_TOKEN_FILE', `--token-file ${tokenFile}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).name}); check the path, or use ARKEO_SIGNER_TOKEN`);
    }
    return text.trim();
  }
  const env = process.env.ARKEO_SIGNER_TOKEN;
  if (!env) throw new InputError('NO_TOKEN', 'daemon: no token (use --token-file or ARKEO_SIGNER_TOKEN)');
  return env.trim();
}
