import { goWith, commandTable, commandGroup } from '../table.js';
import { CONFIG_FLAG, NAME_ARGUMENT, OUTPUT_FLAG, PIN_FLAG } from './shared.js';

export const DAEMON_INIT = commandTable({
  command: 'daemon init',
  summary: 'write a commented example configuration',
  about: 'Write a commented example configuration (0600) to --config PATH.',
  flags: {
    config: { ...CONFIG_FLAG.config, computedDefault: '<home>/signer/daemon.toml', help: 'where to write it' },
    force: { type: 'boolean', help: 'overwrite an existing file' },
  },
});

export const DAEMON_START = commandTable({
  command: 'daemon start',
  summary: 'the key daemon: keys in memory, signing on a unix socket (and TLS), until SIGTERM',
  about: `Load the keys of the configured keyring into memory (a file keyring is unlocked now, from --passphrase-file,
keyring.passphrase_file, $CREDENTIALS_DIRECTORY/keyring-passphrase, ARKEO_KEYRING_PASSPHRASE or a terminal) and
serve signing requests on the unix socket (and TLS, if configured) until SIGTERM or SIGINT; SIGHUP reloads tokens
and limits. The audit log's tail is always checked against its head before serving.`,
  flags: {
    ...CONFIG_FLAG,
    'passphrase-file': { type: 'string', value: 'F', help: 'file holding the file keyring\'s passphrase (or keyring.passphrase_file, the systemd credential keyring-passphrase, $ARKEO_KEYRING_PASSPHRASE, a prompt)' },
    'pin-file': { ...PIN_FLAG['pin-file'], help: 'file holding the PIN of the PKCS#11 keys (or pkcs11.pin_file, $ARKEO_PKCS11_PIN, the systemd credential pkcs11-pin, a prompt)' },
    'log-level': { type: 'string', choices: ['debug', 'info', 'warn', 'error'], default: 'info', help: 'the least severe log line written' },
    'verify-audit': { type: 'boolean', help: 'check the whole audit chain and every MAC before serving (reads the whole log)' },
    'accept-audit-log': { type: 'boolean', help: 'start even though the audit log does not match its head (truncated, rolled back or edited); the acceptance is recorded in the log' },
  },
});

export const TOKEN_CREATE = commandTable({
  command: 'daemon token create',
  summary: 'create a bearer token and print it once',
  usage: ['--name NAME --keys K1,K2|* [--ops claim,arkcontract,raw,tx] [--contracts 1,2|*] [--rate N [--burst N]] [--max-spend M] [--max-spend-per-hour N] [--max-spend-per-day N] [--allow-management-spend] [--delegate-contracts-only] [--policy JSON|FILE] [--config PATH]'],
  about: `Create a bearer token and print it once on stdout; only its SHA-256 is stored. --keys must name keys of the
keyring the daemon config names (or "*"). The flags set the policy's fields over --policy's.`,
  flags: {
    name: { type: 'string', value: 'NAME', required: true, help: 'the token\'s name' },
    keys: { type: 'string', value: 'K1,K2|*', help: 'the keys it may use (required here or in --policy)' },
    ops: { type: 'string', value: 'claim,arkcontract,raw,tx', help: 'the operations it may ask for (tx needs a tx policy in --policy)' },
    contracts: { type: 'string', value: '1,2|*', help: 'the contracts it may sign for' },
    rate: { type: 'string', value: 'N', help: 'requests per second it may make' },
    burst: { type: 'string', value: 'N', computedDefault: '--rate', help: 'requests it may make at once' },
    'max-spend': { type: 'string', value: 'M', help: 'a spend ceiling per contract for its claims' },
    'max-spend-per-hour': { type: 'string', value: 'N', help: 'at most N uarkeo of its claims per contract in any hour' },
    'max-spend-per-day': { type: 'string', value: 'N', help: 'at most N uarkeo of its claims per contract in any day' },
    'allow-management-spend': { type: 'boolean', help: 'allow arkcontract values that could be settled as a claim' },
    'delegate-contracts-only': { type: 'boolean', help: 'sign claims only for contracts that name the key as delegate' },
    policy: { type: 'string', value: 'JSON|FILE', help: 'the policy as a JSON object, or a file holding one' },
    ...CONFIG_FLAG,
  },
  rules: [goWith(['burst'], ['rate'])],
});

