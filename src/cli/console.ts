import { loadConfig } from '../daemon/index.js';
import { ConsoleServer, parseAllowedHost, parseListen, type SettlementSource } from '../console/index.js';
import { SETTING_RANGES, loadSettleConfig, wholeSetting, type SettleConfig } from '../settle/index.js';
import { isLoopbackHost } from '../http.js';
import { UsageError, flagValue, commandRunner } from './common.js';
import { bind, runCommand, type Parsed } from './table.js';
import { CONSOLE } from './tables/console.js';

async function consoleServer({ values }: Parsed<typeof CONSOLE>): Promise<void> {
  const interval = values['sample-interval'];
  if (!/^\d{1,4}(\.\d+)?$/.test(interval) || Number(interval) < 0.1) throw new UsageError('console: --sample-interval: expected seconds, at least 0.1');
  const listen = values.listen;
  const { host } = flagValue(() => parseListen(listen));
  if (!isLoopbackHost(host) && !values['tls-cert']) throw new UsageError(`console: --listen ${host}: not a loopback address; listening beyond this host needs --tls-cert and --tls-key`);
  const allowedHosts = values['allowed-host'] ?? [];
  for (const h of allowedHosts) flagValue(() => parseAllowedHost(h));
  const config = loadConfig(values.config);
  const settle = settlementOf(values, config.keyring.home);
  const server = await ConsoleServer.start({
    config,
    listen,
    allowedHosts,
    tls: values['tls-cert'] ? { cert: values['tls-cert'], key: values['tls-key']! } : undefined,
    sampleIntervalMs: Number(interval) * 1000,
    sentinel: values.sentinel,
    lcd: values.lcd,
    settle,
  });
  process.stdout.write(`arkeo-signer console: ${server.url}\nopen this URL to log in (the secret works once):\n  ${server.loginUrl}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
}

/** The Settlement view's source: the settler's settings file (its store, node, margin, deadline blocks), or a store alone. */
function settlementOf(values: Parsed<typeof CONSOLE>['values'], home: string): SettlementSource | undefined {
  const file = values['settle-config'];
  if (!file && !values['settle-store']) return undefined;
  let settings: SettleConfig = {};
  try {
    if (file) settings = loadSettleConfig(file);
  } catch (e) {
    throw new UsageError(`console: ${(e as Error).message.replace(/^--config /, '--settle-config ')}`);
  }
  // As the settler reads them: its defaults, its ranges.
  const blocks = (v: string | undefined, name: 'margin' | 'deadline_blocks') => flagValue(() => wholeSetting(name, v ?? SETTING_RANGES[name].default, `console: ${file}: "${name}"`));
  return {
    store: values['settle-store'] ?? settings.nonce_store,
    home,
    lcd: settings.node ?? values.lcd,
    margin: blocks(settings.margin, 'margin'),
    deadlineBlocks: blocks(settings.deadline_blocks, 'deadline_blocks'),
    ...(file ? { configFile: file } : {}),
  };
}

/** `arkeo-signer console …`, run by the dispatcher (arkeo-signer.ts). */
export const run = commandRunner((args) => runCommand(bind(CONSOLE, consoleServer), args));
