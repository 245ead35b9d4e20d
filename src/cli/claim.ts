import { InputError } from '../errors.js';
import * as fs from 'node:fs';
import { PREFIXES, toBech32PubKey } from '../crypto/address.js';
import { equalBytes, toHex } from '../crypto/bytes.js';
import {
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
import { maxNonceFor, type ContractTerms } from '../nonces/store.js';
import { UsageError, checking, flagValue, commandRunner } from './common.js';
import { withStore } from './nonce-store.js';
import { parsePublicKeyArg } from './public-key.js';
import { openKey, openKeyringKey } from './open-key.js';
import { bind, runGroup, type Parsed } from './table.js';
import { CLAIM, CLAIM_ARKCONTRACT, CLAIM_CONTRACT_ADD, CLAIM_CONTRACT_LIST, CLAIM_EXPLAIN, CLAIM_SIGN } from './tables/claim.js';
import { EXIT } from './exit-codes.js';

const out = (s: string) => process.stdout.write(s);

function profileOf(values: { profile: ClaimProfile; 'chain-id'?: string }): { profile: ClaimProfile; chainId?: string } {
  const profile = values.profile;
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
 * --form 3-part|4-part → whether the 4-part (delegate) form is asked for; no --form → undefined, which with
 * registered parties lets the contract decide and without them means 3-part, as before parties were kept.
 */
function requestedForm(form: '3-part' | '4-part' | undefined): boolean | undefined {
  return form === undefined ? undefined : form === '4-part';
}

function blockSizeOf(text: string): number {
  if (!/^[1-9][0-9]{0,6}$/.test(text)) throw new UsageError('--block-size: expected an integer from 1 to 1000000');
  return Number(text);
}

async function sign({ values }: Parsed<typeof CLAIM_SIGN>): Promise<void> {
  const contractId = flagValue(() => parseContractId(values.contract));
  const delegate = requestedForm(values.form);
  const { profile, chainId } = profileOf(values);
  const key = await openKey(values, values.key);
  try {
    if (key.daemon) {
      // The daemon holds the key, the nonce store and the policy; we only ask (the table refuses the flags for here).
      const c = await key.daemon.claim(contractId, values.key, delegate);
      out(values.output === 'json' ? JSON.stringify({ contract_id: c.contract, nonce: c.nonce, preimage: c.preimage, signature: c.signature, arkauth: c.arkauth, header: `arkauth: ${c.arkauth}` }) + '\n' : c.arkauth + '\n');
      return;
    }
    const signer = key.signer;
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
      out(values.output === 'json' ? JSON.stringify(ClaimSigner.toJson(claim, toBech32PubKey(await signer.publicKey()))) + '\n' : claim.arkauth + '\n');
    });
  } finally {
    key.close();
  }
}

