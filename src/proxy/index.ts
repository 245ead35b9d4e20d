export { ContractPayer, PayerError, MAX_REQUEST_BODY, stripArkAuthQuery, type PayerOptions, type OutgoingRequest, type PaidReply, type Consumed } from './payer.js';
export { SigningProxy, parseListen, type Listen, type ProxyRoute, type ProxyServerOptions } from './server.js';
export { createProxyMetrics, type ProxyMetrics } from './metrics.js';
export { loadProxyConfig, type ProxyConfig, type UpstreamConfig } from './config.js';
export { fetchMetadata, fetchActiveContract, fetchStoredNonce, sentinelVerdict, sentinelBase, SentinelError, type ActiveContract, type SentinelVerdict } from './sentinel.js';
