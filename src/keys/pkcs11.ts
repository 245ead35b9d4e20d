/**
 * The PKCS#11 backend: a key on a token (an HSM, SoftHSM2, a YubiHSM), found by its RFC 7512 URI, signing through a
 * pool of logged-in sessions. Its record is an offline (public-key) record plus an external-key file
 * { uri, module }; the PIN is never stored.
 */
import * as path from 'node:path';
import { InputError, KeyringError } from '../errors.js';
import type { Keyring, KeyInfo } from '../keyring/keyring.js';
import type { Pkcs11Signer, PinSource } from '../signers/index.js';
import type { AddForm, ExternalBackend, Pkcs11Options, ServeContext, Serving } from './backend.js';
import { CREATE_OPTION, switchOption, textOption } from './add.js';

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

/** `keys add NAME --pkcs11 URI [--create]`: a key found or generated on a token. */
const pkcs11Form: AddForm = {
  selectors: ['pkcs11'],
  options: {
    pkcs11: { type: 'string', value: 'URI', help: 'a key on a PKCS#11 token: pkcs11:token=LABEL;object=LABEL' },
    create: CREATE_OPTION,
    'pkcs11-module': { type: 'string', value: 'PATH', help: `the PKCS#11 library (or module-path= in the URI, or $${PKCS11_MODULE_ENV})` },
    'pin-file': { type: 'string', value: 'F', help: "file holding a PKCS#11 key's PIN (or $ARKEO_PKCS11_PIN, the systemd credential pkcs11-pin, or a prompt; never a flag value)" },
  },
  why: 'its key is made on the token',
  usage: ["NAME --pkcs11 'pkcs11:token=LABEL;object=LABEL' [--create] [--pkcs11-module PATH] [--pin-file F] [keyring flags]"],
  about: `--pkcs11 URI: a key on a PKCS#11 token (HSM): --create generates a secp256k1 key there (sensitive, not
extractable, sign only); without it, the URI names an existing one. The keyring keeps an offline record (what
arkeod reads) and NAME.external.json (where the key lives; no secret). PIN from --pin-file F, ARKEO_PKCS11_PIN,
the systemd credential pkcs11-pin, or a prompt; module from --pkcs11-module, module-path= in the URI, or
${PKCS11_MODULE_ENV}.`,
  async add({ name, values, keyring, options }) {
    const pin = options.pkcs11?.pin;
    if (!pin) throw new InputError('NO_PIN_SOURCE', `${name}: a PKCS#11 key needs a PIN source (--pin-file, ARKEO_PKCS11_PIN, a credential or a terminal)`);
    const info = await addPkcs11Key(keyring(), name, { uri: textOption(values, 'pkcs11')!, module: textOption(values, 'pkcs11-module'), create: switchOption(values, 'create'), pin });
    return { info, warnings: info.exportable ? [`${name}: the key on the token is marked extractable or not sensitive; it can leave the token`] : [] };
  },
};

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
  add: pkcs11Form,
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
