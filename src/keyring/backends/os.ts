import * as fs from 'node:fs';
import * as path from 'node:path';
import { KeyringError } from '../../errors.js';
import { FileExternalStore } from '../external.js';
import { decodeItem, encodeItem, type Item } from '../item.js';
import { byteOrder, serviceStorage, type ItemStore, type Storage, type StorageBackend, type StorageCheck, type StorageOptions } from '../store.js';

/**
 * arkeod's `os` backend on Linux: the freedesktop Secret Service (GNOME Keyring, KeePassXC) over the session bus,
 * item for item as 99designs/keyring v1.2.1 (secretservice.go, through gsterjov/go-libsecret) keeps it:
 * - the collection whose object path, with go-libsecret's `_XX` escapes decoded, is
 *   /org/freedesktop/secrets/collection/<service>; created with the label <service> when missing;
 * - one item per keyring item: label = the item key ("alice.info", "<hex>.address"), attributes
 *   {profile: <item key>}, secret = json.Marshal(Item) with content type "application/json", written with
 *   replace = true; read back as the first item SearchItems({profile}) finds;
 * - a "plain" session (the secret crosses the bus unencrypted, as 99designs sends it: only the same user's
 *   processes reach a session bus).
 * D-Bus through dbus-next (loaded on first use); no secret passes through another program.
 */

const SECRETS = 'org.freedesktop.secrets';
const ROOT = '/org/freedesktop/secrets';
const SERVICE_IFACE = 'org.freedesktop.Secret.Service';
const COLLECTION_IFACE = 'org.freedesktop.Secret.Collection';
const ITEM_IFACE = 'org.freedesktop.Secret.Item';
const PROMPT_IFACE = 'org.freedesktop.Secret.Prompt';
const PROPERTIES_IFACE = 'org.freedesktop.DBus.Properties';
/** libdbus's default reply timeout. */
export const CALL_TIMEOUT_MS = 25_000;
/** How long a desktop unlock or new-collection dialog may stay open before it is dismissed. */
export const PROMPT_TIMEOUT_MS = 120_000;

type DBusModule = typeof import('dbus-next');
type Bus = ReturnType<DBusModule['sessionBus']>;
type Message = InstanceType<DBusModule['Message']>;

/** go-libsecret's collection-path test (decodeKeyringString): `_XX` hex escapes decoded byte-wise; a bad escape leaves the path as it was. */
export function decodeKeyringString(src: string): string {
  const bytes = Buffer.from(src, 'utf8');
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0x5f) {
      out.push(bytes[i]!);
      continue;
    }
    if (i + 3 > bytes.length) return src;
    const hex = bytes.subarray(i + 1, i + 3).toString('latin1');
    if (!/^[0-9a-fA-F]{2}$/.test(hex)) return src;
    out.push(parseInt(hex, 16));
    i += 2;
  }
  return Buffer.from(out).toString('utf8');
}

/** The session bus's socket as libdbus and godbus find it: $DBUS_SESSION_BUS_ADDRESS, else /run/user/<uid>/bus. No autolaunch. */
export function sessionBusSocket(env: NodeJS.ProcessEnv = process.env): { socket: string; address: string } {
  const address = env.DBUS_SESSION_BUS_ADDRESS;
  if (!address || address === 'autolaunch:') {
    const runtime = env.XDG_RUNTIME_DIR || `/run/user/${process.getuid?.() ?? 0}`;
    const socket = path.join(runtime, 'bus');
    if (fs.existsSync(socket)) return { socket, address: `unix:path=${socket}` };
    throw new KeyringError(
      'KEYRING_UNAVAILABLE',
      `keyring backend os: no session bus (DBUS_SESSION_BUS_ADDRESS is not set and ${socket} does not exist); run it in a desktop session, or under dbus-run-session with a Secret Service such as gnome-keyring-daemon, or use --keyring-backend pass or file`,
    );
  }
  for (const entry of address.split(';')) {
    const colon = entry.indexOf(':');
    if (colon < 0 || entry.slice(0, colon) !== 'unix') continue;
    const params = new Map<string, string>();
    for (const kv of entry.slice(colon + 1).split(',')) {
      const eq = kv.indexOf('=');
      if (eq > 0) params.set(kv.slice(0, eq), decodeURIComponent(kv.slice(eq + 1)));
    }
    // Node connects to Linux abstract sockets given a leading NUL.
    if (params.has('path')) return { socket: params.get('path')!, address };
    if (params.has('abstract')) return { socket: `\0${params.get('abstract')!}`, address };
  }
  throw new KeyringError('KEYRING_UNAVAILABLE', `keyring backend os: DBUS_SESSION_BUS_ADDRESS="${address}" names no unix socket (path= or abstract=); set it to the session bus's unix: address`);
}

