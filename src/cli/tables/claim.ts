import { exactlyOneOf, goWith, notWith, together, commandTable, commandGroup } from '../table.js';
import { CREATE_STORE_FLAG, DAEMON_CLIENT_FLAGS, KEYRING_FLAGS, KEYRING_FLAG_NAMES, OUTPUT_FLAG, PIN_FLAG, STORE_FLAGS } from './shared.js';

const CONTRACT_FLAG = { contract: { type: 'string', value: 'ID', required: true, help: 'the contract id' } } as const;
const KEY_FLAG = { key: { type: 'string', value: 'NAME', required: true, help: 'the key that signs: any kind the keyring holds' } } as const;
const PUBKEY_VALUE = 'P';

export const CLAIM_SIGN = commandTable({
  command: 'claim sign',
  summary: 'reserve the next nonce durably, sign "<cid>:<nonce>:", print the arkauth value',
  usage: [
    '--contract ID --key NAME [--form 3-part|4-part] [--profile compat|chain-id --chain-id ID] [--block-size N] [--require-terms] [--nonce-store PATH|postgres://… [--create-nonce-store]] [--pin-file F] [keyring flags] [-o json]',
    '--contract ID --key NAME [--form 3-part|4-part] --daemon SOCKET|https://… [--token-file F] [-o json]',
  ],
  about: `Reserve the next nonce for (contract, key) durably, sign "<cid>:<nonce>:" and print the arkauth value.
When the contract's parties are registered (claim contract add … --client P [--delegate P], or --lcd), the
form is chosen from them (the delegate signs <cid>:<its arkeopub>:<nonce>:<sig>, a client without a delegate
<cid>:<nonce>:<sig>) and a claim one verifier would reject is refused before any nonce is used. Without them,
the 3-part form, or the 4-part one with --form 4-part.
With --daemon (or ARKEO_SIGNER_DAEMON) the key daemon signs, with its own keyring, nonce store and policy: the
flags for signing here are refused.`,
  flags: {
    ...CONTRACT_FLAG,
    ...KEY_FLAG,
    form: { type: 'string', choices: ['3-part', '4-part'], help: 'the header form: 4-part names the signer\'s arkeopub (a delegate\'s form); default: from the registered parties, else 3-part' },
    profile: { type: 'string', choices: ['compat', 'chain-id'], default: 'compat', help: 'what is signed: "<cid>:<nonce>:" (compat, what today\'s sentinel accepts) or "<cid>:<nonce>:<chain-id>"' },
    'chain-id': { type: 'string', value: 'ID', help: 'the chain id, with --profile chain-id (e.g. arkeo-main-v1)' },
    'block-size': { type: 'string', value: 'N', default: '1', help: 'reserve N nonces per store write; the unused rest goes back at exit' },
    'require-terms': { type: 'boolean', help: 'refuse a contract without a registered rate and deposit (no spend ceiling)' },
    ...STORE_FLAGS,
    ...CREATE_STORE_FLAG,
    ...DAEMON_CLIENT_FLAGS,
    ...PIN_FLAG,
    ...KEYRING_FLAGS,
    ...OUTPUT_FLAG,
  },
  rules: [
    notWith('daemon', ['profile', 'chain-id', 'block-size', 'require-terms', 'nonce-store', 'create-nonce-store', 'pin-file', ...KEYRING_FLAG_NAMES], 'the daemon signs with its own keys, nonce store and policy'),
    goWith(['token-file'], ['daemon']),
  ],
  retired: { '--delegate': 'use --form 4-part (--delegate P names a delegate\'s key, in claim explain and claim contract)' },
});

export const CLAIM_ARKCONTRACT = commandTable({
  command: 'claim arkcontract',
  summary: 'management auth "<cid>:<T>:<sig>" (refused when it could be settled as an over-limit claim)',
  about: `Management auth "<cid>:<T>:<sig>" (T defaults to now). Refused when it could be settled as an over-limit claim,
unless --allow-management-spend, and, when the contract's parties are registered, when the key is not the
contract's client (the sentinel accepts only the client's; a delegate cannot manage the contract).`,
  flags: {
    ...CONTRACT_FLAG,
    ...KEY_FLAG,
    timestamp: { type: 'string', value: 'T', computedDefault: 'now', help: 'unix seconds' },
    'allow-management-spend': { type: 'boolean', help: 'sign even when T, read as a nonce, is within the contract\'s spend' },
    ...STORE_FLAGS,
    ...PIN_FLAG,
    ...KEYRING_FLAGS,
    ...OUTPUT_FLAG,
  },
});

