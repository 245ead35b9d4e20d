/**
 * The local backend: arkeod's own `local` records, the private key in the keyring (encrypted per its backend) and,
 * once opened, in this process's locked memory.
 */
import { InputError, KeyringError } from '../errors.js';
import { wipe } from '../crypto/bytes.js';
import { Keyring } from '../keyring/keyring.js';
import { LocalSigner, type LocalSignerOptions } from '../signers/signer.js';
import type { AddForm, AddValues, InProcessBackend } from './backend.js';
import { switchOption, textOption } from './add.js';

/** A local key's signer; the key stays in the signer's (locked) memory until `destroy()`, the copy given is wiped. */
export function localSignerOf(privateKey: Uint8Array, options?: LocalSignerOptions): LocalSigner {
  try {
    return new LocalSigner(privateKey, options);
  } finally {
    wipe(privateKey);
  }
}

/** The signer of a local key (its private key in this process), for callers that need one: a signing thread. */
export async function openLocalSigner(keyring: Keyring, name: string, options?: LocalSignerOptions): Promise<LocalSigner> {
  return localSignerOf(await keyring.exportPrivateKey(name), options);
}

/** An HD path component as arkeod's flags take it: a decimal from 0 to 2^31 - 1. */
function hdIndex(values: AddValues, name: string): number {
  const text = textOption(values, name) ?? '0';
  if (!/^(0|[1-9]\d{0,9})$/.test(text) || Number(text) >= 2 ** 31) throw new InputError('BAD_HD_PATH', `--${name}: expected an integer from 0 to 2147483647`);
  return Number(text);
}

/** --hd-path, else m/44'/<coin-type>'/<account>'/0/<index>, as arkeod makes it. */
async function hdPathOf(values: AddValues): Promise<string> {
  const given = textOption(values, 'hd-path');
  const [account, index, coinType] = given === undefined ? [hdIndex(values, 'account'), hdIndex(values, 'index'), hdIndex(values, 'coin-type')] : [];
  // BIP32/BIP39 (and @noble/curves through them) load only when a key is made here.
  const { hdPathFor, validateHdPath } = await import('../crypto/hd.js');
  const hdPath = given ?? hdPathFor(account, index, coinType);
  validateHdPath(hdPath);
  return hdPath;
}

/**
 * `keys add NAME [--recover] …`: a new 24-word key (or one recovered from a mnemonic), derived and stored here as
 * arkeod does; with --delegate-for, recorded as a claim delegate of an account.
 */
const localForm: AddForm = {
  selectors: [],
  options: {
    recover: { type: 'boolean', help: 'derive the key from a mnemonic read from the terminal or stdin' },
    account: { type: 'string', value: 'N', default: '0', help: 'the HD account' },
    index: { type: 'string', value: 'N', default: '0', help: 'the HD address index' },
    // crypto/hd.ts's COSMOS_COIN_TYPE (test/cli/tables.test.ts holds them equal); not imported, so that the
    // registry does not load BIP32/BIP39.
    'coin-type': { type: 'string', value: 'N', default: '118', help: 'the HD coin type' },
    'hd-path': { type: 'string', value: 'P', help: 'the full HD path (overrides --account, --index and --coin-type, as in arkeod)' },
    'bip39-passphrase': { type: 'boolean', help: 'ask for a bip39 passphrase, combined with the mnemonic to derive the seed' },
    'dry-run': { type: 'boolean', help: 'derive and print the key without writing it' },
    'delegate-for': { type: 'string', value: 'ACCOUNT', help: 'record NAME as a claim delegate of ACCOUNT (a key name, arkeopub1… or hex) and print the open-contract command' },
  },
  rules: [{ flags: ['delegate-for'], notWith: 'dry-run', why: 'a dry run records nothing' }],
  usage: ['NAME [--recover] [--account N --index N | --hd-path P] [--coin-type N] [--bip39-passphrase] [--no-backup] [--dry-run] [--delegate-for ACCOUNT] [keyring flags]'],
  about: `Create a new 24-word key at m/44'/118'/0'/0/0 (or the given path), or with --recover derive it from a mnemonic
read from the terminal or stdin. The new mnemonic is printed on stderr (inside the object with -o json) unless
--no-backup. --dry-run derives and prints the key without writing it.

--delegate-for ACCOUNT (a key name, arkeopub1… or hex): record NAME as a claim delegate of that account (in
<keyring-dir>/arkeo-signer/delegates.json) and print the arkeo-signer contract open command that opens a
contract naming it, to run where the account's key is. NAME can then sign claims and nothing else that matters.`,
  check(values) {
    if (textOption(values, 'hd-path') === undefined) for (const name of ['account', 'index', 'coin-type']) hdIndex(values, name);
  },
  async add({ name, values, keyring: writable, home, ask }) {
    const hdPath = await hdPathOf(values);
    const keyring = switchOption(values, 'dry-run') ? Keyring.open({ backend: 'memory' }) : writable();
    if (await keyring.has(name)) throw new KeyringError('KEY_EXISTS', `${name}: a key with this name already exists in ${keyring.location}`);
    // The account is resolved before the key is made, so a bad --delegate-for leaves nothing behind.
    const delegateFor = textOption(values, 'delegate-for');
    const delegates = delegateFor !== undefined ? await import('./delegate.js') : undefined;
    const account = delegates && (await delegates.resolveAccount(keyring, delegateFor!));
    const recovered = switchOption(values, 'recover');
    const { generateMnemonic } = await import('../crypto/hd.js');
    const mnemonic = recovered ? await ask('Enter your bip39 mnemonic\n', 'mnemonic') : generateMnemonic();
    const bip39Passphrase = switchOption(values, 'bip39-passphrase') ? await ask('Enter your bip39 passphrase. This is combined with the mnemonic to derive the seed\n', 'bip39 passphrase') : '';
    const info = await keyring.newAccount(name, mnemonic, { hdPath, bip39Passphrase });
    const delegation = delegates && account && delegates.recordDelegation(home, name, info.publicKey!, account);
    return {
      info,
      ...(recovered ? {} : { mnemonic }),
      ...(delegation ? { fields: { delegate_for: delegation.record.account, open_contract: delegation.command.argv.join(' ') }, text: delegation.command.text } : {}),
    };
  },
};

export const localBackend: InProcessBackend = {
  kinds: ['local'],
  description: 'local',
  served: true,
  inProcess: true,
  async open(key, options) {
    return key.privateKey ? localSignerOf(key.privateKey, options.local) : openLocalSigner(key.keyring, key.name, options.local);
  },
  deleted: () => 'Key deleted forever (uh oh!)',
  add: localForm,
};