/** A D-Bus error in one line: the Secret Service's own name for what went wrong, with what to do. */
function serviceError(e: unknown, doing: string, location: string): KeyringError {
  if (e instanceof KeyringError) return e;
  const type = (e as { type?: string }).type;
  const text = String((e as { text?: string }).text ?? (e as Error).message ?? e).split('\n')[0];
  if (type === 'org.freedesktop.DBus.Error.ServiceUnknown' || type === 'org.freedesktop.DBus.Error.NameHasNoOwner') {
    return new KeyringError('KEYRING_UNAVAILABLE', `keyring backend os: no Secret Service on the session bus (nothing owns ${SECRETS}); start one (gnome-keyring-daemon --start --components=secrets, or KeePassXC with its Secret Service integration) or use --keyring-backend pass or file`);
  }
  if (type === 'org.freedesktop.Secret.Error.IsLocked') {
    return new KeyringError('KEYRING_LOCKED', `${location}: locked (${doing}); unlock it in the desktop session (e.g. with seahorse) and run again`);
  }
  return new KeyringError('KEYRING_UNAVAILABLE', `${location}: ${doing} failed (${type ? `${type}: ` : ''}${text})`);
}

/** One connection to the session bus with a Secret Service session on it. */
class SecretService {
  private failure: Error | undefined;
  private readonly failed: Promise<never>;
  private rejectFailed!: (e: Error) => void;
  sessionPath = '/';

  private constructor(
    private readonly dbus: DBusModule,
    private readonly bus: Bus,
    readonly location: string,
    address: string,
  ) {
    this.failed = new Promise<never>((_, reject) => (this.rejectFailed = reject));
    this.failed.catch(() => {}); // observed by whoever races it
    bus.on('error', (e: Error) =>
      this.fail(new KeyringError('KEYRING_UNAVAILABLE', `keyring backend os: cannot use the session bus at ${address} (${e.message}); is the desktop session (or dbus-run-session) still running?`)),
    );
  }

  private fail(e: Error): void {
    this.failure ??= e;
    this.rejectFailed(this.failure);
  }

  static async connect(location: string): Promise<SecretService> {
    const { socket, address } = sessionBusSocket();
    const dbus = ((await import('dbus-next')) as unknown as { default: DBusModule }).default;
    // unix:socket= makes dbus-next use Node's own socket (no native addon), for a path or an abstract name alike.
    const bus = dbus.sessionBus({ busAddress: `unix:socket=${socket}` });
    const service = new SecretService(dbus, bus, location, address);
    try {
      await service.race(
        new Promise<void>((resolve) => bus.once('connect', () => resolve())),
        CALL_TIMEOUT_MS,
        `connecting to the session bus at ${address}`,
      );
      const [, session] = (await service.call(ROOT, SERVICE_IFACE, 'OpenSession', 'sv', ['plain', new dbus.Variant('s', '')], 'opening a Secret Service session')) as [unknown, string];
      service.sessionPath = session;
    } catch (e) {
      service.close();
      throw e;
    }
    return service;
  }

