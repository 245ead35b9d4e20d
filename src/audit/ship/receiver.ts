import * as fs from 'node:fs';
import * as net from 'node:net';

/**
 * A minimal syslog receiver for `audit drill`: octet-counted messages over TCP on loopback, each written to a file
 * as one line, as rsyslog writes RFC 5424 messages with its RSYSLOG_SyslogProtocol23Format template; it closes a
 * connection when the sender ends it, as rsyslog does, which is what acknowledges a segment.
 */
export interface FileReceiver {
  port: number;
  /** Messages written so far. */
  readonly received: number;
  close(): Promise<void>;
}

export async function startFileReceiver(file: string): Promise<FileReceiver> {
  let received = 0;
  const server = net.createServer((socket) => {
    let buf = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const sp = buf.indexOf(0x20);
        if (sp < 0 || sp > 10) break;
        const len = Number(buf.subarray(0, sp).toString('latin1'));
        if (!Number.isSafeInteger(len) || buf.length < sp + 1 + len) break;
        fs.appendFileSync(file, Buffer.concat([buf.subarray(sp + 1, sp + 1 + len), Buffer.from('\n')]));
        received++;
        buf = buf.subarray(sp + 1 + len);
      }
    });
    socket.on('end', () => socket.end());
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    get received() {
      return received;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
