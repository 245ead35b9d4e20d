import * as path from 'node:path';
import { TxRaw } from 'cosmjs-types/cosmos/tx/v1beta1/tx';
import { ChainClient, ChainError, TxJournal, TxSender, eventAttributes, formatCoins, parseFeeChoice, signDocOf, signOffline, type EncodedMessage, type IncludedTx, type SendRequest, type TxOutcome } from '../tx/index.js';
import { parseDecimal, MAX_INT64 } from '../claims/index.js';
import type { Signer } from '../signers/index.js';
import { UsageError, flagValue } from './common.js';
import { daemonTarget, openKeyringKey } from './open-key.js';
import { homeOf } from './nonce-store.js';
import { EXIT } from './exit-codes.js';
import type { KeyringFlags } from './common.js';

/** What the transaction commands share: the node, the signer, the fee, sending, and printing the block's answer. */
export interface TxValues extends KeyringFlags {
  key: string;
  node?: string;
  'chain-id'?: string;
  fees?: string;
  'gas-prices'?: string;
  gas?: string;
  'gas-adjustment'?: string;
  note?: string;
  'timeout-height'?: string;
  'no-wait'?: boolean;
  'wait-timeout'?: string;
  'generate-only'?: boolean;
  offline?: boolean;
  'account-number'?: string;
  sequence?: string;
  'pin-file'?: string;
  daemon?: string;
  'token-file'?: string;
  output: string;
}

const out = (s: string) => process.stdout.write(s);

export function nodeOf(values: { node?: string }): ChainClient {
  const url = values.node ?? process.env.ARKEO_NODE;
  if (!url) throw new UsageError('--node is required (or $ARKEO_NODE): the chain node\'s LCD, e.g. http://127.0.0.1:1317');
  return flagValue(() => new ChainClient(url));
}

const opened: { close(): void }[] = [];

/** Close what openTxSigner opened (a key's sessions, a daemon connection) when the command is done. */
export async function closingSigners<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } finally {
    for (const c of opened.splice(0)) c.close();
  }
}

/** The node, checked to serve --chain-id when it is given (a read from the wrong chain would mislead as surely as a write). */
export async function readingNode(values: { node?: string; 'chain-id'?: string }): Promise<ChainClient> {
  const chain = nodeOf(values);
  if (values['chain-id'] !== undefined) {
    const served = await chain.chainId();
    if (served !== values['chain-id']) throw new ChainError('CHAIN_ID_MISMATCH', `node ${chain.lcd} serves chain "${served}", not "${values['chain-id']}"`);
  }
  return chain;
}

/**
 * The key where it lives: the daemon's with --daemon (or $ARKEO_SIGNER_DAEMON), signing transactions under its
 * token's tx policy, else the keyring's, any backend (open-key.ts makes the choice for every command).
 */
export async function openTxSigner(values: TxValues): Promise<Signer> {
  const target = daemonTarget(values);
  if (target) {
    const { DaemonClient, daemonToken, daemonTxSigner } = await import('../daemon/client.js');
    const client = new DaemonClient(target, { token: daemonToken(values['token-file']) });
    opened.push(client);
    return daemonTxSigner(client, values.key);
  }
  const signer = await openKeyringKey(values, values.key);
  opened.push({ close: () => signer.destroy() });
  return signer;
}

/** The journal of what this home's keys sent: <home>/signer/tx/. */
export function journalOf(values: { home?: string }): TxJournal {
  return new TxJournal(path.join(homeOf(values), 'signer', 'tx'));
}

function requestOf(values: TxValues, messages: EncodedMessage[]): SendRequest {
  const fee = flagValue(() => parseFeeChoice(values));
  if (values.note !== undefined && values.note.length > 256) throw new UsageError('--note: at most 256 characters (the chain refuses longer memos)');
  const timeoutHeight = values['timeout-height'] === undefined ? undefined : flagValue(() => parseDecimal(values['timeout-height']!, 'timeout height', 1n, MAX_INT64));
  return { messages, fee, ...(values.note ? { memo: values.note } : {}), ...(timeoutHeight ? { timeoutHeight } : {}) };
}

export function senderOf(values: TxValues, signer: Signer): TxSender {
  const waitSeconds = Number(values['wait-timeout'] ?? '60');
  if (!Number.isInteger(waitSeconds) || waitSeconds < 1 || waitSeconds > 3600) throw new UsageError('--wait-timeout: expected whole seconds from 1 to 3600');
  return new TxSender(nodeOf(values), signer, { journal: journalOf(values), wait: !values['no-wait'], waitMs: waitSeconds * 1000, ...(values['chain-id'] ? { chainId: values['chain-id'] } : {}) });
}

/**
 * Build, sign and send one transaction as the flags say, or (--generate-only, --offline) print it. Returns the
 * block's record when it was waited for; prints the outcome when `print`.
 */
export async function runTx(values: TxValues, signer: Signer, messages: EncodedMessage[], sender?: TxSender, print = true): Promise<{ outcome?: TxOutcome; exit: number }> {
  const request = requestOf(values, messages);
  if (values.offline) return { exit: await printOffline(values, signer, request) };
  if (values['generate-only']) return { exit: await printUnsigned(values, signer, request) };
  const outcome = await (sender ?? senderOf(values, signer)).send(request);
  return { outcome, exit: print ? printOutcome(values.output, outcome) : outcome.included && outcome.included.code !== 0 ? EXIT.refused : EXIT.ok };
}

