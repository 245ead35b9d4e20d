import { Counter, Gauge, Registry } from 'prom-client';

/**
 * Prometheus metrics of the settler. Labels carry reasons, results and denoms: never a claim's signature, never a
 * contract id (a provider may have thousands). Amounts are in the rate's denom (uarkeo).
 */
export function createSettleMetrics() {
  const registry = new Registry();
  return {
    registry,
    claimsSeen: new Counter({ name: 'arkeo_settle_claims_seen_total', help: 'Claims the sentinel listed that the settler had not seen before (each kept in its store)', registers: [registry] }),
    claimsVerified: new Counter({ name: 'arkeo_settle_claims_verified_total', help: 'Claims that passed every check against the chain (provider, window, nonce, signature)', registers: [registry] }),
    claimsRefused: new Counter({
      name: 'arkeo_settle_claims_refused_total',
      help: 'Claims never sent, by reason: malformed, contract_missing, other_provider, contract_settled, too_late, nonce_stale, bad_signature, below_fee (waits for a higher nonce), chain_refused',
      labelNames: ['reason'],
      registers: [registry],
    }),
    claimsSettled: new Counter({ name: 'arkeo_settle_claims_settled_total', help: 'Claims the chain paid (code 0 and EventSettleContract with paid > 0 for the contract and nonce)', registers: [registry] }),
    valueSettled: new Counter({ name: 'arkeo_settle_value_settled_total', help: 'What the provider received for settled claims (paid less the reserve), by denom', labelNames: ['denom'], registers: [registry] }),
    feesPaid: new Counter({ name: 'arkeo_settle_fees_paid_total', help: 'Fees of the settler\'s transactions included in a block (failed ones too), by denom', labelNames: ['denom'], registers: [registry] }),
    transactions: new Counter({ name: 'arkeo_settle_transactions_total', help: 'Settlement transactions included in a block, by result: ok or failed (the fee is charged either way)', labelNames: ['result'], registers: [registry] }),
    lastSuccess: new Gauge({ name: 'arkeo_settle_last_success_timestamp_seconds', help: 'When a settlement cycle last completed without an error (unix seconds)', registers: [registry] }),
    deadlineSeconds: new Gauge({ name: 'arkeo_settle_next_deadline_seconds', help: 'Seconds (estimated from the block rate) until the earliest deadline of an unsettled sound claim; +Inf when none', registers: [registry] }),
    deadlineBlocks: new Gauge({ name: 'arkeo_settle_next_deadline_blocks', help: 'Blocks until the earliest deadline of an unsettled sound claim; +Inf when none', registers: [registry] }),
    leader: new Gauge({ name: 'arkeo_settle_leader', help: '1 while this settler leads (sends); 0 while it stands by', registers: [registry] }),
    feePayerBalance: new Gauge({ name: 'arkeo_settle_fee_payer_balance_uarkeo', help: 'The fee payer\'s uarkeo balance, as last read (fees are paid in uarkeo)', registers: [registry] }),
    unsettledValue: new Gauge({ name: 'arkeo_settle_unsettled_value_uarkeo', help: 'What the provider would receive (paid less the reserve) for the sound claims not settled yet, as of the last cycle', registers: [registry] }),
  };
}
export type SettleMetrics = ReturnType<typeof createSettleMetrics>;
