export { ContractPayer, PayerError, MAX_REQUEST_BODY, HEADERS_TIMEOUT_MS, stripArkAuthQuery, type PayerOptions, type OutgoingRequest, type PaidReply, type Consumed, type Payer, type ContractState } from './payer.js';
export { PoolPayer, checkPoolSentinel, type PoolPayerOptions } from './pool.js';
export { SigningProxy, parseListen, type Listen, type ProxyRoute, type ProxyServerOptions } from './server.js';
export { createProxyMetrics, type ProxyMetrics } from './metrics.js';
export { loadProxyConfig, type ProxyConfig, type UpstreamConfig } from './config.js';
export { fetchMetadata, fetchActiveContract, sentinelVerdict, sentinelBase, SentinelError, type ActiveContract, type SentinelVerdict } from './sentinel.js';
export { ProxyAudit, PROXY_APP_NAME, type ClaimLabels } from './audit.js';
