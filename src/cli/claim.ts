import { InputError } from '../errors.js';
import * as fs from 'node:fs';
import { PREFIXES, toBech32PubKey } from '../crypto/address.js';
import { equalBytes, toHex } from '../crypto/bytes.js';
import {
  CLAIM_PROFILES,
  ClaimSigner,
  chainV1017,
  checkChainId,
  explainArkAuth,
  explainArkContract,
  fetchChainContract,
  parseChainContract,
  type ContractParties,
  type Explanation,
  parseContractId,
  parseDecimal,
  sentinelParseArkAuth,
  sentinelV1017,
  type ClaimProfile,
  type Verdict,
  MAX_INT64,
} from '../claims/index.js';
import { maxNonceFor, type ContractTerms, type NonceStore } from '../nonces/store.js';
import { openNonceStore } from '../nonces/open.js';
import { KEYRING_FLAGS, UsageError, expandHome, exactPositionals, flagValue, helpRequested, parseFlags, printUsage, required, commandRunner } from './common.js';
import { openKeyring } from './open-keyring.js';
import { parseOutputFormat } from './output.js';
import { parsePublicKeyArg } from './verify.js';
import { defaultHome } from '../keyring/keyring.js';
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
    flagValue(() => checkChainId(values['chain-id']!));
  }
  return { profile, chainId: values['chain-id'] };
}

/**
 * --form 3-part|4-part (or today's --delegate = 4-part) → the form asked for; neither → undefined, which with
 * registered parties lets the contract decide and without them means 3-part, as before parties were kept.
 */
function requestedForm(form: string | undefined, delegate: boolean | undefined): boolean | undefined {
  if (form !== undefined && form !== '3-part' && form !== '4-part') throw new UsageError(`--form: expected 3-part or 4-part, got "${form}"`);
  if (form === '3-part' && delegate) throw new UsageError('--delegate asks for the 4-part form; it cannot go with --form 3-part');
  return form === undefined ? (delegate ? true : undefined) : form === '4-part';
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
    form: { type: 'string' },
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
  const contractId = flagValue(() => parseContractId(required(values.contract, 'contract', 'claim sign')));
  const delegate = requestedForm(values.form, values.delegate);
  const daemonTarget = values.daemon ?? process.env.ARKEO_SIGNER_DAEMON;
  if (daemonTarget) {
    // The daemon holds the key, the nonce store and the policy; we only ask.
    const { DaemonClient, daemonToken } = await import('../daemon/client.js');
    const client = new DaemonClient(daemonTarget, { token: daemonToken(values['token-file']) });
    try {
      const c = await client.claim(contractId, required(values.key, 'key', 'claim sign'), delegate);
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
        const reserved = await claims.reserveClaim(contractId, { delegate });
        // Said before the signature exists, so a script watching stderr can stop before using it.
        for (const w of reserved.warnings) process.stderr.write(`warning: ${w}\n`);
        claim = await claims.signReserved(reserved);
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
  const contractId = flagValue(() => parseContractId(required(values.contract, 'contract', 'claim arkcontract')));
  const timestamp = values.timestamp ? flagValue(() => parseDecimal(values.timestamp!, 'timestamp', 1n, MAX_INT64)) : BigInt(Math.floor(Date.now() / 1000));
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
    client: { type: 'string' },
    delegate: { type: 'string' },
    'contract-json': { type: 'string' },
    lcd: { type: 'string' },
    'chain-id': { type: 'string' },
    kind: { type: 'string' },
    'last-timestamp': { type: 'string' },
    output: { type: 'string', short: 'o' },
  });
  const [value] = exactPositionals(positionals, ['VALUE'], 'claim explain');
  const format = parseOutputFormat(values.output);
  if (value!.length > 4096) throw new InputError('BAD_HEADER', 'claim explain: VALUE longer than 4096 characters');
  const kind = values.kind ?? 'arkauth';
  if (kind !== 'arkauth' && kind !== 'arkcontract') throw new UsageError(`--kind: expected arkauth or arkcontract, got "${values.kind}"`);
  const chainId = values['chain-id'] ?? 'arkeo-main-v1';
  flagValue(() => checkChainId(chainId));
  const pubPrefix = value!.includes(':tarkeopub1') ? 'tarkeopub' : PREFIXES.accountPub;
  const parties = await explainParties(values, value!, pubPrefix);
  let ex: Explanation;
  if (kind === 'arkcontract') {
    const last = values['last-timestamp'] ? flagValue(() => parseDecimal(values['last-timestamp']!, 'last timestamp', 0n, MAX_INT64)) : 0n;
    ex = explainArkContract(value!, parties, last);
  } else if (parties.legacy) {
    // One --pubkey describes the contract: the sentinel's client and the chain's spender are that one key.
    const sentinel = sentinelV1017(value!, { client: parties.client, pubPrefix });
    const parsed = sentinelParseArkAuth(value!, pubPrefix);
    const chain: Verdict =
      typeof parsed === 'string' ? { accepted: false, reason: `a provider cannot build a claim from this header: ${parsed}` } : chainV1017(parsed.contractId, parsed.nonce, parsed.signature, { spender: parties.client, chainId });
    ex = { verdicts: { 'sentinel-v1.0.17': sentinel, 'chain-v1.0.17': chain }, findings: [] };
  } else ex = explainArkAuth(value!, parties, chainId, pubPrefix);
  if (format === 'json') out(JSON.stringify(parties.legacy ? ex.verdicts : { ...ex.verdicts, findings: ex.findings }) + '\n');
  else {
    for (const [name, v] of Object.entries(ex.verdicts)) out(`${name}: ${verdictText(v)}\n`);
    for (const f of ex.findings) out(`finding: ${f}\n`);
  }
  return Object.values(ex.verdicts).every((v) => v.accepted) ? 0 : 1;
}

