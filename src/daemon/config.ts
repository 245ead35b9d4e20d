import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import { InputError } from '../errors.js';
import { BACKENDS, defaultHome, type Backend } from '../keyring/keyring.js';
import { readShipConfig, type AuditShipConfig } from '../audit/ship/config.js';

/** Daemon configuration. Every field has a default; unknown fields are errors (a typo must not silently do nothing). */
export interface DaemonConfig {
  keyring: { backend: Backend; home: string; keys?: string[]; passphrase_file?: string; delegates_only?: boolean };
  listen: { socket: string; tcp?: string; tls_cert?: string; tls_key?: string; client_ca?: string };
  /** create: make the store if it does not exist (default: only at the default path). */
  nonces: { store: string; block_size: number; create?: boolean };
  /** ship: also send each entry to syslog or the journal ([audit.ship]; absent: the local log only). */
  audit: { path: string; ship?: AuditShipConfig };
  tokens: { path: string };
  limits: { max_body_bytes: number; header_timeout_ms: number; request_timeout_ms: number; keep_alive_timeout_ms: number };
  /** PKCS#11 keys (kind pkcs11 in the keyring): the PIN file, logged-in sessions per key, retries; module overrides the stored path. */
  pkcs11: { module?: string; pin_file?: string; sessions: number; retries: number };
  /** Cloud KMS keys (aws-kms, azure-kv, gcp-kms): per-call timeout and retries of throttled or transient calls. */
  cloud: { timeout_ms: number; retries: number };
}

export const MAX_CONFIG_BYTES = 256 * 1024;

export function defaultConfig(home = defaultHome()): DaemonConfig {
  const signer = path.join(home, 'signer');
  return {
    keyring: { backend: 'test', home },
    listen: { socket: path.join(signer, 'keyd.sock') },
    nonces: { store: path.join(signer, 'nonces.db'), block_size: 64 },
    audit: { path: path.join(signer, 'audit.log') },
    tokens: { path: path.join(signer, 'tokens.json') },
    limits: { max_body_bytes: 64 * 1024, header_timeout_ms: 5000, request_timeout_ms: 10000, keep_alive_timeout_ms: 5000 },
    pkcs11: { sessions: 2, retries: 3 },
    cloud: { timeout_ms: 5000, retries: 4 },
  };
}

