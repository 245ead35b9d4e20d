import * as fs from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { describeFsError, InputError } from '../errors.js';

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
] as const;

export type SettleConfig = Partial<Record<(typeof CONFIG_KEYS)[number], string>>;

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
  for (const [k, v] of Object.entries(doc)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(k)) throw new InputError('BAD_CONFIG', `${file}: unknown setting "${k.slice(0, 40)}"; expected ${CONFIG_KEYS.join(', ')}`);
    if (typeof v === 'string' && v !== '') out[k as keyof SettleConfig] = v;
    else if (typeof v === 'number' && Number.isFinite(v)) out[k as keyof SettleConfig] = String(v);
    else if (typeof v === 'bigint') out[k as keyof SettleConfig] = String(v);
    else throw new InputError('BAD_CONFIG', `${file}: "${k}" must be a non-empty string or a number`);
  }
  return out;
}
