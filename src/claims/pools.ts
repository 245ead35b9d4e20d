import * as path from 'node:path';
import { InputError } from '../errors.js';
import { ensurePrivateDir, readPrivateFile, writeFileAtomic } from '../fsutil.js';

/**
 * A pool: contracts with one provider and service, each paid by its own delegate key, used as one. A sentinel
 * serves one request per contract at a time in nonce order, so N contracts carry N requests at once; the proxy and
 * curl spread requests over the pool (`--contract pool:NAME`), each contract still strictly in order.
 * Kept as <home>/signer/pools/NAME.json.
 */
export interface PoolMember {
  contractId: bigint;
  /** The keyring name of the delegate key that signs this contract's claims. */
  key: string;
}

export interface Pool {
  name: string;
  provider: string;
  service: string;
  members: PoolMember[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAX_POOL_FILE = 1024 * 1024;

export function poolFile(home: string, name: string): string {
  if (!NAME.test(name)) throw new InputError('BAD_POOL_NAME', `pool name "${name.slice(0, 70)}": use letters, digits, '.', '_' and '-' (at most 64)`);
  return path.join(home, 'signer', 'pools', `${name}.json`);
}

export function writePool(home: string, pool: Pool): string {
  const file = poolFile(home, pool.name);
  ensurePrivateDir(path.dirname(file));
  const json = { name: pool.name, provider: pool.provider, service: pool.service, members: pool.members.map((m) => ({ contract_id: String(m.contractId), key: m.key })) };
  writeFileAtomic(file, JSON.stringify(json, null, 2) + '\n');
  return file;
}

export function readPool(home: string, name: string): Pool {
  const file = poolFile(home, name);
  const raw = readPrivateFile(file, MAX_POOL_FILE);
  if (!raw) throw new InputError('POOL_NOT_FOUND', `pool ${name}: no ${file}; create it with \`arkeo-signer contract open --delegates N --pool ${name} …\``);
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new InputError('BAD_POOL', `${file}: not JSON`);
  }
  const members = o.members;
  if (typeof o.provider !== 'string' || typeof o.service !== 'string' || !Array.isArray(members) || members.length === 0) throw new InputError('BAD_POOL', `${file}: expected provider, service and a non-empty members list`);
  return {
    name,
    provider: o.provider,
    service: o.service,
    members: members.map((m: unknown, i: number) => {
      const r = m as Record<string, unknown>;
      if (typeof r?.contract_id !== 'string' || !/^[1-9][0-9]{0,19}$/.test(r.contract_id) || typeof r.key !== 'string' || r.key === '') throw new InputError('BAD_POOL', `${file}: members[${i}] needs a contract_id and a key`);
      return { contractId: BigInt(r.contract_id), key: r.key };
    }),
  };
}
