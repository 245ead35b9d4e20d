import { InputError } from '../errors.js';
import { PREFIXES, toBech32PubKey, toHex } from '../crypto/index.js';
import {
  CLAIM_PROFILES,
  ClaimSigner,
  chainV1017,
  checkChainId,
  fetchChainContract,
  parseContractId,
  parseDecimal,
  sentinelArkContractV1017,
  sentinelParseArkAuth,
  sentinelV1017,
  type ClaimProfile,
  type Verdict,
  MAX_INT64,
} from '../claims/index.js';
import { maxNonceFor, openNonceStore, type ContractTerms, type NonceStore } from '../nonces/index.js';
import { KEYRING_FLAGS, UsageError, expandHome, exactPositionals, openKeyring, parseFlags, required } from './common.js';
import { parseOutputFormat } from './output.js';
import { parsePublicKeyArg } from './verify.js';
import { defaultHome } from '../keyring/index.js';
import { openSigner } from '../keys/index.js';
import { PKCS11_FLAGS, pkcs11PinSource } from './pkcs11.js';

const out = (s: string) => process.stdout.write(s);

export const STORE_FLAGS = {
  'nonce-store': { type: 'string' },
  'create-nonce-store': { type: 'boolean' },
} as const;

export function homeOf(values: { home?: string }): string {
  return expandHome(values.home ?? defaultHome());
}

