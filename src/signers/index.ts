export { type Signer, type LocalSignerOptions, LocalSigner, privateKeyToSigner, describeSigner, finalizeSignature } from './signer.js';
export { SigningThread, ThreadSigner } from './worker.js';
export * from './cloud/index.js';
export { Pkcs11Signer, type Pkcs11SignerOptions, type Pkcs11Stats, type Pkcs11Recovery, type Pkcs11KeyDescription, type Pkcs11TokenOptions, type PinSource, createPkcs11Key, findPkcs11Key, destroyPkcs11Key, loadPkcs11Module, releasePkcs11Module, SECP256K1_EC_PARAMS } from './pkcs11.js';
export { type Pkcs11Uri, parsePkcs11Uri, formatPkcs11Uri, describePkcs11Uri } from './pkcs11-uri.js';
