export { AuditShipper, shipStatePathOf, type ShipSource, type ShipStatus } from './shipper.js';
export { SHIP_DEFAULTS, JOURNAL_STREAM_SOCKET, readShipConfig, readAuditTable, expandConfigPath, type AuditShipConfig } from './config.js';
export { FACILITIES, parseShippedLine, syslogMessage, octetCounted, headRecord, type Facility, type ShippedLine } from './syslog.js';
