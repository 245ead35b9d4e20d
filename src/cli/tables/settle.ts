import { SETTING_RANGES } from '../../settle/ranges.js';
import { goWith, notWith, oneOf, commandTable } from '../table.js';
import { CREATE_STORE_FLAG, DAEMON_CLIENT_FLAGS, KEYRING_FLAGS, PIN_FLAG, STORE_FLAGS } from './shared.js';

/** `arkeo-signer settle`: the provider's settlement service. Its fee flags mean what the transaction commands' mean. */
export const SETTLE = commandTable({
  command: 'settle',
  summary: 'settle the provider\'s claims on chain: poll the sentinel, check, batch, pay the fee from any key',
  usage: [
    '--sentinel URL --node URL --key FEE_PAYER [--provider PUBKEY] [--once] [--interval S] [--batch N] [--min-value N] [--margin BLOCKS] [--deadline-blocks N] [--listen 127.0.0.1:PORT] [--fees COINS | --gas-prices PRICE] [--gas N|auto] [--nonce-store PATH|postgres://… [--create-nonce-store]] [--audit-log PATH] [--daemon SOCKET|https://… --token-file F] [keyring flags]',
    '--config FILE [any flag above, which wins over the file]',
  ],
  about: `Settle the provider's income. Every --interval the sentinel's GET /claims is read (never /open-claims, which
deletes claims still settling) and every claim is kept in the settler's tables in the nonce store. Before any fee,
each claim is checked against the chain: the contract is the provider's, still takes claims --margin blocks before
its settlement period ends, the nonce is above the chain's, the signature verifies against the contract's spender
(the delegate, else the client), and what it pays the provider after the 10% reserve is more than a fee. The
sentinel's "claimed" flag is ignored. The highest sound nonce of each contract is sent, --batch claims per
transaction, earliest deadline first; below --min-value a claim waits for a higher nonce unless its contract expires
or ends its settlement period within --deadline-blocks. --key pays the fees and signs (any key kind, or the daemon's
with --daemon): it need not be the provider's key. A claim counts as paid only when its transaction succeeded and
the chain's EventSettleContract shows it paid; a batch the chain refuses as a whole is split and sent again without
the claim the chain names. Claims and transactions are written before a transaction leaves: after a crash or
kill -9 the next run looks each unfinished transaction up by its hash and sends nothing twice. Several settlers on
one PostgreSQL store elect one leader; the others stand by and take over within --interval. --provider defaults to
the sentinel's /metadata.json, pinned in the store on first use. One log line per transaction on stderr;
--listen serves GET /metrics and /healthz on loopback. Every transaction (when signed, durable before it is
broadcast; its block result) and every claim refused before a fee goes into the settler's audit log (--audit-log,
checked by arkeo-signer audit verify; shipped off the host with [audit.ship] in --config). SIGTERM/SIGINT: finish the cycle, then exit. --once: one
cycle; exit 1 if it met a problem or another settler leads.`,
  flags: {
    sentinel: { type: 'string', value: 'URL', help: 'the provider\'s sentinel, e.g. http://127.0.0.1:3636' },
    node: { type: 'string', value: 'URL', env: 'ARKEO_NODE', help: 'the chain node\'s LCD (REST), e.g. http://127.0.0.1:1317' },
    key: { type: 'string', value: 'NAME', help: 'the fee payer: any kind the keyring holds, or the daemon\'s with --daemon' },
    provider: { type: 'string', value: 'PUBKEY', computedDefault: 'the sentinel\'s /metadata.json', help: 'the provider whose contracts are settled (arkeopub1…)' },
    config: { type: 'string', short: 'c', value: 'FILE', help: 'the settler\'s settings (TOML, the flags\' names with underscores)' },
    once: { type: 'boolean', help: 'one cycle, then exit' },
    interval: { type: 'string', value: 'S', default: SETTING_RANGES.interval.default, help: 'seconds between cycles (and between a standby\'s attempts to lead), from 0.1' },
    batch: { type: 'string', value: 'N', default: SETTING_RANGES.batch.default, help: 'claims per transaction, from 1 to 100' },
    'min-value': { type: 'string', value: 'N', default: '0', help: 'the least a claim must pay the provider (after the reserve, in the rate\'s denom) to be sent before its deadline' },
    margin: { type: 'string', value: 'BLOCKS', default: SETTING_RANGES.margin.default, help: 'a claim closer than this to the last block that takes it is refused as too late' },
    'deadline-blocks': { type: 'string', value: 'N', default: SETTING_RANGES.deadline_blocks.default, help: 'a claim whose contract expires or ends its settlement period within N blocks is sent whatever its value, first' },
    listen: { type: 'string', value: 'HOST:PORT', help: 'serve GET /metrics and /healthz here (loopback only)' },
    'chain-id': { type: 'string', value: 'ID', help: 'the chain the transactions are for; the node must serve it (default: the node\'s)' },
    fees: { type: 'string', value: 'COINS', help: 'the fee of each transaction, e.g. 200uarkeo' },
    'gas-prices': { type: 'string', value: 'PRICE', computedDefault: '0.001uarkeo', help: 'the fee is ceil(price × gas)' },
    gas: { type: 'string', value: 'N|auto', default: 'auto', help: 'the gas limit; auto simulates it on the node' },
    'gas-adjustment': { type: 'string', value: 'X', computedDefault: '1.6', help: 'with --gas auto: the simulated gas times X' },
    'wait-timeout': { type: 'string', value: 'S', default: SETTING_RANGES.wait_timeout.default, help: 'seconds to wait for the block' },
    'audit-log': { type: 'string', value: 'PATH', computedDefault: '<home>/signer/settle-audit.log', help: 'the settler\'s audit log (its MAC key is PATH.key)' },
    'accept-audit-log': { type: 'boolean', help: 'start even though the audit log does not match its head (truncated, rolled back or edited); the acceptance is recorded in the log' },
    ...STORE_FLAGS,
    ...CREATE_STORE_FLAG,
    ...DAEMON_CLIENT_FLAGS,
    ...KEYRING_FLAGS,
    ...PIN_FLAG,
  },
  rules: [
    notWith('daemon', ['keyring-backend', 'keyring-dir', 'passphrase-file', 'pin-file'], 'the daemon holds the key (--home still places the nonce store)'),
    goWith(['token-file'], ['daemon']),
    oneOf('fees', 'gas-prices'),
  ],
});
