import { createRequire } from 'node:module';
import * as cryptoModule from 'node:crypto';
import { createHash } from 'node:crypto';
import { CryptoError } from '../errors.js';
import { equalBytes, utf8 } from './bytes.js';
import { log } from '../log.js';
import { nativeAddonPath } from '../paths.js';

/**
 * Node's one-shot hash (20.12+), else a Hash object. The one-shot call is not only faster: every Hash object is a
 * native object the garbage collector must track and finalise, and on the daemon's hot path those were most of
 * each young-generation pause (see bench/README.md).
 */
const oneShot = (cryptoModule as { hash?: (algorithm: string, data: string | Uint8Array, encoding: string) => Buffer | string }).hash;
// (Defined before the engine choice below, which hashes at load.)

/**
 * Cosmos secp256k1 semantics (cosmos-sdk v0.50 `crypto/keys/secp256k1`, nocgo build):
 * sign(message) = ECDSA over SHA-256(message), RFC 6979 nonce, low-S, 64-byte r||s.
 * verify rejects high-S and any signature length but 64.
 */

/**
 * Curve order n and n/2, for the range and low-S checks (SEC 2 §2.4.1; the vectors' `curveOrder`, checked in
 * test/crypto). Written out rather than read from @noble/curves, which is imported only when it signs (below).
 */
export const CURVE_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_ORDER = CURVE_ORDER >> 1n;
const bytes32 = (n: bigint) => Buffer.from(n.toString(16).padStart(64, '0'), 'hex');
const ORDER_BYTES = bytes32(CURVE_ORDER);
/** n/2 as 32 big-endian bytes: low-S is a byte comparison, no BigInt on the verify path. */
const HALF_ORDER_BYTES = bytes32(HALF_ORDER);

/** One implementation of the curve operations we need. Every engine produces identical bytes (RFC 6979). */
export interface CurveEngine {
  readonly name: 'system-libsecp256k1' | 'native-libsecp256k1' | 'noble-curves';
  signDigest(digest32: Uint8Array, privateKey32: Uint8Array): Uint8Array;
  verifyDigest(signature64: Uint8Array, digest32: Uint8Array, publicKey33: Uint8Array): boolean;
  publicKey(privateKey32: Uint8Array): Uint8Array;
  /** True when the 33 bytes are a compressed point on the curve. */
  isValidPublicKey(publicKey33: Uint8Array): boolean;
}

type Noble = (typeof import('@noble/curves/secp256k1.js'))['secp256k1'];

let noblePromise: Promise<CurveEngine> | undefined;

/**
 * The pure-JS engine. Imported on demand: @noble/curves builds its tables when it is imported, ~25 ms that a
 * process with a native engine (every signhere run, on most installs) would pay for nothing.
 */
function loadNobleEngine(): Promise<CurveEngine> {
  return (noblePromise ??= import('@noble/curves/secp256k1.js').then(({ secp256k1: noble }) => nobleEngineOf(noble)));
}

function nobleEngineOf(noble: Noble): CurveEngine {
  return {
    name: 'noble-curves',
    // prehash:false because the digest is already SHA-256(message): noble v2 would otherwise hash it again.
    signDigest: (digest, priv) => noble.sign(digest, priv, { prehash: false, lowS: true }),
    verifyDigest: (sig, digest, pub) => {
      try {
        return noble.verify(sig, digest, pub, { prehash: false, lowS: true });
      } catch {
        return false;
      }
    },
    publicKey: (priv) => noble.getPublicKey(priv, true),
    isValidPublicKey: (pub) => {
      try {
        noble.Point.fromBytes(pub);
        return true;
      } catch {
        return false;
      }
    },
  };
}

interface NativeBinding {
  ecdsaSign(msg32: Uint8Array, priv: Uint8Array): { signature: Uint8Array; recid: number };
  ecdsaVerify(sig: Uint8Array, msg32: Uint8Array, pub: Uint8Array): boolean;
  publicKeyCreate(priv: Uint8Array, compressed?: boolean): Uint8Array;
  publicKeyVerify(pub: Uint8Array): boolean;
}

