import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Prometheus metrics of the signing proxy. Labels carry upstream names, contract ids and statuses: never claims. */
export function createProxyMetrics() {
  const registry = new Registry();
  const labelNames = ['upstream', 'contract'] as const;
  return {
    registry,
    requests: new Counter({ name: 'arkeo_proxy_requests_total', help: 'Requests answered, by upstream, HTTP status and the sentinel tier header (none: not sent)', labelNames: ['upstream', 'status', 'tier'], registers: [registry] }),
    claimsSigned: new Counter({ name: 'arkeo_proxy_claims_signed_total', help: 'Claims signed (each with a fresh durable nonce)', labelNames, registers: [registry] }),
    resyncs: new Counter({ name: 'arkeo_proxy_resyncs_total', help: 'Replies "400 bad nonce" answered by moving past the nonce the sentinel proved it holds', labelNames, registers: [registry] }),
    unprovenNonces: new Counter({
      name: 'arkeo_proxy_unproven_nonce_total',
      help: 'Nonces a sentinel claimed to hold without a claim signed by our key: a provider lying to raise the bill; the contract is stopped (alert on any increase)',
      labelNames,
      registers: [registry],
    }),
    notConsumed: new Counter({
      name: 'arkeo_proxy_nonce_not_consumed_total',
      help: 'Paid requests whose nonce the sentinel did not consume (tier free, its 429, 401 or 500); the claim is sent again with the next request',
      labelNames: ['upstream', 'contract', 'reason'],
      registers: [registry],
    }),
    lastNonce: new Gauge({ name: 'arkeo_proxy_last_nonce', help: 'Highest nonce consumed or reserved for the contract', labelNames, registers: [registry] }),
    spendUsed: new Gauge({ name: 'arkeo_proxy_spend_used', help: 'last nonce × rate, in the rate denom (uarkeo): what the provider can settle', labelNames, registers: [registry] }),
    spendCeiling: new Gauge({ name: 'arkeo_proxy_spend_ceiling', help: 'min(deposit, max spend) of the registered contract terms', labelNames, registers: [registry] }),
    pending: new Gauge({ name: 'arkeo_proxy_contract_pending', help: 'Requests waiting for the contract\'s turn or sent and waiting for response headers (one at a time reaches the sentinel)', labelNames, registers: [registry] }),
    poolMember: new Gauge({ name: 'arkeo_proxy_pool_member', help: 'Always 1: a contract of a pool (--contract pool:NAME) and the key that signs its claims', labelNames: ['upstream', 'pool', 'contract', 'key'], registers: [registry] }),
    contractExpiry: new Gauge({ name: 'arkeo_proxy_contract_expiry_timestamp_seconds', help: 'When the contract expires (Unix time): its expiry height from the chain at the block rate seen (with --node only)', labelNames, registers: [registry] }),
    stopped: new Gauge({ name: 'arkeo_proxy_contract_stopped', help: '1 when no more claims are signed for the contract (spent, expired, or its provider claimed an unproven nonce)', labelNames, registers: [registry] }),
    latency: new Histogram({
      name: 'arkeo_proxy_response_header_seconds',
      help: 'Time from a request arriving to the response headers leaving (claim, sentinel, upstream)',
      labelNames: ['upstream'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers: [registry],
    }),
  };
}
export type ProxyMetrics = ReturnType<typeof createProxyMetrics>;
