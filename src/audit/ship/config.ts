import * as path from 'node:path';
import { InputError } from '../../errors.js';
import { FACILITIES, type Facility } from './syslog.js';

/**
 * [audit.ship]: where each audit entry goes besides the local log. The daemon config reads and checks the fields
 * (src/daemon/config.ts); the files it names are read when the shipper opens.
 */
export interface AuditShipConfig {
  /**
   * "tcp" (RFC 5424 over TCP), "tls" (RFC 5425), "relp" (RFC 5424 over RELP, every message acknowledged),
   * "relp-tls" (RELP over TLS) or "journal" (the systemd journal's stream socket).
   */
  target: 'tcp' | 'tls' | 'relp' | 'relp-tls' | 'journal';
  /** host:port for tcp, tls, relp and relp-tls; for journal, the stream socket's path (default JOURNAL_STREAM_SOCKET). */
  address?: string;
  /** tls and relp-tls: the CA (PEM) that signed the syslog server's certificate. */
  tls_ca?: string;
  /** tls and relp-tls: a client certificate and its key (PEM), for a server that asks for one. */
  tls_cert?: string;
  tls_key?: string;
  /** tls and relp-tls: the name the server's certificate must carry, when it is not the address's host. */
  tls_server_name?: string;
  /** RFC 5424 APP-NAME, and the journal's SYSLOG_IDENTIFIER. */
  app_name: string;
  facility: Facility;
  /** Entries held in memory for sending; beyond it they are read back from the log file (none is lost). */
  queue_size: number;
  /** How often the chain head is shipped (a head record), in milliseconds. */
  interval_ms: number;
}

export const SHIP_DEFAULTS = { app_name: 'arkeo-signer', facility: 'authpriv', queue_size: 10_000, interval_ms: 10_000 } as const satisfies Partial<AuditShipConfig>;

/** Where journald listens for stream connections (what systemd gives a service's stdout). */
export const JOURNAL_STREAM_SOCKET = '/run/systemd/journal/stdout';

const FIELDS: Record<keyof AuditShipConfig, 'string' | 'number'> = {
  target: 'string',
  address: 'string',
  tls_ca: 'string',
  tls_cert: 'string',
  tls_key: 'string',
  tls_server_name: 'string',
  app_name: 'string',
  facility: 'string',
  queue_size: 'number',
  interval_ms: 'number',
};
const PATHS = ['tls_ca', 'tls_cert', 'tls_key'];
const TARGETS = ['tcp', 'tls', 'relp', 'relp-tls', 'journal'];
const HOST_PORT = /^(?:[^:\s[\]]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/;

/**
 * An [audit.ship] table as a program's config file holds it (the daemon's; a proxy or settler config can hold the
 * same), checked and with its defaults: `bad(field, why)` reports the first problem (and throws), `expandPath`
 * resolves the file names against the config's directory.
 */
export function readShipConfig(raw: unknown, bad: (field: string, why: string) => never, expandPath: (p: string) => string = (p) => p): AuditShipConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('', 'expected a table');
  const ship: Record<string, unknown> = { ...SHIP_DEFAULTS };
  for (const [field, v] of Object.entries(raw)) {
    const want = FIELDS[field as keyof AuditShipConfig];
    if (!want) bad(field, `unknown field (expected one of ${Object.keys(FIELDS).join(', ')})`);
    if (want === 'string' && typeof v !== 'string') bad(field, 'expected a string');
    if (want === 'number' && (typeof v !== 'number' || !Number.isInteger(v) || v < 1)) bad(field, 'expected a positive integer');
    ship[field] = PATHS.includes(field) ? expandPath(v as string) : v;
  }
  const c = ship as unknown as AuditShipConfig;
  const target = c.target as string | undefined;
  if (target === undefined) bad('target', 'missing: "relp" or "relp-tls" (syslog, every entry acknowledged), "tcp" or "tls" (syslog), or "journal"');
  if (!TARGETS.includes(target)) bad('target', `expected "relp", "relp-tls", "tcp", "tls" or "journal", got "${target.slice(0, 40)}"`);
  if (target === 'journal') {
    if (c.address !== undefined) c.address = expandPath(c.address);
  } else {
    if (c.address === undefined) bad('address', `missing: target "${target}" needs the syslog server as host:port`);
    const m = HOST_PORT.exec(c.address);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) bad('address', `expected host:port (port 1-65535), got "${c.address.slice(0, 80)}"`);
  }
  const secure = target === 'tls' || target === 'relp-tls';
  if (secure && !c.tls_ca) bad('tls_ca', `missing: target "${target}" needs the CA (a PEM file) that signed the syslog server's certificate`);
  if (!secure) {
    for (const f of ['tls_ca', 'tls_cert', 'tls_key', 'tls_server_name'] as const) if (c[f] !== undefined) bad(f, 'only meaningful with target "tls" or "relp-tls"');
  }
  if ((c.tls_cert === undefined) !== (c.tls_key === undefined)) bad(c.tls_cert ? 'tls_key' : 'tls_cert', 'a client certificate needs both tls_cert and tls_key');
  if (!/^[!-~]{1,48}$/.test(c.app_name)) bad('app_name', '1 to 48 printable ASCII characters, no spaces (RFC 5424 APP-NAME)');
  if (!Object.hasOwn(FACILITIES, c.facility)) bad('facility', `expected one of ${Object.keys(FACILITIES).join(', ')}`);
  if (c.queue_size > 10_000_000) bad('queue_size', 'at most 10000000');
  if (c.interval_ms < 100 || c.interval_ms > 3_600_000) bad('interval_ms', 'between 100 and 3600000');
  return c;
}

/** `~` and a relative path in a config file, resolved against the file's folder. */
export function expandConfigPath(p: string, base: string): string {
  const home = process.env.HOME ?? '';
  const e = p === '~' ? home : p.startsWith('~/') ? path.join(home, p.slice(2)) : p;
  return path.resolve(base, e);
}

/**
 * The `audit` table of the proxy's and the settler's config files: only [audit.ship] goes there (the log's path is
 * `audit_log`). `appName` is the program's default syslog APP-NAME; errors name `file` and the field.
 */
export function readAuditTable(file: string, raw: unknown, base: string, appName: string): AuditShipConfig | undefined {
  const bad = (field: string, why: string): never => {
    throw new InputError('BAD_CONFIG', `${file}: ${field}: ${why}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('audit', 'expected the table [audit.ship] (the log\'s path is audit_log)');
  for (const k of Object.keys(raw as object)) if (k !== 'ship') bad(`audit.${k.slice(0, 40)}`, 'unknown field (expected [audit.ship]; the log\'s path is audit_log, before any table)');
  const ship = (raw as { ship?: unknown }).ship;
  if (ship === undefined) return undefined;
  const table = typeof ship === 'object' && ship !== null && !Array.isArray(ship) ? { app_name: appName, ...ship } : ship;
  return readShipConfig(table, (field, why) => bad(`audit.ship${field ? `.${field}` : ''}`, why), (p) => expandConfigPath(p, base));
}