let nativeEngine: CurveEngine | undefined | null = null;

function loadNativeEngine(): CurveEngine | undefined {
  if (nativeEngine !== null) return nativeEngine;
  let native: NativeBinding;
  try {
    // `secp256k1/bindings` fails loudly; plain `secp256k1` silently falls back to the slow `elliptic`.
    native = createRequire(import.meta.url)('secp256k1/bindings') as NativeBinding;
  } catch {
    return (nativeEngine = undefined);
  }
  return (nativeEngine = {
    name: 'native-libsecp256k1',
    // libsecp256k1 always returns low-S with its default RFC 6979 nonce function.
    signDigest: (digest, priv) => native.ecdsaSign(digest, priv).signature,
    verifyDigest: (sig, digest, pub) => {
      try {
        // libsecp256k1's verify rejects high-S, like the Cosmos SDK.
        return native.ecdsaVerify(sig, digest, pub);
      } catch {
        return false;
      }
    },
    publicKey: (priv) => native.publicKeyCreate(priv, true),
    isValidPublicKey: (pub) => {
      try {
        return native.publicKeyVerify(pub);
      } catch {
        return false;
      }
    },
  });
}

interface SystemBinding {
  sign(digest32: Uint8Array, priv: Uint8Array): Uint8Array | null;
  verify(sig: Uint8Array, digest32: Uint8Array, pub: Uint8Array): boolean;
  publicKey(priv: Uint8Array): Uint8Array | null;
  publicKeyVerify?(pub: Uint8Array): boolean;
}

let systemEngine: CurveEngine | undefined | null = null;
/** Why the system library's build was not used although it loaded (an older build of native/libsecp256k1). */
let systemStale = '';

/**
 * The OS's libsecp256k1 through native/libsecp256k1 (built by `npm install` when libsecp256k1-dev is present).
 * Preferred over the npm addon, which vendors a 2019 snapshot that is slower here and not patched by the OS.
 */
function loadSystemEngine(): CurveEngine | undefined {
  if (systemEngine !== null) return systemEngine;
  let lib: SystemBinding;
  try {
    lib = createRequire(import.meta.url)(nativeAddonPath('libsecp256k1', 'secp256k1_system.node')) as SystemBinding;
  } catch {
    return (systemEngine = undefined);
  }
  const publicKeyVerify = lib.publicKeyVerify;
  if (typeof publicKeyVerify !== 'function') {
    systemStale = 'native/libsecp256k1 was built from an older binding.c (no publicKeyVerify); rebuild it with npm rebuild arkeo-signer';
    return (systemEngine = undefined);
  }
  const must = (out: Uint8Array | null) => {
    if (!out) throw new CryptoError('BAD_PRIVATE_KEY', 'private key: rejected by libsecp256k1');
    return out;
  };
  return (systemEngine = {
    name: 'system-libsecp256k1',
    signDigest: (digest, priv) => must(lib.sign(digest, priv)),
    verifyDigest: (sig, digest, pub) => lib.verify(sig, digest, pub),
    publicKey: (priv) => must(lib.publicKey(priv)),
    isValidPublicKey: (pub) => {
      try {
        return publicKeyVerify(pub);
      } catch {
        return false;
      }
    },
  });
}

// Known answer (signing-performance.md): private key 1, message "1:1:". Checked when an engine is chosen,
// so a broken native build falls back to the next engine instead of producing wrong signatures.
const KAT_PRIV = new Uint8Array(32);
KAT_PRIV[31] = 1;
const KAT_SIG =
  '9f4037b11c37acf7e3913dbeb95a8f8cc03f7ca08c664e7ed4280e6b64a7655b604b5320caba7d35a8c6e76ced4c35c41a1493982145e56f009a4abc5b3aede7';
