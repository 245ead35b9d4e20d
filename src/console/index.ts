export { ConsoleServer, DEFAULT_LISTEN, parseListen, type ConsoleOptions } from './server.js';
/** For the CLI's own check of --listen before the console starts. */
export { isLoopbackHost as isLoopback } from '../http.js';
export { AuditIndex, AuditFollower, type AuditFilter, type Integrity } from './audit-index.js';
export { parseAllowedHost } from './hosts.js';
