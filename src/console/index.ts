export { ConsoleServer, DEFAULT_LISTEN, parseListen, type ConsoleOptions } from './server.js';
export { AuditIndex, AuditFollower, type AuditFilter, type Integrity } from './audit-index.js';
export { parseAllowedHost } from './hosts.js';
export { SettlementView, SETTLEMENT_CONTRACTS, SETTLEMENT_TXS, type SettlementSource } from './settlement.js';