/** x = 0 is on no point of secp256k1 (y² = 7 has no root mod p): a point check that accepts it is broken. */
const KAT_NOT_A_POINT = new Uint8Array(33);
KAT_NOT_A_POINT[0] = 2;

function passesKnownAnswer(engine: CurveEngine): boolean {
  try {
    const digest = sha256(utf8('1:1:'));
    const sig = engine.signDigest(digest, KAT_PRIV);
    const pub = engine.publicKey(KAT_PRIV);
    return (
      Buffer.from(sig).toString('hex') === KAT_SIG &&
      engine.verifyDigest(sig, digest, pub) &&
      engine.isValidPublicKey(pub) &&
      !engine.isValidPublicKey(KAT_NOT_A_POINT)
    );
  } catch {
    return false;
  }
}

const ENGINE_NOTES: Record<CurveEngine['name'], string> = {
  'system-libsecp256k1': 'native libsecp256k1 (the system library, via native/libsecp256k1)',
  'native-libsecp256k1': 'native libsecp256k1 (npm secp256k1 addon)',
  'noble-curves': '@noble/curves',
};

/**
 * The engine is chosen when this module loads, because the choice decides whether @noble/curves is imported at
 * all (an ES module: only an await can load it). `ARKEO_SIGNER_CRYPTO=noble` forces pure JS; `native` requires a
 * native engine, `system` the system library's. Default: the first of system library, npm addon, noble that loads
 * and passes the known answer; the ones after it are not loaded.
 */
let wanted = 'auto';
let failed: string[] = [];
let chosen: CurveEngine | undefined;

async function chooseEngine(): Promise<void> {
  wanted = process.env.ARKEO_SIGNER_CRYPTO ?? 'auto';
  failed = [];
  chosen = undefined;
  if (wanted !== 'noble') {
    for (const load of wanted === 'system' ? [loadSystemEngine] : [loadSystemEngine, loadNativeEngine]) {
      const engine = load();
      if (load === loadSystemEngine && systemStale) failed.push(systemStale);
      if (engine && passesKnownAnswer(engine)) {
        chosen = engine;
        break;
      }
      if (engine) failed.push(`${engine.name} failed its known-answer test`);
    }
  }
  const unavailable = !chosen && (wanted === 'native' || wanted === 'system');
  if (!chosen && !unavailable) chosen = await loadNobleEngine();
}

/**
 * A startup snapshot (src/cli/snapshot-main.ts) is built before the program knows its environment, and a native
 * addon cannot be part of one: while it is built, the choice waits, and the snapshot's start makes it through
 * this function, before anything signs. Everywhere else it is made here, when the module loads.
 */
export function chooseCurveEngineAtStart(): Promise<void> {
  return chooseEngine();
}
if (!(globalThis as Record<symbol, unknown>)[Symbol.for('arkeo-signer.building-snapshot')]) await chooseEngine();

let selected: CurveEngine | undefined;
let selectionNote = '';

/** The engine in use (see above); throws when ARKEO_SIGNER_CRYPTO asks for a native engine that is not there. */
export function curveEngine(): CurveEngine {
  if (selected) return selected;
  // Before anything is cached: an unknown test fault then fails every call, not only the first.
  const fault = readTestFault();
  if (!chosen) {
    throw new CryptoError('ENGINE_UNAVAILABLE', `ARKEO_SIGNER_CRYPTO=${wanted} but no such engine loaded and passed its known-answer test${failed.length ? ` (${failed.join('; ')})` : ''}`);
  }
  selected = chosen;
  const why = wanted === 'noble' ? 'forced by ARKEO_SIGNER_CRYPTO=noble' : failed.length ? failed.join('; ') : selected.name === 'noble-curves' ? 'no native engine available' : '';
  selectionNote = `secp256k1 engine: ${ENGINE_NOTES[selected.name]}${why ? ` (${why})` : ''}`;
  if (fault) installTestFault(selected, fault);
  return selected;
}

