import * as path from 'node:path';
import { setLogLevel, log } from '../log.js';
import type { Signer } from '../signers/index.js';
import { LocalClaimSource, type ClaimSource } from '../claims/index.js';
import { readPool } from '../claims/pools.js';
import { type NonceStore } from '../nonces/store.js';
import type { VelocityLimits } from '../nonces/velocity.js';
import { ChainClient } from '../tx/chain.js';
import { ContractPayer, PoolPayer, ProxyAudit, SigningProxy, createProxyMetrics, loadProxyConfig, parseListen, type Payer, type ProxyMetrics, type ProxyRoute, type UpstreamConfig } from '../proxy/index.js';
import type { AuditShipConfig } from '../audit/index.js';
import { checkService, parseContractSpec, type ContractSpec } from '../proxy/config.js';
import { UsageError, flagValue, required, commandRunner } from './common.js';
import { openKeyring } from './open-keyring.js';
import { homeOf, openStoreOf } from './nonce-store.js';
import { openSigner } from '../keys/index.js';
import { daemonTarget, keyOptions } from './open-key.js';
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

/** The keys a paying command signs with, opened once each by name; `close` closes them all. */
export interface PayKeys {
  claimsOf(key: string): Promise<Signer | ClaimSource>;
  close(): void;
}

/**
 * Where a paying command's claims come from, by key name: a Signer for a key in the local keyring (any kind it
 * holds; the claims use the command's nonce store), or the key daemon's claim operation (its nonce store, its
 * spend ceilings and audit log; the token needs "claim" only). One keyring (a passphrase is asked once) or one
 * daemon connection serves every key, a pool's members included.
 */
export function openPayKeys(values: PayFlags): PayKeys {
  const target = daemonTarget(values);
  const opened = new Map<string, Promise<{ claims: Signer | ClaimSource; close: () => void }>>();
  let client: import('../daemon/client.js').DaemonClient | undefined;
  let keyring: ReturnType<typeof openKeyring> | undefined;
  const open = async (key: string): Promise<{ claims: Signer | ClaimSource; close: () => void }> => {
    if (target) {
      const { DaemonClient, DaemonClaimSource, daemonToken } = await import('../daemon/client.js');
      client ??= new DaemonClient(target, { token: daemonToken(values['token-file']) });
      return { claims: await DaemonClaimSource.open(client, key), close: () => {} }; // fails at start, not on the first request
    }
    // Any kind the keyring holds: local, PKCS#11 (PIN from ARKEO_PKCS11_PIN, the credential or a prompt), cloud KMS.
    keyring ??= openKeyring(values);
    const signer = await openSigner(keyring, key, keyOptions());
    return { claims: signer, close: () => signer.destroy() };
  };
  return {
    async claimsOf(key) {
      if (!opened.has(key)) opened.set(key, open(key));
      return (await opened.get(key)!).claims;
    },
    close() {
      for (const p of opened.values()) p.then((k) => k.close(), () => {});
      client?.close();
    },
  };
}

/** `--node URL` or $ARKEO_NODE: the chain node that finds a `--contract auto` contract, instead of the sentinel. */
export function nodeFlag(values: { node?: string }, fallback?: string): ChainClient | undefined {
  const url = values.node ?? fallback ?? process.env.ARKEO_NODE;
  return url === undefined ? undefined : flagValue(() => new ChainClient(url));
}

/** `--contract ID|auto|pool:NAME`, and the key that goes with it: --key, except for a pool, whose members sign. */
export function contractFlag(values: { contract?: string; key?: string }, command: string): { contract: ContractSpec; key?: string } {
  let contract: ContractSpec;
  try {
    contract = flagValue(() => parseContractSpec(values.contract ?? 'auto'));
  } catch (e) {
    throw new UsageError(`--contract: ${(e as Error).message}`);
  }
  if (typeof contract === 'object') {
    if (values.key !== undefined) throw new UsageError(`--key does not go with --contract pool:${contract.pool}: each member signs with its own key (${contract.pool}-1, …); leave --key out`);
    return { contract };
  }
  return { contract, key: required(values.key, 'key', command) };
}

/**
 * Open what pays for one upstream: one contract, or a pool's contracts. With `audit`, the claims of a key signed
 * here come through it (each released once its entry is durable); the daemon's claims are audited by the daemon.
 */
