import { goWith, notWith, oneOf, commandTable } from '../table.js';
import { CREATE_STORE_FLAG, DAEMON_CLIENT_FLAGS, KEYRING_FLAGS, STORE_FLAGS } from './shared.js';

/** What the paying commands (proxy, curl) share: where the key and the nonces are, and how long to wait. */
const PAY_FLAGS = {
  key: { type: 'string', value: 'NAME', help: 'the key that pays: any kind the keyring holds, or the daemon\'s with --daemon; not with a pool (its members sign with their own keys)' },
  contract: { type: 'string', value: 'ID|auto|pool:NAME', default: 'auto', help: 'the contract that pays; auto: the active one for the key and service (at the sentinel, or on the chain with --node); pool:NAME: the contracts of a pool (contract open --delegates N --pool NAME), requests spread over them' },
  node: { type: 'string', value: 'URL', env: 'ARKEO_NODE', help: 'the chain node\'s LCD (REST): --contract auto finds the contract there instead of at the sentinel' },
  'block-size': { type: 'string', value: 'N', default: '1', help: 'reserve N nonces per store write' },
  'headers-timeout': { type: 'string', value: 'S', default: '10', help: 'seconds the sentinel may take to send response headers, from 0.1 to 600' },
  ...STORE_FLAGS,
  ...CREATE_STORE_FLAG,
  ...DAEMON_CLIENT_FLAGS,
  ...KEYRING_FLAGS,
} as const;

/** With --daemon the keyring is the daemon's; --home still places the nonce store. */
const PAY_RULES = [notWith('daemon', ['keyring-backend', 'keyring-dir', 'passphrase-file'], 'the daemon holds the key'), goWith(['token-file'], ['daemon'])];

export const PROXY = commandTable({
  command: 'proxy',
  summary: 'local signing proxy: every request paid for',
  usage: [
    '--listen 127.0.0.1:PORT|unix:/path --sentinel URL --service NAME (--key NAME [--contract ID|auto] [--node URL] | --contract pool:NAME) [--block-size N] [--headers-timeout S] [--nonce-store PATH|postgres://… [--create-nonce-store]] [--audit-log PATH | --no-audit-log] [--daemon SOCKET|https://… --token-file F] [keyring flags]',
    '--config FILE [--node URL] [--nonce-store …] [--audit-log PATH | --no-audit-log] [--daemon … --token-file F] [keyring flags]',
  ],
  about: `A local signing proxy: every request to the listen address goes to the sentinel's /{service}/… with a fresh
claim (durable nonce, spend ceiling) in the arkauth header, and the reply streams back. One request at a time
per contract reaches the sentinel (several contracts run in parallel). --contract auto (the default) finds the
active contract for the key and service at the sentinel (with --node: on the chain) and registers its rate and
deposit as the ceiling. --contract pool:NAME pays with a pool's contracts (contract open --delegates N --pool
NAME), each signed by its member key: a request goes to the member with the fewest requests waiting, ties in
turn; a stopped member (spent, expired, unproven nonce) is passed over while the others serve.
A sentinel that sends no response headers within --headers-timeout (10 s) gets the request's 502, and requests
queued behind it on the contract are answered 504 at once, unsigned. A nonce the sentinel says it holds is
believed only when it shows our signed claim for it; otherwise the contract stops (402 PROVIDER_UNPROVEN_NONCE).
With --daemon, claims come from the daemon's claim operation (the token needs "claim" only), and the daemon audits
them. Otherwise each claim the proxy signs has an entry in its audit log (--audit-log, default
<home>/signer/proxy-audit.log; --no-audit-log for none), durable before the claim leaves, and the sentinel's answer
follows it; [audit.ship] in --config ships the log off the host. GET /healthz and GET /metrics are answered by the proxy. SIGTERM/SIGINT: finish requests in flight, then exit.
Listens on loopback or a unix socket only. Log: one line per request on stderr (ARKEO_SIGNER_LOG=warn for less).`,
  flags: {
    listen: { type: 'string', value: 'HOST:PORT|unix:/path', help: 'where to listen (loopback or a unix socket)' },
    sentinel: { type: 'string', value: 'URL', help: 'the provider\'s sentinel' },
    service: { type: 'string', value: 'NAME', help: 'the service, as in the sentinel\'s /{service}/ paths' },
    config: { type: 'string', short: 'c', value: 'FILE', help: 'the proxy\'s config: its [[upstream]] tables, nonce_store, node, audit_log and [audit.ship]' },
    'audit-log': { type: 'string', value: 'PATH', computedDefault: 'audit_log in --config, else <home>/signer/proxy-audit.log', help: 'the audit log of the claims the proxy signs (its MAC key is PATH.key)' },
    'no-audit-log': { type: 'boolean', help: 'keep no audit log of the claims signed (the nonce store still records each nonce)' },
    'accept-audit-log': { type: 'boolean', help: 'start even though the audit log does not match its head (truncated, rolled back or edited); the acceptance is recorded in the log' },
    ...PAY_FLAGS,
  },
  rules: [
    notWith('config', ['listen', 'sentinel', 'service', 'contract', 'key'], 'they go in the config file\'s [[upstream]] tables'),
    notWith('no-audit-log', ['audit-log', 'accept-audit-log'], 'there is no audit log'),
    notWith('daemon', ['audit-log', 'accept-audit-log'], 'the daemon audits each claim it signs, in its own log'),
    ...PAY_RULES,
  ],
});

