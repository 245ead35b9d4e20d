export { ConsoleServer, DEFAULT_LISTEN, parseListen, type ConsoleOptions } from './server.js';
export { AuditIndex, AuditFollower, type AuditFilter, type Integrity } from './audit-index.js';
export { parseAllowedHost } from './hosts.js';