async function printOffline(values: TxValues, signer: Signer, request: SendRequest): Promise<number> {
  if (values['chain-id'] === undefined || values['account-number'] === undefined || values.sequence === undefined) throw new UsageError('--offline needs --chain-id, --account-number and --sequence');
  const accountNumber = flagValue(() => parseDecimal(values['account-number']!, 'account number', 0n, (1n << 64n) - 1n));
  const sequence = flagValue(() => parseDecimal(values.sequence!, 'sequence', 0n, (1n << 64n) - 1n));
  if (values['generate-only']) return printDoc(values, await signer.publicKey(), request, { chainId: values['chain-id'], accountNumber, sequence });
  const signed = await signOffline(signer, request, { chainId: values['chain-id'], accountNumber, sequence });
  const txBase64 = Buffer.from(signed.txBytes).toString('base64');
  out(values.output === 'json' ? JSON.stringify({ tx_hash: signed.txHash, tx_bytes: txBase64, fee: formatCoins(signed.fee), gas: String(signed.gasLimit) }) + '\n' : `${txBase64}\n`);
  if (values.output !== 'json') process.stderr.write(`signed offline: ${signed.txHash}; broadcast the base64 TxRaw above with POST /cosmos/tx/v1beta1/txs\n`);
  return EXIT.ok;
}

async function printUnsigned(values: TxValues, signer: Signer, request: SendRequest): Promise<number> {
  const chain = nodeOf(values);
  const publicKey = await signer.publicKey();
  const { toAddress } = await import('../crypto/address.js');
  const address = toAddress(publicKey);
  const [chainId, account] = await Promise.all([values['chain-id'] ? Promise.resolve(values['chain-id']) : chain.chainId(), chain.account(address)]);
  if (!account) throw new ChainError('ACCOUNT_NOT_FOUND', `account ${address} does not exist on the chain: fund it first`);
  return printDoc(values, publicKey, request, { chainId, accountNumber: account.accountNumber, sequence: account.sequence });
}

function printDoc(values: TxValues, publicKey: Uint8Array, request: SendRequest, account: { chainId: string; accountNumber: bigint; sequence: bigint }): number {
  if (request.fee.gas === 'auto') throw new UsageError('--generate-only: give --gas N (nothing is simulated for a transaction that is not signed here)');
  const gasLimit = request.fee.gas;
  const fee = request.fee.fees ?? [];
  const doc = signDocOf({ messages: request.messages, memo: request.memo, timeoutHeight: request.timeoutHeight, fee: { amount: request.fee.fees ?? [], gasLimit } }, { publicKey, ...account });
  const unsigned = TxRaw.encode({ bodyBytes: doc.bodyBytes, authInfoBytes: doc.authInfoBytes, signatures: [] }).finish();
  const report = {
    chain_id: account.chainId,
    account_number: String(account.accountNumber),
    sequence: String(account.sequence),
    fee: formatCoins(fee),
    gas: String(gasLimit),
    body_bytes: Buffer.from(doc.bodyBytes).toString('base64'),
    auth_info_bytes: Buffer.from(doc.authInfoBytes).toString('base64'),
    sign_doc: Buffer.from(doc.signDoc).toString('hex'),
    unsigned_tx: Buffer.from(unsigned).toString('base64'),
  };
  if (!request.fee.fees) process.stderr.write('note: --generate-only takes the fee from --fees only; this transaction has none\n');
  out(values.output === 'json' ? JSON.stringify(report) + '\n' : Object.entries(report).map(([k, v]) => `${k}: ${v}\n`).join(''));
  return EXIT.ok;
}

export function includedJson(included: IncludedTx) {
  return {
    height: String(included.height),
    code: included.code,
    codespace: included.codespace,
    gas_wanted: String(included.gasWanted),
    gas_used: String(included.gasUsed),
    ...(included.code !== 0 ? { raw_log: included.rawLog } : {}),
    events: included.events.filter((e) => e.type.startsWith('arkeo.') || e.type === 'transfer').map((e) => ({ type: e.type, attributes: eventAttributes(e) })),
  };
}

/** Print what the block says; exit 1 when the block refused the transaction (its fee was still charged). */
export function printOutcome(output: string, outcome: TxOutcome, extra: Record<string, unknown> = {}): number {
  const inc = outcome.included;
  const json = { tx_hash: outcome.txHash, sequence: String(outcome.sequence), ...(outcome.gasLimit ? { gas: String(outcome.gasLimit), fee: formatCoins(outcome.fee) } : {}), ...(outcome.earlier ? { sent_by_an_earlier_run: true } : {}), included: inc ? includedJson(inc) : null, ...extra };
  if (output === 'json') out(JSON.stringify(json) + '\n');
  else {
    const earlier = outcome.earlier ? ' (sent by an earlier run; nothing new was signed)' : '';
    if (!inc) out(`${outcome.txHash} accepted by the node${earlier}; not waiting for the block\n`);
    else if (inc.code === 0) out(`${outcome.txHash} included at height ${inc.height}, gas used ${inc.gasUsed}${earlier}${Object.entries(extra).map(([k, v]) => `, ${k.replace(/_/g, ' ')} ${String(v)}`).join('')}\n`);
    else out(`${outcome.txHash} included at height ${inc.height} but FAILED (code ${inc.code}${inc.codespace ? `, ${inc.codespace}` : ''}): ${inc.rawLog}; the fee was charged${earlier}\n`);
  }
  return inc && inc.code !== 0 ? EXIT.refused : EXIT.ok;
}
