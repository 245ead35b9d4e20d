/** arkeo-signer: the library entry point. */
export * from './errors.js';
export * from './crypto/index.js';
export * from './keyring/index.js';
export * from './signers/index.js';
export * from './keys/index.js';
