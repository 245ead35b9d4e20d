import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeItem } from '../keyring/item.js';
import { decryptJwe } from '../keyring/jwe.js';
import { TEST_BACKEND_PASSWORD } from '../keyring/keyring.js';
import { toAddress } from '../crypto/address.js';
import type { NonceStore } from '../nonces/store.js';
import type { DaemonConfig } from '../daemon/config.js';
import type { TokenRecord } from '../daemon/tokens.js';
import type { AuditIndex } from './audit-index.js';

/**
 * What each page shows, computed from the sources the console reads: the audit index, the nonce store, the token
 * file and the keyring's address index. Nothing here writes anything or holds a secret.
 */

/** A token as the console shows it: never its hash. */
export interface PublicToken {
  name: string;
  policy: TokenRecord['policy'];
  created_at: string;
  revoked_at?: string;
}

export function publicTokens(records: TokenRecord[]): PublicToken[] {
  return records.map(({ name, policy, created_at, revoked_at }) => ({ name, policy, created_at, revoked_at }));
}

/**
 * Key names by address, from the keyring's address index (`<hex>.address` items name `<name>.info`). Only the
 * `test` backend's index can be read without a passphrase, and only those items are opened: never a key record,
 * which would hold the private key. A `file` keyring gives no names (the console has no passphrase).
 */
export function keyNamesByAddress(config: DaemonConfig): { names: Map<string, string>; note?: string } {
  const names = new Map<string, string>();
  if (config.keyring.backend !== 'test') return { names, note: `the ${config.keyring.backend} keyring is encrypted and the console holds no passphrase: keys are shown by address` };
  const dir = path.join(config.keyring.home, 'keyring-test');
  let files: string[];
  try {
    files = fs.readdirSync(dir);
  } catch {
    return { names, note: `${dir}: cannot list the keyring's address index` };
  }
  for (const f of files) {
    const m = /^([0-9a-f]{40})\.address$/.exec(f);
    if (!m) continue;
    try {
      const file = path.join(dir, f);
      const plain = decryptJwe(fs.readFileSync(file, 'latin1'), TEST_BACKEND_PASSWORD, file);
      const item = decodeItem(plain, file);
      const name = Buffer.from(item.data).toString('utf8').replace(/\.info$/, '');
      names.set(toAddress(new Uint8Array(Buffer.from(m[1]!, 'hex'))), name);
    } catch {
      /* an unreadable index item: that key is shown by address */
    }
  }
  return { names };
}

const allowed = (list: string[], value: string) => list.includes('*') || list.includes(value);

export interface KeyRow {
  name?: string;
  address?: string;
  kind: string;
  pubkey?: string;
  signaturesToday: number;
  signaturesTotal: number;
  lastUse?: string;
  tokens: string[];
}

export function keysView(index: AuditIndex, names: Map<string, string>, tokens: PublicToken[], storeSigners: string[], metricKeys: string[]): KeyRow[] {
  const byAddress = new Map<string, KeyRow>();
  const row = (address: string | undefined, name: string | undefined): KeyRow => {
    const id = address ?? `name:${name}`;
    let r = byAddress.get(id);
    if (!r) byAddress.set(id, (r = { name, address, kind: '—', signaturesToday: 0, signaturesTotal: 0, tokens: [] }));
    return r;
  };
  const addressOf = new Map([...names].map(([a, n]) => [n, a]));
  for (const [address, name] of names) row(address, name);
  for (const s of storeSigners) row(s, names.get(s));
  const today = new Date().toISOString().slice(0, 10);
  for (const [key, stats] of index.keyStats) {
    // Signed entries name the key by address; a name is resolved through the keyring index.
    const address = key.startsWith('arkeo1') ? key : addressOf.get(key);
    const r = row(address, address ? names.get(address) : key);
    r.signaturesTotal += stats.total;
    r.signaturesToday += stats.byDay.get(today) ?? 0;
    if (!r.lastUse || stats.last > Date.parse(r.lastUse)) r.lastUse = new Date(stats.last).toISOString();
    // The console holds no key and reads no key record: where a key lives is what its audit entries say.
    if (stats.backend) r.kind = stats.backend;
  }
  for (const k of metricKeys) if (!addressOf.has(k) && k !== '' && k !== '(not a loaded key)') row(undefined, k);
  for (const r of byAddress.values()) {
    r.tokens = tokens.filter((t) => !t.revoked_at && r.name !== undefined && allowed(t.policy.keys, r.name)).map((t) => t.name);
  }
  return [...byAddress.values()].sort((a, b) => (a.name ?? a.address ?? '').localeCompare(b.name ?? b.address ?? ''));
}

export interface ContractRow {
  contract: string;
  key?: string;
  signer: string;
  /** Highest nonce signed, from the audit log. */
  lastNonce: string;
  /** The store's high-water mark: nonces reserved ahead in blocks count as used. */
  reserved: string;
  rate?: string;
  deposit?: string;
  maxSpend?: string;
  ceiling?: string;
  spent?: string;
  /** spent / ceiling, 0..1 (more when over). */
  fraction?: number;
  claims: number;
  lastUse?: string;
  termsSource?: string;
}

export async function contractsView(index: AuditIndex, store: NonceStore, names: Map<string, string>): Promise<ContractRow[]> {
  const terms = new Map((await store.listContracts()).map((t) => [String(t.contractId), t]));
  const rows = new Map<string, ContractRow>();
  const get = (contract: string, signer: string): ContractRow => {
    const id = `${contract}/${signer}`;
    let r = rows.get(id);
    if (!r) rows.set(id, (r = { contract, signer, key: names.get(signer), lastNonce: '0', reserved: '0', claims: 0 }));
    return r;
  };
  for (const n of await store.list()) get(String(n.contractId), n.signer).reserved = String(n.reserved);
  for (const c of index.contractKeys.values()) {
    const r = get(c.contract, c.key);
    r.lastNonce = String(c.lastNonce);
    r.claims = c.claims;
    r.lastUse = new Date(c.last).toISOString();
  }
  for (const r of rows.values()) {
    const t = terms.get(r.contract);
    if (!t) continue;
    const ceiling = t.maxSpend !== undefined && t.maxSpend < t.deposit ? t.maxSpend : t.deposit;
    const spent = BigInt(r.lastNonce) * t.rate;
    Object.assign(r, {
      rate: String(t.rate),
      deposit: String(t.deposit),
      maxSpend: t.maxSpend === undefined ? undefined : String(t.maxSpend),
      ceiling: String(ceiling),
      spent: String(spent),
      fraction: ceiling > 0n ? Number((spent * 10000n) / ceiling) / 10000 : spent > 0n ? Infinity : 0,
      termsSource: t.source,
    });
  }
  return [...rows.values()].sort((a, b) => (BigInt(a.contract) === BigInt(b.contract) ? a.signer.localeCompare(b.signer) : BigInt(a.contract) < BigInt(b.contract) ? -1 : 1));
}

export interface TokenRow extends PublicToken {
  requests: number;
  refusals: number;
  lastUse?: string;
}

export function tokensView(index: AuditIndex, tokens: PublicToken[]): TokenRow[] {
  return tokens.map((t) => {
    const s = index.tokenStats.get(t.name);
    return { ...t, requests: s?.requests ?? 0, refusals: s?.refusals ?? 0, lastUse: s?.last ? new Date(s.last).toISOString() : undefined };
  });
}
