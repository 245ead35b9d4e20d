import { AuditLog } from './log.js';
import { AuditShipper, type AuditShipConfig } from './ship/index.js';

/**
 * An audit log of the daemon's kind for another process (the proxy, the settler): opened (created if needed) and
 * checked against its head as the daemon's is at start, and with `ship` shipped as it is written. A bad certificate
 * file stops the start (and closes the log); an unreachable receiver does not.
 */
export async function openShippedLog(file: string, options: { ship?: AuditShipConfig; acceptMismatch?: boolean } = {}): Promise<{ log: AuditLog; shipper?: AuditShipper }> {
  const log = await AuditLog.open(file, { acceptMismatch: options.acceptMismatch });
  if (!options.ship) return { log };
  try {
    const shipper = AuditShipper.open(options.ship, { file: log.file, durable: log.durable });
    log.onCommit = (lines, offset, seq, hash) => shipper.committed(lines, offset, seq, hash);
    return { log, shipper };
  } catch (e) {
    await log.close();
    throw e;
  }
}
