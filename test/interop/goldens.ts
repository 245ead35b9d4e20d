import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { Keyring, encodeItem, encodeRecord, newLocalRecord, decryptPrivateKeyArmor, type KeyRecord } from '../../src/keyring/index.js';
import { deriveKey, parseHex, publicKeyFromPrivate, signMessage, toHex, verifySignature, highSTwin } from '../../src/crypto/index.js';
import { chainV1017, sentinelV1017 } from '../../src/claims/index.js';
import { REPO_ROOT } from '../helpers.js';
import { openLocalSigner } from '../../src/keys/index.js';

/**
 * Golden files written by the Go oracle (`npm run vectors`) and the checks that hold our code to them on machines
 * without Go. Each check returns the list of mismatches (empty = pass), so the harness test can show that a
 * corrupted golden file or a one-byte change in an encoder is caught.
 */
export const GOLDEN_DIR = path.join(REPO_ROOT, 'test', 'vectors');
export const MANIFEST = 'MANIFEST.sha256';
/**
 * Files in GOLDEN_DIR the oracle does not write: the hand-written README (it also records the provenance of
 * shared/) and shared/, the copy of ../shared/vectors, which has its own SHA-256 list and check
 * (test/interop/shared-vectors.ts). `npm run vectors` keeps them and the manifest leaves them out.
 */
export const NOT_FROM_ORACLE = ['README.md', 'shared'];
const hex = (s: string) => parseHex(s, 'golden');

export interface GoldenRecord {
  nameHex: string;
  privHex: string;
  recordHex: string;
  itemJsonHex: string;
}
export interface GoldenKeyrings {
  filePassphrase: string;
  keys: Record<'test' | 'file', { name: string; address: string; pubkey_hex: string; mnemonic: string }[]>;
  signatures: { backend: 'test' | 'file'; name: string; msgHex: string; sigHex: string }[];
}
export interface GoldenArmor {
  armor: string;
  passphrase: string;
  pubkeyHex: string;
  mnemonic: string;
}
export interface GoldenSignature {
  privHex: string;
  msgHex: string;
  sigHex: string;
}
export interface GoldenMatrix {
  privHex: string;
  chainId: string;
  cases: { cid: string; nonce: string; forms: { name: string; signature: string; sentinel: boolean; chain: boolean }[] }[];
}

/** Sections 6 and 7 of generate-vectors.ts: a Go keyring with every record kind, and arkeod's output for it. */
export const KEY_OUTPUT_KEYRING = 'go-key-output';
export const KEY_OUTPUT_FILES = [KEY_OUTPUT_KEYRING, 'go-key-output.json', 'go-name-outputs.json'];

/**
 * Local keys in the Go keyring: the names issue 14 reported (195 bytes, a leading dot) and names whose JSON or
 * YAML arkeod prints in a special way (spaces, %, non-ASCII, HTML characters, YAML words, folding past 80
 * columns). Names with a tab or a newline are left to YAML_NAMES: as file names in a git checkout they break
 * tools (the manifest is one line per file).
 */
export const LOCAL_NAMES = [
  'alice',
  'k'.repeat(195),
  '.hidden',
  'my key',
  'ünïcødé 日本',
  'pct%2Fslash/',
  '%lead',
  'a<b>&c',
  "it's",
  'true',
  '123',
  '- dash',
  'emoji 🔑',
  'a long name with spaces that goes past the eighty column limit of the yaml emitter so that it folds over',
];