  private async race<T>(p: Promise<T>, ms: number, doing: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new KeyringError('KEYRING_UNAVAILABLE', `${this.location}: no answer within ${ms / 1000} s (${doing}); is the Secret Service hung?`)), ms);
    });
    try {
      return await Promise.race([p, timeout, this.failed]);
    } finally {
      clearTimeout(timer);
    }
  }

  async call(objectPath: string, iface: string, member: string, signature: string, body: unknown[], doing: string): Promise<unknown[]> {
    const msg = new this.dbus.Message({ destination: SECRETS, path: objectPath, interface: iface, member, signature: signature || undefined, body });
    try {
      const reply = await this.race(this.bus.call(msg) as Promise<Message | null>, CALL_TIMEOUT_MS, doing);
      return (reply?.body ?? []) as unknown[];
    } catch (e) {
      throw serviceError(e, doing, this.location);
    }
  }

  async property(objectPath: string, iface: string, name: string, doing: string): Promise<unknown> {
    const [variant] = (await this.call(objectPath, PROPERTIES_IFACE, 'Get', 'ss', [iface, name], doing)) as [{ value: unknown }];
    return variant.value;
  }

  variant(signature: string, value: unknown): unknown {
    return new this.dbus.Variant(signature, value);
  }

  /**
   * Run a Secret Service prompt (a desktop dialog: unlock, new collection password) and wait for its Completed
   * signal. Without a display the service dismisses it at once. Returns the result path, or undefined if dismissed.
   */
  async prompt(promptPath: string, doing: string): Promise<string | undefined> {
    const rule = `type='signal',interface='${PROMPT_IFACE}',member='Completed',path='${promptPath}'`;
    await this.callBus('AddMatch', rule);
    let onMessage!: (m: Message) => void;
    const completed = new Promise<{ dismissed: boolean; result: string }>((resolve) => {
      onMessage = (m: Message) => {
        if (m.type === this.dbus.MessageType.SIGNAL && m.path === promptPath && m.interface === PROMPT_IFACE && m.member === 'Completed') {
          const [dismissed, result] = m.body as [boolean, { value: unknown }];
          resolve({ dismissed, result: typeof result?.value === 'string' ? result.value : '/' });
        }
      };
      this.bus.on('message', onMessage);
    });
    try {
      await this.call(promptPath, PROMPT_IFACE, 'Prompt', 's', [''], doing);
      const { dismissed, result } = await this.race(completed, PROMPT_TIMEOUT_MS, doing).catch(async (e: unknown) => {
        await this.call(promptPath, PROMPT_IFACE, 'Dismiss', '', [], 'dismissing the prompt').catch(() => {});
        throw e;
      });
      return dismissed ? undefined : result;
    } finally {
      this.bus.removeListener('message', onMessage);
      await this.callBus('RemoveMatch', rule).catch(() => {});
    }
  }

  private async callBus(member: string, rule: string): Promise<void> {
    const msg = new this.dbus.Message({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member, signature: 's', body: [rule] });
    await this.race(this.bus.call(msg), CALL_TIMEOUT_MS, member);
  }

  close(): void {
    try {
      this.bus.disconnect();
    } catch {
      /* already gone */
    }
  }
}

const isPrompt = (p: string) => p.startsWith(`${ROOT}/prompt/`);

/** The items of one Secret Service collection, as 99designs/keyring's secret-service backend keeps them. */
export class SecretServiceStore implements ItemStore {
  readonly location: string;
  mustExist = false;
  private service: Promise<SecretService> | undefined;
  private users = 0;
  private idle: NodeJS.Immediate | undefined;

  constructor(readonly collectionName: string) {
    this.location = `Secret Service collection "${collectionName}"`;
  }

  /**
   * One bus connection while calls follow one another; closed when the store falls idle, so that a CLI command
   * ends when its work does (an open bus connection would keep Node running).
   */
  private async use<T>(fn: (s: SecretService) => Promise<T>): Promise<T> {
    if (this.idle) clearImmediate(this.idle);
    this.idle = undefined;
    this.users++;
    try {
      this.service ??= SecretService.connect(this.location).catch((e: unknown) => {
        this.service = undefined;
        throw e;
      });
      return await fn(await this.service);
    } finally {
      if (--this.users === 0) {
        this.idle = setImmediate(() => {
          const s = this.service;
          this.service = undefined;
          void s?.then((x) => x.close(), () => {});
        });
      }
    }
  }

