export { SignerDaemon, type DaemonStartOptions } from './server.js';
export { type DaemonConfig, defaultConfig, loadConfig, parseConfig, exampleConfig } from './config.js';
export { TokenStore, RateLimiter, parsePolicy, hashToken, OPERATIONS, type Policy, type TxPolicy, type Operation, type TokenRecord } from './tokens.js';
export { DaemonClient, DaemonClaimSource, DaemonSigner, DaemonError, daemonToken, daemonTxSigner, type DaemonClientOptions } from './client.js';
export { OPENAPI } from './openapi.js';