export const CLAIM_EXPLAIN = commandTable({
  command: 'claim explain',
  summary: 'what sentinel v1.0.17 and chain v1.0.17 would do with a header value, and why (exit 0 if both accept)',
  positionals: [{ name: 'VALUE' }],
  usage: ['VALUE (--client P [--delegate P] | --contract-json FILE | --lcd URL | --pubkey P) [--chain-id ID] [--kind arkauth|arkcontract] [--last-timestamp T] [-o json]'],
  about: `What sentinel v1.0.17 and chain v1.0.17 would do with a header value for the contract's parties, and why, with
findings where they disagree (the sentinel checks a 3-part header against the client, any 4-part key as given;
the chain checks the delegate if there is one, else the client). P is hex, arkeopub1… or keys show -p JSON;
--contract-json is the LCD's reply to GET /arkeo/contract/{id}; --lcd fetches it for the header's contract.
--pubkey P: one key is both client and spender (a contract without a delegate). Exit 0 only if both accept,
1 if one rejects, 2 if VALUE is not a header at all or the parties cannot be had.`,
  flags: {
    client: { type: 'string', value: PUBKEY_VALUE, help: 'the contract\'s client' },
    delegate: { type: 'string', value: PUBKEY_VALUE, help: 'the contract\'s delegate' },
    'contract-json': { type: 'string', value: 'FILE', help: 'the LCD\'s reply to GET /arkeo/contract/{id}, saved' },
    lcd: { type: 'string', value: 'URL', help: 'a chain LCD: the contract named in VALUE is fetched' },
    pubkey: { type: 'string', value: PUBKEY_VALUE, help: 'one key as both client and spender (a contract without a delegate)' },
    'chain-id': { type: 'string', value: 'ID', default: 'arkeo-main-v1', help: 'the chain id the chain verifier uses' },
    kind: { type: 'string', choices: ['arkauth', 'arkcontract'], default: 'arkauth', help: 'the header' },
    'last-timestamp': { type: 'string', value: 'T', default: '0', help: 'with --kind arkcontract: the last timestamp the sentinel saw' },
    ...OUTPUT_FLAG,
  },
  rules: [exactlyOneOf('client', 'contract-json', 'lcd', 'pubkey'), goWith(['delegate'], ['client'])],
});

const CONTRACT_ABOUT = `Record a contract's rate and deposit and its parties (typed in, or read from an LCD endpoint) and an optional
spend ceiling; claim sign then refuses any nonce whose nonce × rate exceeds min(deposit, max spend), and with
the parties known chooses the key's header form and refuses a key or form a verifier would reject.
--max-spend-per-hour / --max-spend-per-day bound what every signer using this store (claim sign, the daemon,
the proxy) may reserve for the contract in any hour / day; a claim over it is refused with the time it fits again.`;

export const CLAIM_CONTRACT_ADD = commandTable({
  command: 'claim contract add',
  summary: 'record a contract\'s rate, deposit, parties and spend ceiling',
  usage: ['--id ID (--rate R --deposit D [--client P [--delegate P]] | --lcd URL) [--max-spend M] [--max-spend-per-hour N] [--max-spend-per-day N] [--nonce-store PATH|postgres://…] [--home DIR] [-o json]'],
  about: CONTRACT_ABOUT,
  flags: {
    id: { type: 'string', value: 'ID', required: true, help: 'the contract id' },
    rate: { type: 'string', value: 'R', help: 'what one claim costs (the contract\'s pay-as-you-go rate)' },
    deposit: { type: 'string', value: 'D', help: 'the contract\'s deposit' },
    client: { type: 'string', value: PUBKEY_VALUE, help: 'the contract\'s client' },
    delegate: { type: 'string', value: PUBKEY_VALUE, help: 'the contract\'s delegate' },
    lcd: { type: 'string', value: 'URL', help: 'read the rate, deposit and parties from this chain LCD' },
    'max-spend': { type: 'string', value: 'M', help: 'a spend ceiling below the deposit' },
    'max-spend-per-hour': { type: 'string', value: 'N', help: 'at most N uarkeo of claims reserved for the contract in any hour' },
    'max-spend-per-day': { type: 'string', value: 'N', help: 'at most N uarkeo of claims reserved for the contract in any day' },
    ...STORE_FLAGS,
    ...CREATE_STORE_FLAG,
    home: KEYRING_FLAGS.home,
    ...OUTPUT_FLAG,
  },
  rules: [exactlyOneOf('lcd', 'rate'), together('rate', 'deposit'), notWith('lcd', ['deposit', 'client', 'delegate'], 'it reads them from the chain'), goWith(['delegate'], ['client'])],
});

export const CLAIM_CONTRACT_LIST = commandTable({
  command: 'claim contract list',
  summary: 'the recorded contracts; --delegate P: those naming P as delegate',
  about: `The recorded contracts. --delegate P: the contracts that name P as delegate (to rotate a delegate key: let these
run out).`,
  flags: {
    delegate: { type: 'string', value: PUBKEY_VALUE, help: 'only the contracts naming this delegate' },
    ...STORE_FLAGS,
    home: KEYRING_FLAGS.home,
    ...OUTPUT_FLAG,
  },
});

export const CLAIM_CONTRACT = commandGroup({
  command: 'claim contract',
  summary: 'record a contract\'s terms and parties (add); list them',
  about: CONTRACT_ABOUT,
  commands: [CLAIM_CONTRACT_ADD, CLAIM_CONTRACT_LIST],
});

export const CLAIM = commandGroup({
  command: 'claim',
  summary: 'sign claims with durable nonces, explain headers',
  commands: [CLAIM_SIGN, CLAIM_ARKCONTRACT, CLAIM_EXPLAIN, CLAIM_CONTRACT],
});
