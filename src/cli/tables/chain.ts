import { goWith, oneOf, notWith, commandTable, commandGroup } from '../table.js';
import { CREATE_STORE_FLAG, DAEMON_CLIENT_FLAGS, KEYRING_FLAGS, OUTPUT_FLAG, PIN_FLAG, STORE_FLAGS } from './shared.js';

/** On-chain commands: `contract …` and `tx …`. Every transaction is signed where its key lives (any backend). */

const NODE_FLAG = {
  node: { type: 'string', value: 'URL', env: 'ARKEO_NODE', help: 'the chain node\'s LCD (REST), e.g. http://127.0.0.1:1317' },
} as const;

const CHAIN_ID_FLAG = {
  'chain-id': { type: 'string', value: 'ID', help: 'the chain the transaction is for; the node must serve it (default: the node\'s)' },
} as const;

/** How a transaction is paid for, waited for and (offline) numbered; `arkeod`'s names where it has them. */
const TX_FLAGS = {
  key: { type: 'string', value: 'NAME', required: true, help: 'the key that signs and pays: any kind the keyring holds, or the daemon\'s with --daemon' },
  ...NODE_FLAG,
  ...CHAIN_ID_FLAG,
  fees: { type: 'string', value: 'COINS', help: 'the fee, e.g. 200uarkeo' },
  'gas-prices': { type: 'string', value: 'PRICE', computedDefault: '0.001uarkeo', help: 'the fee is ceil(price × gas)' },
  gas: { type: 'string', value: 'N|auto', default: 'auto', help: 'the gas limit; auto simulates it on the node' },
  'gas-adjustment': { type: 'string', value: 'X', computedDefault: '1.6', help: 'with --gas auto: the simulated gas times X' },
  note: { type: 'string', value: 'TEXT', help: 'the memo' },
  'timeout-height': { type: 'string', value: 'H', help: 'the transaction is void after block H' },
  'no-wait': { type: 'boolean', help: 'return once the node accepted the transaction; do not wait for the block' },
  'wait-timeout': { type: 'string', value: 'S', default: '60', help: 'seconds to wait for the block' },
  'generate-only': { type: 'boolean', help: 'print the unsigned transaction and its sign bytes; sign nothing' },
  offline: { type: 'boolean', help: 'ask no node: sign with --chain-id, --account-number and --sequence and print the transaction' },
  'account-number': { type: 'string', value: 'N', help: 'with --offline: the account number' },
  sequence: { type: 'string', value: 'N', help: 'with --offline: the sequence' },
  ...DAEMON_CLIENT_FLAGS,
  ...KEYRING_FLAGS,
  ...PIN_FLAG,
  ...OUTPUT_FLAG,
} as const;

const TX_RULES = [
  notWith('daemon', ['keyring-backend', 'keyring-dir', 'passphrase-file', 'pin-file'], 'the daemon holds the key'),
  goWith(['token-file'], ['daemon']),
  notWith('offline', ['node'], 'it asks no node'),
  oneOf('fees', 'gas-prices'),
  goWith(['account-number', 'sequence'], ['offline']),
  notWith('offline', ['no-wait', 'wait-timeout'], 'nothing is sent'),
] as const;

const TX_ABOUT = `The transaction is built here, signed by the key where it lives and sent to the node; then the command waits for
the block and reports what the block says (height, gas used, the result). A code 0 from the node at broadcast only
means the transaction may be included: Arkeo's messages run in the block. The account number and sequence come
from the node; transactions of one account from one process are sent in order. What was sent is written down before
it leaves (<home>/signer/tx/), so running a command again after a timeout or a crash looks the earlier transaction
up instead of paying twice. With --daemon the daemon signs, under its token's tx policy (messages, fee and amount
limits, contracts), and audits every transaction.`;

