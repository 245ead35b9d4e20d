import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as tls from 'node:tls';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { InputError, fsErrorAdvice } from '../../errors.js';
import { JOURNAL_STREAM_SOCKET, type AuditShipConfig } from './config.js';
import { headerField, octetCounted, severityOf, syslogMessage, type MessageKind, type SyslogOrigin } from './syslog.js';

/**
 * How the shipper reaches its receiver: a connection per segment, the bytes that open it, and the framing of each
 * message. The shipper owns delivery (what was acknowledged, what to send again); this knows only the wire.
 */
export interface Transport {
  /** For messages: "syslog over TLS to logs.example.net:6514". */
  readonly describe: string;
  /** A new connection; `ready` fires once it can carry messages (after the TLS handshake). */
  connect(): { socket: net.Socket; ready: 'connect' | 'secureConnect' };
  /** Bytes each connection starts with (the journal's stream header). */
  readonly preamble: string;
  /** One message, framed for the wire. */
  frame(kind: MessageKind, line: string): string;
}

function bad(field: string, why: string): never {
  throw new InputError('BAD_CONFIG', `audit.ship.${field}: ${why}`);
}

function readPem(field: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    bad(field, `cannot read ${file} (${code ?? 'error'}): ${fsErrorAdvice(code)}`);
  }
}

/** host:port → its parts; [v6]:port too. The daemon config has checked the form already. */
function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

/** Builds the transport the config names, reading and checking its certificate files now: a bad file stops the start. */
export function transportFor(config: AuditShipConfig): Transport {
  const origin: SyslogOrigin = { facility: config.facility, hostname: headerField(os.hostname(), 255), appName: headerField(config.app_name, 48), procId: String(process.pid) };
  const syslogFrame = (kind: MessageKind, line: string) => octetCounted(syslogMessage(origin, kind, line));
  if (config.target === 'journal') {
    const socketPath = config.address ?? JOURNAL_STREAM_SOCKET;
    return {
      describe: `the journal at ${socketPath}`,
      connect: () => ({ socket: net.connect(socketPath), ready: 'connect' }),
      // journald's stream protocol (what sd_journal_stream_fd sends): identifier, unit id, priority, level
      // prefix on (each line starts <severity>), no forwarding to syslog, kmsg or the console.
      preamble: `${origin.appName}\n\n6\n1\n0\n0\n0\n`,
      frame: (kind, line) => `<${kind === 'audit' ? severityOf(line) : 6}>${line}\n`,
    };
  }
  if (!config.address) bad('address', `target "${config.target}" needs the syslog server as host:port`);
  const { host, port } = hostPort(config.address);
  if (config.target === 'tcp') {
    return { describe: `syslog over TCP to ${config.address}`, connect: () => ({ socket: net.connect({ host, port }), ready: 'connect' }), preamble: '', frame: syslogFrame };
  }
  if (!config.tls_ca) bad('tls_ca', 'target "tls" needs the CA (a PEM file) that signed the syslog server\'s certificate');
  const ca = readPem('tls_ca', config.tls_ca);
  try {
    new X509Certificate(ca);
  } catch {
    bad('tls_ca', `${config.tls_ca} is not a PEM certificate`);
  }
  let client: { cert: Buffer; key: Buffer } | undefined;
  if (config.tls_cert || config.tls_key) {
    if (!config.tls_cert || !config.tls_key) bad(config.tls_cert ? 'tls_key' : 'tls_cert', 'a client certificate needs both tls_cert and tls_key');
    client = { cert: readPem('tls_cert', config.tls_cert), key: readPem('tls_key', config.tls_key) };
    try {
      new X509Certificate(client.cert);
    } catch {
      bad('tls_cert', `${config.tls_cert} is not a PEM certificate`);
    }
    try {
      createPrivateKey(client.key);
    } catch {
      bad('tls_key', `${config.tls_key} is not a PEM private key`);
    }
  }
  const servername = config.tls_server_name ?? (net.isIP(host) ? undefined : host);
  const options: tls.ConnectionOptions = { host, port, ca, ...client, minVersion: 'TLSv1.2', ...(servername ? { servername } : {}) };
  // A server name to check against the certificate when the address is an IP: Node checks the IP otherwise.
  if (config.tls_server_name && net.isIP(host)) options.checkServerIdentity = (_, cert) => tls.checkServerIdentity(config.tls_server_name!, cert);
  return { describe: `syslog over TLS to ${config.address}`, connect: () => ({ socket: tls.connect(options), ready: 'secureConnect' }), preamble: '', frame: syslogFrame };
}