export async function openPayer(
  u: { contract: ContractSpec; key?: string; sentinel: string; service: string; name?: string },
  common: { values: { home?: string }; keys: PayKeys; store: NonceStore; chain?: ChainClient; blockSize: number; headersTimeoutMs: number; metrics?: ProxyMetrics; contractVelocity?: VelocityLimits; audit?: ProxyAudit },
): Promise<Payer> {
  const { keys, store, blockSize, headersTimeoutMs, metrics, contractVelocity, audit } = common;
  const shared = { store, sentinel: u.sentinel, service: u.service, blockSize, headersTimeoutMs, prefetch: true, ...(metrics ? { metrics } : {}), ...(u.name !== undefined ? { name: u.name } : {}), ...(contractVelocity ? { contractVelocity } : {}) };
  const audited: ClaimSource[] = [];
  const claimsOf = async (key: string): Promise<Signer | ClaimSource> => {
    const claims = await keys.claimsOf(key);
    if (!audit || 'raise' in claims) return claims;
    const source = audit.claims(await LocalClaimSource.create(claims, store, { blockSize, ...(contractVelocity ? { contractVelocity } : {}) }), { upstream: u.name ?? u.service, keyName: key, backend: claims.kind });
    audited.push(source);
    return source;
  };
  try {
    if (typeof u.contract === 'object') {
      const pool = readPool(homeOf(common.values), u.contract.pool);
      if (pool.service !== u.service) throw new UsageError(`--contract pool:${pool.name}: the pool's contracts are for service "${pool.service}", not "${u.service}"; use a pool opened for "${u.service}"`);
      return await PoolPayer.open({ ...shared, pool, claimsOf });
    }
    return await ContractPayer.open({ ...shared, claims: await claimsOf(u.key!), contract: u.contract, ...(common.chain ? { chain: common.chain } : {}) });
  } catch (e) {
    // A payer that did not open leaves a claim source it was given open (closing one twice is harmless).
    await Promise.allSettled(audited.map((c) => c.close()));
    throw e;
  }
}

/**
 * The proxy's audit log: off with --daemon (the daemon audits its claims) or --no-audit-log; else --audit-log, the
 * config's audit_log, or <home>/signer/proxy-audit.log.
 */
