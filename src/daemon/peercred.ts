import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { nativeAddonPath } from '../paths.js';

/**
 * The uid/pid of a unix-socket peer, from the optional native addon native/peercred (SO_PEERCRED). Node itself
 * has no API for it. When the addon was not built, callers are recorded by token and transport only.
 */
type PeerCredFn = (fd: number) => { pid: number; uid: number; gid: number } | null;

let peerCredFn: PeerCredFn | undefined | null = null;

function load(): PeerCredFn | undefined {
  if (peerCredFn !== null) return peerCredFn;
  try {
    peerCredFn = (createRequire(import.meta.url)(nativeAddonPath('peercred', 'peercred.node')) as { peerCred: PeerCredFn }).peerCred;
  } catch {
    peerCredFn = undefined;
  }
  return peerCredFn;
}

export function peerCredentialsAvailable(): boolean {
  return load() !== undefined;
}

const cache = new WeakMap<Socket, { uid: number; pid: number } | undefined>();

/** Looked up once per connection (keep-alive connections carry many requests). */
export function peerCredentials(socket: Socket): { uid: number; pid: number } | undefined {
  if (cache.has(socket)) return cache.get(socket);
  const fn = load();
  // `_handle.fd` is the connection's file descriptor on Unix (not part of Node's public API, stable for years).
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  const cred = fn && typeof fd === 'number' && fd >= 0 ? fn(fd) : null;
  const value = cred ? { uid: cred.uid, pid: cred.pid } : undefined;
  cache.set(socket, value);
  return value;
}
