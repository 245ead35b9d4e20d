export { runDoctor, lastUses, unitScore, UNIT_LOCATIONS, IDLE_DAYS, AUDIT_TAIL_BYTES, CEILING_SHARE, type Finding, type Level, type DoctorOptions } from './checks.js';
export { SETTLE_UNIT_LOCATIONS, PENDING_TX_MINUTES, BALANCE_TRANSACTIONS } from './settle.js';
export { readPasswd, isLoginShell, socketProcess, type PasswdUser, type SocketProcess } from './host.js';