export const TOKEN_LIST = commandTable({
  command: 'daemon token list',
  summary: 'every token: name, live or revoked, policy',
  about: 'Every token: name, live or revoked, and its policy (never the token itself).',
  flags: { ...CONFIG_FLAG, ...OUTPUT_FLAG },
});

export const TOKEN_REVOKE = commandTable({
  command: 'daemon token revoke',
  summary: 'revoke a token (a running daemon applies it on SIGHUP)',
  positionals: NAME_ARGUMENT,
  about: 'Revoke a token; a running daemon applies it on SIGHUP (systemctl reload).',
  flags: { ...CONFIG_FLAG },
});

export const DAEMON_TOKEN = commandGroup({
  command: 'daemon token',
  summary: 'the daemon\'s bearer tokens and their policies',
  commands: [TOKEN_CREATE, TOKEN_LIST, TOKEN_REVOKE],
});

export const DAEMON = commandGroup({
  command: 'daemon',
  summary: 'the local key daemon: keys in memory, tokens, policy, audit',
  commands: [DAEMON_INIT, DAEMON_START, DAEMON_TOKEN],
});

export const AUDIT_VERIFY = commandTable({
  command: 'audit verify',
  summary: 'check the audit log\'s hash chain and MACs, and against a shipped copy (exit 1 at the first broken link)',
  positionals: [{ name: 'FILE' }],
  about: `Check the audit log's hash chain and, with the key (default FILE.key when present), every entry's MAC.
With --against COPY, also hold it against a copy shipped off the host ([audit.ship]: the file the syslog server
writes, or journalctl -o cat output) and name the first sequence number where they part: an entry that differs, a
shipped entry or head record past the local log's end (a rewind), two different shipped entries with one number.
Exit 0 intact, 1 with the first broken link named, 2 when FILE is not an audit log or cannot be checked.`,
  flags: {
    'key-file': { type: 'string', value: 'K', computedDefault: 'FILE.key when present', help: 'the log\'s MAC key' },
    against: { type: 'string', value: 'COPY', help: 'a shipped copy of the log to compare it with' },
    ...OUTPUT_FLAG,
  },
});

export const AUDIT_DRILL = commandTable({
  command: 'audit drill',
  summary: 'tamper with scratch copies of a log and show which check catches each attack',
  about: `On scratch copies (of --log FILE with its key and head, or of a new log of drill entries), ship the log to a
syslog receiver on loopback, then perform the attacks the audit log guide names: edit an entry, delete one,
truncate, truncate the log and its head, rewind both, delete both, rewind and keep signing. For each, show whether
audit verify, the daemon's start-up check and audit verify --against the shipped copy catch it. --log FILE is
only read. Exit 0 when every attack is caught by at least one check, 1 otherwise.`,
  flags: {
    log: { type: 'string', value: 'FILE', help: 'start from a copy of this audit log (with FILE.key and FILE.head) instead of a new one' },
    keep: { type: 'string', value: 'DIR', help: 'do the drill in DIR (created; must not exist) and keep it, to inspect the copies' },
    ...OUTPUT_FLAG,
  },
});

export const AUDIT_TAIL = commandTable({
  command: 'audit tail',
  summary: 'print the last entries; follow new ones',
  positionals: [{ name: 'FILE' }],
  about: `Print the last N entries as they are stored (JSON lines); with --follow keep printing new ones as they are
appended.`,
  flags: {
    lines: { type: 'string', value: 'N', default: '10', help: 'how many entries' },
    follow: { type: 'boolean', help: 'keep printing entries as they are appended' },
  },
  retired: {
    '-n': 'use --lines N (-n is keys list\'s --list-names)',
    '-f': 'use --follow (-f is curl\'s --fail)',
  },
});

export const AUDIT = commandGroup({
  command: 'audit',
  summary: 'check the audit log\'s hash chain and MACs, against a shipped copy too; follow it; drill',
  commands: [AUDIT_VERIFY, AUDIT_TAIL, AUDIT_DRILL],
});
