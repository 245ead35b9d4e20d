/**
 * Keys that never leave a PKCS#11 token (an HSM, or SoftHSM2 in tests), through pkcs11js: logged-in sessions in a
 * small pool, CKM_ECDSA over the SHA-256 digest we compute, and every raw signature through finalizeSignature
 * (low-S, verified against the keyring record's public key) before it is released.
 *
 * Trouble on the token is met by kind: a session that is gone (closed from outside) is reopened, a lost login is
 * redone, a stale key handle is looked up again; each a bounded number of times with backoff. A token that is gone
 * (removed, or lost by its module) puts the signer in recovery: signatures are refused at once while the module is
 * reopened in the background, with backoff, until the token and the record's key are back. A PIN the token refuses
 * is never tried again by this process: real HSMs lock the user PIN after a few failures.
 */
import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as P from 'pkcs11js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { CryptoError, InputError } from '../errors.js';
import { equalBytes, toHex } from '../crypto/bytes.js';
import { isLowS, sha256 } from '../crypto/secp256k1.js';
import { toAddress } from '../crypto/address.js';
import { finalizeSignature, type Signer } from './signer.js';
import { describePkcs11Uri, parsePkcs11Uri, type Pkcs11Uri } from './pkcs11-uri.js';

type Lib = P.PKCS11;
type Pkcs11js = typeof import('pkcs11js');

/** DER of OID 1.3.132.0.10 (secp256k1), the CKA_EC_PARAMS value of every key we use. */
export const SECP256K1_EC_PARAMS = Uint8Array.from([0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a]);
const CKS_RO_USER_FUNCTIONS = 1;
const CKS_RW_USER_FUNCTIONS = 3;
const MAX_SESSIONS = 64;

/** Where a PKCS#11 PIN comes from. Called at most once per signer (the value is kept for re-login). */
export type PinSource = (tokenLabel: string) => Promise<string>;

let pkcs11js: Pkcs11js | undefined;
function binding(): Pkcs11js {
  if (pkcs11js) return pkcs11js;
  try {
    pkcs11js = createRequire(import.meta.url)('pkcs11js') as Pkcs11js;
  } catch {
    throw new CryptoError('PKCS11_UNAVAILABLE', 'PKCS#11 support needs the optional npm package pkcs11js, which is not installed or not built (npm install pkcs11js; it needs a C++ compiler)');
  }
  return pkcs11js;
}

// ------------------------------------------------------------------------------------------------ the module

interface LoadedModule {
  lib: Lib;
  path: string;
  refs: number;
  names: Map<number, string>;
  /**
   * Counts C_Initialize states. Sessions, slot ids and object handles belong to one state: after a C_Finalize they
   * are void, and their numbers may be handed out again, so a holder forgets them instead of closing them.
   */
  epoch: number;
  /** C_SignAsync calls running on libuv's threads; the module is never finalised under them. */
  inFlight: number;
  drained: (() => void)[];
  /** A C_Finalize/C_Initialize in progress (waiting for inFlight to drain, then running). */
  reinitializing?: Promise<void>;
}
const modules = new Map<string, LoadedModule>();

/** CKR_… name of a pkcs11js error, or undefined for anything else. */
function ckr(mod: LoadedModule, e: unknown): string | undefined {
  const b = binding();
  if (!(e instanceof b.Pkcs11Error)) return undefined;
  return mod.names.get(e.code) ?? (/^CKR_[A-Z_]+$/.test(e.message) ? e.message : `CKR_0x${e.code.toString(16)}`);
}

