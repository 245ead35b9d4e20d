import { commandTable, commandGroup } from '../table.js';
import { CREATE_STORE_FLAG, KEYRING_FLAGS, OUTPUT_FLAG, STORE_FLAGS } from './shared.js';

export const NONCE_SHOW = commandTable({
  command: 'nonce show',
  summary: 'the highest nonce ever reserved, per (contract, signer address)',
  about: 'The highest nonce ever reserved, per (contract, signer address).',
  flags: {
    contract: { type: 'string', value: 'ID', help: 'only this contract' },
    key: { type: 'string', value: 'NAME', help: 'only this key\'s address' },
    ...STORE_FLAGS,
    ...KEYRING_FLAGS,
    ...OUTPUT_FLAG,
  },
});

export const NONCE_SET = commandTable({
  command: 'nonce set',
  summary: 'set the last used nonce (back only with --force)',
  about: 'Set the last used nonce (the next claim uses N+1). Moving it back needs --force: a reused nonce gets "400 bad nonce".',
  flags: {
    contract: { type: 'string', value: 'ID', required: true, help: 'the contract' },
    key: { type: 'string', value: 'NAME', required: true, help: 'the key whose nonce it is' },
    nonce: { type: 'string', value: 'N', required: true, help: 'the last used nonce' },
    force: { type: 'boolean', help: 'allow moving the nonce back' },
    ...STORE_FLAGS,
    ...CREATE_STORE_FLAG,
    ...KEYRING_FLAGS,
  },
});

export const NONCE_SYNC = commandTable({
  command: 'nonce sync',
  summary: 'raise the local nonce to the sentinel\'s (when it shows our claim) and the chain\'s',
  about: `Raise the local nonce to max(local, the sentinel's GET /claim/{cid} .nonce, the chain's contract nonce). Run it after
a "400 bad nonce" or when moving a contract to a new machine. The sentinel's nonce counts only when the claim it
stored is signed by this key (or the contract's client or delegate, as registered or as the chain at --lcd says);
otherwise nothing changes and the command fails: a provider's word alone does not move a nonce it is paid for.`,
  flags: {
    contract: { type: 'string', value: 'ID', required: true, help: 'the contract' },
    key: { type: 'string', value: 'NAME', required: true, help: 'the key whose nonce it is' },
    sentinel: { type: 'string', value: 'URL', required: true, help: 'the provider\'s sentinel' },
    lcd: { type: 'string', value: 'URL', help: 'a chain LCD: the contract\'s nonce on chain counts too' },
    ...STORE_FLAGS,
    ...CREATE_STORE_FLAG,
    ...KEYRING_FLAGS,
    ...OUTPUT_FLAG,
  },
});

export const NONCE = commandGroup({
  command: 'nonce',
  summary: 'inspect and repair the nonce store',
  about: `--nonce-store PATH|postgres://… or ARKEO_NONCE_STORE names a store; --create-nonce-store starts a new one there
(commands that write only).`,
  commands: [NONCE_SHOW, NONCE_SET, NONCE_SYNC],
});
