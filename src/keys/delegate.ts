/**
 * `keys add NAME --delegate-for ACCOUNT` (the local form, local.ts): NAME becomes a claim delegate of the account,
 * recorded beside the keyring, with the open-contract command that names it. Loaded only when the option is given.
 */
import { KeyringError, InputError } from '../errors.js';
import { PREFIXES, parseAddress, parseBech32PubKey, toBech32PubKey } from '../crypto/address.js';
import { equalBytes, parseHex } from '../crypto/bytes.js';
import type { Keyring } from '../keyring/keyring.js';
import { openContractCommand, recordDelegate, type DelegateRecord } from '../claims/delegates.js';

export interface DelegateAccount {
  pub: Uint8Array;
  /** Its key name, when it was given as one. */
  name?: string;
}

/**
 * The account whose contracts NAME will sign claims for. Resolved before the key is made, so a bad ACCOUNT leaves
 * nothing behind. ACCOUNT is a key name in this keyring (any kind: a local, ledger or offline record all carry the
 * public key), arkeopub1… or 66 hex digits. An address alone does not give the public key that open-contract needs.
 */
export async function resolveAccount(keyring: Keyring, account: string): Promise<DelegateAccount> {
  if (/^t?arkeopub1/.test(account)) {
    try {
      return { pub: parseBech32PubKey(account, account.startsWith('t') ? 'tarkeopub' : PREFIXES.accountPub) };
    } catch (e) {
      throw new InputError('BAD_ACCOUNT', `--delegate-for: ${(e as Error).message}`);
    }
  }
  if (/^(0x)?[0-9a-fA-F]{66}$/.test(account)) return { pub: parseHex(account, '--delegate-for public key', 33) };
  try {
    const info = await keyring.get(account);
    if (!info.publicKey) throw new InputError('BAD_ACCOUNT', `--delegate-for ${account}: this key's record has no secp256k1 public key`);
    return { pub: info.publicKey, name: account };
  } catch (e) {
    if (!(e instanceof KeyringError && e.code === 'KEY_NOT_FOUND')) throw e;
  }
  let isAddress = false;
  try {
    parseAddress(account, PREFIXES.account);
    isAddress = true;
  } catch {
    /* not an address either */
  }
  throw new InputError(
    'BAD_ACCOUNT',
    isAddress
      ? `--delegate-for ${account}: an address does not give the account's public key, which open-contract needs; pass its arkeopub1… (arkeod keys show NAME -p, or debug pubkey-raw) or the key's name`
      : `--delegate-for ${account}: not a key in ${keyring.location}, an arkeopub1… or 66 hex digits; pass the account's public key or its key name`,
  );
}

/**
 * Record NAME as a delegate of the account (in `<home>/arkeo-signer/delegates.json`) and return the record and
 * the open-contract command to print.
 */
export function recordDelegation(home: string, name: string, delegate: Uint8Array, account: DelegateAccount): { record: DelegateRecord; command: { argv: string[]; text: string } } {
  if (equalBytes(delegate, account.pub)) {
    throw new InputError('BAD_ACCOUNT', `--delegate-for: ${name} is the account's own key; a delegate must be a different key (delete ${name} and add a new one)`);
  }
  const record = recordDelegate(home, { name, pubkey: toBech32PubKey(delegate), account: toBech32PubKey(account.pub), ...(account.name ? { account_name: account.name } : {}) });
  return { record, command: openContractCommand(account.pub, delegate, account.name) };
}