export const CONTRACT_OPEN = commandTable({
  command: 'contract open',
  summary: 'open a contract with a provider (MsgOpenContract), and record its terms for claims',
  about: `Open a contract. The client is --key; --delegate names another key (or public key) that signs the claims.
--rate and --settlement-duration default to the provider's (the chain requires them equal), read from the node.
A subscription's deposit is rate × duration × qpm. After the block, the contract's terms and parties are recorded in
the nonce store, as \`claim contract add\` does, so claims never spend more than the deposit.
--delegates N opens N contracts, each with a new delegate key (in the keyring named by the keyring flags), as one
pool: the proxy and curl take --contract pool:NAME and spread requests over it.
${TX_ABOUT}`,
  flags: {
    provider: { type: 'string', value: 'PUBKEY', required: true, help: 'the provider\'s public key (arkeopub1…)' },
    service: { type: 'string', value: 'NAME', required: true, help: 'the service name, e.g. mock' },
    type: { type: 'string', choices: ['pay-as-you-go', 'subscription'], default: 'pay-as-you-go', help: 'the contract type' },
    rate: { type: 'string', value: 'COIN', computedDefault: 'the provider\'s', help: 'per request (pay-as-you-go) or per block per qpm (subscription)' },
    deposit: { type: 'string', value: 'N', help: 'the amount locked, in the rate\'s denom (a subscription\'s is computed)' },
    duration: { type: 'string', value: 'BLOCKS', required: true, help: 'how long the contract runs' },
    delegate: { type: 'string', value: 'KEY|PUBKEY', help: 'the key that signs claims instead of the client' },
    delegates: { type: 'string', value: 'N', help: 'open N contracts, each with a new delegate key, as pool --pool' },
    pool: { type: 'string', value: 'NAME', help: 'the pool\'s name (with --delegates)' },
    'settlement-duration': { type: 'string', value: 'BLOCKS', computedDefault: 'the provider\'s', help: 'blocks after expiry during which claims still settle' },
    authorization: { type: 'string', choices: ['strict', 'open'], default: 'strict', help: 'open: no claim signatures (subscriptions only)' },
    qpm: { type: 'string', value: 'N', default: '60', help: 'queries per minute the sentinel allows' },
    ...TX_FLAGS,
    ...STORE_FLAGS,
    ...CREATE_STORE_FLAG,
  },
  rules: [...TX_RULES, oneOf('delegate', 'delegates'), goWith(['pool'], ['delegates']), goWith(['delegates'], ['pool']), notWith('offline', ['delegates'], 'a pool needs the node for its contract ids')],
});

export const CONTRACT_CLOSE = commandTable({
  command: 'contract close',
  summary: 'close a contract (MsgCloseContract); only its client can',
  about: `Close a contract; --key must be its client. A pay-as-you-go contract still settles claims for its settlement
duration after the close; a subscription settles at once and the rest of the deposit is refunded.
${TX_ABOUT}`,
  flags: {
    id: { type: 'string', value: 'ID', required: true, help: 'the contract id' },
    delegate: { type: 'string', value: 'PUBKEY', help: 'the contract\'s delegate, when one was named (must be exact)' },
    ...TX_FLAGS,
  },
  rules: TX_RULES,
});

export const CONTRACT_LIST = commandTable({
  command: 'contract list',
  summary: 'contracts on chain: id, provider, service, spender, rate, deposit, nonce, paid, expiry, blocks left',
  about: 'Contracts on chain. --key K: the contracts whose client or delegate is K. --open: only the open ones.',
  flags: {
    key: { type: 'string', value: 'NAME|PUBKEY', help: 'only the contracts of this key (as client or delegate)' },
    provider: { type: 'string', value: 'PUBKEY', help: 'only the contracts with this provider' },
    open: { type: 'boolean', help: 'only the contracts still open' },
    ...NODE_FLAG,
    ...CHAIN_ID_FLAG,
    ...KEYRING_FLAGS,
    ...PIN_FLAG,
    ...OUTPUT_FLAG,
  },
});

export const CONTRACT_SHOW = commandTable({
  command: 'contract show',
  summary: 'one contract on chain',
  positionals: [{ name: 'ID' }],
  about: 'One contract as the chain holds it, with its expiry and settlement heights and the blocks left.',
  flags: { ...NODE_FLAG, ...CHAIN_ID_FLAG, ...OUTPUT_FLAG },
});

export const CONTRACT = commandGroup({
  command: 'contract',
  summary: 'open, close and inspect contracts on chain',
  commands: [CONTRACT_OPEN, CONTRACT_CLOSE, CONTRACT_LIST, CONTRACT_SHOW],
});

export const TX_SEND = commandTable({
  command: 'tx send',
  summary: 'send coins (bank MsgSend)',
  about: `Send coins from --key's account to --to.
${TX_ABOUT}`,
  flags: {
    to: { type: 'string', value: 'ADDRESS', required: true, help: 'the recipient (arkeo1…)' },
    amount: { type: 'string', value: 'COINS', required: true, help: 'e.g. 1000uarkeo (a bare number is uarkeo); several: 1uarkeo,2foo' },
    ...TX_FLAGS,
  },
  rules: TX_RULES,
});

export const TX_SHOW = commandTable({
  command: 'tx show',
  summary: 'a transaction as the block holds it',
  positionals: [{ name: 'HASH' }],
  about: 'A transaction as the block holds it: height, code, gas used and the events (exit 1 while it is not in a block).',
  flags: { ...NODE_FLAG, ...CHAIN_ID_FLAG, ...OUTPUT_FLAG },
});

export const TX = commandGroup({
  command: 'tx',
  summary: 'send coins and look transactions up',
  commands: [TX_SEND, TX_SHOW],
});