function initialize(mod: LoadedModule): void {
  const b = binding();
  try {
    // OS locking: the daemon signs on several sessions at once from libuv's threads.
    mod.lib.C_Initialize({ flags: b.CKF_OS_LOCKING_OK });
  } catch (e) {
    if (ckr(mod, e) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') throw new CryptoError('PKCS11_MODULE', `pkcs11 module ${mod.path}: C_Initialize failed (${ckr(mod, e) ?? (e as Error).message})`);
  }
}

/**
 * Load and initialise a PKCS#11 module once per process (shared by every signer using it; reference counted).
 * Errors name the path and what to do.
 */
export function loadPkcs11Module(modulePath: string): LoadedModule {
  if (!modulePath) throw new InputError('NO_PKCS11_MODULE', 'pkcs11 module: no path (give --pkcs11-module PATH or set ARKEO_PKCS11_MODULE, e.g. /usr/lib/softhsm/libsofthsm2.so)');
  let real: string;
  try {
    real = fs.realpathSync(modulePath);
    if (!fs.statSync(real).isFile()) throw Object.assign(new Error(), { code: 'ENOTFILE' });
  } catch (e) {
    throw new InputError('PKCS11_MODULE', `pkcs11 module ${modulePath}: cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}); give the path of the token's PKCS#11 library with --pkcs11-module or ARKEO_PKCS11_MODULE`);
  }
  const have = modules.get(real);
  if (have) {
    have.refs++;
    return have;
  }
  const b = binding();
  const lib = new b.PKCS11();
  try {
    lib.load(real);
  } catch (e) {
    const why = String((e as Error).message).split('\n')[0]!.slice(0, 200);
    throw new InputError('PKCS11_MODULE', `pkcs11 module ${modulePath}: cannot be loaded as a PKCS#11 library (${why})`);
  }
  const names = new Map<number, string>();
  for (const [k, v] of Object.entries(b)) if (k.startsWith('CKR_') && typeof v === 'number') names.set(v, k);
  const mod: LoadedModule = { lib, path: modulePath, refs: 1, names, epoch: 0, inFlight: 0, drained: [] };
  initialize(mod);
  modules.set(real, mod);
  return mod;
}

/** Give back a reference taken by loadPkcs11Module; the last one finalises and unloads the module. */
export function releasePkcs11Module(mod: LoadedModule): void {
  releaseModule(mod);
}

function releaseModule(mod: LoadedModule): void {
  if (--mod.refs > 0) return;
  for (const [k, v] of modules) if (v === mod) modules.delete(k);
  try {
    mod.lib.C_Finalize();
  } catch {
    /* already finalised */
  }
  try {
    mod.lib.close();
  } catch {
    /* nothing to do */
  }
}

/**
 * C_Finalize then C_Initialize, after the signatures in flight on the module have returned: the way to make a
 * module look for its tokens again (SoftHSM2, for one, never sees a token again once its directory went away).
 * Concurrent callers share one run.
 */
function reinitializeModule(mod: LoadedModule): Promise<void> {
  mod.reinitializing ??= (async () => {
    while (mod.inFlight > 0) await new Promise<void>((r) => mod.drained.push(r));
    if (mod.refs === 0) return; // the last signer let go meanwhile: the module is finalised and unloaded
    try {
      mod.lib.C_Finalize();
    } catch {
      /* not initialised: a C_Initialize failed before */
    }
    mod.epoch++;
    initialize(mod);
  })().finally(() => {
    mod.reinitializing = undefined;
  });
  return mod.reinitializing;
}

/** The slot holding the token the URI names (by label, and serial when given). Slot ids change; labels do not. */
function findSlot(mod: LoadedModule, uri: Pkcs11Uri): P.Handle {
  const found: P.Handle[] = [];
  const labels: string[] = [];
  for (const slot of mod.lib.C_GetSlotList(true)) {
    let info: P.TokenInfo;
    try {
      info = mod.lib.C_GetTokenInfo(slot);
    } catch {
      continue;
    }
    const label = info.label.replace(/[\s\0]+$/, '');
    if (label) labels.push(label);
    if (label === uri.token && (uri.serial === undefined || info.serialNumber.replace(/[\s\0]+$/, '') === uri.serial)) found.push(slot);
  }
  if (found.length === 0) {
    throw new CryptoError('TOKEN_NOT_PRESENT', `pkcs11 token "${uri.token}": not present in ${mod.path} (tokens present: ${labels.map((l) => `"${l}"`).join(', ') || 'none'})`);
  }
  if (found.length > 1) throw new CryptoError('TOKEN_AMBIGUOUS', `pkcs11 token "${uri.token}": ${found.length} tokens have this label; add serial=… to the URI`);
  return found[0]!;
}

function isLoggedIn(mod: LoadedModule, session: P.Handle): boolean {
  const state = mod.lib.C_GetSessionInfo(session).state;
  return state === CKS_RO_USER_FUNCTIONS || state === CKS_RW_USER_FUNCTIONS;
}

const PIN_ERRORS = new Set(['CKR_PIN_INCORRECT', 'CKR_PIN_LOCKED', 'CKR_PIN_EXPIRED', 'CKR_PIN_INVALID', 'CKR_PIN_LEN_RANGE']);

function pinError(token: string, code: string): CryptoError {
  const what =
    code === 'CKR_PIN_LOCKED'
      ? 'the user PIN is locked; unlock it with the token\'s SO tools'
      : code === 'CKR_PIN_EXPIRED'
        ? 'the user PIN has expired; set a new one with the token\'s tools'
        : 'the token refused the PIN; check --pin-file, ARKEO_PKCS11_PIN or the credential';
  return new CryptoError(code === 'CKR_PIN_LOCKED' ? 'PIN_LOCKED' : 'PIN_INCORRECT', `pkcs11 token "${token}": C_Login failed (${code}): ${what}; tried once, not retried (tokens lock after a few failures)`);
}

/** C_Login as CKU_USER; "already logged in" is success. A refused PIN becomes pinError. */
function login(mod: LoadedModule, session: P.Handle, pin: string, token: string): void {
  const b = binding();
  try {
    mod.lib.C_Login(session, b.CKU_USER, pin);
  } catch (e) {
    const code = ckr(mod, e);
    if (code === 'CKR_USER_ALREADY_LOGGED_IN') return;
    if (code && PIN_ERRORS.has(code)) throw pinError(token, code);
    throw e;
  }
}

function findObjects(mod: LoadedModule, session: P.Handle, template: P.Template): P.Handle[] {
  mod.lib.C_FindObjectsInit(session, template);
  try {
    return mod.lib.C_FindObjects(session, 8);
  } finally {
    mod.lib.C_FindObjectsFinal(session);
  }
}

function keyTemplate(uri: Pkcs11Uri, cls: number): P.Template {
  const b = binding();
  const t: P.Template = [{ type: b.CKA_CLASS, value: cls }];
  if (uri.object !== undefined) t.push({ type: b.CKA_LABEL, value: uri.object });
  if (uri.id !== undefined) t.push({ type: b.CKA_ID, value: Buffer.from(uri.id) });
  return t;
}

function findPrivateKey(mod: LoadedModule, session: P.Handle, uri: Pkcs11Uri): P.Handle | undefined {
  const found = findObjects(mod, session, keyTemplate(uri, binding().CKO_PRIVATE_KEY));
  if (found.length > 1) throw new CryptoError('KEY_AMBIGUOUS', `${describePkcs11Uri(uri)}: ${found.length} private keys match; add id=… to the URI`);
  return found[0];
}

/**
 * The 33-byte public key of the token's key, read from its public-key object (same CKA_ID, else same label):
 * CKA_EC_PARAMS must be secp256k1, CKA_EC_POINT is a DER OCTET STRING around the uncompressed point (some tokens
 * give the bare point); @noble/curves checks the point and compresses it.
 */
function readPublicKey(mod: LoadedModule, session: P.Handle, uri: Pkcs11Uri, priv: P.Handle): Uint8Array {
  const b = binding();
  const [idAttr] = mod.lib.C_GetAttributeValue(session, priv, [{ type: b.CKA_ID }]);
  const id = idAttr?.value && (idAttr.value as Buffer).length > 0 ? new Uint8Array(idAttr.value as Buffer) : uri.id;
  const pubs = findObjects(mod, session, keyTemplate({ ...uri, id, object: id ? undefined : uri.object }, b.CKO_PUBLIC_KEY));
  if (pubs.length !== 1) {
    throw new CryptoError('NO_PUBLIC_KEY', `${describePkcs11Uri(uri)}: ${pubs.length === 0 ? 'no public-key object' : `${pubs.length} public-key objects`} beside the private key (CKO_PUBLIC_KEY with the same CKA_ID or label); import its public key onto the token or use --create`);
  }
  const [params, point] = mod.lib.C_GetAttributeValue(session, pubs[0]!, [{ type: b.CKA_EC_PARAMS }, { type: b.CKA_EC_POINT }]);
  if (!params?.value || !equalBytes(new Uint8Array(params.value as Buffer), SECP256K1_EC_PARAMS)) {
    throw new CryptoError('WRONG_CURVE', `${describePkcs11Uri(uri)}: not a secp256k1 key (CKA_EC_PARAMS ${params?.value ? toHex(params.value as Buffer) : 'missing'}, expected ${toHex(SECP256K1_EC_PARAMS)})`);
  }
  let raw = new Uint8Array((point?.value as Buffer | undefined) ?? []);
  if (raw.length >= 2 && raw[0] === 0x04 && raw[1] === raw.length - 2 && (raw.length - 2 === 65 || raw.length - 2 === 33)) raw = raw.subarray(2);
  try {
    return secp256k1.Point.fromBytes(raw).toBytes(true);
  } catch {
    throw new CryptoError('BAD_PUBLIC_KEY', `${describePkcs11Uri(uri)}: CKA_EC_POINT is not a secp256k1 point`);
  }
}

async function signOnce(mod: LoadedModule, session: P.Handle, key: P.Handle, digest32: Uint8Array): Promise<Uint8Array> {
  const b = binding();
  mod.lib.C_SignInit(session, { mechanism: b.CKM_ECDSA, parameter: null as unknown as undefined }, key);
  mod.inFlight++;
  try {
    return new Uint8Array(await mod.lib.C_SignAsync(session, Buffer.from(digest32), Buffer.alloc(128)));
  } finally {
    if (--mod.inFlight === 0) for (const w of mod.drained.splice(0)) w();
  }
}

// ------------------------------------------------------------------------------------------------ one-off token work

export interface Pkcs11TokenOptions {
  module: string;
  uri: Pkcs11Uri | string;
  pin: PinSource;
}

export interface Pkcs11KeyDescription {
  /** The URI as found or created (with the CKA_ID the key has on the token). */
  uri: Pkcs11Uri;
  publicKey: Uint8Array;
  address: string;
  created: boolean;
  /** CKA_EXTRACTABLE or !CKA_SENSITIVE on an existing key: it could leave the token. */
  exportable: boolean;
}

/** Open a session on the token, log in once, run `fn`, close. */
async function withTokenSession<T>(options: Pkcs11TokenOptions, rw: boolean, fn: (mod: LoadedModule, session: P.Handle, uri: Pkcs11Uri) => Promise<T>): Promise<T> {
  const uri = typeof options.uri === 'string' ? parsePkcs11Uri(options.uri) : options.uri;
  const mod = loadPkcs11Module(options.module);
  try {
    const b = binding();
    const slot = findSlot(mod, uri);
    const session = mod.lib.C_OpenSession(slot, b.CKF_SERIAL_SESSION | (rw ? b.CKF_RW_SESSION : 0));
    try {
      if (!isLoggedIn(mod, session)) login(mod, session, await options.pin(uri.token), uri.token);
      return await fn(mod, session, uri);
    } catch (e) {
      const code = ckr(mod, e);
      if (code) throw new CryptoError('PKCS11_FAILED', `${describePkcs11Uri(uri)}: ${(e as { method?: string }).method || 'call'} failed (${code})`);
      throw e;
    } finally {
      try {
        mod.lib.C_CloseSession(session);
      } catch {
        /* closed from outside */
      }
    }
  } finally {
    releaseModule(mod);
  }
}

const SELF_TEST = sha256(new TextEncoder().encode('arkeo-signer pkcs11 self-test'));

async function describeFound(mod: LoadedModule, session: P.Handle, uri: Pkcs11Uri, priv: P.Handle, created: boolean): Promise<Pkcs11KeyDescription> {
  const b = binding();
  const publicKey = readPublicKey(mod, session, uri, priv);
  const attrs = mod.lib.C_GetAttributeValue(session, priv, [{ type: b.CKA_ID }, { type: b.CKA_EXTRACTABLE }, { type: b.CKA_SENSITIVE }, { type: b.CKA_SIGN }, { type: b.CKA_EC_PARAMS }]);
  const bool = (i: number) => (attrs[i]?.value as Buffer | undefined)?.[0] === 1;
  if (!bool(3)) throw new CryptoError('KEY_CANNOT_SIGN', `${describePkcs11Uri(uri)}: the private key does not allow signing (CKA_SIGN is false)`);
  const id = (attrs[0]?.value as Buffer | undefined)?.length ? new Uint8Array(attrs[0]!.value as Buffer) : uri.id;
  // The pair must belong together: one signature from the private key, checked against the public object.
  finalizeSignature(await signOnce(mod, session, priv, SELF_TEST), SELF_TEST, publicKey, `${describePkcs11Uri(uri)} (self-test)`);
  return { uri: { ...uri, id }, publicKey, address: toAddress(publicKey), created, exportable: bool(1) || !bool(2) };
}

/** Read an existing key: its public key, address and CKA_ID, after a self-test signature. */
export async function findPkcs11Key(options: Pkcs11TokenOptions): Promise<Pkcs11KeyDescription> {
  return withTokenSession(options, false, async (mod, session, uri) => {
    const priv = findPrivateKey(mod, session, uri);
    if (!priv) throw new CryptoError('KEY_NOT_ON_TOKEN', `${describePkcs11Uri(uri)}: no such private key on the token (use --create to generate one)`);
    return describeFound(mod, session, uri, priv, false);
  });
}

/**
 * Generate a secp256k1 key pair on the token (CKM_EC_KEY_PAIR_GEN, CKA_EC_PARAMS = OID 1.3.132.0.10): the private
 * half sensitive, never extractable, allowed to sign and nothing else. Without id= in the URI a random 16-byte
 * CKA_ID is given, so later look-ups are exact.
 */
export async function createPkcs11Key(options: Pkcs11TokenOptions): Promise<Pkcs11KeyDescription> {
  return withTokenSession(options, true, async (mod, session, given) => {
    const b = binding();
    if (given.object === undefined) throw new InputError('BAD_PKCS11_URI', 'pkcs11 URI: --create needs object=LABEL (the new key\'s label)');
    const clash = findObjects(mod, session, keyTemplate({ ...given, id: undefined }, b.CKO_PRIVATE_KEY)).length + (given.id ? findObjects(mod, session, keyTemplate({ ...given, object: undefined }, b.CKO_PRIVATE_KEY)).length : 0);
    if (clash > 0) throw new CryptoError('KEY_EXISTS_ON_TOKEN', `${describePkcs11Uri(given)}: a private key with this label or id already exists on the token; drop --create to use it`);
    const uri: Pkcs11Uri = { ...given, id: given.id ?? new Uint8Array(randomBytes(16)) };
    const common = [
      { type: b.CKA_TOKEN, value: true },
      { type: b.CKA_KEY_TYPE, value: b.CKK_EC },
      { type: b.CKA_LABEL, value: uri.object! },
      { type: b.CKA_ID, value: Buffer.from(uri.id!) },
    ];
    const pubTemplate: P.Template = [{ type: b.CKA_CLASS, value: b.CKO_PUBLIC_KEY }, ...common, { type: b.CKA_EC_PARAMS, value: Buffer.from(SECP256K1_EC_PARAMS) }, { type: b.CKA_VERIFY, value: true }, { type: b.CKA_ENCRYPT, value: false }, { type: b.CKA_WRAP, value: false }, { type: b.CKA_PRIVATE, value: false }];
    const privTemplate: P.Template = [
      { type: b.CKA_CLASS, value: b.CKO_PRIVATE_KEY },
      ...common,
      { type: b.CKA_PRIVATE, value: true },
      { type: b.CKA_SENSITIVE, value: true },
      { type: b.CKA_EXTRACTABLE, value: false },
      { type: b.CKA_SIGN, value: true },
      { type: b.CKA_DECRYPT, value: false },
      { type: b.CKA_UNWRAP, value: false },
      { type: b.CKA_DERIVE, value: false },
      { type: b.CKA_SIGN_RECOVER, value: false },
    ];
    const { privateKey } = mod.lib.C_GenerateKeyPair(session, { mechanism: b.CKM_EC_KEY_PAIR_GEN, parameter: null as unknown as undefined }, pubTemplate, privTemplate);
    return describeFound(mod, session, uri, privateKey, true);
  });
}

/** Destroy the key pair on the token (private and public objects). Only on an explicit request. */
export async function destroyPkcs11Key(options: Pkcs11TokenOptions): Promise<number> {
  return withTokenSession(options, true, async (mod, session, uri) => {
    const b = binding();
    const objects = [...findObjects(mod, session, keyTemplate(uri, b.CKO_PRIVATE_KEY)), ...findObjects(mod, session, keyTemplate(uri, b.CKO_PUBLIC_KEY))];
    for (const o of objects) mod.lib.C_DestroyObject(session, o);
    return objects.length;
  });
}

// ------------------------------------------------------------------------------------------------ the signer

export interface Pkcs11SignerOptions {
  module: string;
  uri: Pkcs11Uri | string;
  /** The public key the keyring record holds: every signature is verified against it. */
  publicKey: Uint8Array;
  pin: PinSource;
  /** Logged-in sessions kept open, i.e. signatures in flight at once. Default 1. */
  sessions?: number;
  /** Recoveries (reopen, re-login, key look-up) per signature before giving up. Default 3. */
  retries?: number;
  /** First backoff; doubles each retry. Default 25 ms. */
  backoffMs?: number;
  /** The keyring name, for messages. */
  name?: string;
}

export interface Pkcs11Stats {
  signatures: number;
  /** Raw signatures from the token with s > n/2 (normalised by finalizeSignature). */
  highS: number;
  reopened: number;
  /** C_Login calls that succeeded (the first, and each after a lost login or reopened sessions). */
  logins: number;
  refinds: number;
  failures: number;
  /** Times the token was found gone and then brought back (module reopened, key found, logged in). */
  recoveries: number;
  /** Attempts to bring a gone token back, failed ones included. */
  recoveryAttempts: number;
}

/** While the token is gone: what the signer knows and when it tries again. */
export interface Pkcs11Recovery {
  /** Attempts made so far to bring it back. */
  attempts: number;
  /** Why the token is unusable: what was found, or why the last attempt failed. One line, never a PIN. */
  lastError: string;
  /** When the next attempt runs (ms since the epoch). */
  nextAttemptAt: number;
}

/** Backoff between attempts to bring a gone token back: 100 ms, doubling, at most 2 s. */
const RECOVERY_FIRST_MS = 100;
const RECOVERY_MAX_MS = 2_000;

interface Session {
  handle: P.Handle;
  /** The pool state it was opened in (see dropIdle). */
  generation: number;
  /** The module state it was opened in (see LoadedModule.epoch). */
  epoch: number;
}

type Recovery = 'reopen' | 'relogin' | 'refind';
const RECOVERY: Record<string, Recovery> = {
  CKR_SESSION_HANDLE_INVALID: 'reopen',
  CKR_SESSION_CLOSED: 'reopen',
  CKR_TOKEN_NOT_PRESENT: 'reopen',
  CKR_TOKEN_NOT_RECOGNIZED: 'reopen',
  CKR_DEVICE_REMOVED: 'reopen',
  CKR_DEVICE_ERROR: 'reopen',
  CKR_SLOT_ID_INVALID: 'reopen',
  CKR_OPERATION_ACTIVE: 'reopen',
  // What SoftHSM2 answers for a C_Sign in flight on another thread when its session is closed under it; a retry
  // on a fresh session is safe (nothing is released unverified) and bounded.
  CKR_GENERAL_ERROR: 'reopen',
  CKR_FUNCTION_FAILED: 'reopen',
  CKR_USER_NOT_LOGGED_IN: 'relogin',
  CKR_KEY_HANDLE_INVALID: 'refind',
  CKR_OBJECT_HANDLE_INVALID: 'refind',
  // Ours: "token gone" from findSlot, and a session from before the module was reinitialised (by any signer).
  TOKEN_NOT_PRESENT: 'reopen',
  MODULE_REINITIALISED: 'reopen',
};

/** A key on a PKCS#11 token, as a Signer. `open()` logs in once (a wrong PIN fails there), then signs through a pool. */
export class Pkcs11Signer implements Signer {
  readonly kind = 'pkcs11';
  readonly uri: Pkcs11Uri;
  readonly stats: Pkcs11Stats = { signatures: 0, highS: 0, reopened: 0, logins: 0, refinds: 0, failures: 0, recoveries: 0, recoveryAttempts: 0 };
  private readonly pub: Uint8Array;
  private readonly size: number;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly source: string;
  private slot: P.Handle | undefined;
  private key: P.Handle | undefined;
  private idle: Session[] = [];
  private open = 0;
  private generation = 0;
  /** The module state the slot, key handle and idle sessions belong to. */
  private epoch: number;
  private waiters: (() => void)[] = [];
  private pinValue: Promise<string> | undefined;
  private pinFailure: CryptoError | undefined;
  private lastProblem: string | undefined;
  private recovering: (Pkcs11Recovery & { timer?: NodeJS.Timeout }) | undefined;
  private closed = false;

  private constructor(
    private readonly mod: LoadedModule,
    private readonly options: Pkcs11SignerOptions,
  ) {
    this.uri = typeof options.uri === 'string' ? parsePkcs11Uri(options.uri) : options.uri;
    this.pub = Uint8Array.from(options.publicKey);
    const sessions = options.sessions ?? 1;
    if (!Number.isInteger(sessions) || sessions < 1 || sessions > MAX_SESSIONS) throw new InputError('BAD_CONFIG', `pkcs11 sessions: expected 1 to ${MAX_SESSIONS}, got ${sessions}`);
    this.size = sessions;
    this.attempts = 1 + (options.retries ?? 3);
    this.backoffMs = options.backoffMs ?? 25;
    this.source = `${describePkcs11Uri(this.uri)}${options.name ? ` (key ${options.name})` : ''}`;
    this.epoch = mod.epoch;
  }

  /**
   * Load the module, find the token, open and log in one session (so a wrong PIN or a missing token fails here,
   * once), and check that the token's public key is the record's.
   */
  static async open(options: Pkcs11SignerOptions): Promise<Pkcs11Signer> {
    const mod = loadPkcs11Module(options.module);
    let signer: Pkcs11Signer | undefined;
    try {
      signer = new Pkcs11Signer(mod, options);
      await signer.checkKey();
      return signer;
    } catch (e) {
      if (signer) signer.destroy();
      else releaseModule(mod);
      throw e;
    }
  }

  async publicKey(): Promise<Uint8Array> {
    return this.pub.slice();
  }

  sign(message: Uint8Array): Promise<Uint8Array> {
    return this.signDigest(sha256(message));
  }

  /** CKM_ECDSA over a SHA-256 digest we computed; the token checks nothing about its length, so we do. */
  async signDigest(digest32: Uint8Array): Promise<Uint8Array> {
    if (!(digest32 instanceof Uint8Array) || digest32.length !== 32) throw new CryptoError('BAD_DIGEST', `digest: expected 32 bytes, got ${digest32 instanceof Uint8Array ? digest32.length : typeof digest32}`);
    if (this.closed) throw new CryptoError('SIGNER_DESTROYED', `${this.source}: this signer was closed`);
    let last = '';
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      if (this.recovering) throw this.refuse();
      let s: Session | undefined;
      let raw: Uint8Array;
      try {
        if (this.mod.reinitializing) await this.mod.reinitializing.catch(() => {});
        s = await this.acquire();
        // Checked with no await before C_SignInit: a handle from an older module state may now be another's.
        if (s.epoch !== this.mod.epoch) throw new CryptoError('MODULE_REINITIALISED', `${this.source}: the module was reinitialised`);
        const key = (this.key ??= this.findKey(s.handle));
        raw = await signOnce(this.mod, s.handle, key, digest32);
        this.release(s, true);
        s = undefined;
      } catch (e) {
        // A session whose call failed is closed, not reused: an operation may still be active on it.
        if (s) this.release(s, false);
        if (this.recovering) throw this.refuse();
        // Whatever the call said, a token its module no longer shows will not come back by retrying on it.
        const gone = this.closed || isPinFailure(e) ? undefined : this.whyTokenGone();
        if (gone) {
          this.startRecovery(gone);
          throw this.refuse();
        }
        const recovery = this.recoveryFor(e);
        if (!recovery) {
          this.stats.failures++;
          this.lastProblem = this.codeOf(e) ?? (e as { code?: string }).code ?? 'error';
          throw this.explain(e);
        }
        last = this.codeOf(e) ?? recovery;
        this.lastProblem = last;
        this.recover(recovery);
        if (attempt < this.attempts) await new Promise((r) => setTimeout(r, this.backoffMs * 2 ** (attempt - 1)));
        continue;
      }
      this.stats.signatures++;
      if (!isLowS(raw)) this.stats.highS++;
      try {
        const sig = finalizeSignature(raw, digest32, this.pub, this.source);
        this.lastProblem = undefined;
        return sig;
      } catch (e) {
        this.stats.failures++;
        this.lastProblem = (e as CryptoError).code === 'SELF_CHECK_FAILED' ? 'KEY_MISMATCH' : (e as CryptoError).code;
        if ((e as CryptoError).code === 'SELF_CHECK_FAILED') {
          throw new CryptoError('KEY_MISMATCH', `${this.source}: the token signed with a key that is not the keyring record's ${toAddress(this.pub)} (signature does not verify); not released`);
        }
        throw e;
      }
    }
    this.stats.failures++;
    this.lastProblem = last;
    throw new CryptoError('SIGNER_UNAVAILABLE', `${this.source}: could not sign after ${this.attempts} attempts (last: ${last}); nothing was signed`);
  }

  /** For /healthz: undefined when the token is present and logged-in use is possible, else why not. */
  problem(): string | undefined {
    if (this.closed) return 'closed';
    if (this.pinFailure) return this.pinFailure.message;
    if (this.recovering) return `${this.source}: ${this.recoveryState()}`;
    try {
      findSlot(this.mod, this.uri);
    } catch (e) {
      return (e as Error).message;
    }
    return this.lastProblem ? `${this.source}: last attempt failed (${this.lastProblem})` : undefined;
  }

  /** While the token is gone and being brought back: why, attempts so far, and the next one. Else undefined. */
  recovery(): Pkcs11Recovery | undefined {
    const r = this.recovering;
    return r && { attempts: r.attempts, lastError: r.lastError, nextAttemptAt: r.nextAttemptAt };
  }

  /** Sessions open now (idle and busy). */
  get openSessions(): number {
    return this.open;
  }

  /** Close every session and let go of the module. The key stays on the token. */
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.recovering?.timer);
    this.recovering = undefined;
    for (const s of this.idle) this.closeSession(s);
    this.idle = [];
    for (const w of this.waiters.splice(0)) w();
    releaseModule(this.mod);
  }

  // -------------------------------------------------------------------------------------------- a gone token

  /** Undefined when the module shows the token; else what it shows instead, in one line. */
  private whyTokenGone(): string | undefined {
    try {
      findSlot(this.mod, this.uri);
      return undefined;
    } catch (e) {
      return this.reason(e);
    }
  }

  /** A signature refused at once while the token is being brought back. */
  private refuse(): CryptoError {
    this.stats.failures++;
    return new CryptoError('SIGNER_UNAVAILABLE', `${this.source}: ${this.recoveryState()}; nothing was signed`);
  }

  private recoveryState(): string {
    const r = this.recovering!;
    const next = Math.max(0, Math.round(r.nextAttemptAt - Date.now()));
    return `the token is unavailable (${r.lastError}); reopening it, attempt ${r.attempts + 1} in ${next} ms`;
  }

  /** An error as a reason inside our own messages: the call and its CKR_ code, or the message without the token's name. */
  private reason(e: unknown): string {
    const code = ckr(this.mod, e);
    if (code) return `${(e as { method?: string }).method || 'call'} failed (${code})`;
    const text = String((e as Error)?.message ?? e);
    return text.startsWith(`${this.source}: `) ? text.slice(this.source.length + 2) : text.replace(/^pkcs11 token "[^"]*": /, '');
  }

  private startRecovery(why: string): void {
    this.recovering = { attempts: 0, lastError: why, nextAttemptAt: 0 };
    this.lastProblem = undefined;
    this.scheduleRecovery();
  }

  private scheduleRecovery(): void {
    const r = this.recovering!;
    const delay = Math.min(RECOVERY_MAX_MS, RECOVERY_FIRST_MS * 2 ** r.attempts);
    r.nextAttemptAt = Date.now() + delay;
    r.timer = setTimeout(() => void this.tryRecovery(), delay);
    // A signer waiting for its token does not keep the process alive.
    r.timer.unref();
  }

  /**
   * One attempt: reopen the module (C_Finalize/C_Initialize) unless it shows the token, then a session, a login
   * with the PIN already given, and the record's key. Success ends the recovery; a refused PIN ends it too (that
   * is final, see pinFailure); anything else is the next attempt's reason.
   */
  private async tryRecovery(): Promise<void> {
    const r = this.recovering;
    if (!r || this.closed) return;
    r.attempts++;
    this.stats.recoveryAttempts++;
    try {
      if (r.attempts > 1 || this.whyTokenGone()) await reinitializeModule(this.mod);
      this.forgetState();
      await this.checkKey();
      this.recovering = undefined;
      this.stats.recoveries++;
    } catch (e) {
      if (this.closed || this.pinFailure) {
        this.recovering = undefined;
        return;
      }
      r.lastError = this.reason(e);
      this.scheduleRecovery();
    }
  }

  /** A session from the pool, the key found on it, and the token's public key checked against the record's. */
  private async checkKey(): Promise<void> {
    const s = await this.acquire();
    try {
      const priv = this.findKey(s.handle);
      const onToken = readPublicKey(this.mod, s.handle, this.uri, priv);
      if (!equalBytes(onToken, this.pub)) {
        throw new CryptoError('KEY_MISMATCH', `${this.source}: the token's key (${toAddress(onToken)}) is not the keyring record's (${toAddress(this.pub)}); nothing will be signed with it`);
      }
      this.key = priv;
      this.release(s, true);
    } catch (e) {
      this.release(s, false);
      throw this.explain(e);
    }
  }

  // -------------------------------------------------------------------------------------------- sessions

  private async acquire(): Promise<Session> {
    for (;;) {
      if (this.closed || this.pinFailure) {
        // Final states: everyone waiting learns it now, not when a session would have come back.
        for (const w of this.waiters.splice(0)) w();
        if (this.pinFailure) throw this.pinFailure;
        throw new CryptoError('SIGNER_DESTROYED', `${this.source}: this signer was closed`);
      }
      if (this.epoch !== this.mod.epoch) this.forgetState();
      const s = this.idle.pop();
      if (s) return s;
      if (this.open < this.size) {
        this.open++;
        try {
          return await this.openSession();
        } catch (e) {
          this.open--;
          this.waiters.shift()?.();
          throw e;
        }
      }
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  private release(s: Session, reusable: boolean): void {
    if (reusable && !this.closed && s.generation === this.generation) this.idle.push(s);
    else {
      this.closeSession(s);
      this.open--;
    }
    this.waiters.shift()?.();
  }

  private closeSession(s: Session): void {
    if (s.epoch !== this.mod.epoch) return; // void already; its number may be another session's now
    try {
      this.mod.lib.C_CloseSession(s.handle);
    } catch {
      /* already gone */
    }
  }

  private async openSession(): Promise<Session> {
    const b = binding();
    this.slot ??= findSlot(this.mod, this.uri);
    const handle = this.mod.lib.C_OpenSession(this.slot, b.CKF_SERIAL_SESSION);
    const session = { handle, generation: this.generation, epoch: this.mod.epoch };
    try {
      if (!isLoggedIn(this.mod, handle)) await this.login(session);
    } catch (e) {
      this.closeSession(session);
      throw e;
    }
    return session;
  }

  private async login(session: Session): Promise<void> {
    if (this.pinFailure) throw this.pinFailure;
    this.pinValue ??= this.options.pin(this.uri.token);
    const pin = await this.pinValue;
    // Another session may have logged in while we waited for the PIN (login state is per token, per process), or
    // the module may have been reinitialised, voiding this session.
    if (this.pinFailure) throw this.pinFailure;
    if (session.epoch !== this.mod.epoch) throw new CryptoError('MODULE_REINITIALISED', `${this.source}: the module was reinitialised`);
    if (isLoggedIn(this.mod, session.handle)) return;
    try {
      login(this.mod, session.handle, pin, this.uri.token);
      this.stats.logins++;
    } catch (e) {
      if (isPinFailure(e)) {
        this.pinFailure = e as CryptoError;
        this.pinValue = undefined;
      }
      throw e;
    }
  }

  private findKey(handle: P.Handle): P.Handle {
    const key = findPrivateKey(this.mod, handle, this.uri);
    if (!key) throw new CryptoError('KEY_NOT_ON_TOKEN', `${this.source}: no such private key on the token (deleted, or the token re-initialised?); nothing was signed`);
    return key;
  }

  private codeOf(e: unknown): string | undefined {
    return ckr(this.mod, e) ?? (e instanceof CryptoError && (e.code === 'TOKEN_NOT_PRESENT' || e.code === 'MODULE_REINITIALISED') ? e.code : undefined);
  }

  private recoveryFor(e: unknown): Recovery | undefined {
    const code = this.codeOf(e);
    return code ? RECOVERY[code] : undefined;
  }

  private recover(r: Recovery): void {
    if (r === 'relogin') {
      // Every session lost its login together: new ones log in as they open.
      this.dropIdle();
      return;
    }
    if (r === 'refind') {
      this.stats.refinds++;
      this.key = undefined;
      return;
    }
    this.stats.reopened++;
    // Sessions, slot id and object handles all belong to the old state: drop them; busy ones close on release.
    this.dropIdle();
    this.slot = undefined;
    this.key = undefined;
  }

  private dropIdle(): void {
    this.generation++;
    for (const s of this.idle) this.closeSession(s);
    this.open -= this.idle.length;
    this.idle = [];
  }

  /** Slot id, key handle and idle sessions are of an older state (module reinitialised, token back): drop them. */
  private forgetState(): void {
    this.stats.reopened++;
    this.dropIdle();
    this.slot = undefined;
    this.key = undefined;
    this.epoch = this.mod.epoch;
  }

  /** One line naming the token and the failing call, never a PIN. */
  private explain(e: unknown): Error {
    const code = ckr(this.mod, e);
    if (code) return new CryptoError('PKCS11_FAILED', `${this.source}: ${(e as { method?: string }).method || 'call'} failed (${code}); nothing was signed`);
    return e as Error;
  }
}

function isPinFailure(e: unknown): boolean {
  return e instanceof CryptoError && (e.code === 'PIN_INCORRECT' || e.code === 'PIN_LOCKED');
}
