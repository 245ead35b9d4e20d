import { loadConfig } from '../daemon/index.js';
import { ConsoleServer, DEFAULT_LISTEN, isLoopback, parseAllowedHost, parseListen } from '../console/index.js';
import { UsageError, flagValue, helpRequested, parseFlags, printUsage, commandRunner } from './common.js';

export const CONSOLE_USAGE = `Usage: arkeo-signer console [--listen HOST:PORT] [--allowed-host NAME[:PORT]]... [--config PATH] [--tls-cert F --tls-key F] [--sentinel URL] [--lcd URL]

A read-only operator console in the browser: daemon health, claims/s and latency, keys, contracts (nonce and
spend against the ceiling), tokens, and the audit trail with its integrity. It holds no key and changes nothing.
It reads the daemon config's audit log (and its MAC key, to verify it), nonce store, tokens file (names and
policies only) and the daemon's /healthz and /metrics over its socket.

On start it prints a URL with a one-time login secret; opening it sets a session cookie. Without it, every page
and API answers 401. It answers only to the host it listens on (and localhost, for a loopback address): a request
naming another host in its Host header, as a DNS-rebinding page does, gets 421 and nothing else.

  --listen HOST:PORT     default ${DEFAULT_LISTEN}; a non-loopback address needs --tls-cert and --tls-key
  --allowed-host NAME[:PORT]   also answer to this name (repeatable): the name the browser shows, such as the
                         machine's name when listening on 0.0.0.0, or a reverse proxy's (its port: 443 for
                         https://NAME/); PORT defaults to the console's own
  --config PATH          the daemon's config (default: the daemon's defaults under ~/.arkeo)
  --tls-cert F, --tls-key F   serve HTTPS (TLS 1.3); the session cookie is then Secure
  --sample-interval S    seconds between /metrics samples (default 5; the chart keeps an hour)
  --sentinel URL         a provider's sentinel: its nonce for each contract (GET /claim/{id}) beside ours
  --lcd URL              a chain LCD: the chain's nonce for each contract beside ours
`;

export async function consoleCommand(args: string[]): Promise<number | void> {
  if (helpRequested(args)) return printUsage(CONSOLE_USAGE);
  const { values, positionals } = parseFlags(args, {
    listen: { type: 'string' },
    'allowed-host': { type: 'string', multiple: true },
    config: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'sample-interval': { type: 'string' },
    sentinel: { type: 'string' },
    lcd: { type: 'string' },
  });
  if (positionals.length) throw new UsageError(`console: unexpected argument "${positionals[0]!.slice(0, 40)}"`);
  if (Boolean(values['tls-cert']) !== Boolean(values['tls-key'])) throw new UsageError('console: --tls-cert and --tls-key go together');
  const interval = values['sample-interval'] ?? '5';
  if (!/^\d{1,4}(\.\d+)?$/.test(interval) || Number(interval) < 0.1) throw new UsageError('console: --sample-interval: expected seconds, at least 0.1');
  const listen = values.listen ?? DEFAULT_LISTEN;
  const { host } = flagValue(() => parseListen(listen));
  if (!isLoopback(host) && !values['tls-cert']) throw new UsageError(`console: --listen ${host}: not a loopback address; listening beyond this host needs --tls-cert and --tls-key`);
  // An array: the flag is `multiple` (parseFlags' result type says string for every string flag).
  const allowedHosts = (values['allowed-host'] ?? []) as unknown as string[];
  for (const h of allowedHosts) flagValue(() => parseAllowedHost(h));
  const config = loadConfig(values.config);
  const server = await ConsoleServer.start({
    config,
    listen,
    allowedHosts,
    tls: values['tls-cert'] ? { cert: values['tls-cert'], key: values['tls-key']! } : undefined,
    sampleIntervalMs: Number(interval) * 1000,
    sentinel: values.sentinel,
    lcd: values.lcd,
  });
  process.stdout.write(`arkeo-signer console: ${server.url}\nopen this URL to log in (the secret works once):\n  ${server.loginUrl}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
}

/** `arkeo-signer console …`, run by the dispatcher (arkeo-signer.ts). */
export const run = commandRunner(consoleCommand);
