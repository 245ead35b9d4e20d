import { chainV1017, type ChainContract } from '../claims/index.js';
import { equalBytes } from '../crypto/bytes.js';

/**
 * Whether a claim can pay, judged against the chain before any fee is spent, as the keeper will judge it
 * (arkeo-transactions.md §2.3–2.5, §6.4): the contract is ours, still open for claims with a margin before its
 * settlement period ends, the nonce is above the one the chain last settled, the signature verifies against the
 * contract's spender on chain (the delegate, else the client; whichever header form the sentinel stored), and what
 * it pays the provider after the 10% reserve is worth more than the fee.
 */
export type Refusal =
  /** The signature is not 64 bytes of hex, so no verifier can take it. */
  | 'malformed'
  /** The chain has no contract with this id. */
  | 'contract_missing'
  /** The contract's provider is not ours: settling it would pay someone else with our fee. */
  | 'other_provider'
  /** The contract had its final settlement (settlement_height > 0): a claim now pays 0. */
  | 'contract_settled'
  /** Past, or within the margin of, the last block that accepts a claim (settlement period end − 1). */
  | 'too_late'
  /** nonce ≤ the contract's nonce on chain: the chain refuses it (code 23), the fee still charged. */
  | 'nonce_stale'
  /** No accepted preimage verifies against the contract's spender on chain (code 25). */
  | 'bad_signature'
  /** What it pays the provider is not more than the fee: it waits for a higher nonce. */
  | 'below_fee';

export const REFUSALS: readonly Refusal[] = ['malformed', 'contract_missing', 'other_provider', 'contract_settled', 'too_late', 'nonce_stale', 'bad_signature', 'below_fee'];

export interface JudgeContext {
  /** The latest block: the transaction lands in a later one. */
  height: bigint;
  chainId: string;
  /** Our provider's public key (33 bytes). */
  provider: Uint8Array;
  /** Blocks kept between the last block a claim can land in and the latest: closer than this, it is too late. */
  margin: bigint;
  /** A deadline at most this many blocks away makes a claim urgent: sent whatever its value, and first. */
  deadlineBlocks: bigint;
  /** The smallest value (to the provider, after the reserve) worth a transaction when nothing is urgent. */
  minValue: bigint;
  /** What one transaction carrying the claim is expected to cost. */
  fee: { denom: string; amount: bigint };
}

export interface Worth {
  /** The debt the chain would settle (rate × nonce or the elapsed subscription, capped at the deposit, less paid). */
  gross: bigint;
  /** The reserve the chain takes (10%, rounded half to even). */
  reserve: bigint;
  /** What the provider receives. */
  net: bigint;
  denom: string;
  /** The block to settle by: the contract's expiry while it runs, then the last block of its settlement period. */
  deadline: bigint;
  urgent: boolean;
  /** send now; wait below the fee (a refusal, counted once); wait below --min-value (not a refusal). */
  verdict: 'send' | 'below_fee' | 'below_min';
}

export type Judgement = ({ kind: 'refused'; reason: Exclude<Refusal, 'below_fee'>; detail: string }) | ({ kind: 'sound' } & Worth);

/** LegacyDec.RoundInt: half to even. */
export function roundHalfEven(numerator: bigint, denominator: bigint): bigint {
  const q = numerator / denominator;
  const r = numerator % denominator;
  if (r * 2n > denominator || (r * 2n === denominator && q % 2n === 1n)) return q + 1n;
  return q;
}

export const RESERVE_TAX_BP = 1000n;

export function reserveOf(gross: bigint): bigint {
  return roundHalfEven(gross * RESERVE_TAX_BP, 10_000n);
}

/** SettlementPeriodEnd: expiry plus, for pay-as-you-go, the settlement duration. */
export function settlementEnd(c: ChainContract): bigint {
  const expiry = (c.height ?? 0n) + (c.duration ?? 0n);
  return c.type === 'PAY_AS_YOU_GO' ? expiry + (c.settlementDuration ?? 0n) : expiry;
}

/** The block to settle by, and the last block a claim can land in. */
export function deadlines(c: ChainContract, height: bigint): { deadline: bigint; lastBlock: bigint } {
  const expiry = (c.height ?? 0n) + (c.duration ?? 0n);
  const lastBlock = settlementEnd(c) - 1n;
  return { deadline: height <= expiry && expiry <= lastBlock ? expiry : lastBlock, lastBlock };
}

export function judge(claim: { contractId: bigint; nonce: bigint; signature: string }, contract: ChainContract | undefined, ctx: JudgeContext): Judgement {
  const refuse = (reason: Exclude<Refusal, 'below_fee'>, detail: string): Judgement => ({ kind: 'refused', reason, detail });
  const openSubscription = contract?.type === 'SUBSCRIPTION' && contract.authorization === 'OPEN';
  if (!/^[0-9a-f]{128}$/.test(claim.signature) && !openSubscription) return refuse('malformed', `the signature is not 64 bytes of hex (${claim.signature.length} characters)`);
  if (!contract) return refuse('contract_missing', `the chain has no contract ${claim.contractId}`);
  if (!contract.provider || !equalBytes(contract.provider, ctx.provider)) return refuse('other_provider', `contract ${claim.contractId} is another provider's`);
  if ((contract.settlementHeight ?? 0n) !== 0n) return refuse('contract_settled', `contract ${claim.contractId} had its final settlement at block ${contract.settlementHeight}`);
  const { deadline, lastBlock } = deadlines(contract, ctx.height);
  if (lastBlock - ctx.height <= ctx.margin) return refuse('too_late', `contract ${claim.contractId} takes claims up to block ${lastBlock}; the chain is at ${ctx.height} (margin ${ctx.margin})`);
  if (claim.nonce <= contract.nonce) return refuse('nonce_stale', `nonce ${claim.nonce} is not above the chain's ${contract.nonce} for contract ${claim.contractId}`);
  if (!openSubscription) {
    const spender = contract.delegate ?? contract.client;
    const verdict = chainV1017(claim.contractId, claim.nonce, new Uint8Array(Buffer.from(claim.signature, 'hex')), { spender, chainId: ctx.chainId });
    if (!verdict.accepted) return refuse('bad_signature', `contract ${claim.contractId} nonce ${claim.nonce}: ${verdict.reason}`);
  }
  let owed: bigint;
  if (contract.type === 'SUBSCRIPTION') {
    const end = settlementEnd(contract);
    const elapsed = (ctx.height < end ? ctx.height : end) - (contract.height ?? 0n);
    owed = contract.rate * elapsed * (contract.queriesPerMinute ?? 0n);
  } else owed = claim.nonce * contract.rate;
  if (owed > contract.deposit) owed = contract.deposit;
  const gross = owed > contract.paid ? owed - contract.paid : 0n;
  const reserve = reserveOf(gross);
  const net = gross - reserve;
  const urgent = deadline - ctx.height <= ctx.deadlineBlocks;
  const comparable = ctx.fee.denom === contract.denom;
  const verdict = net === 0n || (comparable && net <= ctx.fee.amount) ? 'below_fee' : net < ctx.minValue && !urgent ? 'below_min' : 'send';
  return { kind: 'sound', gross, reserve, net, denom: contract.denom, deadline, urgent, verdict };
}
