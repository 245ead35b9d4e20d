import * as path from 'node:path';
import { toBech32PubKey } from '../crypto/address.js';
import { log, setLogLevel } from '../log.js';
import { ChainClient, parseFeeChoice } from '../tx/index.js';
import {
  createSettleMetrics,
  loadSettleConfig,
  openSettleStore,
  parseListen,
  SentinelClient,
  SettleAudit,
  Settler,
  startSettleServer,
  SettleError,
  secondsSetting,
  wholeSetting,
  type SettleConfig,
  type SettleConfigKey,
  type SettleServer,
  type SettleStore,
} from '../settle/index.js';
import { UsageError, commandRunner, flagValue } from './common.js';
import { closingSigners, openTxSigner, type TxValues } from './chain-tx.js';
import { homeOf } from './nonce-store.js';
import { parsePublicKeyArg } from './public-key.js';
import { EXIT } from './exit-codes.js';
import { bind, runCommand, type Parsed } from './table.js';
import { SETTLE } from './tables/settle.js';

type Values = Parsed<typeof SETTLE>['values'];

/** A flag's value: the command line's, else the config file's, else the table's default. */
function settingOf(values: Values, given: ReadonlySet<string>, config: SettleConfig, flag: keyof Values & string): string | undefined {
  if (given.has(flag)) return values[flag] as string | undefined;
  const fromFile = config[flag.replace(/-/g, '_') as SettleConfigKey];
  return fromFile ?? (values[flag] as string | undefined);
}

/** The provider: --provider, else the sentinel's /metadata.json; pinned in the store, so a sentinel that changes its mind is refused. */
async function providerOf(flag: string | undefined, sentinel: SentinelClient, store: SettleStore): Promise<{ bech32: string; key: Uint8Array }> {
  const pinned = await store.getMeta('provider');
  if (flag !== undefined) {
    const key = flagValue(() => parsePublicKeyArg(flag));
    const bech32 = toBech32PubKey(key);
    if (pinned !== undefined && pinned !== bech32) log('warn', `settle: --provider ${bech32} replaces the provider pinned in the store (${pinned})`);
    if (pinned !== bech32) await store.setMeta('provider', bech32);
    return { bech32, key };
  }
  const said = await sentinel.providerPubkey();
  const bech32 = toBech32PubKey(said.key);
  if (pinned !== undefined && pinned !== bech32) {
    throw new SettleError('PROVIDER_CHANGED', `sentinel ${sentinel.base}/metadata.json names provider ${bech32}, but this store settles for ${pinned}; give --provider to choose (a sentinel is not trusted to change it)`);
  }
  if (pinned === undefined) {
    await store.setMeta('provider', bech32);
    log('info', `settle: provider ${bech32} taken from the sentinel's /metadata.json and pinned in the store; give --provider to set it yourself`);
  }
  return { bech32, key: said.key };
}

