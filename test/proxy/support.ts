import * as path from 'node:path';
import { sha256, utf8, toHex } from '../../src/crypto/index.js';
import { privateKeyToSigner, type Signer } from '../../src/signers/index.js';
import { openNonceStore, type NonceStore } from '../../src/nonces/index.js';
import { ContractPayer, SigningProxy, createProxyMetrics, type ProxyMetrics } from '../../src/proxy/index.js';
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
  close(): Promise<void>;
}

/** The sentinel-rules server with contract 7 for our key, and a proxy in this process in front of it. */
export async function inProcessProxy(contract: bigint | 'auto' = 'auto', tweak: (s: SentinelRules, pub: Uint8Array) => void = () => {}): Promise<InProcess> {
  const sentinel = await startSentinelRules({ services: [SERVICE, 'other-service'] });
  const signer = privateKeyToSigner(KEY_PRIV);
  const pub = await signer.publicKey();
  sentinel.contracts.set(7n, payg(7n, pub));
  tweak(sentinel, pub);
  const store = await openNonceStore(path.join(tempDir(), 'nonces.db'), tempDir(), { create: true });
  const metrics = createProxyMetrics();
  let payer: ContractPayer | undefined;
  try {
    payer = await ContractPayer.open({ signer, store, sentinel: sentinel.url, service: SERVICE, contract, metrics });
    const proxy = await SigningProxy.start({ routes: [{ listen: { host: '127.0.0.1', port: 0 }, payer }], store, metrics });
    return {
      sentinel, signer, pub, store, metrics, payer, proxy, url: proxy.addresses()[0]!,
      close: async () => {
        await proxy.stop(1000);
        await store.close();
        await sentinel.close();
      },
    };
  } catch (e) {
    await payer?.close();
    await store.close();
    await sentinel.close();
    throw e;
  }
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers }, signal: AbortSignal.timeout(20_000) });
  return { status: res.status, headers: res.headers, text: await res.text() };
}
