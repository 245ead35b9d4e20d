export { AuditLog, AuditError, verifyAuditLog, loadOrCreateAuditKey, type AuditInput, type AuditWho, type AuditWhat, type AuditOpenOptions, type VerifyResult } from './log.js';
export { AuditChainChecker, readHeadFile, keyPathOf, headPathOf, sha256Hex, GENESIS } from './chain.js';
export { verifyAgainst, type AgainstResult } from './against.js';
export { auditDrill, type DrillReport, type DrillAttack, type DrillCheck } from './drill.js';
export { AuditShipper, shipStatePathOf, SHIP_DEFAULTS, JOURNAL_STREAM_SOCKET, FACILITIES, readShipConfig, readAuditTable, expandConfigPath, parseShippedLine, type AuditShipConfig, type ShipStatus, type Facility } from './ship/index.js';
export { openShippedLog } from './shipped.js';
