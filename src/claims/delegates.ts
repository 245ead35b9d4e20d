import * as path from 'node:path';
import { InputError } from '../errors.js';
import { PREFIXES, parseBech32PubKey, toAddress, toBech32PubKey } from '../crypto/address.js';
import { ensurePrivateDir, readPrivateFile, writeFileAtomic } from '../fsutil.js';

/**
 * "NAME is a claim delegate of ACCOUNT", recorded by `keys add NAME --delegate-for ACCOUNT` in
 * `<keyring-dir>/arkeo-signer/delegates.json`, beside arkeod's keyring-<backend>/ folders (arkeod reads only
 * those, so it does not mind the file). Keys are matched by public key, not name, so a rename keeps the record.
 * The daemon's `keyring.delegates_only` serves only the keys recorded here.
 */
export interface DelegateRecord {
  /** The key's name when it was recorded (informational). */
  name: string;
  /** arkeopub1… of the delegate key. */
  pubkey: string;
  /** arkeopub1… of the account (the contract's client) it signs claims for. */
  account: string;
  /** The account key's name, when it was given by name. */
  account_name?: string;
  created_at: string;
}

const MAX_FILE = 1024 * 1024;

export function delegatesFile(keyringDir: string): string {
  return path.join(keyringDir, 'arkeo-signer', 'delegates.json');
}

export function readDelegates(keyringDir: string): DelegateRecord[] {
  const file = delegatesFile(keyringDir);
  const raw = readPrivateFile(file, MAX_FILE);
  if (!raw) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new InputError('BAD_DELEGATES', `${file}: not JSON; restore it or remove it and record the delegates again (keys add … --delegate-for)`);
  }
  const list = (parsed as { delegates?: unknown })?.delegates;
  if (!Array.isArray(list)) throw new InputError('BAD_DELEGATES', `${file}: expected {"delegates": [...]}`);
  return list.map((r: DelegateRecord, i: number) => {
    for (const field of ['name', 'pubkey', 'account'] as const) {
      if (typeof r?.[field] !== 'string') throw new InputError('BAD_DELEGATES', `${file}: delegates[${i}].${field}: expected a string`);
    }
    return r;
  });
}

export function recordDelegate(keyringDir: string, record: Omit<DelegateRecord, 'created_at'>): DelegateRecord {
  const all = readDelegates(keyringDir).filter((r) => !(r.pubkey === record.pubkey && r.account === record.account));
  const full: DelegateRecord = { ...record, created_at: new Date().toISOString() };
  all.push(full);
  const file = delegatesFile(keyringDir);
  ensurePrivateDir(path.dirname(file));
  writeFileAtomic(file, JSON.stringify({ delegates: all }, null, 1) + '\n');
  return full;
}

/**
 * The `arkeo-signer contract open` command that opens a pay-as-you-go contract for `client` naming `delegate`,
 * signed by the client's own key (`--key`: the chain requires the signer to be the client). The provider's terms
 * are left as shell variables to fill in; the rate and settlement duration default to the provider's.
 */
export function openContractCommand(client: Uint8Array, delegate: Uint8Array, from?: string, prefix: string = PREFIXES.accountPub): { argv: string[]; text: string } {
  const key = from ?? toAddress(client, prefix === 'tarkeopub' ? 'tarkeo' : PREFIXES.account);
  const argv = ['arkeo-signer', 'contract', 'open', '--provider', '$PROVIDER_PUBKEY', '--service', '$SERVICE', '--deposit', '$DEPOSIT', '--duration', '$DURATION', '--delegate', toBech32PubKey(delegate, prefix), '--key', key, '--node', '$ARKEO_NODE'];
  const quote = (a: string) => (a.startsWith('$') ? `"${a}"` : /^[A-Za-z0-9._\/:@=+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  const text = [
    '# Opens a pay-as-you-go contract paid by the account and naming the new key as its claim delegate. Run it where',
    "# the account's key is (any backend), after setting the provider's terms (its /metadata.json names them):",
    '#   PROVIDER_PUBKEY=arkeopub1…  SERVICE=…  DEPOSIT=<uarkeo>  DURATION=<blocks>  ARKEO_NODE=http://<node>:1317',
    '# The rate and settlement duration are the provider\'s, read from the chain.',
    argv.map(quote).join(' '),
  ].join('\n');
  return { argv, text };
}

/** An account given as arkeopub1… (or tarkeopub1…). */
export function parseAccountPub(text: string): Uint8Array {
  return parseBech32PubKey(text, text.startsWith('t') ? 'tarkeopub' : PREFIXES.accountPub);
}
