import { ContractAuthorization, ContractType, MsgCloseContractCodec, MsgOpenContractCodec, findEvent, parseCoin, type ChainClient, type TxOutcome } from '../tx/index.js';
import { PREFIXES, toAddress, toBech32PubKey } from '../crypto/address.js';
import { equalBytes } from '../crypto/bytes.js';
import { parseContractId, parseDecimal, MAX_INT64, type ChainContract } from '../claims/index.js';
import { KeyringError } from '../errors.js';
import type { ContractTerms } from '../nonces/store.js';
import { UsageError, flagValue, commandRunner } from './common.js';
import { bind, runGroup, type Parsed } from './table.js';
import { CONTRACT, CONTRACT_CLOSE, CONTRACT_LIST, CONTRACT_OPEN, CONTRACT_SHOW } from './tables/chain.js';
import { closingSigners, nodeOf, readingNode, openTxSigner, printOutcome, runTx, senderOf } from './chain-tx.js';
import { openKeyring } from './open-keyring.js';
import { parsePublicKeyArg } from './public-key.js';
import { withStore } from './nonce-store.js';
import { EXIT } from './exit-codes.js';
import type { OpenTerms } from './pool.js';

const out = (s: string) => process.stdout.write(s);
const int64 = (v: string, what: string, min = 1n) => flagValue(() => parseDecimal(v, what, min, MAX_INT64));

/** A key name in the keyring, or a public key in any form `parsePublicKeyArg` takes. */
async function publicKeyOf(values: Parameters<typeof openKeyring>[0], text: string, flag: string): Promise<Uint8Array> {
  try {
    return parsePublicKeyArg(text);
  } catch {
    try {
      const info = await openKeyring(values).get(text);
      if (info.publicKey) return info.publicKey;
    } catch (e) {
      if (!(e instanceof KeyringError && e.code === 'KEY_NOT_FOUND')) throw e;
    }
    throw new UsageError(`${flag}: "${text.slice(0, 80)}" is neither a key in the keyring nor a public key (arkeopub1…, 66 hex digits)`);
  }
}


/** The contract's terms from the flags, with the provider's rate and settlement duration where the flags leave them out. */
async function termsOf(values: Parsed<typeof CONTRACT_OPEN>['values'], chain: ChainClient | undefined): Promise<OpenTerms> {
  const providerKey = flagValue(() => parsePublicKeyArg(values.provider));
  const providerPub = toBech32PubKey(providerKey);
  const type = values.type === 'subscription' ? ContractType.SUBSCRIPTION : ContractType.PAY_AS_YOU_GO;
  const authorization = values.authorization === 'open' ? ContractAuthorization.OPEN : ContractAuthorization.STRICT;
  if (type === ContractType.PAY_AS_YOU_GO && authorization === ContractAuthorization.OPEN) throw new UsageError('--authorization open: only subscriptions can be open; the chain refuses an open pay-as-you-go contract');
  const duration = int64(values.duration, 'duration');
  const qpm = int64(values.qpm, 'qpm');
  const provider = chain ? await chain.provider(providerPub, values.service) : undefined;
  if (chain && !provider) throw new UsageError(`--provider/--service: the chain has no provider ${providerPub} for service "${values.service}"; check both (the provider's /metadata.json names them)`);
  if (provider && provider.status !== 'ONLINE') throw new UsageError(`--provider: the provider is ${provider.status} for "${values.service}"; the chain opens contracts only with online providers`);
  if (provider && ((provider.minContractDuration > 0n && duration < provider.minContractDuration) || (provider.maxContractDuration > 0n && duration > provider.maxContractDuration))) {
    throw new UsageError(`--duration: the provider takes ${provider.minContractDuration} to ${provider.maxContractDuration} blocks`);
  }
  const offered = provider ? (type === ContractType.SUBSCRIPTION ? provider.subscriptionRate : provider.payAsYouGoRate) : [];
  let rate: { denom: string; amount: string };
  if (values.rate !== undefined) {
    rate = flagValue(() => parseCoin(values.rate!, '--rate'));
    if (provider && !offered.some((c) => c.denom === rate.denom && c.amount === rate.amount)) throw new UsageError(`--rate ${rate.amount}${rate.denom}: the provider's rate is ${offered.map((c) => c.amount + c.denom).join(' or ') || 'not set'}; the chain requires it exactly (leave --rate out to take it)`);
  } else if (offered.length > 0) rate = offered.find((c) => c.denom === 'uarkeo') ?? offered[0]!;
  else throw new UsageError('--rate is required (with --offline, or when the provider has no rate for this contract type)');
  if (rate.amount === '0') throw new UsageError('--rate: must be above 0');
  let settlementDuration: bigint;
  if (values['settlement-duration'] !== undefined) {
    settlementDuration = int64(values['settlement-duration'], 'settlement duration', 0n);
    if (provider && type === ContractType.PAY_AS_YOU_GO && settlementDuration !== provider.settlementDuration) throw new UsageError(`--settlement-duration: the provider's is ${provider.settlementDuration}; the chain requires it exactly`);
  } else if (provider) settlementDuration = type === ContractType.PAY_AS_YOU_GO ? provider.settlementDuration : 0n;
  else throw new UsageError('--settlement-duration is required with --offline');
  let deposit: string;
  if (type === ContractType.SUBSCRIPTION) {
    deposit = (BigInt(rate.amount) * duration * qpm).toString();
    if (values.deposit !== undefined && values.deposit !== deposit) throw new UsageError(`--deposit: a subscription's deposit is rate × duration × qpm = ${deposit}; leave --deposit out`);
  } else {
    if (values.deposit === undefined) throw new UsageError('--deposit is required for a pay-as-you-go contract: it bounds what the contract can pay (nonce × rate)');
    deposit = String(flagValue(() => parseDecimal(values.deposit!, 'deposit', 1n, (1n << 128n) - 1n)));
  }
  return { providerPub, service: values.service, type, rate, deposit, duration, settlementDuration, authorization, qpm };
}