const EXAMPLE_TEMPLATE = `# arkeo-signer daemon configuration (TOML; a .yaml/.yml file with the same fields works too).
# Every field is optional; the values shown are the defaults unless marked "example".

[keyring]
backend = "test"                    # test, file, os or pass (file, os, pass: unlocked once at start)
home = "~/.arkeo"                   # as arkeod --home; keys are read from <home>/keyring-<backend>
# keys = ["alice"]                  # example: load only these keys (default: every local key)
# delegates_only = true             # example: serve only keys recorded as claim delegates (keys add NAME
#                                   # --delegate-for ACCOUNT): claims on contracts naming them, no raw, no arkcontract
# passphrase_file = "/etc/arkeo-signer/passphrase"   # example; also --passphrase-file, or the systemd
#                                   # credential $CREDENTIALS_DIRECTORY/keyring-passphrase, or a TTY prompt

[listen]
socket = "~/.arkeo/signer/keyd.sock"   # HTTP/1.1 + JSON over a unix socket, mode 0600
# tcp = "127.0.0.1:7445"            # example: also listen on TCP; requires tls_cert and tls_key
# tls_cert = "/etc/arkeo-signer/tls.crt"
# tls_key = "/etc/arkeo-signer/tls.key"
# client_ca = "/etc/arkeo-signer/clients-ca.crt"     # example: require client certificates (mutual TLS)

[nonces]
store = "~/.arkeo/signer/nonces.db"    # SQLite file, or postgres://user@host/db to share one sequence
block_size = 64                     # nonces reserved per durable write, the next block ahead of need; a crash
#                                   # skips the unused ones (at most 2 × 64: each is billed if a later nonce is
#                                   # settled). 1 = one durable write per claim: no skips, about half the speed
# create = true                     # example: create the store if it is missing (done anyway at the default path;
#                                   # elsewhere a missing store is an error: a new one restarts every contract at 1)

[audit]
path = "~/.arkeo/signer/audit.log"     # hash-chained JSON lines; the HMAC key is <path>.key (keep it 0600)

# [audit.ship]                      # example: also send every entry, as written, off the host (see the audit log guide)
# target = "tls"                    # "relp" or "relp-tls" (every entry answered), "tcp" or "tls" (RFC 5424 syslog), or "journal"
# address = "logs.example.net:6514" # host:port; for "journal", its stream socket (default /run/systemd/journal/stdout)
# tls_ca = "/etc/arkeo-signer/syslog-ca.crt"   # the CA of the syslog server's certificate (needed for "tls", "relp-tls")
# tls_cert = "/etc/arkeo-signer/syslog-client.crt"   # example: a client certificate, with tls_key
# tls_key = "/etc/arkeo-signer/syslog-client.key"
# tls_server_name = "logs.example.net"   # example: the name in the server's certificate, if not the address's host
# app_name = "arkeo-signer"         # RFC 5424 APP-NAME (the journal's SYSLOG_IDENTIFIER)
# facility = "authpriv"             # auth, authpriv or local0 … local7
# queue_size = 10000                # entries held in memory for sending; beyond, they are read back from the log
# interval_ms = 10000               # the chain head is shipped this often, so a rewound host shows in the copy

[tokens]
path = "~/.arkeo/signer/tokens.json"   # managed by: arkeo-signer daemon token create|list|revoke

[limits]
max_body_bytes = 65536
header_timeout_ms = 5000            # slow-header (slowloris) bound
request_timeout_ms = 10000
keep_alive_timeout_ms = 5000

[pkcs11]                            # keys added with: arkeo-signer keys add NAME --pkcs11 URI
sessions = 2                        # logged-in sessions per PKCS#11 key (signatures in flight at once)
retries = 3                         # recoveries per signature (reopen, re-login, key look-up), with backoff
# pin_file = "/etc/arkeo-signer/pkcs11-pin"   # example; else $ARKEO_PKCS11_PIN, the systemd credential
#                                   # $CREDENTIALS_DIRECTORY/pkcs11-pin, or a prompt. A refused PIN is tried once.
# module = "/usr/lib/softhsm/libsofthsm2.so"  # example: overrides the module path stored with each key

[cloud]                             # keys added with: arkeo-signer keys add NAME --awskms|--azurekv|--gcpkms …
timeout_ms = 5000                   # per KMS call; credentials come from each SDK's default chain, never from here
retries = 4                         # for throttled and transient failures, with jittered backoff (never after a
#                                   # signature that failed its check). A key is checked against its recorded
#                                   # public key at start: a mismatch stops the start.
`;

/** The commented example `daemon init` writes, with paths under `home`. */
export function exampleConfig(home = defaultHome()): string {
  return EXAMPLE_TEMPLATE.replaceAll('~/.arkeo', home);
}

function expand(p: string, base: string): string {
  const home = process.env.HOME ?? '';
  const e = p === '~' ? home : p.startsWith('~/') ? path.join(home, p.slice(2)) : p;
  return path.isAbsolute(e) || /^postgres(ql)?:\/\//.test(e) ? e : path.resolve(base, e);
}

type Shape = Record<string, 'string' | 'number' | 'boolean' | 'string[]' | 'table'>;
/** Tables inside a section, by their dotted name: each read and checked by its owner. */
const SUBSECTIONS: Record<string, (file: string, raw: unknown, base: string) => unknown> = {
  'audit.ship': (file, raw, base) => readShipConfig(raw, (field, why) => bad(file, `audit.ship${field ? `.${field}` : ''}`, why), (p) => expand(p, base)),
};

const SECTIONS: Record<keyof DaemonConfig, Shape> = {
  keyring: { backend: 'string', home: 'string', keys: 'string[]', passphrase_file: 'string', delegates_only: 'boolean' },
  listen: { socket: 'string', tcp: 'string', tls_cert: 'string', tls_key: 'string', client_ca: 'string' },
  nonces: { store: 'string', block_size: 'number', create: 'boolean' },
  audit: { path: 'string', ship: 'table' },
  tokens: { path: 'string' },
  limits: { max_body_bytes: 'number', header_timeout_ms: 'number', request_timeout_ms: 'number', keep_alive_timeout_ms: 'number' },
  pkcs11: { module: 'string', pin_file: 'string', sessions: 'number', retries: 'number' },
  cloud: { timeout_ms: 'number', retries: 'number' },
};

function bad(file: string, field: string, why: string): never {
  throw new InputError('BAD_CONFIG', `${file}: ${field}: ${why}`);
}

