import { together, commandTable } from '../table.js';
import { CONFIG_FLAG } from './shared.js';

export const CONSOLE = commandTable({
  command: 'console',
  summary: 'read-only operator console in the browser (no key held)',
  about: `A read-only operator console in the browser: daemon health, claims/s and latency, keys, contracts (nonce and
spend against the ceiling), tokens, and the audit trail with its integrity. It holds no key and changes nothing.
It reads the daemon config's audit log (and its MAC key, to verify it), nonce store, tokens file (names and
policies only) and the daemon's /healthz and /metrics over its socket. With --settle-config (the settler's
settings) or --settle-store, a Settlement view shows the settler's pending value and deadlines per contract and its
last transactions, from its store opened read-only and, for values and deadlines, its node (or --lcd).

On start it prints a URL with a one-time login secret; opening it sets a session cookie. Without it, every page
and API answers 401. It answers only to the host it listens on (and localhost, for a loopback address) and to the
names given with --allowed-host: a request naming another host in its Host header, as a DNS-rebinding page does,
gets 421 and nothing else.`,
  flags: {
    listen: { type: 'string', value: 'HOST:PORT', default: '127.0.0.1:7446', help: 'where to listen; a non-loopback address needs --tls-cert and --tls-key' },
    'allowed-host': {
      type: 'repeatable',
      value: 'NAME[:PORT]',
      help: "also answer to this name: the name the browser shows, such as the machine's name when listening on 0.0.0.0, or a reverse proxy's (its port: 443 for https://NAME/); PORT defaults to the console's own",
    },
    config: { ...CONFIG_FLAG.config, computedDefault: 'the daemon\'s built-in defaults', help: 'the daemon\'s config' },
    'tls-cert': { type: 'string', value: 'F', help: 'serve HTTPS (TLS 1.3) with this certificate; the session cookie is then Secure' },
    'tls-key': { type: 'string', value: 'F', help: 'the key of --tls-cert' },
    'sample-interval': { type: 'string', value: 'S', default: '5', help: 'seconds between /metrics samples; the chart keeps an hour' },
    sentinel: { type: 'string', value: 'URL', help: 'a provider\'s sentinel: its nonce for each contract (GET /claim/{id}) beside ours' },
    lcd: { type: 'string', value: 'URL', help: 'a chain LCD: the chain\'s nonce for each contract beside ours (and, without a node in --settle-config, the settlement view\'s values and deadlines)' },
    'settle-config': { type: 'string', value: 'FILE', help: 'the settler\'s settings (as settle --config): its store, node, margin and deadline blocks, for the Settlement view' },
    'settle-store': { type: 'string', value: 'PATH|postgres://…', computedDefault: 'nonce_store in --settle-config, else <home>/signer/nonces.db', help: 'the settler\'s store, read-only, for the Settlement view' },
  },
  rules: [together('tls-cert', 'tls-key')],
});