/** `access: 'read'` for commands that only look: they never create a store. */
export async function withStore<T>(
  values: { home?: string; 'nonce-store'?: string; 'create-nonce-store'?: boolean },
  access: 'read' | 'write',
  fn: (store: NonceStore) => Promise<T>,
): Promise<T> {
  if (access === 'read' && values['create-nonce-store']) throw new UsageError('--create-nonce-store: only for commands that write (claim sign, claim contract add, nonce set, nonce sync)');
  const store = await openNonceStore(values['nonce-store'] ?? process.env.ARKEO_NONCE_STORE, homeOf(values), { create: values['create-nonce-store'], readOnly: access === 'read' });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

function profileOf(values: { profile?: string; 'chain-id'?: string }): { profile: ClaimProfile; chainId?: string } {
  const profile = (values.profile ?? 'compat') as ClaimProfile;
  if (!CLAIM_PROFILES.includes(profile)) throw new UsageError(`--profile: expected compat or chain-id, got "${values.profile}"`);
  // Decision: a chain id with the default profile is refused, not ignored. Signing "<cid>:<nonce>:" would not be
  // what the user asked for, and signing with the chain id would be rejected by today's sentinel.
  if (profile === 'compat' && values['chain-id'] !== undefined) {
    throw new UsageError('--chain-id goes with --profile chain-id (which today\'s sentinel rejects); the default compat profile signs "<cid>:<nonce>:" without a chain id');
  }
  if (profile === 'chain-id') {
    if (!values['chain-id']) throw new UsageError('--profile chain-id needs --chain-id (e.g. arkeo-main-v1); only the chain accepts this form today, the sentinel rejects it');
    checkChainId(values['chain-id']);
  }
  return { profile, chainId: values['chain-id'] };
}

function blockSizeOf(text: string | undefined): number {
  if (text === undefined) return 1;
  if (!/^[1-9][0-9]{0,6}$/.test(text)) throw new UsageError('--block-size: expected an integer from 1 to 1000000');
  return Number(text);
}

async function sign(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags(args, {
    ...KEYRING_FLAGS,
    ...STORE_FLAGS,
    contract: { type: 'string' },
    key: { type: 'string' },
    delegate: { type: 'boolean' },
    profile: { type: 'string' },
    'chain-id': { type: 'string' },
    'block-size': { type: 'string' },
    'require-terms': { type: 'boolean' },
    daemon: { type: 'string' },
    'token-file': { type: 'string' },
    ...PKCS11_FLAGS,
  });
  exactPositionals(positionals, [], 'claim sign');
  const format = parseOutputFormat(values.output);
  const contractId = parseContractId(required(values.contract, 'contract', 'claim sign'));
  const daemonTarget = values.daemon ?? process.env.ARKEO_SIGNER_DAEMON;
  if (daemonTarget) {
    // The daemon holds the key, the nonce store and the policy; we only ask.
    const { DaemonClient, daemonToken } = await import('../daemon/index.js');
    const client = new DaemonClient(daemonTarget, { token: daemonToken(values['token-file']) });
    try {
      const c = await client.claim(contractId, required(values.key, 'key', 'claim sign'), values.delegate);
      out(format === 'json' ? JSON.stringify({ contract_id: c.contract, nonce: c.nonce, preimage: c.preimage, signature: c.signature, arkauth: c.arkauth, header: `arkauth: ${c.arkauth}` }) + '\n' : c.arkauth + '\n');
    } finally {
      client.close();
    }
    return;
  }
  const { profile, chainId } = profileOf(values);
  const signer = await openSigner(openKeyring(values), required(values.key, 'key', 'claim sign'), { pkcs11: { pin: pkcs11PinSource(values['pin-file']) } });
  try {
    await withStore(values, 'write', async (store) => {
      const terms = await store.getContract(contractId);
      if (!terms && !values['require-terms']) {
        process.stderr.write(`warning: contract ${contractId} has no registered rate/deposit; no spend ceiling applies (claim contract add --id ${contractId} …)\n`);
      }
      const claims = await ClaimSigner.create(signer, store, { profile, chainId, blockSize: blockSizeOf(values['block-size']), requireTerms: values['require-terms'] });
      let claim;
      try {
        claim = await claims.signClaim(contractId, { delegate: values.delegate });
      } finally {
        await claims.close(); // the rest of a --block-size block goes back to the store
      }
      out(format === 'json' ? JSON.stringify(ClaimSigner.toJson(claim, toBech32PubKey(await signer.publicKey()))) + '\n' : claim.arkauth + '\n');
    });
  } finally {
    signer.destroy();
  }
}

async function arkcontract(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags(args, {
    ...KEYRING_FLAGS,
    ...STORE_FLAGS,
    contract: { type: 'string' },
    key: { type: 'string' },
    timestamp: { type: 'string' },
    'allow-management-spend': { type: 'boolean' },
    ...PKCS11_FLAGS,
  });
  exactPositionals(positionals, [], 'claim arkcontract');
  const contractId = parseContractId(required(values.contract, 'contract', 'claim arkcontract'));
  const timestamp = values.timestamp ? parseDecimal(values.timestamp, 'timestamp', 1n, MAX_INT64) : BigInt(Math.floor(Date.now() / 1000));
  const signer = await openSigner(openKeyring(values), required(values.key, 'key', 'claim arkcontract'), { pkcs11: { pin: pkcs11PinSource(values['pin-file']) } });
  try {
    await withStore(values, 'read', async (store) => {
      const claims = await ClaimSigner.create(signer, store);
      const signed = await claims.signArkContract(contractId, timestamp, { allowManagementSpend: values['allow-management-spend'] });
      const format = parseOutputFormat(values.output);
      out(
        format === 'json'
          ? JSON.stringify({ contract_id: String(contractId), timestamp: String(timestamp), preimage: signed.preimage, signature: toHex(signed.signature), arkcontract: signed.arkcontract, header: `arkcontract: ${signed.arkcontract}` }) + '\n'
          : signed.arkcontract + '\n',
      );
    });
  } finally {
    signer.destroy();
  }
}

function verdictText(v: Verdict): string {
  return v.accepted ? `accepted (branch ${v.branch})` : `rejected: ${v.reason}`;
}

async function explain(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    pubkey: { type: 'string' },
    'chain-id': { type: 'string' },
    kind: { type: 'string' },
    'last-timestamp': { type: 'string' },
    output: { type: 'string', short: 'o' },
  });
  const [value] = exactPositionals(positionals, ['VALUE'], 'claim explain');
  const format = parseOutputFormat(values.output);
  if (value!.length > 4096) throw new InputError('BAD_HEADER', 'claim explain: VALUE longer than 4096 characters');
  const pubkey = parsePublicKeyArg(required(values.pubkey, 'pubkey', 'claim explain'));
  const chainId = values['chain-id'] ?? 'arkeo-main-v1';
  checkChainId(chainId);
  const pubPrefix = value!.includes(':tarkeopub1') ? 'tarkeopub' : PREFIXES.accountPub;
  const verdicts: Record<string, Verdict> = {};
  if ((values.kind ?? 'arkauth') === 'arkcontract') {
    const last = values['last-timestamp'] ? parseDecimal(values['last-timestamp'], 'last timestamp', 0n, MAX_INT64) : 0n;
    verdicts['sentinel-v1.0.17'] = sentinelArkContractV1017(value!, { client: pubkey, lastTimestamp: last });
  } else if ((values.kind ?? 'arkauth') === 'arkauth') {
    verdicts['sentinel-v1.0.17'] = sentinelV1017(value!, { client: pubkey, pubPrefix });
    const parsed = sentinelParseArkAuth(value!, pubPrefix);
    // The chain sees what a provider submits: the contract id, nonce and signature from the header, checked
    // against contract.GetSpender(), which is --pubkey here.
    verdicts['chain-v1.0.17'] =
      typeof parsed === 'string' ? { accepted: false, reason: `a provider cannot build a claim from this header: ${parsed}` } : chainV1017(parsed.contractId, parsed.nonce, parsed.signature, { spender: pubkey, chainId });
  } else throw new UsageError(`--kind: expected arkauth or arkcontract, got "${values.kind}"`);
  if (format === 'json') out(JSON.stringify(verdicts) + '\n');
  else for (const [name, v] of Object.entries(verdicts)) out(`${name}: ${verdictText(v)}\n`);
  return Object.values(verdicts).every((v) => v.accepted) ? 0 : 1;
}

