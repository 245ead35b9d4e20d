import type { KeyInfo } from '../keyring/index.js';
import { PREFIXES, toAddress } from '../crypto/index.js';
import { UsageError } from './common.js';

export type OutputFormat = 'text' | 'json';

export function parseOutputFormat(value: string | undefined): OutputFormat {
  if (value === undefined || value === 'text' || value === 'json') return value ?? 'text';
  throw new UsageError(`--output: expected text or json, got "${value}"`);
}

export type BechKind = 'acc' | 'val' | 'cons';

export function addressPrefix(bech: string | undefined): string {
  switch (bech ?? 'acc') {
    case 'acc': return PREFIXES.account;
    case 'val': return PREFIXES.validator;
    case 'cons': return PREFIXES.consensus;
    default: throw new UsageError(`--bech: expected acc, val or cons, got "${bech}"`);
  }
}

/** The proto-JSON of the public key Any, as SDK v0.50 prints it inside `pubkey`. */
export function pubKeyJson(info: KeyInfo): string {
  if (info.publicKey) return `{"@type":"${info.pubKeyAny.typeUrl}","key":"${Buffer.from(info.publicKey).toString('base64')}"}`;
  return `{"@type":"${info.pubKeyAny.typeUrl}"}`;
}

/** cosmos-sdk `client/keys/output.go` KeyOutput, fields in its order. */
export function keyOutput(info: KeyInfo, bech?: string, mnemonic?: string): Record<string, string> {
  const out: Record<string, string> = {
    name: info.name,
    type: info.type,
    address: info.addressBytes ? toAddress(info.addressBytes, addressPrefix(bech)) : '',
    pubkey: pubKeyJson(info),
  };
  if (mnemonic) out.mnemonic = mnemonic;
  // arkeod's fields stay byte-identical for its own kinds; an external key (type offline to arkeod) says where it is.
  if (info.kind !== info.type) out.kind = info.kind;
  return out;
}

const PLAIN_YAML = /^[A-Za-z0-9_][A-Za-z0-9_.\-/]*$/;
const YAML_WORDS = /^(true|false|yes|no|on|off|null|~|y|n)$/i;

function yamlScalar(value: string): string {
  if (value === '') return '""';
  if (PLAIN_YAML.test(value) && !YAML_WORDS.test(value) && !/^[0-9.+-]/.test(value)) return value;
  return `'${value.replace(/'/g, "''")}'`;
}

/** The YAML arkeod prints for `--output text` (sigs.k8s.io/yaml: keys sorted). */
export function yamlObject(obj: Record<string, string>, listItem = false): string {
  const keys = Object.keys(obj).sort();
  return keys.map((k, i) => `${listItem ? (i === 0 ? '- ' : '  ') : ''}${k}: ${yamlScalar(obj[k]!)}`).join('\n') + '\n';
}
