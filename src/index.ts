/** arkeo-signer: the library entry point. */
export * from './errors.js';
export * from './crypto/index.js';
export * from './keyring/index.js';
export * from './signers/index.js';
export * from './keys/index.js';
export * from './claims/index.js';
export * from './nonces/index.js';
// The key daemon as a client (its server is a program: `arkeo-signer daemon start`).
export { DaemonClient, DaemonSigner, DaemonClaimSource, DaemonError, daemonToken, daemonTxSigner, type DaemonClientOptions } from './daemon/client.js';
// The paying engine of `arkeo-signer curl` and `proxy`, for programs that pay for their own requests.
export * from './proxy/index.js';
// Cosmos SDK transactions (Arkeo's messages and bank send), signed through any Signer.
export * from './tx/index.js';
