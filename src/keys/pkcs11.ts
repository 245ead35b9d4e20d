/**
 * The PKCS#11 backend: a key on a token (an HSM, SoftHSM2, a YubiHSM), found by its RFC 7512 URI, signing through a
 * pool of logged-in sessions. Its record is an offline (public-key) record plus an external-key file
 * { uri, module }; the PIN is never stored.
 */
import * as path from 'node:path';
import { InputError, KeyringError } from '../errors.js';
import type { Keyring, KeyInfo } from '../keyring/keyring.js';
import type { Pkcs11Signer, PinSource } from '../signers/index.js';
import type { ExternalBackend, Pkcs11Options, ServeContext, Serving } from './backend.js';

// pkcs11js and the token code are imported when a PKCS#11 key is used: a local key's signature loads none of it.
const pkcs11 = () => import('../signers/pkcs11.js');
const pkcs11Uri = () => import('../signers/pkcs11-uri.js');

export const PKCS11_MODULE_ENV = 'ARKEO_PKCS11_MODULE';

/** The module path: flag, then the URI's module-path, then $ARKEO_PKCS11_MODULE (and the daemon's config, passed as a flag). */
export function resolveModule(flag: string | undefined, fromUri: string | undefined): string {
  const m = flag ?? fromUri ?? process.env[PKCS11_MODULE_ENV];
  if (!m) throw new InputError('NO_PKCS11_MODULE', `pkcs11 module: not given (use --pkcs11-module PATH, module-path= in the URI, or ${PKCS11_MODULE_ENV})`);
  return path.resolve(m);
}

async function openPkcs11(info: KeyInfo, o: Pkcs11Options): Promise<Pkcs11Signer> {
  const loc = info.external!.location;
  if (!loc.uri) throw new KeyringError('CORRUPT_EXTERNAL', `${info.name}: its external-key file has no pkcs11 URI; re-add the key`);
  if (!o.pin) throw new InputError('NO_PIN_SOURCE', `${info.name}: a PKCS#11 key needs a PIN source (--pin-file, ARKEO_PKCS11_PIN, a credential or a terminal)`);
  const { Pkcs11Signer } = await pkcs11();
  return Pkcs11Signer.open({
    module: o.module ?? loc.module ?? resolveModule(undefined, undefined),
    uri: loc.uri,
    publicKey: info.publicKey!,
    pin: o.pin,
    sessions: o.sessions,
    retries: o.retries,
    backoffMs: o.backoffMs,
    name: info.name,
  });
}

/** The daemon's PKCS#11 keys: `tokens` in /healthz, arkeo_signer_pkcs11_* gauges read from each signer's counters. */
async function servePkcs11({ registry }: ServeContext): Promise<Serving<Pkcs11Signer>> {
  const { Gauge } = await import('prom-client');
  const tokenHealthy = new Gauge({ name: 'arkeo_signer_pkcs11_token_healthy', help: '1 when the PKCS#11 token of a key is present and usable (set at each /healthz and scrape)', labelNames: ['key'], registers: [registry] });
  const tokenSessions = new Gauge({ name: 'arkeo_signer_pkcs11_sessions', help: 'Logged-in PKCS#11 sessions open per key', labelNames: ['key'], registers: [registry] });
  const tokenEvents = new Gauge({ name: 'arkeo_signer_pkcs11_events', help: 'Per PKCS#11 key since start: signatures, high_s (raw high-S normalised), reopened, logins, refinds, failures, recoveries (the token came back), recovery_attempts', labelNames: ['key', 'event'], registers: [registry] });
  const keys = new Map<string, Pkcs11Signer>();
  return {
    served: (name, signer) => void keys.set(name, signer),
    scrape() {
      for (const [key, signer] of keys) {
        tokenSessions.set({ key }, signer.openSessions);
        tokenHealthy.set({ key }, signer.problem() ? 0 : 1);
        for (const [event, n] of Object.entries(signer.stats)) tokenEvents.set({ key, event: event.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) }, n);
      }
    },
    async health() {
      if (keys.size === 0) return undefined;
      const entries: Record<string, string> = {};
      for (const [key, signer] of keys) {
        const problem = signer.problem();
        // A token that went away and is being reopened says so, with its last error and next attempt.
        entries[key] = problem ? `${signer.recovery() ? 'recovering' : 'error'}: ${problem}` : 'ok';
        tokenHealthy.set({ key }, problem ? 0 : 1);
      }
      return { section: 'tokens', entries, ok: Object.values(entries).every((t) => t === 'ok') };
    },
  };
}

export const pkcs11Backend: ExternalBackend<Pkcs11Signer> = {
  kinds: ['pkcs11'],
  description: 'pkcs11',
  served: true,
  inProcess: false,
  open: (key, options) => openPkcs11(key.info!, options.pkcs11 ?? {}),
  deleted: (kind) => `Key reference deleted; the ${kind} key itself was not touched (--delete-from-token destroys it)`,
  async destroy(info, { pin }) {
    if (!pin) throw new InputError('NO_PIN_SOURCE', `${info.name}: deleting from the token needs a PIN source`);
    const loc = info.external!.location;
    const [{ destroyPkcs11Key }, { describePkcs11Uri, parsePkcs11Uri }] = await Promise.all([pkcs11(), pkcs11Uri()]);
    const destroyed = await destroyPkcs11Key({ module: loc.module ?? resolveModule(undefined, undefined), uri: loc.uri!, pin });
    if (destroyed === 0) throw new KeyringError('KEY_NOT_ON_TOKEN', `${info.name}: ${describePkcs11Uri(parsePkcs11Uri(loc.uri!))}: nothing to destroy on the token; records kept (delete without --delete-from-token to drop them)`);
    return destroyed;
  },
  serve: servePkcs11,
};

export interface AddPkcs11Options {
  uri: string;
  module?: string;
  /** Generate the key on the token; otherwise use the key the URI names. */
  create?: boolean;
  pin: PinSource;
}

export interface AddedPkcs11Key extends KeyInfo {
  created: boolean;
  /** An existing key marked extractable or not sensitive: it can leave the token. */
  exportable: boolean;
}

/**
 * `keys add NAME --pkcs11 URI [--create]`: find or generate the key on the token (with a self-test signature),
 * then store an offline record plus our location file. The name is checked first, so nothing is created on the
 * token for a name that is taken.
 */
export async function addPkcs11Key(keyring: Keyring, name: string, options: AddPkcs11Options): Promise<AddedPkcs11Key> {
  if (await keyring.has(name)) throw new KeyringError('KEY_EXISTS', `${name}: a key with this name already exists in ${keyring.location}`);
  const [{ createPkcs11Key, findPkcs11Key }, { formatPkcs11Uri, parsePkcs11Uri }] = await Promise.all([pkcs11(), pkcs11Uri()]);
  const uri = parsePkcs11Uri(options.uri);
  const module = resolveModule(options.module, uri.modulePath);
  const found = options.create ? await createPkcs11Key({ module, uri, pin: options.pin }) : await findPkcs11Key({ module, uri, pin: options.pin });
  const stored = formatPkcs11Uri({ ...found.uri, modulePath: undefined });
  try {
    const info = await keyring.addExternalKey(name, found.publicKey, 'pkcs11', { uri: stored, module });
    return { ...info, created: found.created, exportable: found.exportable };
  } catch (e) {
    if (found.created && e instanceof Error) e.message += ` (the key generated on the token stays there: ${stored})`;
    throw e;
  }
}