function auditPathOf(values: Parsed<typeof PROXY>['values'], config: { auditLog?: string; auditShip?: AuditShipConfig }): string | undefined {
  if (daemonTarget(values)) {
    if (config.auditLog !== undefined || config.auditShip) throw new UsageError(`${values.config}: audit_log and [audit.ship] do not go with --daemon: the daemon audits each claim it signs, in its own log (its config's [audit.ship] ships it)`);
    return undefined;
  }
  if (values['no-audit-log']) {
    if (config.auditShip) throw new UsageError(`--no-audit-log: ${values.config} has [audit.ship], which ships the audit log; remove one of them`);
    return undefined;
  }
  return values['audit-log'] ?? config.auditLog ?? path.join(homeOf(values), 'signer', 'proxy-audit.log');
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
  let configNode: string | undefined;
  let configAudit: { auditLog?: string; auditShip?: AuditShipConfig } = {};
  if (values.config) {
    // --listen, --sentinel, --service, --contract and --key go in the config's [[upstream]] tables: the table's rule.
    const config = flagValue(() => loadProxyConfig(values.config!));
    upstreams = config.upstreams;
    storeSpec ??= config.nonceStore;
    configNode = config.node;
    configAudit = config;
  } else {
    const service = flagValue(() => checkService(required(values.service, 'service', 'proxy'), '--service'));
    const listen = flagValue(() => parseListen(required(values.listen, 'listen', 'proxy')));
    const sentinel = required(values.sentinel, 'sentinel', 'proxy');
    upstreams = [{ name: service, listen, sentinel, service, ...contractFlag(values, 'proxy') }];
  }
  const blockSize = blockSizeFlag(values['block-size']);
  const headersTimeoutMs = headersTimeoutFlag(values['headers-timeout']);
  const chain = nodeFlag(values, configNode);
  const auditPath = auditPathOf(values, configAudit);
  // A proxy's log is its request log: info unless the operator chose a level.
  if (!process.env.ARKEO_SIGNER_LOG) setLogLevel('info');

  const keys = openPayKeys(values);
  let store: NonceStore | undefined;
  let proxy: SigningProxy | undefined;
  let audit: ProxyAudit | undefined;
  let started = false;
  const payers: Payer[] = [];
  try {
    // First: a log that does not match its head stops the start before a key or the store is opened.
    if (auditPath !== undefined) {
      audit = await ProxyAudit.open(auditPath, { ...(configAudit.auditShip ? { ship: configAudit.auditShip } : {}), acceptMismatch: values['accept-audit-log'] });
      // Before any payer opens: opening may already move a nonce (a resync the sentinel proves), which is audited.
      await audit.append({ op: 'start' }, 'started', { reason: `upstream(s) ${upstreams.map((u) => u.name).join(', ')}` });
      started = true;
    }
    store = await openStoreOf(values, storeSpec, { writerThread: true });
    const metrics = createProxyMetrics();
    audit?.registerMetrics(metrics.registry);
    const routes: ProxyRoute[] = [];
    for (const u of upstreams) {
      const velocity = u.maxSpendPerHour !== undefined || u.maxSpendPerDay !== undefined ? { perHour: u.maxSpendPerHour, perDay: u.maxSpendPerDay } : undefined;
      if (velocity && daemonTarget(values)) {
        throw new UsageError(`proxy: upstream ${u.name}: max_spend_per_hour / max_spend_per_day bound claims signed here; with --daemon the daemon signs, so set them on its token (daemon token create --max-spend-per-hour N) or on the contract (claim contract add … --max-spend-per-hour N)`);
      }
      const payer = await openPayer(u, { values, keys, store, chain, blockSize, headersTimeoutMs, metrics, ...(velocity ? { contractVelocity: velocity } : {}), ...(audit ? { audit } : {}) });
      payers.push(payer);
      // Two payers for one contract would each keep one request in flight: arrivals could swap and cost a
      // `bad nonce` and a skipped (billed) nonce. One contract, one upstream (a pool's members included).
      for (const p of payer.payers) {
        const twin = payers.find((o) => o !== payer && o.payers.some((q) => q.contractId === p.contractId && q.address === p.address));
        if (twin) throw new UsageError(`proxy: upstreams ${twin.name} and ${payer.name} both pay with contract ${p.contractId} and key ${p.address}; give each contract one upstream`);
      }
      routes.push({ listen: u.listen, payer });
    }
    proxy = await SigningProxy.start({ routes, store, metrics, ...(audit ? { audit } : {}) });
    if (audit) {
      log('info', `arkeo-signer proxy: audit log ${audit.file}${configAudit.auditShip ? `, shipped to ${configAudit.auditShip.target}${configAudit.auditShip.address ? ` ${configAudit.auditShip.address}` : ''}` : ''}`);
    } else log('info', `arkeo-signer proxy: no audit log of its own (${daemonTarget(values) ? 'the daemon audits each claim it signs' : '--no-audit-log'})`);
    proxy.addresses().forEach((a, i) => {
      const p = payers[i]!;
      const paid = p.payers.map((c) => `contract ${c.contractId} (last nonce ${c.state.last_nonce}${c.state.max_nonce ? `, max ${c.state.max_nonce}` : ''}${c.isStopped ? `, stopped: ${c.state.stopped}` : ''}), key ${c.state.key ?? c.address}`);
      const pool = p instanceof PoolPayer ? `pool ${p.pool.name}: ` : '';
      log('info', `arkeo-signer proxy: listening on ${a} → ${p.base}/${upstreams[i]!.service}, ${pool}${paid.join('; ')}`);
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
    log('info', `arkeo-signer proxy: stopped; ${payers.flatMap((p) => p.payers.map((c) => `contract ${c.contractId} last nonce ${c.state.last_nonce}`)).join(', ')}`);
  } finally {
    if (proxy) await proxy.stop(0).catch(() => {});
    else if (payers.length && !proxy) await Promise.allSettled(payers.map((p) => p.close()));
    await store?.close();
    keys.close();
    if (started) await audit!.append({ op: 'stop' }, 'stopped').catch(() => {});
    await audit?.close();
  }
}

/** `arkeo-signer proxy …`, run by the dispatcher (arkeo-signer.ts). */
export const run = commandRunner((args) => runCommand(bind(PROXY, proxy), args));
