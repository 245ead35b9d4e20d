import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as tls from 'node:tls';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { InputError, fsErrorAdvice } from '../../errors.js';
import { JOURNAL_STREAM_SOCKET, type AuditShipConfig } from './config.js';
import { RelpSession, type RelpAnswer } from './relp.js';
import { headerField, octetCounted, severityOf, syslogMessage, type MessageKind, type SyslogOrigin } from './syslog.js';

/**
 * How the shipper reaches its receiver: connections, the bytes that open each, and the framing of each message. The
 * shipper owns delivery (what was acknowledged, what to send again); this knows only the wire.
 *
 * Two kinds: syslog over TCP or TLS and the journal have no acknowledgement, so the shipper sends a segment per
 * connection and takes the receiver's closing in answer to ours as the acknowledgement of all of it; RELP
 * (`acknowledging`) answers every message, so one connection carries on, and each answer acknowledges its message.
 */
export interface Transport {
  /** For messages: "syslog over TLS to logs.example.net:6514". */
  readonly describe: string;
  /** The receiver answers every message (RELP): no segments, a window of unanswered messages instead. */
  readonly acknowledging: boolean;
  /** A new connection. */
  connect(): Link;
}

/** One connection and its framing (RELP numbers its commands per connection). */
export interface Link {
  socket: net.Socket;
  /** Fires once it can carry bytes (after the TLS handshake). */
  ready: 'connect' | 'secureConnect';
  /** Bytes the connection starts with: the journal's stream header; RELP's open command. */
  readonly preamble: string;
  /** One message, framed for the wire. */
  frame(kind: MessageKind, line: string): string;
  /** Acknowledging links: what the receiver's bytes answer (the session open, messages acknowledged, its end, a fault). */
  receive?(chunk: Buffer): RelpAnswer;
  /** Acknowledging links: the bytes that end the session politely. */
  farewell?(): string;
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
      acknowledging: false,
      connect: () => ({
        socket: net.connect(socketPath),
        ready: 'connect',
        // journald's stream protocol (what sd_journal_stream_fd sends): identifier, unit id, priority, level
        // prefix on (each line starts <severity>), no forwarding to syslog, kmsg or the console.
        preamble: `${origin.appName}\n\n6\n1\n0\n0\n0\n`,
        frame: (kind, line) => `<${kind === 'audit' ? severityOf(line) : 6}>${line}\n`,
      }),
    };
  }
  if (!config.address) bad('address', `target "${config.target}" needs the syslog server as host:port`);
  const { host, port } = hostPort(config.address);
  const secure = config.target === 'tls' || config.target === 'relp-tls' ? tlsOptions(config, host, port) : undefined;
  const open = (): Pick<Link, 'socket' | 'ready'> => (secure ? { socket: tls.connect(secure), ready: 'secureConnect' } : { socket: net.connect({ host, port }), ready: 'connect' });
  if (config.target === 'relp' || config.target === 'relp-tls') {
    return {
      describe: `RELP${secure ? ' over TLS' : ''} to ${config.address}`,
      acknowledging: true,
      connect: () => {
        const session = new RelpSession('arkeo-signer');
        return {
          ...open(),
          preamble: session.open(),
          frame: (kind, line) => session.syslog(syslogMessage(origin, kind, line)),
          receive: (chunk) => session.receive(chunk),
          farewell: () => session.close(),
        };
      },
    };
  }
  return { describe: `syslog over ${secure ? 'TLS' : 'TCP'} to ${config.address}`, acknowledging: false, connect: () => ({ ...open(), preamble: '', frame: syslogFrame }) };
}

/** TLS 1.2 or later, the server's certificate checked against tls_ca and the host (or tls_server_name); the files read now. */
function tlsOptions(config: AuditShipConfig, host: string, port: number): tls.ConnectionOptions {
  if (!config.tls_ca) bad('tls_ca', `target "${config.target}" needs the CA (a PEM file) that signed the syslog server's certificate`);
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
  return options;
}