/** Names for arkeod's output alone (offline records in memory, no files): every rule of goyaml.v2's quoting. */
export const YAML_NAMES = [
  ...LOCAL_NAMES,
  'tab\tname',
  'line\nbreak',
  'x'.repeat(100),
  'short words then aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa b c',
  "it's quoted and then it is long enough to fold in the single quoted style: yes it is, 'again'",
  'a double "quoted" name with\ta tab that is long enough to fold in the double quoted style, yes',
  'two\n\nbreaks\n', '\nleading', 'trailing\n', 'cr\rx', 'del\u007fx', 'c1\u0085x', 'nbsp\u00a0x', 'a \u0085 b', 'a\u0085\u0085b',
  '\u0085lead', 'end\u0085', 'x \u0085\t\u0085 \u0085y', '\u2028x', 'y\u2029', 'quote"back\\slash', 'bom\ufeffx', 'priv\ue000x', 'nonchar\uffffx',
  'True', 'yes', 'Y', 'n', 'on', 'OFF', 'null', '~', 'Null', '<<', '.nan', '.inf', '-.Inf', '+.inf',
  '-1', '+1', '0x1F', '0o17', '017', '08', '0b101', '-0b11', '1_000', '1e3', '1.5', '.5', '.', '1.', '-', '+', '1e999',
  '9223372036854775808', '18446744073709551616', '-9223372036854775809', '1:20', '190:20:30', '1:2',
  '2024-01-02', '2024-1-2', '2024-02-30', '2024-01-02T03:04:05Z', '2024-01-02 03:04:05', '2024-01-02t3:04:05Z',
  '2001-12-14 21:59:43.10', '2024-13-01', '1234-', '12345-1-1',
  ' lead', 'trail ', 'in  side', '-dash', '? q', '?q', ': c', ':c', 'a: b', 'a:b', 'a #b', 'a#b', '#c', '@at', '`bt', '!bang',
  '&amp', '*star', '|pipe', '>gt', "'sq", '"dq', '%pct', ',comma', '[br', ']br', '{cb', '}cb', 'a,b', 'a[b', '---', '...',
  '--- x', '....', 'a---', 'ÿ', '\u00c0', '\u0080x', '\u07ff', '\ud7ff', '\u3000ideo', 'zero\u200bwidth',
];

export interface GoldenKeyOutput {
  records: { kind: 'local' | 'offline' | 'multi' | 'ledger'; name: string; mnemonic?: string; pubkeys?: string[]; threshold?: number; account?: number; index?: number }[];
  /** What arkeod prints: `keys list -o json` and text, and `keys show NAME` (-o json and text) for each key. */
  outputs: { list_json: string; list_text: string; show: { name: string; json: string; text: string }[] };
  /** A signature by each local key, made by the SDK keyring from the files. */
  signatures: { name: string; address: string; msgHex: string; sigHex: string }[];
}

/** `keys show` output for an offline record of each name (hex); text_error when arkeod cannot print text. */
export interface GoldenNameOutput {
  name: string;
  json: string;
  text: string;
  text_error?: string;
}

export function readGolden<T>(file: string, dir = GOLDEN_DIR): T {
  return JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as T;
}

function walk(dir: string, base = dir): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p, base) : [path.relative(base, p)];
  });
}

export function manifestOf(dir = GOLDEN_DIR): string {
  return (
    walk(dir)
      .filter((f) => f !== MANIFEST && !NOT_FROM_ORACLE.includes(f.split(path.sep)[0]!))
      .sort()
      .map((f) => `${createHash('sha256').update(fs.readFileSync(path.join(dir, f))).digest('hex')}  ${f}`)
      .join('\n') + '\n'
  );
}

/** Every golden file is byte-for-byte what the oracle wrote. */
export function checkManifest(dir = GOLDEN_DIR): string[] {
  const want = fs.readFileSync(path.join(dir, MANIFEST), 'utf8').trim().split('\n');
  const got = manifestOf(dir).trim().split('\n');
  const missing = want.filter((l) => !got.includes(l)).map((l) => `golden changed or missing: ${l.slice(66)}`);
  const extra = got.filter((l) => !want.includes(l)).map((l) => `golden not in manifest: ${l.slice(66)}`);
  return [...missing, ...extra];
}