/** Parse and validate. Errors name the file and the field. */
export function parseConfig(text: string, file: string): DaemonConfig {
  if (text.length > MAX_CONFIG_BYTES) bad(file, '(file)', `larger than ${MAX_CONFIG_BYTES} bytes`);
  let raw: unknown;
  try {
    raw = /\.ya?ml$/i.test(file) ? parseYaml(text) : parseToml(text);
  } catch (e) {
    bad(file, '(syntax)', (e as Error).message.split('\n')[0]!);
  }
  raw ??= {};
  if (typeof raw !== 'object' || Array.isArray(raw)) bad(file, '(top level)', 'expected a table of sections');
  const base = path.dirname(path.resolve(file));
  const home = typeof (raw as { keyring?: { home?: unknown } }).keyring?.home === 'string' ? expand((raw as { keyring: { home: string } }).keyring.home, base) : undefined;
  const cfg = defaultConfig(home);
  for (const [section, value] of Object.entries(raw as Record<string, unknown>)) {
    const shape = SECTIONS[section as keyof DaemonConfig];
    if (!shape) bad(file, section, `unknown section (expected one of ${Object.keys(SECTIONS).join(', ')})`);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) bad(file, section, 'expected a table');
    for (const [field, v] of Object.entries(value)) {
      const want = shape[field];
      const name = `${section}.${field}`;
      if (!want) bad(file, name, `unknown field (expected one of ${Object.keys(shape).join(', ')})`);
      if (want === 'table') {
        (cfg[section as keyof DaemonConfig] as Record<string, unknown>)[field] = SUBSECTIONS[name]!(file, v, base);
        continue;
      }
      if (want === 'string' && typeof v !== 'string') bad(file, name, 'expected a string');
      if (want === 'boolean' && typeof v !== 'boolean') bad(file, name, 'expected true or false');
      if (want === 'number' && (typeof v !== 'number' || !Number.isInteger(v) || v < 1)) bad(file, name, 'expected a positive integer');
      if (want === 'string[]' && (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))) bad(file, name, 'expected a list of strings');
      const isPath = want === 'string' && !['backend', 'tcp'].includes(field);
      (cfg[section as keyof DaemonConfig] as Record<string, unknown>)[field] = isPath ? expand(v as string, base) : v;
    }
  }
  // memory would start a daemon with no keys.
  if (!BACKENDS.includes(cfg.keyring.backend) || cfg.keyring.backend === 'memory') bad(file, 'keyring.backend', `expected one of ${BACKENDS.filter((b) => b !== 'memory').join(', ')}, got "${cfg.keyring.backend}"`);
  if (cfg.nonces.block_size > 1_000_000) bad(file, 'nonces.block_size', 'at most 1000000');
  if (cfg.pkcs11.sessions > 64) bad(file, 'pkcs11.sessions', 'at most 64');
  if (cfg.pkcs11.retries > 10) bad(file, 'pkcs11.retries', 'at most 10');
  if (cfg.cloud.retries > 10) bad(file, 'cloud.retries', 'at most 10');
  if (cfg.cloud.timeout_ms > 120_000) bad(file, 'cloud.timeout_ms', 'at most 120000');
  if (cfg.limits.max_body_bytes > 16 * 1024 * 1024) bad(file, 'limits.max_body_bytes', 'at most 16 MiB');
  if (cfg.listen.tcp !== undefined) {
    if (!/^[^:\s]+:\d{1,5}$/.test(cfg.listen.tcp) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(cfg.listen.tcp)) bad(file, 'listen.tcp', 'expected host:port');
    if (!cfg.listen.tls_cert || !cfg.listen.tls_key) bad(file, 'listen.tcp', 'TCP needs tls_cert and tls_key (plain TCP is not offered)');
  }
  if (cfg.listen.client_ca && !cfg.listen.tcp) bad(file, 'listen.client_ca', 'only meaningful with listen.tcp');
  if (Buffer.byteLength(cfg.listen.socket) > 100) bad(file, 'listen.socket', 'path longer than 100 bytes (unix socket limit)');
  return cfg;
}

export function loadConfig(file: string | undefined): DaemonConfig {
  if (!file) return defaultConfig();
  let text: string;
  try {
    const st = fs.statSync(file);
    if (st.size > MAX_CONFIG_BYTES) bad(file, '(file)', `larger than ${MAX_CONFIG_BYTES} bytes`);
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError('BAD_CONFIG', `${file}: cannot read (${(e as NodeJS.ErrnoException).code})`);
  }
  return parseConfig(text, file);
}
