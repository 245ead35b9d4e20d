import { InputError } from '../errors.js';
import { goJsonString } from '../keyring/gojson.js';
import { pubKeyProtoJson } from '../keyring/record.js';
import { type KeyInfo } from '../keyring/keyring.js';
import { PREFIXES, toAddress } from '../crypto/address.js';
import { UsageError } from './common.js';
import { YamlError, goYamlList } from './goyaml.js';

export type BechKind = 'acc' | 'val' | 'cons';

export function addressPrefix(bech: string | undefined): string {
  switch (bech ?? 'acc') {
    case 'acc': return PREFIXES.account;
    case 'val': return PREFIXES.validator;
    case 'cons': return PREFIXES.consensus;
    default: throw new UsageError(`--bech: expected acc, val or cons, got "${bech}"`);
  }
}

/** The proto-JSON of the public key Any, as SDK v0.50 prints it inside `pubkey` (multisig: threshold and keys). */
export function pubKeyJson(info: KeyInfo): string {
  return pubKeyProtoJson(info.pubKeyAny);
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

/** Go `json.Marshal` of a struct of strings: fields in order, HTML-safe escaping (`<` is \u003c, …). */
export function goJsonObject(obj: Record<string, string>): string {
  return '{' + Object.entries(obj).map(([k, v]) => `${goJsonString(k)}:${goJsonString(v)}`).join(',') + '}';
}

/**
 * `keys list -o json`: cosmos-sdk printKeyringRecords writes json.Marshal(kos) with Fprintf("%s"), so there is
 * no newline after the array; we print arkeod's bytes.
 */
export function keyListJson(outputs: Record<string, string>[]): string {
  return '[' + outputs.map(goJsonObject).join(',') + ']';
}

/** `keys show -o json` and `keys add -o json`: json.Marshal(ko), then Fprintln. */
export function keyJson(output: Record<string, string>): string {
  return goJsonObject(output) + '\n';
}

/**
 * `keys list` and `keys show` in text mode: printTextRecords marshals a list (of one, for show) with
 * sigs.k8s.io/yaml and prints it with Fprintln, so the YAML's own final newline is followed by an empty line.
 */
export function keyText(outputs: Record<string, string>[]): string {
  try {
    return goYamlList(outputs) + '\n';
  } catch (e) {
    if (!(e instanceof YamlError)) throw e;
    // arkeod fails the whole command the same way; we say which key and what works instead.
    throw new InputError('NO_TEXT_OUTPUT', `key ${JSON.stringify(e.value)}: its name has a DEL or C1 control character, which YAML cannot hold (arkeod fails too: "yaml: control characters are not allowed"); use -o json, or rename the key`);
  }
}