/**
 * The contract's parties for explain: --pubkey (one key for both roles, as before), --client [--delegate],
 * --contract-json FILE (the LCD's reply, saved), or --lcd URL (the contract named in the header is fetched).
 */
async function explainParties(
  values: { pubkey?: string; client?: string; delegate?: string; 'contract-json'?: string; lcd?: string },
  value: string,
  pubPrefix: string,
): Promise<ContractParties & { legacy?: boolean }> {
  const sources = (['pubkey', 'client', 'contract-json', 'lcd'] as const).filter((k) => values[k] !== undefined);
  if (sources.length !== 1) throw new UsageError('claim explain: give the contract\'s parties with exactly one of --pubkey P, --client P [--delegate P], --contract-json FILE or --lcd URL');
  if (values.delegate !== undefined && values.client === undefined) throw new UsageError('claim explain: --delegate goes with --client');
  if (values.pubkey !== undefined) return { client: flagValue(() => parsePublicKeyArg(values.pubkey!)), legacy: true };
  if (values.client !== undefined) {
    return { client: flagValue(() => parsePublicKeyArg(values.client!)), delegate: values.delegate !== undefined ? flagValue(() => parsePublicKeyArg(values.delegate!)) : undefined };
  }
  if (values['contract-json'] !== undefined) {
    const file = values['contract-json'];
    let text: string;
    try {
      if (fs.statSync(file).size > 1024 * 1024) throw new InputError('BAD_CONTRACT_JSON', `--contract-json ${file}: larger than 1 MiB, not a contract`);
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      if (e instanceof InputError) throw e;
      throw new InputError('NO_SUCH_FILE', `--contract-json ${file}: cannot read (${(e as NodeJS.ErrnoException).code})`);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new InputError('BAD_CONTRACT_JSON', `--contract-json ${file}: not JSON; save the LCD's reply to GET /arkeo/contract/{id} unchanged`);
    }
    const c = parseChainContract(body, `--contract-json ${file}`, undefined, pubPrefix);
    return { client: c.client, delegate: c.delegate };
  }
  const parsed = sentinelParseArkAuth(value, pubPrefix);
  const cid = typeof parsed === 'string' ? /^([0-9]+):/.exec(value)?.[1] : String(parsed.contractId);
  if (!cid) throw new UsageError('claim explain --lcd: the value has no contract id to look up; use --client/--delegate instead');
  const c = await fetchChainContract(values.lcd!, flagValue(() => parseContractId(cid)), pubPrefix);
  return { client: c.client, delegate: c.delegate };
}

function termsJson(t: ContractTerms) {
  return {
    id: String(t.contractId),
    rate: String(t.rate),
    deposit: String(t.deposit),
    max_spend: t.maxSpend === undefined ? null : String(t.maxSpend),
    max_nonce: String(maxNonceFor(t)),
    source: t.source,
    // Only when known, so the shape of a contract without parties is what it was before they were kept.
    ...(t.client ? { client: toBech32PubKey(t.client) } : {}),
    ...(t.delegate ? { delegate: toBech32PubKey(t.delegate) } : {}),
  };
}

function partiesText(t: ContractTerms): string {
  return t.client ? `; client ${toBech32PubKey(t.client)}${t.delegate ? `, delegate ${toBech32PubKey(t.delegate)}` : ', no delegate'}` : '';
}

