import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { tempDir } from '../helpers.js';

/**
 * A real Secret Service for tests: gnome-keyring-daemon (Debian's gnome-keyring) in a private session bus
 * (dbus-run-session), its login keyring unlocked with a test password. Nothing of the user's own session is used.
 * The helpers below talk to it through dbus-next's high-level proxy API, independently of src/keyring/backends/os.ts
 * (which sends raw messages): they make and lock collections as a desktop would, and read items back to compare.
 */
const require = createRequire(import.meta.url);
type DBus = typeof import('dbus-next');
const dbus = (): DBus => require('dbus-next') as DBus;
/** A method call through a proxy object (dbus-next's proxy interfaces are untyped). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const call = (obj: { getInterface(name: string): unknown }, iface: string, member: string, ...args: unknown[]): Promise<any> => (obj.getInterface(iface) as Record<string, (...a: unknown[]) => Promise<unknown>>)[member]!(...args);

export const SECRETS = 'org.freedesktop.secrets';
export const ROOT = '/org/freedesktop/secrets';
export const TEST_KEYRING_PASSWORD = 'gnome-keyring-test-password';

export function secretServiceAvailable(): boolean {
  return ['dbus-run-session', 'gnome-keyring-daemon'].every((p) => spawnSync('sh', ['-c', `command -v ${p}`]).status === 0);
}

export interface StoredSecretItem {
  path: string;
  label: string;
  attributes: Record<string, string>;
  contentType: string;
  parameters: Buffer;
  value: Buffer;
}

export class SecretServiceSession {
  private constructor(
    private readonly child: ChildProcess,
    /** DBUS_SESSION_BUS_ADDRESS of the private bus. */
    readonly address: string,
    /** Environment for programs that should use it (the oracle, our CLI). */
    readonly env: Record<string, string>,
  ) {}

  static async start(): Promise<SecretServiceSession> {
    const home = tempDir('arkeo-ss-');
    const runtime = path.join(home, 'run');
    fs.mkdirSync(runtime, { mode: 0o700 });
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_DATA_HOME: path.join(home, 'data'), XDG_RUNTIME_DIR: runtime, XDG_CONFIG_HOME: path.join(home, 'config'), GK_PASSWORD: TEST_KEYRING_PASSWORD };
    delete env.DBUS_SESSION_BUS_ADDRESS;
    delete env.DISPLAY;
    delete env.WAYLAND_DISPLAY;
    const script = 'printf %s "$GK_PASSWORD" | gnome-keyring-daemon --unlock --components=secrets >/dev/null && echo "ADDRESS=$DBUS_SESSION_BUS_ADDRESS" && exec cat >/dev/null';
    // Its own process group, so stop() ends the bus, the keyring daemon and the prompter together.
    const child = spawn('dbus-run-session', ['--', 'sh', '-c', script], { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const address = await new Promise<string>((resolve, reject) => {
      let out = '';
      let err = '';
      const timer = setTimeout(() => reject(new Error(`gnome-keyring did not start: ${err}`)), 30_000);
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /ADDRESS=(\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      child.on('exit', (code) => reject(new Error(`dbus-run-session exited ${code}: ${err}`)));
    });
    return new SecretServiceSession(child, address, { DBUS_SESSION_BUS_ADDRESS: address, HOME: home, XDG_RUNTIME_DIR: runtime, XDG_DATA_HOME: env.XDG_DATA_HOME!, XDG_CONFIG_HOME: env.XDG_CONFIG_HOME! });
  }

  async stop(): Promise<void> {
    this.child.stdin!.end();
    const gone = new Promise<void>((resolve) => {
      if (this.child.exitCode !== null) resolve();
      else this.child.once('exit', () => resolve());
    });
    try {
      process.kill(-this.child.pid!, 'SIGTERM');
    } catch {
      /* already gone */
    }
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    try {
      process.kill(-this.child.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  }

  /** Run fn with a bus connection to this session, closed afterwards. */
  async with<T>(fn: (bus: ReturnType<DBus['sessionBus']>, d: DBus) => Promise<T>): Promise<T> {
    const d = dbus();
    const socket = /unix:path=([^,;]+)/.exec(this.address)?.[1];
    const bus = d.sessionBus({ busAddress: socket ? `unix:socket=${socket}` : this.address });
    try {
      return await fn(bus, d);
    } finally {
      bus.disconnect();
    }
  }

  /** What a desktop's "new keyring" dialog does, without the dialog: gnome-keyring's CreateWithMasterPassword. */
  async createCollection(label: string, password = TEST_KEYRING_PASSWORD): Promise<string> {
    return this.with(async (bus, d) => {
      const obj = await bus.getProxyObject(SECRETS, ROOT);
      const [, session] = await call(obj, 'org.freedesktop.Secret.Service', 'OpenSession', 'plain', new d.Variant('s', ''));
            return (await call(obj, 'org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface', 'CreateWithMasterPassword', { 'org.freedesktop.Secret.Collection.Label': new d.Variant('s', label) }, [session, Buffer.alloc(0), Buffer.from(password), 'text/plain'])) as string;
    });
  }

  async collections(): Promise<string[]> {
    return this.with(async (bus) => {
      const obj = await bus.getProxyObject(SECRETS, ROOT);
      return (await call(obj, 'org.freedesktop.DBus.Properties', 'Get', 'org.freedesktop.Secret.Service', 'Collections')).value as string[];
    });
  }

  async lock(collection: string): Promise<void> {
    await this.with(async (bus) => {
      const obj = await bus.getProxyObject(SECRETS, ROOT);
      await call(obj, 'org.freedesktop.Secret.Service', 'Lock', [collection]);
    });
  }

  async unlock(collection: string, password = TEST_KEYRING_PASSWORD): Promise<void> {
    await this.with(async (bus, d) => {
      const obj = await bus.getProxyObject(SECRETS, ROOT);
      const [, session] = await call(obj, 'org.freedesktop.Secret.Service', 'OpenSession', 'plain', new d.Variant('s', ''));
      await call(obj, 'org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface', 'UnlockWithMasterPassword', collection, [session, Buffer.alloc(0), Buffer.from(password), 'text/plain']);
    });
  }

  /** Every item of a collection, secrets included, read as any Secret Service client would. */
  async items(collection: string): Promise<StoredSecretItem[]> {
    return this.with(async (bus, d) => {
      const root = await bus.getProxyObject(SECRETS, ROOT);
      const [, session] = await call(root, 'org.freedesktop.Secret.Service', 'OpenSession', 'plain', new d.Variant('s', ''));
      const col = await bus.getProxyObject(SECRETS, collection);
      const paths = (await call(col, 'org.freedesktop.DBus.Properties', 'Get', 'org.freedesktop.Secret.Collection', 'Items')).value as string[];
      const out: StoredSecretItem[] = [];
      for (const p of paths) {
        const item = await bus.getProxyObject(SECRETS, p);
                const label = (await call(item, 'org.freedesktop.DBus.Properties', 'Get', 'org.freedesktop.Secret.Item', 'Label')).value as string;
        const attributes = (await call(item, 'org.freedesktop.DBus.Properties', 'Get', 'org.freedesktop.Secret.Item', 'Attributes')).value as Record<string, string>;
        const [, parameters, value, contentType] = (await call(item, 'org.freedesktop.Secret.Item', 'GetSecret', session)) as [string, Buffer, Buffer, string];
        out.push({ path: p, label, attributes, contentType, parameters, value });
      }
      return out.sort((a, b) => Buffer.compare(Buffer.from(a.label), Buffer.from(b.label)));
    });
  }

  /** Put an item in a collection as another program might (for "an item that is not a key record"). */
  async putItem(collection: string, label: string, secret: Buffer, attributes: Record<string, string> = { profile: label }): Promise<void> {
    await this.with(async (bus, d) => {
      const root = await bus.getProxyObject(SECRETS, ROOT);
      const [, session] = await call(root, 'org.freedesktop.Secret.Service', 'OpenSession', 'plain', new d.Variant('s', ''));
      const col = await bus.getProxyObject(SECRETS, collection);
      await call(col, 'org.freedesktop.Secret.Collection', 'CreateItem', 
        { 'org.freedesktop.Secret.Item.Label': new d.Variant('s', label), 'org.freedesktop.Secret.Item.Attributes': new d.Variant('a{ss}', attributes) },
        [session, Buffer.alloc(0), secret, 'text/plain'],
        true,
      );
    });
  }
}
