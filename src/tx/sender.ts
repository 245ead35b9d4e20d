import type { Coin } from 'cosmjs-types/cosmos/base/v1beta1/coin';
import { TxRaw } from 'cosmjs-types/cosmos/tx/v1beta1/tx';
import { describeSigner, type Signer } from '../signers/index.js';
import { ChainError, adviceFor, type ChainClient, type IncludedTx } from './chain.js';
import { adjustedGas, feeFor, type FeeChoice } from './fees.js';
import { intentDigest, type Journal, type JournalEntry } from './journal.js';
import { signDocOf, signTx, type EncodedMessage, type TxIntent } from './sign.js';

/**
 * Sending transactions from one account, as carefully as nonces: one at a time in order within the process (each
 * takes the next sequence as soon as the node accepted the one before, so many fit in one block), a sequence the
 * node says is wrong is resynced and the transaction signed again once, and a transaction that may have reached
 * the node (a timeout after sending) is looked up by its hash and resent unchanged, never signed anew. With a
 * journal, the same holds across processes and crashes (journal.ts).
 */
export interface SendRequest {
  messages: EncodedMessage[];
  memo?: string;
  timeoutHeight?: bigint;
  fee: FeeChoice;
}

export interface TxOutcome {
  txHash: string;
  accountNumber: bigint;
  sequence: bigint;
  gasLimit: bigint;
  fee: Coin[];
  /** The block's record; absent with `wait: false`. */
  included?: IncludedTx;
  /** An earlier run had sent this same transaction: its result is reported and nothing new was signed. */
  earlier?: boolean;
}

export interface TxSenderOptions {
  /** The chain the transaction is for; the node must serve it. Default: the node's. */
  chainId?: string;
  /** Pending transactions written down before they are sent (survives a crash): a TxJournal, or any Journal. */
  journal?: Journal;
  /** Wait for inclusion (default true). */
  wait?: boolean;
  /** How long to wait for inclusion, and for a node that stopped answering after a send. Default 60 s. */
  waitMs?: number;
  /** Poll interval while waiting. Default 1 s. */
  pollMs?: number;
}

/** An account number, sequence and chain id fixed by the caller (`--offline`): no node is asked. */
export interface OfflineAccount {
  chainId: string;
  accountNumber: bigint;
  sequence: bigint;
}

interface Submitted {
  entry: Pick<JournalEntry, 'hash'> & Partial<JournalEntry>;
  outcome: TxOutcome;
  included?: IncludedTx;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const uncertain = (e: unknown) => e instanceof ChainError && (e.code === 'CHAIN_TIMEOUT' || e.code === 'CHAIN_UNREACHABLE');

export class TxSender {
  private queue: Promise<unknown> = Promise.resolve();
  private nextSequence?: bigint;
  private identity?: { address: string; publicKey: Uint8Array; accountNumber: bigint; chainId: string };
  private recovered = false;

  constructor(
    private readonly chain: ChainClient,
    private readonly signer: Signer,
    private readonly options: TxSenderOptions = {},
  ) {}

  /** The signer's address, once known. */
  async address(): Promise<string> {
    return (await describeSigner(this.signer)).address;
  }

  /** Sign, send and (by default) wait for the block. Calls from one process are served in order. */
  async send(request: SendRequest): Promise<TxOutcome> {
    const turn = this.queue.then(() => this.submit(request));
    this.queue = turn.catch(() => undefined);
    const submitted = await turn;
    if (submitted.included || this.options.wait === false) return { ...submitted.outcome, ...(submitted.included ? { included: submitted.included } : {}) };
    const included = await this.waitFor(submitted.outcome.txHash);
    if (this.options.journal && submitted.entry.state) await this.options.journal.update(this.identity!.address, submitted.entry as JournalEntry, 'included', { height: included.height, code: included.code });
    return { ...submitted.outcome, included };
  }

  private async setUp(): Promise<NonNullable<TxSender['identity']>> {
    if (this.identity) return this.identity;
    const { address, publicKey } = await describeSigner(this.signer);
    const served = await this.chain.chainId();
    if (this.options.chainId !== undefined && this.options.chainId !== served) {
      throw new ChainError('CHAIN_ID_MISMATCH', `node ${this.chain.lcd} serves chain "${served}", not "${this.options.chainId}"; give the node of that chain, or the right --chain-id`);
    }
    const account = await this.chain.account(address);
    if (!account) throw new ChainError('ACCOUNT_NOT_FOUND', `account ${address} does not exist on chain ${served}: it has never received coins, so it cannot pay a fee; fund it first`);
    if (account.publicKey && Buffer.compare(Buffer.from(account.publicKey), Buffer.from(publicKey)) !== 0) {
      throw new ChainError('ACCOUNT_KEY_MISMATCH', `account ${address}: the chain holds another public key for it; nothing was signed`);
    }
    this.nextSequence = account.sequence;
    this.identity = { address, publicKey, accountNumber: account.accountNumber, chainId: served };
    return this.identity;
  }

