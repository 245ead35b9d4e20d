import { writePool, type PoolMember } from '../claims/pools.js';
import { generateMnemonic } from '../crypto/hd.js';
import type { Signer } from '../signers/index.js';
import type { EncodedMessage, TxOutcome } from '../tx/index.js';
import { UsageError, flagValue } from './common.js';
import { parseDecimal } from '../claims/index.js';
import { openKeyring } from './open-keyring.js';
import { homeOf } from './nonce-store.js';
import { printOutcome, runTx, senderOf } from './chain-tx.js';
import type { Parsed } from './table.js';
import type { CONTRACT_OPEN } from './tables/chain.js';
import { EXIT } from './exit-codes.js';

type Values = Parsed<typeof CONTRACT_OPEN>['values'];

/** A contract's terms as `contract open` settles them, before the message is built. */
export interface OpenTerms {
  providerPub: string;
  service: string;
  type: number;
  rate: { denom: string; amount: string };
  deposit: string;
  duration: bigint;
  settlementDuration: bigint;
  authorization: number;
  qpm: bigint;
}


/**
 * `contract open --delegates N --pool NAME`: N new delegate keys (NAME-1 … NAME-N, local keys in the keyring the
 * flags name) and one contract each, sent from the client's account in order (one sequence after another, all in
 * the mempool at once), then recorded as the pool. Keys are made first: a failure to send leaves keys, never a
 * contract without its key.
 */
export async function openPool(
  values: Values,
  terms: OpenTerms,
  signer: Signer,
  client: Uint8Array,
  openMessage: (terms: OpenTerms, client: Uint8Array, delegate: Uint8Array) => EncodedMessage,
  register: (values: Values, id: bigint, terms: OpenTerms, client: Uint8Array, delegate: Uint8Array) => Promise<void>,
  openedId: (outcome: TxOutcome) => bigint | undefined,
): Promise<number> {
  const n = Number(flagValue(() => parseDecimal(values.delegates!, 'delegates', 1n, 64n)));
  const name = values.pool!;
  if (values.offline || values['generate-only']) throw new UsageError('--delegates: a pool is opened on chain (not with --offline or --generate-only)');
  const keyring = openKeyring(values, 'write');
  const names = Array.from({ length: n }, (_, i) => `${name}-${i + 1}`);
  for (const k of names) if (await keyring.has(k)) throw new UsageError(`--pool ${name}: the keyring already has a key ${k}; choose another pool name`);
  const delegates: Uint8Array[] = [];
  for (const k of names) delegates.push((await keyring.newAccount(k, generateMnemonic())).publicKey!);
  const sender = senderOf(values, signer);
  const results = await Promise.allSettled(delegates.map((d) => runTx(values, signer, [openMessage(terms, client, d)], sender, false)));
  const members: PoolMember[] = [];
  let exit: number = EXIT.ok;
  for (const [i, r] of results.entries()) {
    if (r.status === 'rejected') {
      process.stderr.write(`${names[i]}: ${(r.reason as Error).message}\n`);
      exit = EXIT.refused;
      continue;
    }
    const outcome = r.value.outcome!;
    const id = openedId(outcome);
    if (id === undefined) {
      printOutcome('text', outcome);
      exit = EXIT.refused;
      continue;
    }
    await register(values, id, terms, client, delegates[i]!);
    members.push({ contractId: id, key: names[i]! });
    if (values.output !== 'json') printOutcome('text', outcome, { contract_id: String(id), delegate: names[i] });
  }
  if (members.length > 0) {
    const file = writePool(homeOf(values), { name, provider: terms.providerPub, service: terms.service, members });
    if (values.output === 'json') process.stdout.write(JSON.stringify({ pool: name, file, contracts: members.map((m) => ({ contract_id: String(m.contractId), key: m.key })) }) + '\n');
    else process.stdout.write(`pool ${name}: ${members.length} contract(s) in ${file}; pay with --contract pool:${name}\n`);
  }
  return exit;
}