async function settle({ values, given }: Parsed<typeof SETTLE>): Promise<number> {
  const config = values.config ? flagValue(() => loadSettleConfig(values.config!)) : {};
  const setting = (flag: keyof Values & string) => settingOf(values, given, config, flag);
  const need = (flag: keyof Values & string, env?: string) => {
    const v = setting(flag) ?? (env ? process.env[env] : undefined);
    if (v === undefined || v === '') throw new UsageError(`settle: --${flag} is required${values.config ? ` (or "${flag.replace(/-/g, '_')}" in ${values.config})` : ''}`);
    return v;
  };
  const sentinelUrl = need('sentinel');
  const nodeUrl = need('node', 'ARKEO_NODE');
  const key = need('key');
  // --fees and --gas-prices choose one way to pay: one given on the command line sets aside the file's other.
  const feeFlags = given.has('fees') || given.has('gas-prices') ? { fees: values.fees, 'gas-prices': values['gas-prices'] } : { fees: config.fees, 'gas-prices': config.gas_prices };
  if (feeFlags.fees !== undefined && feeFlags['gas-prices'] !== undefined) throw new UsageError(`settle: give fees or gas_prices in ${values.config}, not both`);
  const fee = flagValue(() => parseFeeChoice({ ...feeFlags, gas: setting('gas'), 'gas-adjustment': setting('gas-adjustment') }));
  const intervalMs = flagValue(() => secondsSetting('interval', setting('interval')!, '--interval'));
  const waitMs = flagValue(() => secondsSetting('wait_timeout', setting('wait-timeout')!, '--wait-timeout'));
  const batch = Number(flagValue(() => wholeSetting('batch', setting('batch')!, '--batch')));
  const minText = setting('min-value')!;
  if (!/^[0-9]{1,20}$/.test(minText) || BigInt(minText) >= 1n << 64n) throw new UsageError(`--min-value: expected a whole number from 0 to ${(1n << 64n) - 1n}, got "${minText.slice(0, 30)}"`);
  const minValue = BigInt(minText);
  const margin = flagValue(() => wholeSetting('margin', setting('margin')!, '--margin'));
  const deadlineBlocks = flagValue(() => wholeSetting('deadline_blocks', setting('deadline-blocks')!, '--deadline-blocks'));
  const listenText = setting('listen');
  const listen = listenText === undefined ? undefined : flagValue(() => parseListen(listenText));
  const chain = flagValue(() => new ChainClient(nodeUrl));
  const sentinel = flagValue(() => new SentinelClient(sentinelUrl));
  const chainId = setting('chain-id');
  const auditPath = setting('audit-log') ?? path.join(homeOf(values), 'signer', 'settle-audit.log');
  // A settler's log is its record of transactions: info unless the operator chose a level.
  if (!process.env.ARKEO_SIGNER_LOG) setLogLevel('info');

  return closingSigners(async () => {
    let store: SettleStore | undefined;
    let server: SettleServer | undefined;
    let audit: SettleAudit | undefined;
    let started = false;
    try {
      // First: a log that does not match its head stops the start before anything else is opened.
      audit = await SettleAudit.open(auditPath, { ...(config.audit_ship ? { ship: config.audit_ship } : {}), acceptMismatch: values['accept-audit-log'] });
      store = await openSettleStore(setting('nonce-store') ?? process.env.ARKEO_NONCE_STORE, homeOf(values), { create: values['create-nonce-store'] });
      const provider = await providerOf(setting('provider'), sentinel, store);
      const signer = await openTxSigner({ ...values, key, output: 'text' } as TxValues);
      const metrics = createSettleMetrics();
      const settler = await Settler.open({
        chain,
        sentinel,
        signer,
        store,
        fee,
        provider,
        ...(chainId ? { chainId } : {}),
        batch,
        minValue,
        margin,
        deadlineBlocks,
        intervalMs,
        waitMs,
        pollMs: Math.min(1000, Math.max(100, intervalMs)),
        metrics,
        audit,
      });
      audit.registerMetrics(metrics.registry);
      const running = audit;
      await audit.started(`fee payer ${settler.address} (${signer.kind}), provider ${provider.bech32}, store ${store.description}`);
      started = true;
      log('info', `settle: audit log ${audit.file}${config.audit_ship ? `, shipped to ${config.audit_ship.target}${config.audit_ship.address ? ` ${config.audit_ship.address}` : ''}` : ''}`);
      if (listen) {
        server = await startSettleServer(listen, metrics, () => settler.status, () => running.health());
        log('info', `settle: GET /metrics and /healthz on ${server.address}`);
      }
      const stop = new AbortController();
      const onSignal = (sig: NodeJS.Signals) => {
        log('info', `settle: ${sig}: finishing this cycle, then exiting`);
        stop.abort();
      };
      process.once('SIGTERM', onSignal).once('SIGINT', onSignal);
      try {
        const leading = await settler.run(stop.signal, { once: Boolean(values.once) });
        if (values.once && !leading) throw new SettleError('NOT_LEADER', `another settler leads for provider ${provider.bech32} on store ${store.description}; nothing sent`);
      } finally {
        process.off('SIGTERM', onSignal).off('SIGINT', onSignal);
      }
      return values.once && settler.status.state !== 'ok' ? EXIT.refused : EXIT.ok;
    } finally {
      await server?.close();
      await store?.close();
      if (started) await audit!.stopped().catch(() => {});
      await audit?.close();
    }
  });
}

/** `arkeo-signer settle …`, run by the dispatcher (arkeo-signer.ts). */
export const run = commandRunner((args) => runCommand(bind(SETTLE, settle), args));