// ------------------------------------------------------------------------------------------ TEST-ONLY fault

/** The environment variable of the test-only fault hook below. Never set it in production. */
export const TEST_FAULT_ENV = 'ARKEO_SIGNER_TEST_FAULT';
let faulty: CurveEngine | undefined;

/**
 * TEST-ONLY fault injection, so tests can prove that the verify-after-sign self-check is really there (issue 17):
 * `ARKEO_SIGNER_TEST_FAULT=corrupt-signature` makes the engine that LocalSigner signs with (and so the
 * SigningThread and the daemon, which sign through LocalSigner) return every signature with one bit flipped.
 * Read once per thread, when the engine is chosen; a worker thread reads its own copy of the environment.
 *
 * It can only make signing FAIL, never release a bad signature: the corrupted engine is handed out by
 * signingEngine() alone, whose one caller (LocalSigner) verifies every signature, and one built with
 * `verify: false` refuses to sign while a fault is set; curveEngine(), signDigest() and signMessage() keep the real
 * engine. An unknown value is an error (no engine is chosen, so nothing signs) rather than silently ignored, so a
 * misspelt fault cannot make a test pass.
 */
function readTestFault(): 'corrupt-signature' | undefined {
  const fault = process.env[TEST_FAULT_ENV];
  if (fault === undefined || fault === '') return undefined;
  if (fault !== 'corrupt-signature') throw new CryptoError('BAD_TEST_FAULT', `${TEST_FAULT_ENV}=${fault.slice(0, 40)}: unknown test fault (the only one is corrupt-signature)`);
  return fault;
}

function installTestFault(real: CurveEngine, fault: 'corrupt-signature'): void {
  faulty = {
    ...real,
    signDigest: (digest, priv) => {
      const sig = Uint8Array.from(real.signDigest(digest, priv));
      sig[63]! ^= 0x01; // the lowest bit of s: still low-S and in range, so only the verify step can catch it
      return sig;
    },
  };
  selectionNote += `; TEST-ONLY FAULT ${TEST_FAULT_ENV}=${fault} active: every signature is corrupted and must fail its self-check`;
  log('warn', `${TEST_FAULT_ENV}=${fault} is set: a test-only fault corrupts every signature, so all signing fails; never set it outside tests`);
}

/** True while the test-only fault is active in this thread (see readTestFault). */
export function testFaultActive(): boolean {
  curveEngine();
  return faulty !== undefined;
}

/**
 * The engine LocalSigner signs with: curveEngine(), or under the test-only fault its corrupting twin. Only for a
 * caller that verifies every signature before releasing it.
 */
export function signingEngine(): CurveEngine {
  const real = curveEngine(); // chooses the engine, and with it the fault, on first use
  return faulty ?? real;
}

/** A one-line description of which engine runs and why, for the log. */
export function curveEngineNote(): string {
  curveEngine();
  return selectionNote;
}

/** Every engine that loads, for tests and benchmarks that compare them (this imports @noble/curves). */
export async function availableEngines(): Promise<CurveEngine[]> {
  return [loadSystemEngine(), loadNativeEngine(), await loadNobleEngine()].filter((e): e is CurveEngine => e !== undefined);
}


