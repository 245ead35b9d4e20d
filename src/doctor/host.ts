import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * What the doctor reads about the host: users (from a passwd file), and the process behind a unix socket (from
 * /proc). Kept apart from the checks so tests can hand in a prepared passwd file.
 */
export interface PasswdUser {
  name: string;
  uid: number;
  home: string;
  shell: string;
}

export function readPasswd(file: string): PasswdUser[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 7)
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), home: f[5]!, shell: f[6]! }));
}

/** A shell someone can log in with: not empty and not one of the refusing ones. */
export const isLoginShell = (shell: string) => shell !== '' && !/\/(nologin|false|true|sync|shutdown|halt)$/.test(shell);

export interface SocketProcess {
  pid: number;
  uid: number;
  /** The soft RLIMIT_CORE in bytes (Infinity for unlimited). */
  coreLimit: number;
  /**
   * false when PR_SET_DUMPABLE is 0, seen as /proc/<pid>/mem owned by root while the process is not root (the
   * kernel hands those files to root for a non-dumpable process); undefined when that cannot be told (root).
   */
  dumpable: boolean | undefined;
  /** VmLck in KiB. */
  lockedKiB: number;
}

/** Inodes of listening unix sockets bound at `socketPath` (this network namespace's /proc/net/unix). */
function listeningInodes(socketPath: string): Set<string> {
  const inodes = new Set<string>();
  let text = '';
  try {
    text = fs.readFileSync('/proc/net/unix', 'utf8');
  } catch {
    return inodes;
  }
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // Num RefCount Protocol Flags Type St Inode Path; flag 0x10000 is __SO_ACCEPTCON (listening).
    if (f.length >= 8 && f.slice(7).join(' ') === socketPath && (parseInt(f[3]!, 16) & 0x10000) !== 0) inodes.add(f[6]!);
  }
  return inodes;
}

/**
 * The process listening on `socketPath`, found by the socket's inode among /proc/<pid>/fd links. undefined when
 * nothing listens, or the listener is another user's process this one may not inspect.
 */
export function socketProcess(socketPath: string): SocketProcess | undefined {
  const inodes = listeningInodes(path.resolve(socketPath));
  if (inodes.size === 0) return undefined;
  const wanted = new Set([...inodes].map((i) => `socket:[${i}]`));
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    const match = fds.some((fd) => {
      try {
        return wanted.has(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      } catch {
        return false;
      }
    });
    if (match) return describeProcess(Number(pid));
  }
  return undefined;
}

function describeProcess(pid: number): SocketProcess | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const uid = Number(/^Uid:\s+\d+\s+(\d+)/m.exec(status)![1]);
    const lockedKiB = Number(/^VmLck:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    const core = /^Max core file size\s+(\S+)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'))?.[1];
    const coreLimit = core === undefined || core === 'unlimited' ? Infinity : Number(core);
    const memOwner = fs.statSync(`/proc/${pid}/mem`).uid;
    return { pid, uid, coreLimit, lockedKiB, dumpable: uid === 0 ? undefined : memOwner !== 0 };
  } catch {
    return undefined;
  }
}
