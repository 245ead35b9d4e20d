export { AuditLog, AuditError, verifyAuditLog, loadOrCreateAuditKey, keyPathOf, headPathOf, sha256Hex, GENESIS, type AuditInput, type AuditWho, type AuditWhat, type AuditOpenOptions, type VerifyResult } from './log.js';
export { AuditChainChecker } from './stream.js';