export function sha256(data: Uint8Array): Uint8Array {
  const b = oneShot ? (oneShot('sha256', data, 'buffer') as Buffer) : createHash('sha256').update(data).digest();
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** SHA-256 of bytes or of a string's UTF-8, as lowercase hex. */
export function sha256Hex(data: string | Uint8Array): string {
  return oneShot ? (oneShot('sha256', data, 'hex') as string) : createHash('sha256').update(data).digest('hex');
}

function checkPrivateKey(privateKey: Uint8Array): void {
  if (!(privateKey instanceof Uint8Array) || privateKey.length !== 32) {
    throw new CryptoError('BAD_PRIVATE_KEY', `private key: expected 32 bytes, got ${privateKey?.length ?? typeof privateKey}`);
  }
  // 1 <= key <= n-1, compared as 32 big-endian bytes.
  if (privateKey.every((b) => b === 0) || Buffer.compare(privateKey, ORDER_BYTES) >= 0) {
    throw new CryptoError('BAD_PRIVATE_KEY', 'private key: not in the range 1..n-1');
  }
}

/** Cosmos `PrivKey.Sign(message)`: 64-byte low-S r||s over SHA-256(message). */
export function signMessage(privateKey: Uint8Array, message: Uint8Array): Uint8Array {
  return signDigest(privateKey, sha256(message));
}

/** Sign a 32-byte SHA-256 digest directly (the daemon hashes once and reuses the digest for audit). */
export function signDigest(privateKey: Uint8Array, digest32: Uint8Array): Uint8Array {
  checkPrivateKey(privateKey);
  if (digest32.length !== 32) throw new CryptoError('BAD_DIGEST', `digest: expected 32 bytes, got ${digest32.length}`);
  return curveEngine().signDigest(digest32, privateKey);
}

/** Cosmos `PubKey.VerifySignature(message, sig)`: false for high-S, bad lengths, or invalid keys. */
export function verifySignature(publicKey33: Uint8Array, message: Uint8Array, signature64: Uint8Array): boolean {
  return verifyDigest(publicKey33, sha256(message), signature64);
}

export function verifyDigest(publicKey33: Uint8Array, digest32: Uint8Array, signature64: Uint8Array): boolean {
  if (publicKey33.length !== 33 || signature64.length !== 64 || digest32.length !== 32) return false;
  if (!isLowS(signature64)) return false;
  return curveEngine().verifyDigest(signature64, digest32, publicKey33);
}

/** The 33-byte compressed public key of a private key. */
export function publicKeyFromPrivate(privateKey: Uint8Array): Uint8Array {
  checkPrivateKey(privateKey);
  return curveEngine().publicKey(privateKey);
}

/** True when the 33 bytes are a valid compressed secp256k1 point. */
export function isValidPublicKey(publicKey: Uint8Array): boolean {
  if (publicKey.length !== 33 || (publicKey[0] !== 2 && publicKey[0] !== 3)) return false;
  return curveEngine().isValidPublicKey(publicKey);
}

function scalarS(signature64: Uint8Array): bigint {
  return BigInt('0x' + Buffer.from(signature64.subarray(32, 64)).toString('hex'));
}

export function isLowS(signature64: Uint8Array): boolean {
  if (signature64.length !== 64) return false;
  const s = Buffer.from(signature64.buffer, signature64.byteOffset + 32, 32);
  return s.some((b) => b !== 0) && s.compare(HALF_ORDER_BYTES) <= 0;
}

/** Returns r||(n-s) when s is high, else the signature unchanged. Used for HSM/KMS outputs and for tests. */
export function normalizeLowS(signature64: Uint8Array): Uint8Array {
  if (signature64.length !== 64) throw new CryptoError('BAD_SIGNATURE', `signature: expected 64 bytes, got ${signature64.length}`);
  const s = scalarS(signature64);
  if (s <= HALF_ORDER) return signature64;
  return withS(signature64, CURVE_ORDER - s);
}

/** The same r with S' = n - S: the "high-S twin" that Cosmos verifiers reject. */
export function highSTwin(signature64: Uint8Array): Uint8Array {
  return withS(signature64, CURVE_ORDER - scalarS(signature64));
}

function withS(signature64: Uint8Array, s: bigint): Uint8Array {
  const out = new Uint8Array(64);
  out.set(signature64.subarray(0, 32), 0);
  out.set(Buffer.from(s.toString(16).padStart(64, '0'), 'hex'), 32);
  return out;
}

export { equalBytes };