async function contract(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === 'help' || helpRequested(args)) return printUsage(CLAIM_HELP.contract!);
  if (sub !== 'add' && sub !== 'list') throw new UsageError(`claim contract: expected add or list, got "${sub}"\n${CLAIM_HELP.contract}`);
  const { values, positionals } = parseFlags(rest, {
    home: { type: 'string' },
    ...STORE_FLAGS,
    id: { type: 'string' },
    rate: { type: 'string' },
    deposit: { type: 'string' },
    'max-spend': { type: 'string' },
    lcd: { type: 'string' },
    client: { type: 'string' },
    delegate: { type: 'string' },
    output: { type: 'string', short: 'o' },
  });
  exactPositionals(positionals, [], `claim contract ${sub}`);
  const format = parseOutputFormat(values.output);
  const amount = (v: string, what: string) => flagValue(() => parseDecimal(v, what, 0n, (1n << 128n) - 1n));
  await withStore(values, sub === 'add' ? 'write' : 'read', async (store) => {
    if (sub === 'add') {
      const contractId = flagValue(() => parseContractId(required(values.id, 'id', 'claim contract add')));
      let terms: ContractTerms;
      if (values.lcd) {
        if (values.rate || values.deposit) throw new UsageError('claim contract add: give --lcd or --rate/--deposit, not both');
        if (values.client || values.delegate) throw new UsageError('claim contract add: --lcd reads the parties from the chain; give --client/--delegate only with --rate/--deposit');
        const c = await fetchChainContract(values.lcd, contractId);
        if (c.type !== 'PAY_AS_YOU_GO') process.stderr.write(`warning: contract ${contractId} is ${c.type}, not PAY_AS_YOU_GO\n`);
        terms = { contractId, rate: c.rate, deposit: c.deposit, source: values.lcd, client: c.client, ...(c.delegate ? { delegate: c.delegate } : {}) };
      } else {
        terms = { contractId, rate: amount(required(values.rate, 'rate', 'claim contract add'), 'rate'), deposit: amount(required(values.deposit, 'deposit', 'claim contract add'), 'deposit'), source: 'manual' };
        if (values.delegate !== undefined && values.client === undefined) throw new UsageError('claim contract add: --delegate needs --client (the contract\'s parties are registered together)');
        if (values.client !== undefined) terms.client = flagValue(() => parsePublicKeyArg(values.client!));
        if (values.delegate !== undefined) terms.delegate = flagValue(() => parsePublicKeyArg(values.delegate!));
        if (terms.client && terms.delegate && equalBytes(terms.client, terms.delegate)) throw new UsageError('claim contract add: --delegate is the same key as --client; leave --delegate out');
      }
      if (terms.rate === 0n) throw new UsageError('--rate: must be greater than zero');
      if (values['max-spend']) terms.maxSpend = amount(values['max-spend'], 'max spend');
      await store.putContract(terms);
      out(format === 'json' ? JSON.stringify(termsJson(terms)) + '\n' : `contract ${contractId}: rate ${terms.rate}, deposit ${terms.deposit}${terms.maxSpend !== undefined ? `, max spend ${terms.maxSpend}` : ''}; highest nonce that will be signed: ${maxNonceFor(terms)}${partiesText(terms)}\n`);
    } else {
      if (values.client || values.rate || values.deposit || values['max-spend'] || values.lcd || values.id) throw new UsageError('claim contract list: only --delegate P filters the list');
      let all = await store.listContracts();
      // Rotation: the contracts that still name an old delegate are the ones to let run out (README "Keys for claims").
      if (values.delegate !== undefined) {
        const d = flagValue(() => parsePublicKeyArg(values.delegate!));
        all = all.filter((t) => t.delegate && equalBytes(t.delegate, d));
      }
      out(format === 'json' ? JSON.stringify(all.map(termsJson)) + '\n' : all.map((t) => `${t.contractId}\trate ${t.rate}\tdeposit ${t.deposit}\tmax nonce ${maxNonceFor(t)}\t${t.source}${t.delegate ? `\tdelegate ${toBech32PubKey(t.delegate)}` : ''}\n`).join(''));
    }
  });
}

