export { type Signer, type LocalSignerOptions, LocalSigner, privateKeyToSigner, describeSigner, finalizeSignature } from './signer.js';
export { SigningThread, ThreadSigner } from './worker.js';
export * from './cloud/index.js';
