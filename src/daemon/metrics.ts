import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics. Labels carry key names, addresses and operations: never secrets or messages. Each key backend
 * registers its own (arkeo_signer_pkcs11_*, arkeo_signer_cloud_*) on this registry when the daemon starts.
 */
export function createMetrics() {
  const registry = new Registry();
  const velocityRefusals = new Counter({ name: 'arkeo_signer_velocity_refusals_total', help: 'Claims refused by a spend velocity limit (max_spend_per_hour / max_spend_per_day), by the limit\'s scope, token and contract', labelNames: ['scope', 'token', 'contract'], registers: [registry] });
  // A labelled series appears with its first refusal; the alert rule matches a first appearance as well as an increase.
  const buckets = [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1];
  return {
    registry,
    signatures: new Counter({ name: 'arkeo_signer_signatures_total', help: 'Signing requests by key, operation and result', labelNames: ['key', 'operation', 'result'], registers: [registry] }),
    latency: new Histogram({ name: 'arkeo_signer_request_seconds', help: 'Request latency by operation', labelNames: ['operation'], buckets, registers: [registry] }),
    nonceLatency: new Histogram({ name: 'arkeo_signer_nonce_store_seconds', help: 'Durable nonce reservation latency', buckets, registers: [registry] }),
    auditLatency: new Histogram({ name: 'arkeo_signer_audit_flush_seconds', help: 'Audit log write+fdatasync latency per group commit', buckets, registers: [registry] }),
    newPeers: new Counter({ name: 'arkeo_signer_token_new_peer_total', help: 'Requests with a valid token from a peer (uid, IPv4 address or IPv6 /64) that token was never used from', labelNames: ['token'], registers: [registry] }),
    authFailures: new Counter({ name: 'arkeo_signer_auth_failures_total', help: 'Requests refused for missing, unknown or revoked tokens', labelNames: ['reason'], registers: [registry] }),
    unaudited: new Counter({ name: 'arkeo_signer_failures_unaudited_total', help: 'Refusals of a peer over its failed-request budget that were not written to the audit log (one per peer per minute is)', registers: [registry] }),
    auditHealthy: new Gauge({ name: 'arkeo_signer_audit_healthy', help: '1 when the audit log accepts writes', registers: [registry] }),
    nonceHealthy: new Gauge({ name: 'arkeo_signer_nonce_store_healthy', help: '1 when the last nonce store write succeeded', registers: [registry] }),
    keysLoaded: new Gauge({ name: 'arkeo_signer_keys_loaded', help: 'Keys held in memory', registers: [registry] }),
    spend: new Counter({ name: 'arkeo_signer_spend_total', help: 'What the claims this daemon reserved cost when settled (nonces × rate), in uarkeo, by contract', labelNames: ['contract'], registers: [registry] }),
    velocityRefusals,
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
