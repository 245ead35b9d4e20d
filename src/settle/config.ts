import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { expandConfigPath, readAuditTable, type AuditShipConfig } from '../audit/index.js';
import { describeFsError, InputError } from '../errors.js';
import { SETTLE_APP_NAME } from './audit.js';

/**
 * `arkeo-signer settle --config FILE`: the settler's settings in TOML, under the flags' names with underscores.
 * A flag on the command line wins over the file. Every value is a string or a number; an unknown key is an error
 * (a misspelt `min_value` must not silently settle below the intended minimum).
 *
 *   sentinel = "http://127.0.0.1:3636"
 *   node = "http://127.0.0.1:1317"
 *   key = "settler"                     # the fee payer: any key the keyring (or the daemon) holds
 *   provider = "arkeopub1…"             # default: the sentinel's /metadata.json, pinned in the store
 *   interval = 30                       # seconds
 *   batch = 10
 *   min_value = 0                       # uarkeo to the provider, after the reserve
 *   margin = 3                          # blocks
 *   deadline_blocks = 50
 *   gas_prices = "0.001uarkeo"          # or fees = "200uarkeo"; gas, gas_adjustment, chain_id
 *   nonce_store = "postgres://settle@db.example/arkeo"
 *   listen = "127.0.0.1:9464"
 *   audit_log = "/var/lib/arkeo/signer/settle-audit.log"   # default <home>/signer/settle-audit.log
 *
 *   [audit.ship]                        # as the daemon's (after every plain setting: TOML puts what follows a
 *   target = "tcp"                      # table header into that table); app_name defaults to "arkeo-settle"
 *   address = "logs.example.net:514"
 *
 * audit_log and the [audit.ship] files are read relative to the config file's directory (and `~` is the home).
 */
export const CONFIG_KEYS = [
  'sentinel',
  'node',
  'key',
  'provider',
  'interval',
  'batch',
  'min_value',
  'margin',
  'deadline_blocks',
  'chain_id',
  'fees',
  'gas_prices',
  'gas',
  'gas_adjustment',
  'wait_timeout',
  'nonce_store',
  'listen',
  'audit_log',
] as const;

export type SettleConfigKey = (typeof CONFIG_KEYS)[number];

/** The plain settings, as strings; and [audit.ship], checked and with its defaults. */
export type SettleConfig = Partial<Record<SettleConfigKey, string>> & { audit_ship?: AuditShipConfig };


export function loadSettleConfig(file: string): SettleConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError('BAD_CONFIG', `--config ${describeFsError(e) ?? `${file}: cannot read`}`);
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    throw new InputError('BAD_CONFIG', `${file}: not TOML (${(e as Error).message.split('\n')[0]})`);
  }
  const out: SettleConfig = {};
  const base = path.dirname(path.resolve(file));
  for (const [k, v] of Object.entries(doc)) {
    if (k === 'audit') {
      const ship = readAuditTable(file, v, base, SETTLE_APP_NAME);
      if (ship) out.audit_ship = ship;
      continue;
    }
    if (!(CONFIG_KEYS as readonly string[]).includes(k)) throw new InputError('BAD_CONFIG', `${file}: unknown setting "${k.slice(0, 40)}"; expected ${CONFIG_KEYS.join(', ')} or [audit.ship]`);
    if (typeof v === 'string' && v !== '') out[k as SettleConfigKey] = k === 'audit_log' ? expandConfigPath(v, base) : v;
    else if (typeof v === 'number' && Number.isFinite(v)) out[k as SettleConfigKey] = String(v);
    else if (typeof v === 'bigint') out[k as SettleConfigKey] = String(v);
    else throw new InputError('BAD_CONFIG', `${file}: "${k}" must be a non-empty string or a number`);
  }
  return out;
}