/** Each subcommand's usage, printed by `claim SUB --help`; the one place these texts live. */
export const CLAIM_HELP: Record<string, string> = {
  sign: `Usage: arkeo-signer claim sign --contract ID --key NAME [--form 3-part|4-part | --delegate]
                              [--profile compat|chain-id --chain-id ID] [--block-size N] [--require-terms]
                              [--nonce-store PATH|postgres://… [--create-nonce-store]]
                              [-o json] [--daemon SOCKET|https://… --token-file F] [--pin-file F] [keyring flags]

Reserve the next nonce for (contract, key) durably, sign "<cid>:<nonce>:" and print the arkauth value.
When the contract's parties are registered (claim contract add … --client P [--delegate P], or --lcd), the
form is chosen from them (the delegate signs <cid>:<its arkeopub>:<nonce>:<sig>, a client without a delegate
<cid>:<nonce>:<sig>) and a claim one verifier would reject is refused before any nonce is used. Without them,
the 3-part form, or the 4-part one with --delegate (= --form 4-part).
With --daemon (or ARKEO_SIGNER_DAEMON) the key daemon signs; the token comes from --token-file or ARKEO_SIGNER_TOKEN.
`,
  arkcontract: `Usage: arkeo-signer claim arkcontract --contract ID --key NAME [--timestamp T] [--allow-management-spend]
                                     [--nonce-store PATH|postgres://…] [-o json] [--pin-file F] [keyring flags]

Management auth "<cid>:<T>:<sig>" (T defaults to now). Refused when it could be settled as an over-limit claim,
unless --allow-management-spend, and, when the contract's parties are registered, when the key is not the
contract's client (the sentinel accepts only the client's; a delegate cannot manage the contract).
`,
  explain: `Usage: arkeo-signer claim explain VALUE (--client P [--delegate P] | --contract-json FILE | --lcd URL | --pubkey P)
                                 [--chain-id ID] [--kind arkauth|arkcontract] [--last-timestamp T] [-o json]

What sentinel v1.0.17 and chain v1.0.17 would do with a header value for the contract's parties, and why, with
findings where they disagree (the sentinel checks a 3-part header against the client, any 4-part key as given;
the chain checks the delegate if there is one, else the client). P is hex, arkeopub1… or keys show -p JSON;
--contract-json is the LCD's reply to GET /arkeo/contract/{id}; --lcd fetches it for the header's contract.
--pubkey P: one key is both client and spender (a contract without a delegate). Exit 0 only if both accept.
`,
  contract: `Usage: arkeo-signer claim contract add --id ID (--rate R --deposit D [--client P [--delegate P]] | --lcd URL)
                                      [--max-spend M] [--nonce-store PATH|postgres://…] [--home DIR] [-o json]
       arkeo-signer claim contract list [--delegate P] [--nonce-store PATH|postgres://…] [--home DIR] [-o json]

Record a contract's rate and deposit and its parties (typed in, or read from an LCD endpoint) and an optional
spend ceiling; claim sign then refuses any nonce whose nonce × rate exceeds min(deposit, max spend), and with
the parties known chooses the key's header form and refuses a key or form a verifier would reject.
list --delegate P: the contracts that name P as delegate (to rotate a delegate key: let these run out).
`,
};

export const CLAIM_USAGE = `Usage: arkeo-signer claim <command> [flags]   (arkeo-signer claim <command> --help for each)

  sign --contract ID --key NAME [--form 3-part|4-part | --delegate] [--profile compat|chain-id --chain-id ID] [--block-size N]
       [--require-terms] [--nonce-store PATH|postgres://… [--create-nonce-store]] [-o json] [--pin-file F (PKCS#11 keys)]
       [--daemon SOCKET|https://… --token-file F]   (or ARKEO_SIGNER_DAEMON / ARKEO_SIGNER_TOKEN)
        reserve the next nonce durably, sign "<cid>:<nonce>:", print the arkauth value
  arkcontract --contract ID --key NAME [--timestamp T] [--allow-management-spend]
        management auth "<cid>:<T>:<sig>" (refused when it could be settled as an over-limit claim)
  explain VALUE (--client P [--delegate P] | --contract-json FILE | --lcd URL | --pubkey P) [--chain-id ID] [--kind arkauth|arkcontract]
        what sentinel v1.0.17 and chain v1.0.17 would do with a header value, and why (exit 0 if both accept)
  contract add --id ID (--rate R --deposit D [--client P [--delegate P]] | --lcd URL) [--max-spend M]
  contract list [--delegate P]
`;

const SUBCOMMANDS: Record<string, (args: string[]) => Promise<number | void>> = { sign, arkcontract, explain, contract };

export async function claimCommand(args: string[]): Promise<number | void> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') return printUsage(CLAIM_USAGE);
  const fn = Object.hasOwn(SUBCOMMANDS, sub) ? SUBCOMMANDS[sub] : undefined;
  if (!fn) throw new UsageError(`claim: unknown command "${sub}"\n${CLAIM_USAGE}`);
  // contract has sub-subcommands and looks at --help itself.
  if (sub !== 'contract' && helpRequested(rest)) return printUsage(CLAIM_HELP[sub]!);
  return fn(rest);
}

/** `arkeo-signer claim …`, run by the dispatcher (arkeo-signer.ts). */
export const run = commandRunner(claimCommand);