async function arkcontract({ values }: Parsed<typeof CLAIM_ARKCONTRACT>): Promise<void> {
  const contractId = flagValue(() => parseContractId(values.contract));
  const timestamp = values.timestamp ? flagValue(() => parseDecimal(values.timestamp!, 'timestamp', 1n, MAX_INT64)) : BigInt(Math.floor(Date.now() / 1000));
  const signer = await openKeyringKey(values, values.key);
  try {
    await withStore(values, 'read', async (store) => {
      const claims = await ClaimSigner.create(signer, store);
      const signed = await claims.signArkContract(contractId, timestamp, { allowManagementSpend: values['allow-management-spend'] });
      out(
        values.output === 'json'
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

/**
 * Why VALUE is not a header at all, rather than one a verifier would reject: every arkauth and arkcontract form
 * is visible ASCII starting with a decimal contract id. Such input exits 2, like a bad flag; it gets no verdict.
 */
function notAHeader(value: string): string | undefined {
  if (value.length > 4096) return 'longer than 4096 characters';
  if (!/^[\x21-\x7e]+$/.test(value)) return 'empty, or it holds a space, a control character or non-ASCII';
  if (!/^[0-9]+(:|$)/.test(value)) return 'it does not start with a contract id (<cid>:…)';
  return undefined;
}

async function explain({ values, positionals: [value], given }: Parsed<typeof CLAIM_EXPLAIN>): Promise<number> {
  const kind = values.kind;
  const problem = notAHeader(value!);
  if (problem) throw new UsageError(`claim explain: VALUE is not an ${kind} header: ${problem}`);
  // Each applies to one kind only: given with the other, it would be ignored.
  if (kind === 'arkcontract' && given.has('chain-id')) throw new UsageError('claim explain: --chain-id goes with --kind arkauth (the chain does not settle arkcontract values)');
  if (kind === 'arkauth' && given.has('last-timestamp')) throw new UsageError('claim explain: --last-timestamp goes with --kind arkcontract');
  const chainId = values['chain-id'];
  flagValue(() => checkChainId(chainId));
  const pubPrefix = value!.includes(':tarkeopub1') ? 'tarkeopub' : PREFIXES.accountPub;
  // Exit 1 is the verdict: parties that cannot be had (an unreadable file, an LCD that does not answer) exit 2.
  const parties = await checking(() => explainParties(values, value!, pubPrefix));
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
  if (values.output === 'json') out(JSON.stringify(parties.legacy ? ex.verdicts : { ...ex.verdicts, findings: ex.findings }) + '\n');
  else {
    for (const [name, v] of Object.entries(ex.verdicts)) out(`${name}: ${verdictText(v)}\n`);
    for (const f of ex.findings) out(`finding: ${f}\n`);
  }
  return Object.values(ex.verdicts).every((v) => v.accepted) ? EXIT.ok : EXIT.refused;
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
  // Exactly one source of parties, and --delegate only with --client: the table's rules.
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
    contract_id: String(t.contractId),
    rate: String(t.rate),
    deposit: String(t.deposit),
    max_spend: t.maxSpend === undefined ? null : String(t.maxSpend),
    max_nonce: String(maxNonceFor(t)),
    source: t.source,
    // Only when set, so the shape of a contract without them is what it was before they existed.
    ...(t.maxSpendPerHour !== undefined ? { max_spend_per_hour: String(t.maxSpendPerHour) } : {}),
    ...(t.maxSpendPerDay !== undefined ? { max_spend_per_day: String(t.maxSpendPerDay) } : {}),
    // Only when known, so the shape of a contract without parties is what it was before they were kept.
    ...(t.client ? { client: toBech32PubKey(t.client) } : {}),
    ...(t.delegate ? { delegate: toBech32PubKey(t.delegate) } : {}),
  };
}

function partiesText(t: ContractTerms): string {
  return t.client ? `; client ${toBech32PubKey(t.client)}${t.delegate ? `, delegate ${toBech32PubKey(t.delegate)}` : ', no delegate'}` : '';
}

function velocityText(t: ContractTerms): string {
  const parts = [t.maxSpendPerHour !== undefined ? `${t.maxSpendPerHour} per hour` : '', t.maxSpendPerDay !== undefined ? `${t.maxSpendPerDay} per day` : ''].filter(Boolean);
  return parts.length ? `, at most ${parts.join(' and ')}` : '';
}

const amount = (v: string, what: string) => flagValue(() => parseDecimal(v, what, 0n, (1n << 128n) - 1n));

async function contractAdd({ values }: Parsed<typeof CLAIM_CONTRACT_ADD>): Promise<void> {
  const contractId = flagValue(() => parseContractId(values.id));
  await withStore(values, 'write', async (store) => {
    let terms: ContractTerms;
    if (values.lcd) {
      const c = await fetchChainContract(values.lcd, contractId);
      if (c.type !== 'PAY_AS_YOU_GO') process.stderr.write(`warning: contract ${contractId} is ${c.type}, not PAY_AS_YOU_GO\n`);
      terms = { contractId, rate: c.rate, deposit: c.deposit, source: values.lcd, client: c.client, ...(c.delegate ? { delegate: c.delegate } : {}) };
    } else {
      // --rate and --deposit go together, and one of them or --lcd is there: the table's rules.
      terms = { contractId, rate: amount(values.rate!, 'rate'), deposit: amount(values.deposit!, 'deposit'), source: 'manual' };
      if (values.client !== undefined) terms.client = flagValue(() => parsePublicKeyArg(values.client!));
      if (values.delegate !== undefined) terms.delegate = flagValue(() => parsePublicKeyArg(values.delegate!));
      if (terms.client && terms.delegate && equalBytes(terms.client, terms.delegate)) throw new UsageError('claim contract add: --delegate is the same key as --client; leave --delegate out');
    }
    if (terms.rate === 0n) throw new UsageError('--rate: must be greater than zero');
    if (values['max-spend']) terms.maxSpend = amount(values['max-spend'], 'max spend');
    for (const [flag, field] of [['max-spend-per-hour', 'maxSpendPerHour'], ['max-spend-per-day', 'maxSpendPerDay']] as const) {
      const text = values[flag];
      if (text === undefined) continue;
      const limit = flagValue(() => parseDecimal(text, `--${flag}`, 1n, (1n << 128n) - 1n));
      // A limit below one claim's cost would refuse every claim, with no time at which one fits.
      if (limit < terms.rate) throw new UsageError(`--${flag}: ${limit} is below the cost of one claim (the rate, ${terms.rate}), so no claim would ever fit`);
      terms[field] = limit;
    }
    await store.putContract(terms);
    out(values.output === 'json' ? JSON.stringify(termsJson(terms)) + '\n' : `contract ${contractId}: rate ${terms.rate}, deposit ${terms.deposit}${terms.maxSpend !== undefined ? `, max spend ${terms.maxSpend}` : ''}${velocityText(terms)}; highest nonce that will be signed: ${maxNonceFor(terms)}${partiesText(terms)}\n`);
  });
}

async function contractList({ values }: Parsed<typeof CLAIM_CONTRACT_LIST>): Promise<void> {
  const delegate = values.delegate !== undefined ? flagValue(() => parsePublicKeyArg(values.delegate!)) : undefined;
  await withStore(values, 'read', async (store) => {
    let all = await store.listContracts();
    // Rotation: the contracts that still name an old delegate are the ones to let run out (README "Keys for claims").
    if (delegate) all = all.filter((t) => t.delegate && equalBytes(t.delegate, delegate));
    out(values.output === 'json' ? JSON.stringify(all.map(termsJson)) + '\n' : all.map((t) => `${t.contractId}\trate ${t.rate}\tdeposit ${t.deposit}\tmax nonce ${maxNonceFor(t)}\t${t.source}${t.delegate ? `\tdelegate ${toBech32PubKey(t.delegate)}` : ''}\n`).join(''));
  });
}

/** `arkeo-signer claim …`, run by the dispatcher (arkeo-signer.ts). */
export const run = commandRunner((args) =>
  runGroup(CLAIM, args, [bind(CLAIM_SIGN, sign), bind(CLAIM_ARKCONTRACT, arkcontract), bind(CLAIM_EXPLAIN, explain), bind(CLAIM_CONTRACT_ADD, contractAdd), bind(CLAIM_CONTRACT_LIST, contractList)]),
);
