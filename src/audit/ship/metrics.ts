import { Counter, Gauge, type Registry } from 'prom-client';
import type { AuditShipper } from './shipper.js';

/**
 * The audit log's sequence number, and with shipping on, how far the shipped copy has got and what it lost. Read
 * at each scrape from the log and the shipper, so nothing on the signing path updates a metric for them.
 */
export function registerAuditMetrics(registry: Registry, audit: { readonly lastSeq: number }, shipper: AuditShipper | undefined): void {
  new Gauge({
    name: 'arkeo_signer_audit_sequence',
    help: 'Sequence number of the last entry written to the audit log',
    registers: [registry],
    collect() {
      this.set(audit.lastSeq);
    },
  });
  if (!shipper) return;
  new Gauge({
    name: 'arkeo_signer_audit_ship_last_acked_sequence',
    help: 'Sequence number of the last audit entry the syslog receiver is known to have (it answered it over RELP, or closed the connection after reading through it)',
    registers: [registry],
    collect() {
      this.set(shipper.status().acked);
    },
  });
  new Gauge({
    name: 'arkeo_signer_audit_ship_queue_entries',
    help: 'Audit entries held in memory for shipping (past [audit.ship] queue_size they are read back from the log file instead)',
    registers: [registry],
    collect() {
      this.set(shipper.status().queued);
    },
  });
  new Gauge({
    name: 'arkeo_signer_audit_ship_connected',
    help: '1 while a connection to the syslog receiver is open',
    registers: [registry],
    collect() {
      this.set(shipper.status().connected ? 1 : 0);
    },
  });
  new Gauge({
    name: 'arkeo_signer_audit_ship_behind_seconds',
    help: 'How long an audit entry or head record has been waiting for delivery (0 when none is)',
    registers: [registry],
    collect() {
      this.set(shipper.status().behindMs / 1000);
    },
  });
  new Counter({
    name: 'arkeo_signer_audit_ship_dropped_total',
    help: 'Audit entries that will never be shipped (the local log no longer held them where they were written)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(shipper.status().dropped);
    },
  });
  new Counter({
    name: 'arkeo_signer_audit_ship_resent_total',
    help: 'Audit entries sent again because their connection ended unacknowledged (the remote copy may hold them twice, identical)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(shipper.status().resent);
    },
  });
}