function termsJson(t: ContractTerms) {
  return { id: String(t.contractId), rate: String(t.rate), deposit: String(t.deposit), max_spend: t.maxSpend === undefined ? null : String(t.maxSpend), max_nonce: String(maxNonceFor(t)), source: t.source };
}

async function contract(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseFlags(rest, {
    home: { type: 'string' },
    ...STORE_FLAGS,
    id: { type: 'string' },
    rate: { type: 'string' },
    deposit: { type: 'string' },
    'max-spend': { type: 'string' },
    lcd: { type: 'string' },
    output: { type: 'string', short: 'o' },
  });
  if (sub !== 'add' && sub !== 'list') throw new UsageError(`claim contract: expected add or list, got "${sub ?? ''}"`);
  exactPositionals(positionals, [], `claim contract ${sub}`);
  const format = parseOutputFormat(values.output);
  const amount = (v: string, what: string) => parseDecimal(v, what, 0n, (1n << 128n) - 1n);
  await withStore(values, sub === 'add' ? 'write' : 'read', async (store) => {
    if (sub === 'add') {
      const contractId = parseContractId(required(values.id, 'id', 'claim contract add'));
      let terms: ContractTerms;
      if (values.lcd) {
        if (values.rate || values.deposit) throw new UsageError('claim contract add: give --lcd or --rate/--deposit, not both');
        const c = await fetchChainContract(values.lcd, contractId);
        if (c.type !== 'PAY_AS_YOU_GO') process.stderr.write(`warning: contract ${contractId} is ${c.type}, not PAY_AS_YOU_GO\n`);
        terms = { contractId, rate: c.rate, deposit: c.deposit, source: values.lcd };
      } else {
        terms = { contractId, rate: amount(required(values.rate, 'rate', 'claim contract add'), 'rate'), deposit: amount(required(values.deposit, 'deposit', 'claim contract add'), 'deposit'), source: 'manual' };
      }
      if (terms.rate === 0n) throw new InputError('BAD_NUMBER', 'rate: must be greater than zero');
      if (values['max-spend']) terms.maxSpend = amount(values['max-spend'], 'max spend');
      await store.putContract(terms);
      out(format === 'json' ? JSON.stringify(termsJson(terms)) + '\n' : `contract ${contractId}: rate ${terms.rate}, deposit ${terms.deposit}${terms.maxSpend !== undefined ? `, max spend ${terms.maxSpend}` : ''}; highest nonce that will be signed: ${maxNonceFor(terms)}\n`);
    } else {
      const all = await store.listContracts();
      out(format === 'json' ? JSON.stringify(all.map(termsJson)) + '\n' : all.map((t) => `${t.contractId}\trate ${t.rate}\tdeposit ${t.deposit}\tmax nonce ${maxNonceFor(t)}\t${t.source}\n`).join(''));
    }
  });
}

export const CLAIM_USAGE = `Usage: arkeo-signer claim <command> [flags]

  sign --contract ID --key NAME [--delegate] [--profile compat|chain-id --chain-id ID] [--block-size N]
       [--require-terms] [--nonce-store PATH|postgres://… [--create-nonce-store]] [-o json] [--pin-file F (PKCS#11 keys)]
       [--daemon SOCKET|https://… --token-file F]   (or ARKEO_SIGNER_DAEMON / ARKEO_SIGNER_TOKEN)
        reserve the next nonce durably, sign "<cid>:<nonce>:", print the arkauth value
  arkcontract --contract ID --key NAME [--timestamp T] [--allow-management-spend]
        management auth "<cid>:<T>:<sig>" (refused when it could be settled as an over-limit claim)
  explain VALUE --pubkey P [--chain-id ID] [--kind arkauth|arkcontract]
        what sentinel v1.0.17 and chain v1.0.17 would do with a header value, and why (exit 0 if both accept)
  contract add --id ID (--rate R --deposit D | --lcd URL) [--max-spend M]
  contract list
`;

export async function claimCommand(args: string[]): Promise<number | void> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'sign':
      return sign(rest);
    case 'arkcontract':
      return arkcontract(rest);
    case 'explain':
      return explain(rest);
    case 'contract':
      return contract(rest);
    case undefined:
    case 'help':
    case '--help':
      out(CLAIM_USAGE);
      return;
    default:
      throw new UsageError(`claim: unknown command "${sub}"\n${CLAIM_USAGE}`);
  }
}

