import * as path from 'node:path';
import { sha256, utf8, toHex } from '../../src/crypto/index.js';
import { privateKeyToSigner, type Signer } from '../../src/signers/index.js';
import { openNonceStore, type NonceStore } from '../../src/nonces/index.js';
import { ContractPayer, SigningProxy, createProxyMetrics, type ProxyMetrics } from '../../src/proxy/index.js';
import { DaemonClaimSource, DaemonClient } from '../../src/daemon/index.js';
import type { ClaimSource } from '../../src/claims/index.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { tempDir } from '../helpers.js';
import { startSentinelRules, type RulesContract, type SentinelRules } from '../support/sentinel-rules.js';

export const SERVICE = 'eth-mainnet-fullnode';
export const KEY_PRIV = sha256(utf8('arkeo-signer proxy test key'));
export const KEY_HEX = toHex(KEY_PRIV);

export function payg(id: bigint, client: Uint8Array, fields: Partial<RulesContract> = {}): RulesContract {
  return { id, service: SERVICE, client, type: 'PAY_AS_YOU_GO', rate: 10n, deposit: 1_000_000n, queriesPerMinute: 1_000_000, ...fields };
}

export interface InProcess {
  sentinel: SentinelRules;
  signer: Signer;
  pub: Uint8Array;
  store: NonceStore;
  metrics: ProxyMetrics;
  payer: ContractPayer;
  proxy: SigningProxy;
  url: string;
  /** In daemon mode: the key daemon whose claim operation pays (its nonce store is `store`). */
  daemon?: TestDaemon;
  close(): Promise<void>;
}

/** How the proxy gets its claims: signed here with a local key, or from the key daemon with a claim-only token. */
export type ClaimMode = 'local' | 'daemon';
export const CLAIM_MODES: ClaimMode[] = ['local', 'daemon'];

/** A claim-only daemon token: the proxy needs nothing more. */
export const CLAIM_ONLY = { keys: ['k'], operations: ['claim'], contracts: ['*'], rate: { per_second: 100_000, burst: 100_000 } };

/**
 * The sentinel-rules server with contract 7 for our key, and a proxy in this process in front of it: one claim at a
 * time, as `curl` pays, or with `prefetch` each next claim signed ahead, as `arkeo-signer proxy` does
 * (test/proxy/prefetch.test.ts).
 */
export async function inProcessProxy(
  contract: bigint | 'auto' = 'auto',
  tweak: (s: SentinelRules, pub: Uint8Array) => void = () => {},
  options: { mode?: ClaimMode; blockSize?: number; headersTimeoutMs?: number; prefetch?: boolean; wrapSigner?: (s: Signer) => Signer; prepare?: (store: NonceStore) => Promise<void> } = {},
): Promise<InProcess> {
  const sentinel = await startSentinelRules({ services: [SERVICE, 'other-service'] });
  const signer = (options.wrapSigner ?? ((s: Signer) => s))(privateKeyToSigner(KEY_PRIV));
  const pub = await signer.publicKey();
  sentinel.contracts.set(7n, payg(7n, pub));
  tweak(sentinel, pub);
  let daemon: TestDaemon | undefined;
  let client: DaemonClient | undefined;
  let claims: ClaimSource | Signer = signer;
  let storePath = path.join(tempDir(), 'nonces.db');
  if (options.mode === 'daemon') {
    // The proxy shares the daemon's nonce store (for contract terms); the nonces are the daemon's to reserve.
    daemon = await startTestDaemon({ k: KEY_HEX }, { proxy: CLAIM_ONLY }, (c) => (c.nonces.block_size = options.blockSize ?? 1));
    storePath = daemon.config.nonces.store;
    client = new DaemonClient(daemon.socket, { token: daemon.tokens.proxy! });
    claims = await DaemonClaimSource.open(client, 'k');
  }
  const store = await openNonceStore(storePath, tempDir(), { create: true });
  await options.prepare?.(store);
  const metrics = createProxyMetrics();
  let payer: ContractPayer | undefined;
  const shutdown = async () => {
    await store.close();
    client?.close();
    await daemon?.daemon.stop();
    await sentinel.close();
  };
  try {
    payer = await ContractPayer.open({ claims, store, sentinel: sentinel.url, service: SERVICE, contract, metrics, blockSize: options.blockSize, headersTimeoutMs: options.headersTimeoutMs, ...(options.prefetch ? { prefetch: true } : {}) });
    const proxy = await SigningProxy.start({ routes: [{ listen: { host: '127.0.0.1', port: 0 }, payer }], store, metrics });
    return {
      sentinel, signer, pub, store, metrics, payer, proxy, url: proxy.addresses()[0]!, daemon,
      close: async () => {
        await proxy.stop(1000);
        await shutdown();
      },
    };
  } catch (e) {
    await payer?.close();
    await shutdown();
    throw e;
  }
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers }, signal: AbortSignal.timeout(20_000) });
  return { status: res.status, headers: res.headers, text: await res.text() };
}