  /** go-libsecret's lookup: the first collection whose decoded path is …/collection/<name>. */
  private async collection(s: SecretService): Promise<string | undefined> {
    const paths = (await s.property(ROOT, SERVICE_IFACE, 'Collections', 'listing the collections')) as string[];
    const want = `${ROOT}/collection/${this.collectionName}`;
    const found = paths.find((p) => decodeKeyringString(p) === want);
    if (!found && this.mustExist) {
      throw new KeyringError('NO_KEYRING', `${this.location}: does not exist (no key was added with --keyring-backend os${this.collectionName === 'Arkeo' ? '' : ' under this service name'}; ARKEO_KEYRING_SERVICE names another)`);
    }
    return found;
  }

  private async unlock(s: SecretService, objectPath: string, what: string): Promise<void> {
    const [, prompt] = (await s.call(ROOT, SERVICE_IFACE, 'Unlock', 'ao', [[objectPath]], `unlocking ${what}`)) as [string[], string];
    if (isPrompt(prompt) && (await s.prompt(prompt, `unlocking ${what}`)) === undefined) {
      throw new KeyringError('KEYRING_LOCKED', `${this.location}: locked, and the Secret Service's unlock prompt was dismissed (no desktop to show it on?); unlock the collection in the desktop session (e.g. with seahorse) and run again`);
    }
    if (await s.property(objectPath, what === 'the collection' ? COLLECTION_IFACE : ITEM_IFACE, 'Locked', 'checking the lock')) {
      throw new KeyringError('KEYRING_LOCKED', `${this.location}: still locked after unlocking; unlock it in the desktop session and run again`);
    }
  }

  private async unlockedCollection(s: SecretService): Promise<string | undefined> {
    const col = await this.collection(s);
    if (col && (await s.property(col, COLLECTION_IFACE, 'Locked', 'checking the lock'))) await this.unlock(s, col, 'the collection');
    return col;
  }

  private async findItem(s: SecretService, col: string, key: string): Promise<string | undefined> {
    const [paths] = (await s.call(col, COLLECTION_IFACE, 'SearchItems', 'a{ss}', [{ profile: key }], 'searching the collection')) as [string[]];
    return paths[0];
  }

  async keys(): Promise<string[]> {
    return this.use(async (s) => {
      const col = await this.unlockedCollection(s);
      if (!col) return [];
      const items = (await s.property(col, COLLECTION_IFACE, 'Items', 'listing the items')) as string[];
      const labels: string[] = [];
      for (const item of items) {
        // 99designs skips an item whose label it cannot read.
        const label = await s.property(item, ITEM_IFACE, 'Label', 'reading a label').catch(() => undefined);
        if (typeof label === 'string') labels.push(label);
      }
      return labels.sort(byteOrder);
    });
  }

  async get(key: string): Promise<Item | undefined> {
    return this.use(async (s) => {
      const col = await this.collection(s);
      if (!col) return undefined;
      const item = await this.findItem(s, col, key);
      if (!item) return undefined;
      if (await s.property(item, ITEM_IFACE, 'Locked', 'checking the lock')) await this.unlock(s, item, 'the item');
      const [secret] = (await s.call(item, ITEM_IFACE, 'GetSecret', 'o', [s.sessionPath], `reading ${key}`)) as [[string, Buffer, Buffer, string]];
      const value = secret[2];
      try {
        const decoded = decodeItem(new Uint8Array(value.buffer, value.byteOffset, value.byteLength), this.describe(key));
        if (decoded.key !== key) throw new KeyringError('CORRUPT_ITEM', `${this.describe(key)}: holds item "${decoded.key}", expected "${key}"`);
        return decoded;
      } finally {
        value.fill(0);
      }
    });
  }

  async set(item: Item): Promise<void> {
    await this.use(async (s) => {
      const col = (await this.unlockedCollection(s)) ?? (await this.create(s));
      const json = Buffer.from(encodeItem(item));
      try {
        const props = {
          [`${ITEM_IFACE}.Label`]: s.variant('s', item.key),
          [`${ITEM_IFACE}.Attributes`]: s.variant('a{ss}', { profile: item.key }),
        };
        const [, prompt] = (await s.call(col, COLLECTION_IFACE, 'CreateItem', 'a{sv}(oayays)b', [props, [s.sessionPath, Buffer.alloc(0), json, 'application/json'], true], `writing ${item.key}`)) as [string, string];
        if (isPrompt(prompt) && (await s.prompt(prompt, `writing ${item.key}`)) === undefined) {
          throw new KeyringError('KEYRING_LOCKED', `${this.describe(item.key)}: not written, the Secret Service's prompt was dismissed`);
        }
      } finally {
        json.fill(0);
      }
    });
  }