function openMessage(terms: OpenTerms, client: Uint8Array, delegate: Uint8Array | undefined) {
  return {
    typeUrl: MsgOpenContractCodec.typeUrl,
    value: MsgOpenContractCodec.encode({
      creator: toAddress(client),
      provider: terms.providerPub,
      service: terms.service,
      client: toBech32PubKey(client),
      ...(delegate ? { delegate: toBech32PubKey(delegate) } : {}),
      contractType: terms.type,
      duration: terms.duration,
      rate: terms.rate,
      deposit: terms.deposit,
      settlementDuration: terms.settlementDuration,
      authorization: terms.authorization,
      queriesPerMinute: terms.qpm,
    }),
  };
}

/** The new contract's id, from the block's EventOpenContract. */
function openedId(outcome: TxOutcome): bigint | undefined {
  const event = outcome.included?.code === 0 ? findEvent(outcome.included, 'arkeo.arkeo.EventOpenContract') : undefined;
  return event?.contract_id && /^[0-9]+$/.test(event.contract_id) ? BigInt(event.contract_id) : undefined;
}

/** Record what claims need (rate, deposit, parties), as `claim contract add --lcd` would. */
async function register(values: Parsed<typeof CONTRACT_OPEN>['values'], contractId: bigint, terms: OpenTerms, client: Uint8Array, delegate: Uint8Array | undefined): Promise<void> {
  if (terms.type !== ContractType.PAY_AS_YOU_GO) return;
  const record: ContractTerms = { contractId, rate: BigInt(terms.rate.amount), deposit: BigInt(terms.deposit), source: nodeOf(values).lcd, client, ...(delegate ? { delegate } : {}) };
  await withStore({ ...values, 'create-nonce-store': values['create-nonce-store'] ?? true }, 'write', (store) => store.putContract(record));
}

async function open({ values }: Parsed<typeof CONTRACT_OPEN>): Promise<number> {
  const chain = values.offline ? undefined : nodeOf(values);
  const terms = await termsOf(values, chain);
  const signer = await openTxSigner(values);
  const client = await signer.publicKey();
  if (values.delegates !== undefined) return (await import('./pool.js')).openPool(values, terms, signer, client, openMessage, register, openedId);
  const delegate = values.delegate !== undefined ? await publicKeyOf(values, values.delegate, '--delegate') : undefined;
  if (delegate && equalBytes(delegate, client)) throw new UsageError('--delegate is the client\'s own key; leave --delegate out');
  const message = openMessage(terms, client, delegate);
  if (values.offline || values['generate-only']) return (await runTx(values, signer, [message])).exit;
  const sender = senderOf(values, signer);
  const outcome = (await runTx(values, signer, [message], sender, false)).outcome!;
  const contractId = openedId(outcome);
  if (contractId !== undefined) await register(values, contractId, terms, client, delegate);
  return printOutcome(values.output, outcome, contractId !== undefined ? { contract_id: String(contractId) } : {});
}

