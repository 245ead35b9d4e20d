import { setLogLevel, log } from '../log.js';
import type { Signer } from '../signers/index.js';
import type { ClaimSource } from '../claims/index.js';
import { type NonceStore } from '../nonces/store.js';
import { ContractPayer, SigningProxy, createProxyMetrics, loadProxyConfig, parseListen, type ProxyRoute, type UpstreamConfig } from '../proxy/index.js';
import { checkService, parseContractSpec } from '../proxy/config.js';
import { UsageError, flagValue, required, commandRunner } from './common.js';
import { openKeyring } from './open-keyring.js';
import { openStoreOf } from './nonce-store.js';
import { openSigner } from '../keys/index.js';
import { pkcs11PinSource } from './pkcs11.js';
import { bind, runCommand, type Parsed } from './table.js';
import { PROXY } from './tables/pay.js';

export interface PayFlags {
  home?: string;
  'keyring-backend'?: string;
  'keyring-dir'?: string;
  'passphrase-file'?: string;
  daemon?: string;
  'token-file'?: string;
}

/**
 * Where a paying command's claims come from, for a key name: a Signer for a key in the local keyring (any kind it
 * holds; the claims use the command's nonce store), or the key daemon's claim operation (its nonce store, its
 * spend ceilings and audit log; the token needs "claim" only).
 */
export async function openPayClaims(values: PayFlags, key: string): Promise<{ claims: Signer | ClaimSource; close: () => void }> {
  const target = values.daemon ?? process.env.ARKEO_SIGNER_DAEMON;
  if (target) {
    const { DaemonClient, DaemonClaimSource, daemonToken } = await import('../daemon/index.js');
    const client = new DaemonClient(target, { token: daemonToken(values['token-file']) });
    try {
      return { claims: await DaemonClaimSource.open(client, key), close: () => client.close() }; // fails at start, not on the first request
    } catch (e) {
      client.close();
      throw e;
    }
  }
  // Any kind the keyring holds: local, PKCS#11 (PIN from ARKEO_PKCS11_PIN, the credential or a prompt), cloud KMS.
  const signer = await openSigner(openKeyring(values), key, { pkcs11: { pin: pkcs11PinSource() } });
  return { claims: signer, close: () => signer.destroy() };
}

/** `--headers-timeout S`: how long the sentinel may take to send response headers (the table's default: 10 s). */
export function headersTimeoutFlag(text: string): number {
  const seconds = /^[0-9]{1,3}(\.[0-9]{1,3})?$/.test(text) ? Number(text) : NaN;
  if (!(seconds >= 0.1 && seconds <= 600)) throw new UsageError(`--headers-timeout: expected seconds from 0.1 to 600, got "${text.slice(0, 20)}"`);
  return Math.round(seconds * 1000);
}

export function blockSizeFlag(text: string): number {
  if (!/^[1-9][0-9]{0,6}$/.test(text)) throw new UsageError('--block-size: expected an integer from 1 to 1000000');
  return Number(text);
}

async function proxy({ values }: Parsed<typeof PROXY>): Promise<void> {
  let upstreams: UpstreamConfig[];
  let storeSpec = values['nonce-store'];
  if (values.config) {
    // --listen, --sentinel, --service, --contract and --key go in the config's [[upstream]] tables: the table's rule.
    const config = flagValue(() => loadProxyConfig(values.config!));
    upstreams = config.upstreams;
    storeSpec ??= config.nonceStore;
  } else {
    const service = flagValue(() => checkService(required(values.service, 'service', 'proxy'), '--service'));
    upstreams = [
      {
        name: service,
        listen: flagValue(() => parseListen(required(values.listen, 'listen', 'proxy'))),
        sentinel: required(values.sentinel, 'sentinel', 'proxy'),
        service,
        contract: flagValue(() => parseContractSpec(values.contract ?? 'auto')),
        key: required(values.key, 'key', 'proxy'),
      },
    ];
  }
  const blockSize = blockSizeFlag(values['block-size']);
  const headersTimeoutMs = headersTimeoutFlag(values['headers-timeout']);
  // A proxy's log is its request log: info unless the operator chose a level.
  if (!process.env.ARKEO_SIGNER_LOG) setLogLevel('info');

  const keys = new Map<string, { claims: Signer | ClaimSource; close: () => void }>();
  let store: NonceStore | undefined;
  let proxy: SigningProxy | undefined;
  const payers: ContractPayer[] = [];
  try {
    store = await openStoreOf(values, storeSpec);
    const metrics = createProxyMetrics();
    const routes: ProxyRoute[] = [];
    for (const u of upstreams) {
      const velocity = u.maxSpendPerHour !== undefined || u.maxSpendPerDay !== undefined ? { perHour: u.maxSpendPerHour, perDay: u.maxSpendPerDay } : undefined;
      if (velocity && (values.daemon ?? process.env.ARKEO_SIGNER_DAEMON)) {
        throw new UsageError(`proxy: upstream ${u.name}: max_spend_per_hour / max_spend_per_day bound claims signed here; with --daemon the daemon signs, so set them on its token (daemon token create --max-spend-per-hour N) or on the contract (claim contract add … --max-spend-per-hour N)`);
      }
      if (!keys.has(u.key)) keys.set(u.key, await openPayClaims(values, u.key));
      const payer = await ContractPayer.open({ claims: keys.get(u.key)!.claims, store, sentinel: u.sentinel, service: u.service, contract: u.contract, blockSize, metrics, name: u.name, headersTimeoutMs, ...(velocity ? { contractVelocity: velocity } : {}) });
      payers.push(payer);
      // Two payers for one contract would each keep one request in flight: arrivals could swap and cost a
      // `bad nonce` and a skipped (billed) nonce. One contract, one upstream.
      const twin = payers.find((o) => o !== payer && o.contractId === payer.contractId && o.address === payer.address);
      if (twin) throw new UsageError(`proxy: upstreams ${twin.name ?? '?'} and ${u.name ?? '?'} both pay with contract ${payer.contractId} and key ${u.key}; give each contract one upstream`);
      routes.push({ listen: u.listen, payer });
    }
    proxy = await SigningProxy.start({ routes, store, metrics });
    proxy.addresses().forEach((a, i) => {
      const p = payers[i]!;
      log('info', `arkeo-signer proxy: listening on ${a} → ${p.base}/${upstreams[i]!.service}, contract ${p.contractId} (last nonce ${p.state.last_nonce}${p.state.max_nonce ? `, max ${p.state.max_nonce}` : ''}), key ${p.address}`);
    });
    const running = proxy;
    await new Promise<void>((resolve) => {
      const onSignal = (sig: NodeJS.Signals) => {
        log('info', `arkeo-signer proxy: ${sig}: finishing requests in flight`);
        process.off('SIGTERM', onSignal).off('SIGINT', onSignal);
        resolve();
      };
      process.on('SIGTERM', onSignal).on('SIGINT', onSignal);
    });
    await running.stop();
    proxy = undefined;
    log('info', `arkeo-signer proxy: stopped; ${payers.map((p) => `contract ${p.contractId} last nonce ${p.state.last_nonce}`).join(', ')}`);
  } finally {
    if (proxy) await proxy.stop(0).catch(() => {});
    else if (payers.length && !proxy) await Promise.allSettled(payers.map((p) => p.close()));
    await store?.close();
    for (const k of keys.values()) k.close();
  }
}

/** `arkeo-signer proxy …`, run by the dispatcher (arkeo-signer.ts). */
export const run = commandRunner((args) => runCommand(bind(PROXY, proxy), args));
