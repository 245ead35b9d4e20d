import { goWith, notWith, oneOf, together, type CommandTable, type FlagSpec, type Rule, commandTable, commandGroup } from '../table.js';
import { addForms, keyBackends, type AddForm, type KeyBackend } from '../../keys/index.js';
import { ARMOR_PASSPHRASE_FLAG, KEY_TYPE_FLAG, KEYRING_FLAGS, NAME_ARGUMENT, OUTPUT_FLAG, PIN_FLAG, YES_FLAG } from './shared.js';

/** The flags of `keys add` whatever the backend: arkeod's own, where the keyring is, how to print. */
const KEYS_ADD_COMMON = {
  'no-backup': { type: 'boolean', help: 'do not print the new mnemonic' },
  ...KEY_TYPE_FLAG,
  algo: { type: 'string', choices: ['secp256k1'], help: "the same as --key-type (arkeod's older name)" },
  ...KEYRING_FLAGS,
  ...OUTPUT_FLAG,
} as const;

/** Every form's options as one flag table; an option two forms take must be the same in both. */
function formFlags(forms: readonly AddForm[]): Record<string, FlagSpec> {
  const flags: Record<string, FlagSpec> = {};
  for (const form of forms) {
    for (const [name, option] of Object.entries(form.options)) {
      if (Object.hasOwn(KEYS_ADD_COMMON, name)) throw new Error(`keys add --${name}: the command's own flag; a backend cannot declare it`);
      if (flags[name] && JSON.stringify(flags[name]) !== JSON.stringify(option)) throw new Error(`keys add --${name}: declared twice, differently`);
      flags[name] = option;
    }
  }
  return flags;
}

/**
 * The rules the forms' selectors imply: one selector at most; with one, the default form's options are refused;
 * each other option of a form goes only with a selector of a form that takes it (options taken by the same forms
 * share one rule: --create names every form that creates). Then each form's own rules.
 */
function formRules(forms: readonly AddForm[]): Rule[] {
  const defaults = forms.filter((f) => f.selectors.length === 0).flatMap((f) => Object.keys(f.options));
  const selectorsOf = new Map<string, string[]>();
  for (const f of forms) {
    for (const name of Object.keys(f.options)) if (f.selectors.length > 0 && !f.selectors.includes(name)) selectorsOf.set(name, [...(selectorsOf.get(name) ?? []), ...f.selectors]);
  }
  const groups = new Map<string, { flags: string[]; selectors: string[] }>();
  for (const [name, selectors] of selectorsOf) {
    const group = groups.get(selectors.join(' ')) ?? { flags: [], selectors };
    group.flags.push(name);
    groups.set(selectors.join(' '), group);
  }
  return [
    oneOf(...forms.flatMap((f) => f.selectors)),
    ...forms.flatMap((f) => f.selectors.map((s) => notWith(s, defaults, f.why))),
    ...forms.flatMap((f) => f.rules ?? []),
    ...[...groups.values()].map((g) => goWith(g.flags, g.selectors)),
  ];
}

/** `keys add`, made from the registry's forms (src/keys/registry.ts): each backend brings its flags, rules and help. */
export function keysAddTable(forms: readonly AddForm[] = addForms()) {
  return {
    command: 'keys add',
    summary: 'create a key (or recover one), or record a key kept elsewhere (a PKCS#11 token, a cloud KMS)',
    positionals: NAME_ARGUMENT,
    usage: forms.flatMap((f) => f.usage),
    about: forms.map((f) => f.about).join('\n\n'),
    // The backends' flags are known when the registry is (at run time); the command's own are typed here.
    flags: { ...formFlags(forms), ...KEYS_ADD_COMMON } as Readonly<Record<string, FlagSpec>> & typeof KEYS_ADD_COMMON,
    rules: formRules(forms),
  } satisfies CommandTable;
}

export const KEYS_ADD = keysAddTable();

/** The kinds of the backends whose keys live elsewhere, and of those `--delete-from-token` destroys, for help. */
const kindsOf = (which: (b: KeyBackend) => boolean) => keyBackends().filter(which).flatMap((b) => b.kinds).join(', ');
const EXTERNAL_KINDS = kindsOf((b) => !b.inProcess);
const DESTROYABLE_KINDS = kindsOf((b) => b.destroy !== undefined);

export const KEYS_LIST = commandTable({
  command: 'keys list',
  summary: `every key, sorted by name; external keys show their kind (${EXTERNAL_KINDS})`,
  about: 'Every key in the keyring, sorted by name.',
  flags: {
    'list-names': { type: 'boolean', short: 'n', help: 'print the names only' },
    ...KEYRING_FLAGS,
    ...OUTPUT_FLAG,
  },
});

export const KEYS_SHOW = commandTable({
  command: 'keys show',
  summary: 'one key: name, type, address and pubkey (by name or address)',
  positionals: NAME_ARGUMENT,
  about: `One key: name, type, address and pubkey; --address or --pubkey prints only that (the pubkey as proto-JSON,
which verify --pubkey accepts). NAME may also be the key's account or validator address.`,
  flags: {
    address: { type: 'boolean', short: 'a', help: 'print only the address' },
    pubkey: { type: 'boolean', short: 'p', help: 'print only the public key, as proto-JSON (arkeod\'s -p: a switch here, where verify and claim explain take --pubkey P)' },
    bech: { type: 'string', choices: ['acc', 'val', 'cons'], default: 'acc', help: 'the address prefix' },
    ...KEYRING_FLAGS,
    ...OUTPUT_FLAG,
  },
  rules: [oneOf('address', 'pubkey')],
});