async function close({ values }: Parsed<typeof CONTRACT_CLOSE>): Promise<number> {
  const contractId = flagValue(() => parseContractId(values.id));
  const signer = await openTxSigner(values);
  const client = await signer.publicKey();
  const delegate = values.delegate !== undefined ? flagValue(() => parsePublicKeyArg(values.delegate!)) : undefined;
  if (!values.offline && !values['generate-only']) {
    // Checked before anything is signed: the chain would take the fee and refuse.
    const c = await nodeOf(values).contract(contractId);
    if (!c) throw new UsageError(`--id ${contractId}: the chain has no such contract`);
    if (!equalBytes(c.client, client)) throw new UsageError(`--id ${contractId}: only the contract's client (${toAddress(c.client)}) can close it, not ${toAddress(client)}`);
    if (c.settlementHeight !== undefined && c.settlementHeight > 0n) throw new UsageError(`--id ${contractId}: the contract was settled at height ${c.settlementHeight}; nothing to close`);
    if (delegate && (!c.delegate || !equalBytes(c.delegate, delegate))) throw new UsageError(`--delegate: not the contract's delegate; leave it out`);
  }
  const message = { typeUrl: MsgCloseContractCodec.typeUrl, value: MsgCloseContractCodec.encode({ creator: toAddress(client), contractId, client: toBech32PubKey(client), ...(delegate ? { delegate: toBech32PubKey(delegate) } : {}) }) };
  return (await runTx(values, signer, [message])).exit;
}

function contractJson(c: ChainContract, height: bigint, services: Map<number, string>) {
  const expiry = (c.height ?? 0n) + (c.duration ?? 0n);
  const settlementEnd = expiry + (c.type === 'PAY_AS_YOU_GO' ? (c.settlementDuration ?? 0n) : 0n);
  const open = (c.height ?? 0n) !== 0n && expiry >= height && !((c.settlementHeight ?? 0n) > 0n && (c.settlementHeight ?? 0n) < height);
  return {
    contract_id: String(c.contractId),
    provider: c.provider ? toBech32PubKey(c.provider) : null,
    service: c.service === undefined ? null : (services.get(c.service) ?? String(c.service)),
    client: toBech32PubKey(c.client),
    spender: toBech32PubKey(c.delegate ?? c.client),
    type: c.type,
    rate: `${c.rate}${c.denom}`,
    deposit: String(c.deposit),
    nonce: String(c.nonce),
    paid: String(c.paid),
    height: String(c.height ?? 0n),
    expiry_height: String(expiry),
    settlement_end_height: String(settlementEnd),
    settlement_height: String(c.settlementHeight ?? 0n),
    blocks_left: String(open && expiry > height ? expiry - height : 0n),
    open,
  };
}

/** Service names for display; a node without the registry route shows the number. */
async function serviceNames(chain: ChainClient): Promise<Map<number, string>> {
  return chain.services().catch(() => new Map<number, string>());
}

function printContracts(output: string, rows: ReturnType<typeof contractJson>[]): void {
  if (output === 'json') out(JSON.stringify(rows) + '\n');
  else out(rows.map((r) => `${r.contract_id}\t${r.open ? 'open' : 'closed'}\t${r.type}\tprovider ${r.provider}\tservice ${r.service}\tspender ${r.spender}\trate ${r.rate}\tdeposit ${r.deposit}\tnonce ${r.nonce}\tpaid ${r.paid}\texpires ${r.expiry_height} (${r.blocks_left} blocks left)\n`).join(''));
}

async function list({ values }: Parsed<typeof CONTRACT_LIST>): Promise<void> {
  const chain = await readingNode(values);
  const key = values.key !== undefined ? await publicKeyOf(values, values.key, '--key') : undefined;
  const provider = values.provider !== undefined ? flagValue(() => parsePublicKeyArg(values.provider!)) : undefined;
  const [height, contracts, services] = await Promise.all([chain.latestHeight(), chain.contracts(PREFIXES.accountPub), serviceNames(chain)]);
  const rows = contracts
    .filter((c) => !key || equalBytes(c.client, key) || (c.delegate !== undefined && equalBytes(c.delegate, key)))
    .filter((c) => !provider || (c.provider !== undefined && equalBytes(c.provider, provider)))
    .map((c) => contractJson(c, height, services))
    .filter((r) => !values.open || r.open);
  printContracts(values.output, rows);
}

async function show({ values, positionals: [id] }: Parsed<typeof CONTRACT_SHOW>): Promise<number> {
  const chain = await readingNode(values);
  const contractId = flagValue(() => parseContractId(id!));
  const [height, c, services] = await Promise.all([chain.latestHeight(), chain.contract(contractId), serviceNames(chain)]);
  if (!c) {
    process.stderr.write(`contract ${contractId}: the chain has no such contract\n`);
    return EXIT.refused;
  }
  const row = contractJson(c, height, services);
  if (values.output === 'json') out(JSON.stringify(row) + '\n');
  else out(Object.entries(row).map(([k, v]) => `${k.replace(/_/g, ' ')}: ${v}\n`).join(''));
  return EXIT.ok;
}

/** `arkeo-signer contract …`, run by the dispatcher (arkeo-signer.ts). */
export const run = commandRunner((args) => closingSigners(() => runGroup(CONTRACT, args, [bind(CONTRACT_OPEN, open), bind(CONTRACT_CLOSE, close), bind(CONTRACT_LIST, list), bind(CONTRACT_SHOW, show)])));

