export { AuditLog, AuditError, verifyAuditLog, loadOrCreateAuditKey, type AuditInput, type AuditWho, type AuditWhat, type AuditOpenOptions, type VerifyResult } from './log.js';
export { AuditChainChecker, readHeadFile, keyPathOf, headPathOf, sha256Hex, GENESIS } from './chain.js';