  /** 99designs: CreateCollection(label = service name, no alias); the service asks for the new collection's password. */
  private async create(s: SecretService): Promise<string> {
    const [created, prompt] = (await s.call(ROOT, SERVICE_IFACE, 'CreateCollection', 'a{sv}s', [{ [`${COLLECTION_IFACE}.Label`]: s.variant('s', this.collectionName) }, ''], 'creating the collection')) as [string, string];
    if (!isPrompt(prompt)) return created;
    const result = await s.prompt(prompt, 'creating the collection');
    if (result === undefined || result === '/') {
      throw new KeyringError(
        'KEYRING_UNAVAILABLE',
        `${this.location}: does not exist, and the Secret Service's prompt for its password was dismissed (no desktop to show it on?); create it from the desktop session (add a key there once, or make a keyring named "${this.collectionName}" in seahorse), or use --keyring-backend pass or file`,
      );
    }
    return result;
  }

  async remove(key: string): Promise<void> {
    await this.use(async (s) => {
      const col = await this.collection(s);
      if (!col) return;
      const item = await this.findItem(s, col, key);
      if (!item) return;
      if (await s.property(item, ITEM_IFACE, 'Locked', 'checking the lock')) await this.unlock(s, item, 'the item');
      const [prompt] = (await s.call(item, ITEM_IFACE, 'Delete', '', [], `deleting ${key}`)) as [string];
      if (isPrompt(prompt) && (await s.prompt(prompt, `deleting ${key}`)) === undefined) {
        throw new KeyringError('KEYRING_LOCKED', `${this.describe(key)}: not deleted, the Secret Service's prompt was dismissed`);
      }
    });
  }

  /** Before a write: connected, and the collection unlocked (or creatable); nothing is written here. */
  async checkWritable(): Promise<void> {
    await this.use((s) => this.unlockedCollection(s));
  }

  describe(key: string): string {
    return `${this.location}, item ${JSON.stringify(key)}`;
  }

  /** doctor: the bus, the service, the collection and its lock, each a finding. */
  async check(): Promise<StorageCheck[]> {
    try {
      return await this.use(async (s) => {
        const out: StorageCheck[] = [{ level: 'ok', message: `a Secret Service answers on the session bus (${sessionBusSocket().address})` }];
        const col = await this.collection(s);
        if (!col) {
          out.push({ level: 'warn', message: `${this.location}: does not exist yet`, fix: 'add a key with --keyring-backend os in the desktop session (the Secret Service asks for the new collection\'s password), or migrate: keys migrate --from test --to os' });
          return out;
        }
        const locked = await s.property(col, COLLECTION_IFACE, 'Locked', 'checking the lock');
        if (locked) out.push({ level: 'fail', message: `${this.location}: locked; the daemon cannot read its keys until it is unlocked`, fix: 'unlock it in the desktop session (seahorse, or log in with the same password), then start the daemon' });
        else out.push({ level: 'ok', message: `${this.location}: exists and is unlocked` });
        return out;
      });
    } catch (e) {
      return [{ level: 'fail', message: (e as Error).message, fix: 'the os backend needs a session bus with a Secret Service and an unlocked collection; on a server, use --keyring-backend pass or file' }];
    }
  }
}

/** arkeod's `os` backend on Linux: a Secret Service collection named after the keyring service ("Arkeo"). */
export const osBackend: StorageBackend = {
  name: 'os',
  description: 'the desktop\'s Secret Service (GNOME Keyring, KeePassXC), collection "<service>"',
  open(options: StorageOptions): Storage {
    // Where our external-key files go: arkeod keeps nothing of this backend on disk.
    return serviceStorage(new SecretServiceStore(options.service), new FileExternalStore(path.join(options.home, 'keyring-os')));
  },
  check: (options) => new SecretServiceStore(options.service).check(),
};