export const KEYS_DELETE = commandTable({
  command: 'keys delete',
  summary: 'delete keys; for an external key only our records go, unless --delete-from-token',
  positionals: [{ name: 'NAME', repeat: true }],
  about: `Delete keys; asks for each unless -y. For an external key (${EXTERNAL_KINDS}) only our records go;
the key itself stays where it is (--delete-from-token destroys a ${DESTROYABLE_KINDS} key; others are never deleted here).`,
  flags: {
    ...YES_FLAG,
    force: { type: 'boolean', help: 'does nothing, as in arkeod (where it is deprecated); kept for its scripts' },
    'delete-from-token': { type: 'boolean', help: `destroy a ${DESTROYABLE_KINDS} key on its token too (this cannot be undone)` },
    ...PIN_FLAG,
    ...KEYRING_FLAGS,
  },
  rules: [goWith(['pin-file'], ['delete-from-token'])],
});

export const KEYS_RENAME = commandTable({
  command: 'keys rename',
  summary: 'rename a key',
  positionals: [{ name: 'OLD' }, { name: 'NEW' }],
  about: 'Rename a key; the key is never absent from disk meanwhile.',
  flags: {
    ...YES_FLAG,
    ...KEYRING_FLAGS,
  },
});

export const KEYS_EXPORT = commandTable({
  command: 'keys export',
  summary: 'print a key as armor (argon2id + ChaCha20-Poly1305, as arkeod v0.50), or as unarmored hex',
  positionals: NAME_ARGUMENT,
  usage: ['NAME [--armor-passphrase-file F] [keyring flags]', 'NAME --unarmored-hex --unsafe [-y] [keyring flags]'],
  about: `Print the key as ASCII armor (argon2id + ChaCha20-Poly1305, as arkeod v0.50) encrypted under a passphrase from
--armor-passphrase-file, ARKEO_ARMOR_PASSPHRASE or the terminal; or, with --unarmored-hex --unsafe, the raw
private key in hex (asks unless -y). Either is printed as arkeod prints it: there is no -o json.`,
  flags: {
    ...ARMOR_PASSPHRASE_FLAG,
    'unarmored-hex': { type: 'boolean', help: 'print the raw private key in hex' },
    unsafe: { type: 'boolean', help: 'confirms --unarmored-hex' },
    yes: { ...YES_FLAG.yes, help: 'do not ask before printing the raw key' },
    ...KEYRING_FLAGS,
  },
  rules: [together('unarmored-hex', 'unsafe'), notWith('unarmored-hex', ['armor-passphrase-file'])],
});

export const KEYS_IMPORT = commandTable({
  command: 'keys import',
  summary: 'import an armored key (argon2 or legacy bcrypt armor)',
  positionals: [{ name: 'NAME' }, { name: 'FILE' }],
  about: 'Import an armored key (argon2 or legacy bcrypt armor) under NAME.',
  flags: {
    ...ARMOR_PASSPHRASE_FLAG,
    ...KEYRING_FLAGS,
  },
});

export const KEYS_IMPORT_HEX = commandTable({
  command: 'keys import-hex',
  summary: 'import a raw 32-byte private key given in hex',
  positionals: [{ name: 'NAME' }, { name: 'HEX' }],
  about: 'Import a raw 32-byte secp256k1 private key given in hex (optional 0x).',
  flags: {
    ...KEY_TYPE_FLAG,
    ...KEYRING_FLAGS,
  },
});

export const KEYS_MIGRATE = commandTable({
  command: 'keys migrate',
  summary: 'copy every local key to another backend (test, file, os, pass)',
  about: `Copy every local key to another backend; the source is left as it was. Every key is checked first: if one
cannot be copied (unreadable, or its name or address taken by another key in the target), nothing is copied and
each such key is named. Keys already there, and keys without a private key here, are skipped and listed.`,
  flags: {
    from: { type: 'string', choices: ['test', 'file', 'os', 'pass'], required: true, help: 'the backend to copy from' },
    to: { type: 'string', choices: ['test', 'file', 'os', 'pass'], required: true, help: 'the backend to copy to' },
    ...KEYRING_FLAGS,
  },
});

export const KEYS = commandGroup({
  command: 'keys',
  summary: 'manage an arkeod-compatible keyring',
  about: `As arkeod keys, on the same stores (test, file, os and pass backends). An external key is kept as an offline
record arkeod reads, beside where the key lives (${EXTERNAL_KINDS}).`,
  commands: [KEYS_ADD, KEYS_LIST, KEYS_SHOW, KEYS_DELETE, KEYS_RENAME, KEYS_EXPORT, KEYS_IMPORT, KEYS_IMPORT_HEX, KEYS_MIGRATE],
});
