import { createRequire } from 'node:module';
import * as os from 'node:os';
import { nativeAddonPath } from './paths.js';

/**
 * The daemon's own memory: no core dumps, no same-user ptrace or /proc/<pid>/mem, pages locked where the limit
 * allows, and systemd's readiness notification. Node has no API for any of these (there is no process.setrlimit),
 * so they come from the optional addon native/hardening. Without it the daemon still starts, logs a warning, and
 * `arkeo-signer doctor` reports it: refusing to start would turn a missing compiler into an outage.
 */
interface HardeningAddon {
  setNotDumpable(): number;
  isDumpable(): number;
  disableCoreDumps(): number;
  lockPages(bytes: Uint8Array): number;
  memlockLimit(): number;
  notify(socket: string, state: string): number;
}

let addon: HardeningAddon | undefined | null = null;

function load(): HardeningAddon | undefined {
  if (addon !== null) return addon;
  try {
    addon = createRequire(import.meta.url)(nativeAddonPath('hardening', 'hardening.node')) as HardeningAddon;
  } catch {
    addon = undefined;
  }
  return addon;
}

export function hardeningAvailable(): boolean {
  return load() !== undefined;
}

const errName = (errno: number) => Object.entries(os.constants.errno).find(([, v]) => v === errno)?.[0] ?? `errno ${errno}`;

const ADDON_MISSING =
  'native/hardening addon not built: core dumps stay as the environment allows, /proc/<pid>/mem is readable by processes of this user, key pages are not locked; install a C toolchain and run npm install (or node native/build.mjs)';

/**
 * Not dumpable and no core, before any key or passphrase is read. Only the process that serves keys calls this
 * (`daemon start`), never a library user's process. Returns one line per measure not applied, with what to do.
 */
export function hardenProcess(): string[] {
  const a = load();
  if (!a) return [ADDON_MISSING];
  const warnings: string[] = [];
  const dump = a.setNotDumpable();
  if (dump !== 0) warnings.push(`prctl(PR_SET_DUMPABLE, 0) failed (${errName(dump)}): processes of this user can read this process's memory`);
  const core = a.disableCoreDumps();
  if (core !== 0) warnings.push(`setrlimit(RLIMIT_CORE, 0) failed (${errName(core)}): set LimitCORE=0 in the unit or ulimit -c 0`);
  return warnings;
}

/** Whether this process is dumpable (undefined without the addon). */
export function processDumpable(): boolean | undefined {
  const a = load();
  return a ? a.isDumpable() !== 0 : undefined;
}

/**
 * Lock the pages holding `bytes` (a key in an off-heap ArrayBuffer, whose address never moves) out of swap.
 * Returns undefined when locked, else why not: RLIMIT_MEMLOCK too low (each key needs one page; Debian's default
 * 8 MiB is plenty, a limit of 0 is not), or no addon. Transient copies the secp256k1 engine makes while signing
 * live in V8's heap and cannot be locked: only a host without swap, or with encrypted swap, covers those.
 */
export function lockPages(bytes: Uint8Array): string | undefined {
  const a = load();
  if (!a) return 'native/hardening addon not built: key pages not locked (they may reach swap)';
  const err = a.lockPages(bytes);
  if (err === 0) return undefined;
  const limit = a.memlockLimit();
  return `key pages not locked (mlock: ${errName(err)}; RLIMIT_MEMLOCK ${limit < 0 ? 'unlimited' : `${Math.round(limit / 1024)} KiB`}): they may reach swap; raise LimitMEMLOCK (64K is enough for 16 keys) or run without swap or with encrypted swap`;
}

/**
 * sd_notify for Type=notify: READY=1 once the socket is bound and the start is audited, STOPPING=1 on SIGTERM.
 * Does nothing outside systemd (no NOTIFY_SOCKET). Returns a problem to log, or undefined.
 */
export function notifySystemd(state: string): string | undefined {
  const socket = process.env.NOTIFY_SOCKET;
  if (!socket) return undefined;
  const a = load();
  if (!a) return `NOTIFY_SOCKET is set but the native/hardening addon is not built: systemd will not see ${state} (build the addon, or use Type=simple)`;
  const err = a.notify(socket, state);
  return err === 0 ? undefined : `sd_notify ${state} to ${socket} failed (${errName(err)})`;
}