  private async resyncSequence(): Promise<bigint> {
    const account = await this.chain.account(this.identity!.address);
    this.nextSequence = account?.sequence ?? 0n;
    return this.nextSequence;
  }

  private async submit(request: SendRequest): Promise<Submitted> {
    const id = await this.setUp();
    const intent = intentDigest(request);
    if (!this.recovered) {
      const earlier = await this.recover(intent);
      this.recovered = true;
      if (earlier) return earlier;
    }
    let resynced = false;
    for (;;) {
      const sequence = this.nextSequence ?? (await this.resyncSequence());
      const account = { publicKey: id.publicKey, accountNumber: id.accountNumber, sequence, chainId: id.chainId };
      const gasLimit = await this.gasFor(request, account, resynced);
      const txIntent: TxIntent = { messages: request.messages, memo: request.memo, timeoutHeight: request.timeoutHeight, fee: { amount: feeFor(request.fee, gasLimit), gasLimit } };
      const signed = await signTx(this.signer, txIntent, account);
      const entry: JournalEntry = { hash: signed.txHash, chainId: id.chainId, accountNumber: String(id.accountNumber), sequence: String(sequence), intent, tx: Buffer.from(signed.txBytes).toString('base64'), state: 'sent', run: '', at: '' };
      await this.options.journal?.record(id.address, entry);
      const outcome: TxOutcome = { txHash: signed.txHash, accountNumber: id.accountNumber, sequence, gasLimit, fee: txIntent.fee.amount };
      const verdict = await this.deliver(entry, signed.txBytes);
      if (verdict.kind === 'accepted' || verdict.kind === 'included') {
        this.nextSequence = sequence + 1n;
        return { entry, outcome, ...(verdict.kind === 'included' ? { included: verdict.included } : {}) };
      }
      await this.options.journal?.update(id.address, entry, 'dead');
      if (verdict.kind === 'sequence' && !resynced) {
        // The sequence went to another transaction (another process, or one sent before this run): ours can no
        // longer be included, so signing again at the sequence the node names cannot pay twice.
        this.nextSequence = verdict.expected;
        resynced = true;
        continue;
      }
      if (verdict.kind === 'sequence') throw new ChainError('CHAIN_REFUSED_32', `node refused the transaction twice for its sequence (now expected ${verdict.expected}); another process is sending from this account: run one sender per account`);
      throw verdict.error;
    }
  }

  private async gasFor(request: SendRequest, account: { publicKey: Uint8Array; accountNumber: bigint; sequence: bigint; chainId: string }, resynced: boolean): Promise<bigint> {
    if (request.fee.gas !== 'auto') return request.fee.gas;
    // Simulate carries the real sequence and an empty signature; the node runs the messages too, so a message
    // the chain would refuse fails here, before anything is signed or paid.
    const doc = signDocOf({ messages: request.messages, memo: request.memo, timeoutHeight: request.timeoutHeight, fee: { amount: [], gasLimit: 0n } }, account);
    const unsigned = TxRaw.encode({ bodyBytes: doc.bodyBytes, authInfoBytes: doc.authInfoBytes, signatures: [new Uint8Array()] }).finish();
    try {
      return adjustedGas(await this.chain.simulate(unsigned), request.fee.gasAdjustment);
    } catch (e) {
      if (e instanceof ChainError && e.abci?.expectedSequence !== undefined && !resynced) {
        this.nextSequence = e.abci.expectedSequence;
        return this.gasFor(request, { ...account, sequence: e.abci.expectedSequence }, true);
      }
      if (e instanceof ChainError && e.code.startsWith('CHAIN_')) throw new ChainError(e.code, `simulating the transaction: ${e.message}; nothing was signed`, e.abci);
      throw e;
    }
  }