export const CURL = commandTable({
  command: 'curl',
  summary: 'one paid request to a sentinel (claim, arkauth, resync)',
  positionals: [{ name: 'URL' }],
  usage: [
    "[-X METHOD] [-H 'K: V']... [-d DATA | --data-binary @FILE|DATA] [-i] [-v] [-f] URL (--key NAME [--contract ID|auto] [--node URL] | --contract pool:NAME) [--headers-timeout S] [--nonce-store PATH|postgres://…] [--daemon SOCKET|https://… --token-file F] [keyring flags]",
  ],
  about: `One paid request: URL is the sentinel's http(s)://HOST:PORT/{service}/path. With --contract auto (the default)
the provider is read from the sentinel and the active contract for the key and service from the sentinel (with
--node: from the chain); its rate and deposit become the spend ceiling. With --contract pool:NAME a member of the
pool that no other process on this home is using pays, the members taking turns (a stopped member is passed
over). The next durable nonce is signed and sent in the arkauth header; "400 bad nonce" is answered by a resync
and one retry when the sentinel shows our signed claim at its nonce (a nonce it cannot prove stops the
contract: 402 PROVIDER_UNPROVEN_NONCE). With --daemon the token needs "claim" only. The body goes
to stdout. -i prints the status line and headers first; -v prints the claim used (never the signature), the
request and reply headers (tier among them) and a summary on stderr. Exit codes as curl's where they fit: 0 any
HTTP reply, 22 with -f on a status >= 400, 7 sentinel unreachable, 28 timeout, 2 bad flags, 1 anything else
(key, nonce store, no contract).`,
  flags: {
    request: { type: 'string', short: 'X', value: 'METHOD', computedDefault: 'GET, or POST with a body', help: 'the method' },
    header: { type: 'repeatable', short: 'H', value: "'K: V'", help: 'a request header' },
    data: { type: 'string', short: 'd', value: 'DATA|@FILE', help: 'the body, as curl -d (from a file: newlines dropped); content-type x-www-form-urlencoded unless -H gives one' },
    'data-binary': { type: 'string', value: 'DATA|@FILE', help: 'the body, bytes as they are' },
    include: { type: 'boolean', short: 'i', help: 'print the status line and headers before the body' },
    verbose: { type: 'boolean', short: 'v', help: 'print the claim, the headers and a summary on stderr' },
    fail: { type: 'boolean', short: 'f', help: 'exit 22 on an HTTP status of 400 or more' },
    ...PAY_FLAGS,
  },
  rules: [oneOf('data', 'data-binary'), ...PAY_RULES],
  retired: {
    '-s': 'this command prints no progress meter: leave -s out',
    '--silent': 'this command prints no progress meter: leave --silent out',
    '-o': 'the body goes to stdout: redirect it (> FILE)',
    '--output': 'the body goes to stdout: redirect it (> FILE)',
  },
});
