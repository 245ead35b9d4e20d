import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { tempDir } from '../helpers.js';

/**
 * Debian's rsyslogd (packages rsyslog, rsyslog-gnutls and rsyslog-relp, which .ci/run installs) as the test's own
 * process: its own config in a temp dir (no system config, no other inputs), imtcp or imrelp on a loopback port,
 * plain or TLS (with a test CA made here with openssl), and omfile writing every message in RFC 5424 form to
 * `file`: the shipped copy. stop() and start() take it away and bring it back on the same port; destroy() (for
 * t.after) stops it for good.
 */
export interface Rsyslog {
  port: number;
  address: string;
  /** The remote copy: what rsyslog wrote. */
  file: string;
  /** tls: the CA that signed the server's certificate (for [audit.ship] tls_ca). */
  ca?: string;
  /** relp with tls: the client certificate imrelp asks for, and its key (for tls_cert and tls_key). */
  clientCert?: string;
  clientKey?: string;
  running: boolean;
  /** SIGTERM, and wait for the exit (rsyslog writes what it had read before it exits). */
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
  /** rsyslogd's own stderr so far (for failure messages). */
  stderr(): string;
}

export const RSYSLOGD = process.env.ARKEO_TEST_RSYSLOGD ?? '/usr/sbin/rsyslogd';
const moduleAt = (name: string) => ['/usr/lib/x86_64-linux-gnu/rsyslog', '/usr/lib/aarch64-linux-gnu/rsyslog', '/usr/lib/rsyslog'].some((d) => fs.existsSync(path.join(d, name)));

/** rsyslogd, with the modules the input needs: imtcp's TLS driver (rsyslog-gnutls), or imrelp (rsyslog-relp, TLS built in). */
export function rsyslogAvailable(tls: boolean, relp = false): boolean {
  if (!fs.existsSync(RSYSLOGD)) return false;
  if (relp && !moduleAt('imrelp.so')) return false;
  if (tls && !relp && !moduleAt('lmnsd_gtls.so')) return false;
  return !tls || opensslAvailable();
}

function opensslAvailable(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** A test CA, a server certificate for 127.0.0.1 and localhost and a client certificate (CN CLIENT_CN), signed by it (P-256). */
export function makeTestCa(dir: string): { ca: string; cert: string; key: string; clientCert: string; clientKey: string } {
  const f = (n: string) => path.join(dir, n);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe', timeout: 30_000 });
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=arkeo-signer test syslog CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=localhost');
  fs.writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n');
  openssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '2', '-extfile', f('server.ext'));
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('client.key'), '-out', f('client.csr'), '-subj', `/CN=${CLIENT_CN}`);
  fs.writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n');
  openssl('x509', '-req', '-in', f('client.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('client.pem'), '-days', '2', '-extfile', f('client.ext'));
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key') };
}

/** The name in the test client certificate, which imrelp's TLS input permits. */
export const CLIENT_CN = 'arkeo-signer-test-client';

async function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect({ host: '127.0.0.1', port }, () => (c.destroy(), resolve(true)));
    c.on('error', () => resolve(false));
  });
}

/**
 * `port`: listen there (a shipper already pointed at it); default a free one. `started: false`: configure only.
 * `relp`: imrelp instead of imtcp, with the ruleset's queue kept on disk over a stop (queue.saveOnShutdown), as the
 * audit log guide configures the receiver: imrelp answers a message once it is in that queue.
 */
export async function startRsyslog(options: { tls?: boolean; relp?: boolean; port?: number; started?: boolean } = {}): Promise<Rsyslog> {
  const dir = tempDir('arkeo-rsyslog-');
  const port = options.port ?? (await freePort());
  const file = path.join(dir, 'remote.log');
  const certs = options.tls ? makeTestCa(dir) : undefined;
  const q = (s: string) => JSON.stringify(s);
  // Control characters are left as they came (DEL is the one an audit line may hold unescaped), and a message may
  // be long: the copy is compared with the local log byte for byte.
  const global = `global(workDirectory=${q(dir)} maxMessageSize="64k" parser.escapeControlCharactersOnReceive="off"`;
  const output = `action(type="omfile" file=${q(file)} template="RSYSLOG_SyslogProtocol23Format")`;
  const conf = (
    options.relp
      ? [
          `${global})`,
          'module(load="imrelp")',
          `ruleset(name="audit" queue.type="LinkedList" queue.filename="audit" queue.saveOnShutdown="on") { ${output} }`,
          `input(type="imrelp" address="127.0.0.1" port="${port}" ruleset="audit"${certs ? ` tls="on" tls.caCert=${q(certs.ca)} tls.myCert=${q(certs.cert)} tls.myPrivKey=${q(certs.key)} tls.authMode="name" tls.permittedPeer=[${q(CLIENT_CN)}]` : ''})`,
        ]
      : [
          `${global}${certs ? ` defaultNetstreamDriverCAFile=${q(certs.ca)} defaultNetstreamDriverCertFile=${q(certs.cert)} defaultNetstreamDriverKeyFile=${q(certs.key)}` : ''})`,
          `module(load="imtcp"${certs ? ' streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon"' : ''})`,
          `ruleset(name="audit") { ${output} }`,
          `input(type="imtcp" address="127.0.0.1" port="${port}" ruleset="audit")`,
        ]
  )
    .concat('')
    .join('\n');
  const confFile = path.join(dir, 'rsyslog.conf');
  fs.writeFileSync(confFile, conf);
  let child: ChildProcess | undefined;
  let stderr = '';
  let exited: Promise<void> = Promise.resolve();
  const r: Rsyslog = {
    port,
    address: `127.0.0.1:${port}`,
    file,
    ...(certs ? { ca: certs.ca } : {}),
    ...(certs && options.relp ? { clientCert: certs.clientCert, clientKey: certs.clientKey } : {}),
    running: false,
    stderr: () => stderr,
    async start() {
      if (r.running) return;
      child = spawn(RSYSLOGD, ['-n', '-f', confFile, '-i', path.join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const c = child;
      exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      r.running = true;
      void exited.then(() => (r.running = false));
      for (let i = 0; i < 200; i++) {
        if (!r.running) throw new Error(`rsyslogd exited at start: ${stderr.trim().slice(0, 500)}`);
        if (await accepting(port)) return;
        await new Promise((res) => setTimeout(res, 50));
      }
      throw new Error(`rsyslogd did not listen on ${port} within 10 s: ${stderr.trim().slice(0, 500)}`);
    },
    async stop() {
      if (!r.running || !child) return;
      child.kill('SIGTERM');
      const killed = setTimeout(() => child?.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(killed);
    },
    async destroy() {
      await r.stop();
    },
  };
  if (options.started !== false) await r.start();
  return r;
}

/** The messages rsyslog wrote so far (whole lines). */
export function remoteLines(r: Rsyslog): string[] {
  if (!fs.existsSync(r.file)) return [];
  const text = fs.readFileSync(r.file, 'utf8');
  return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').slice(0, -1);
}