/** Our Record and Item JSON encoders against the SDK's cdc.Marshal(NewLocalRecord) and json.Marshal(Item). */
export function checkRecords(golden: GoldenRecord[], encode: (r: KeyRecord) => Uint8Array = encodeRecord): string[] {
  const out: string[] = [];
  for (const g of golden) {
    const name = Buffer.from(g.nameHex, 'hex').toString('utf8');
    const record = encode(newLocalRecord(name, hex(g.privHex)));
    if (toHex(record) !== g.recordHex) out.push(`Record for ${JSON.stringify(name)} differs from Go`);
    const item = encodeItem({ key: `${name}.info`, data: hex(g.recordHex) });
    if (toHex(item) !== g.itemJsonHex) out.push(`Item JSON for ${JSON.stringify(name)} differs from Go`);
  }
  return out;
}

/** Go-written keyrings open in ours, list the same keys, and sign what Go signed. */
export async function checkKeyrings(golden: GoldenKeyrings, home: string): Promise<string[]> {
  const out: string[] = [];
  for (const backend of ['test', 'file'] as const) {
    const kr = Keyring.open({ backend, dir: home, passphrase: { interactive: false, get: async () => golden.filePassphrase } });
    try {
      const mine = (await kr.list()).map((k) => `${k.name} ${k.address} ${toHex(k.publicKey!)}`);
      const want = golden.keys[backend].map((k) => `${k.name} ${k.address} ${k.pubkey_hex}`);
      if (mine.join('|') !== want.join('|')) out.push(`${backend}: our list ${JSON.stringify(mine)} differs from Go's ${JSON.stringify(want)}`);
      for (const s of golden.signatures.filter((x) => x.backend === backend)) {
        const sig = toHex(await (await openLocalSigner(kr, s.name)).sign(hex(s.msgHex)));
        if (sig !== s.sigHex) out.push(`${backend}/${s.name}: signature differs from Go's`);
      }
    } catch (e) {
      out.push(`${backend}: ${(e as Error).message}`);
    }
  }
  return out;
}

export function checkArmors(golden: GoldenArmor[]): string[] {
  return golden.flatMap((g, i) => {
    try {
      const priv = decryptPrivateKeyArmor(g.armor, g.passphrase, `go armor ${i}`);
      const ok = toHex(publicKeyFromPrivate(priv)) === g.pubkeyHex && toHex(priv) === toHex(deriveKey(g.mnemonic));
      return ok ? [] : [`armor ${i}: decrypts to the wrong key`];
    } catch (e) {
      return [`armor ${i}: ${(e as Error).message}`];
    }
  });
}

export function checkSignatures(golden: GoldenSignature[]): string[] {
  return golden.flatMap((g, i) => {
    const sig = toHex(signMessage(hex(g.privHex), hex(g.msgHex)));
    const pub = publicKeyFromPrivate(hex(g.privHex));
    const problems: string[] = [];
    if (sig !== g.sigHex) problems.push(`signature ${i} differs from Go's`);
    if (!verifySignature(pub, hex(g.msgHex), hex(g.sigHex))) problems.push(`Go signature ${i} does not verify`);
    if (verifySignature(pub, hex(g.msgHex), highSTwin(hex(g.sigHex)))) problems.push(`high-S twin of ${i} verifies`);
    return problems;
  });
}

export function checkMatrix(golden: GoldenMatrix): string[] {
  const pub = publicKeyFromPrivate(hex(golden.privHex));
  return golden.cases.flatMap((c) =>
    c.forms.flatMap((f) => {
      const out: string[] = [];
      if (sentinelV1017(`${c.cid}:${c.nonce}:${f.signature}`, { client: pub }).accepted !== f.sentinel) out.push(`sentinel disagrees with Go on ${f.name} (${c.cid}:${c.nonce})`);
      if (chainV1017(BigInt(c.cid), BigInt(c.nonce), hex(f.signature), { spender: pub, chainId: golden.chainId }).accepted !== f.chain) out.push(`chain disagrees with Go on ${f.name} (${c.cid}:${c.nonce})`);
      return out;
    }),
  );
}
