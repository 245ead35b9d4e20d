export { type Signer, type LocalSignerOptions, LocalSigner, privateKeyToSigner, describeSigner, finalizeSignature } from './signer.js';
