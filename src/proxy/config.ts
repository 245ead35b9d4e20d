import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { expandConfigPath, readAuditTable, type AuditShipConfig } from '../audit/index.js';
import { InputError } from '../errors.js';
import { parseContractId, parseDecimal } from '../claims/index.js';
import { checkPoolName } from '../claims/pools.js';
import { parseListen, type Listen } from './server.js';
import { sentinelBase } from './sentinel.js';
import { PROXY_APP_NAME } from './audit.js';

/**
 * `arkeo-signer proxy --config FILE`: several upstreams in one process, each on its own loopback port or socket.
 *
 *   nonce_store = "/home/me/.arkeo/signer/nonces.db"   # optional; as --nonce-store
 *   node = "http://127.0.0.1:1317"     # optional; as --node
 *   audit_log = "/var/lib/arkeo/signer/proxy-audit.log"   # optional; as --audit-log (relative: to this file)
 *   [audit.ship]                       # optional: ship the audit log as the daemon does (app_name "arkeo-proxy")
 *   target = "tcp"
 *   address = "logs.example.net:514"
 *   [[upstream]]
 *   name = "eth"                       # optional; metrics and log label (default: the service)
 *   listen = "127.0.0.1:8545"
 *   sentinel = "http://provider.example:3636"
 *   service = "eth-mainnet-fullnode"
 *   contract = "auto"                  # or a contract id, or "pool:NAME"
 *   key = "alice"                      # not with a pool: its members sign with their own keys
 *   max_spend_per_hour = "1000000"     # optional, uarkeo: tightens the contract's own spend velocity limits
 *   max_spend_per_day = "10000000"
 */
/** A contract id; 'auto' (the active one for the key); or a pool's contracts, each with its own key. */
export type ContractSpec = bigint | 'auto' | { pool: string };

export interface UpstreamConfig {
  name: string;
  listen: Listen;
  sentinel: string;
  service: string;
  contract: ContractSpec;
  /** The key that pays; undefined for a pool. */
  key?: string;
  /** Spend velocity limits (uarkeo) on the upstream's contract(s), beside their registered ones (the tighter wins). */
  maxSpendPerHour?: bigint;
  maxSpendPerDay?: bigint;
}

export interface ProxyConfig {
  nonceStore?: string;
  node?: string;
  /** The audit log's path, resolved against the config's directory. */
  auditLog?: string;
  /** [audit.ship], checked and with its defaults. */
  auditShip?: AuditShipConfig;
  upstreams: UpstreamConfig[];
}

const TOP = new Set(['nonce_store', 'node', 'audit_log', 'audit', 'upstream']);

const FIELDS = new Set(['name', 'listen', 'sentinel', 'service', 'contract', 'key', 'max_spend_per_hour', 'max_spend_per_day']);

function str(o: Record<string, unknown>, field: string, where: string, required = true): string | undefined {
  const v = o[field];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v === '') throw new InputError('BAD_CONFIG', `${where}: "${field}" must be a non-empty string`);
  return v;
}

/** An optional amount of uarkeo: a TOML integer or a decimal string, at least 1. */
function amountOf(o: Record<string, unknown>, field: string, where: string): bigint | undefined {
  const v = o[field];
  if (v === undefined) return undefined;
  const text = typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : typeof v === 'bigint' ? String(v) : v;
  if (typeof text !== 'string') throw new InputError('BAD_CONFIG', `${where}: "${field}" must be an amount of uarkeo (an integer or a decimal string)`);
  try {
    return parseDecimal(text, `${where}: ${field}`, 1n, (1n << 128n) - 1n);
  } catch (e) {
    throw new InputError('BAD_CONFIG', (e as Error).message);
  }
}

export function parseContractSpec(text: string): ContractSpec {
  if (text === 'auto') return 'auto';
  if (text.startsWith('pool:')) return { pool: checkPoolName(text.slice(5)) };
  return parseContractId(text);
}

export function checkService(service: string, where: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(service)) throw new InputError('BAD_SERVICE', `${where}: service: expected a name such as eth-mainnet-fullnode, got "${service.slice(0, 100)}"`);
  return service;
}

export function loadProxyConfig(file: string): ProxyConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError('BAD_CONFIG', `${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).name})`);
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    throw new InputError('BAD_CONFIG', `${file}: not valid TOML (${(e as Error).message.split('\n')[0]})`);
  }
  for (const k of Object.keys(doc)) if (!TOP.has(k)) throw new InputError('BAD_CONFIG', `${file}: unknown setting "${k}" (expected nonce_store, node, audit_log, [audit.ship] and [[upstream]] tables)`);
  const base = path.dirname(path.resolve(file));
  const auditLog = str(doc, 'audit_log', file, false);
  const auditShip = doc.audit === undefined ? undefined : readAuditTable(file, doc.audit, base, PROXY_APP_NAME);
  const list = doc.upstream;
  if (!Array.isArray(list) || list.length === 0) throw new InputError('BAD_CONFIG', `${file}: no [[upstream]] table`);
  const names = new Set<string>();
  const upstreams = list.map((u, i) => {
    const where = `${file}: upstream ${i + 1}`;
    if (typeof u !== 'object' || u === null) throw new InputError('BAD_CONFIG', `${where}: not a table`);
    const o = u as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!FIELDS.has(k)) throw new InputError('BAD_CONFIG', `${where}: unknown field "${k}"`);
    const service = checkService(str(o, 'service', where)!, where);
    const name = str(o, 'name', where, false) ?? service;
    if (names.has(name)) throw new InputError('BAD_CONFIG', `${where}: name "${name}" used twice (set name = "…" to tell them apart)`);
    names.add(name);
    const contractText = typeof o.contract === 'number' ? String(o.contract) : str(o, 'contract', where)!;
    let contract: ContractSpec;
    let listen: Listen;
    try {
      contract = parseContractSpec(contractText);
      listen = parseListen(str(o, 'listen', where)!);
      sentinelBase(str(o, 'sentinel', where)!);
    } catch (e) {
      throw new InputError('BAD_CONFIG', `${where}: ${(e as Error).message}`);
    }
    if (typeof contract === 'object' && o.key !== undefined) throw new InputError('BAD_CONFIG', `${where}: "key" does not go with contract = "pool:${contract.pool}": each member signs with its own key; leave key out`);
    const key = typeof contract === 'object' ? undefined : str(o, 'key', where)!;
    const perHour = amountOf(o, 'max_spend_per_hour', where);
    const perDay = amountOf(o, 'max_spend_per_day', where);
    return { name, listen, sentinel: o.sentinel as string, service, contract, ...(key !== undefined ? { key } : {}), ...(perHour !== undefined ? { maxSpendPerHour: perHour } : {}), ...(perDay !== undefined ? { maxSpendPerDay: perDay } : {}) };
  });
  return {
    nonceStore: str(doc, 'nonce_store', file, false),
    node: str(doc, 'node', file, false),
    ...(auditLog !== undefined ? { auditLog: expandConfigPath(auditLog, base) } : {}),
    ...(auditShip ? { auditShip } : {}),
    upstreams,
  };
}