  /** Broadcast; when the answer is lost, find out by the hash (and by resending the same bytes) what happened. */
  private async deliver(entry: JournalEntry, txBytes: Uint8Array): Promise<{ kind: 'accepted' } | { kind: 'included'; included: IncludedTx } | { kind: 'sequence'; expected: bigint } | { kind: 'refused'; error: ChainError }> {
    const deadline = Date.now() + (this.options.waitMs ?? 60_000);
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await this.chain.broadcast(txBytes);
        // 19: "already in the mempool cache": an earlier send of these very bytes got there.
        if (r.code === 0 || (r.code === 19 && r.codespace === 'sdk')) return { kind: 'accepted' };
        const expected = r.code === 32 && r.codespace === 'sdk' ? /expected (\d+)/.exec(r.rawLog)?.[1] : undefined;
        if (expected !== undefined) {
          // After a lost answer, "sequence mismatch" may mean our own earlier send was included.
          if (attempt > 0) {
            const included = await this.lookUp(entry.hash, 3);
            if (included) return { kind: 'included', included };
          }
          return { kind: 'sequence', expected: BigInt(expected) };
        }
        const advice = adviceFor(r.code, r.codespace);
        return { kind: 'refused', error: new ChainError(`CHAIN_REFUSED_${r.code}`, `node refused the transaction (code ${r.code}${r.codespace && r.codespace !== 'sdk' ? `, ${r.codespace}` : ''}): ${r.rawLog || 'no reason given'}${advice ? `; ${advice}` : ''}; nothing was charged`, { code: r.code, codespace: r.codespace }) };
      } catch (e) {
        if (!uncertain(e)) throw e;
        const included = await this.lookUp(entry.hash, 1).catch(() => undefined);
        if (included) return { kind: 'included', included };
        if (Date.now() >= deadline) {
          this.nextSequence = undefined;
          throw new ChainError('TX_UNCERTAIN', `${(e as Error).message}; transaction ${entry.hash} may have reached the node: running the same command again looks it up and sends nothing twice`);
        }
        await sleep(Math.min(this.options.pollMs ?? 1000, 2000));
      }
    }
  }

  private async lookUp(hash: string, tries: number): Promise<IncludedTx | undefined> {
    for (let i = 0; i < tries; i++) {
      if (i > 0) await sleep(this.options.pollMs ?? 1000);
      const found = await this.chain.tx(hash);
      if (found) return found;
    }
    return undefined;
  }

  /** Poll for the block's record of the transaction. */
  async waitFor(hash: string): Promise<IncludedTx> {
    const deadline = Date.now() + (this.options.waitMs ?? 60_000);
    let lastError: unknown;
    for (;;) {
      try {
        const found = await this.chain.tx(hash);
        if (found) return found;
      } catch (e) {
        if (!uncertain(e)) throw e;
        lastError = e;
      }
      if (Date.now() >= deadline) {
        const why = lastError ? ` (last: ${(lastError as Error).message})` : '';
        throw new ChainError('TX_NOT_INCLUDED', `transaction ${hash} was accepted by the node but is not in a block after ${Math.round((this.options.waitMs ?? 60_000) / 1000)} s${why}; it may still be included: check with \`arkeo-signer tx show ${hash}\` (running the same command again waits for it and signs nothing new)`);
      }
      await sleep(this.options.pollMs ?? 1000);
    }
  }

  /**
   * Before this run signs anything: what became of the transactions earlier runs sent and never saw included.
   * Each is looked up by hash; one that may still be pending is resent unchanged (same bytes, same hash). When
   * one carries the same messages as this request, its result is this request's: nothing new is signed.
   */
  private async recover(intent: string): Promise<Submitted | undefined> {
    const journal = this.options.journal;
    if (!journal) return undefined;
    const id = this.identity!;
    let match: Submitted | undefined;
    for (const e of await journal.unfinished(id.address)) {
      if (e.run === journal.run || e.chainId !== id.chainId) continue;
      const outcome: TxOutcome = { txHash: e.hash, accountNumber: BigInt(e.accountNumber), sequence: BigInt(e.sequence), gasLimit: 0n, fee: [], earlier: true };
      const included = await this.chain.tx(e.hash);
      if (included) {
        await journal.update(id.address, e, 'included', { height: included.height, code: included.code });
        if (e.intent === intent) match = { entry: e, outcome, included };
        continue;
      }
      const chainSequence = await this.resyncSequence();
      let alive = false;
      if (chainSequence <= BigInt(e.sequence)) {
        const r = await this.chain.broadcast(new Uint8Array(Buffer.from(e.tx, 'base64')));
        alive = r.code === 0 || (r.code === 19 && r.codespace === 'sdk');
      } else {
        // Its sequence is used: by it (then the index shows it in a moment) or by another transaction.
        const late = await this.lookUp(e.hash, 2);
        if (late) {
          await journal.update(id.address, e, 'included', { height: late.height, code: late.code });
          if (e.intent === intent) match = { entry: e, outcome, included: late };
          continue;
        }
      }
      if (!alive) {
        await journal.update(id.address, e, 'dead');
        continue;
      }
      const after = BigInt(e.sequence) + 1n;
      if (this.nextSequence === undefined || this.nextSequence < after) this.nextSequence = after;
      if (e.intent === intent) match = { entry: e, outcome };
    }
    return match;
  }
}

/** Sign without a node (`--offline`, `--generate-only` with numbers given): the bytes a node would be sent. */
export async function signOffline(signer: Signer, request: SendRequest, account: OfflineAccount): Promise<{ txHash: string; txBytes: Uint8Array; fee: Coin[]; gasLimit: bigint }> {
  if (request.fee.gas === 'auto') throw new ChainError('GAS_NEEDS_NODE', '--gas auto needs a node to simulate; give --gas N with --offline');
  const gasLimit = request.fee.gas;
  const fee = feeFor(request.fee, gasLimit);
  const signed = await signTx(signer, { messages: request.messages, memo: request.memo, timeoutHeight: request.timeoutHeight, fee: { amount: fee, gasLimit } }, { publicKey: await signer.publicKey(), ...account });
  return { txHash: signed.txHash, txBytes: signed.txBytes, fee, gasLimit };
}


