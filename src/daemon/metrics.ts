import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Prometheus metrics. Labels carry key names, addresses and operations: never secrets or messages. */
export function createMetrics() {
  const registry = new Registry();
  const buckets = [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1];
  return {
    registry,
    signatures: new Counter({ name: 'arkeo_signer_signatures_total', help: 'Signing requests by key, operation and result', labelNames: ['key', 'operation', 'result'], registers: [registry] }),
    latency: new Histogram({ name: 'arkeo_signer_request_seconds', help: 'Request latency by operation', labelNames: ['operation'], buckets, registers: [registry] }),
    nonceLatency: new Histogram({ name: 'arkeo_signer_nonce_store_seconds', help: 'Durable nonce reservation latency', buckets, registers: [registry] }),
    auditLatency: new Histogram({ name: 'arkeo_signer_audit_flush_seconds', help: 'Audit log write+fdatasync latency per group commit', buckets, registers: [registry] }),
    authFailures: new Counter({ name: 'arkeo_signer_auth_failures_total', help: 'Requests refused for missing, unknown or revoked tokens', labelNames: ['reason'], registers: [registry] }),
    unaudited: new Counter({ name: 'arkeo_signer_failures_unaudited_total', help: 'Refusals of a peer over its failed-request budget that were not written to the audit log (one per peer per minute is)', registers: [registry] }),
    auditHealthy: new Gauge({ name: 'arkeo_signer_audit_healthy', help: '1 when the audit log accepts writes', registers: [registry] }),
    nonceHealthy: new Gauge({ name: 'arkeo_signer_nonce_store_healthy', help: '1 when the last nonce store write succeeded', registers: [registry] }),
    keysLoaded: new Gauge({ name: 'arkeo_signer_keys_loaded', help: 'Keys held in memory', registers: [registry] }),
    tokenHealthy: new Gauge({ name: 'arkeo_signer_pkcs11_token_healthy', help: '1 when the PKCS#11 token of a key is present and usable (set at each /healthz and scrape)', labelNames: ['key'], registers: [registry] }),
    tokenSessions: new Gauge({ name: 'arkeo_signer_pkcs11_sessions', help: 'Logged-in PKCS#11 sessions open per key', labelNames: ['key'], registers: [registry] }),
    cloudHealthy: new Gauge({ name: 'arkeo_signer_cloud_key_healthy', help: '1 when the cloud KMS key passed its last health check and its last call did not fail as unavailable (set at each /healthz)', labelNames: ['key', 'backend'], registers: [registry] }),
    cloudEvents: new Gauge({ name: 'arkeo_signer_cloud_events', help: 'Per cloud KMS key since start (CloudStats): calls, throttles, errors, timeouts, retries, signatures, high_s (raw high-S normalised), self_check_failures', labelNames: ['key', 'backend', 'event'], registers: [registry] }),
    cloudLatency: new Histogram({ name: 'arkeo_signer_cloud_call_seconds', help: 'Cloud KMS call latency per attempt, by key, backend, operation and outcome (ok, throttle, error, timeout)', labelNames: ['key', 'backend', 'op', 'outcome'], buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] }),
    tokenEvents: new Gauge({ name: 'arkeo_signer_pkcs11_events', help: 'Per PKCS#11 key since start: signatures, high_s (raw high-S normalised), reopened, logins, refinds, failures, recoveries (the token came back), recovery_attempts', labelNames: ['key', 'event'], registers: [registry] }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
