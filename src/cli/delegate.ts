import { KeyringError, InputError } from '../errors.js';
import { PREFIXES, parseAddress, parseBech32PubKey, toBech32PubKey } from '../crypto/address.js';
import { equalBytes, parseHex } from '../crypto/bytes.js';
import { defaultHome, type Keyring } from '../keyring/keyring.js';
import { openContractCommand, recordDelegate } from '../claims/index.js';
import { expandHome, type KeyringFlags } from './common.js';

/**
 * `keys add NAME --delegate-for ACCOUNT`: the account whose contracts NAME will sign claims for. Resolved before
 * the key is made, so a bad ACCOUNT leaves nothing behind. ACCOUNT is a key name in this keyring (any kind: a
 * local, ledger or offline record all carry the public key), arkeopub1… or 66 hex digits. An address alone
 * does not give the public key that open-contract needs.
 */
export async function resolveAccount(keyring: Keyring, account: string): Promise<{ pub: Uint8Array; name?: string }> {
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

/** Record NAME as a delegate of the account and return what to print: the record and the open-contract command. */
export function recordAndCommand(flags: KeyringFlags, name: string, delegate: Uint8Array, account: { pub: Uint8Array; name?: string }) {
  if (equalBytes(delegate, account.pub)) {
    throw new InputError('BAD_ACCOUNT', `--delegate-for: ${name} is the account's own key; a delegate must be a different key (delete ${name} and add a new one)`);
  }
  const keyringDir = expandHome(flags['keyring-dir'] ?? flags.home ?? defaultHome());
  const record = recordDelegate(keyringDir, { name, pubkey: toBech32PubKey(delegate), account: toBech32PubKey(account.pub), ...(account.name ? { account_name: account.name } : {}) });
  return { record, command: openContractCommand(account.pub, delegate, account.name) };
}
