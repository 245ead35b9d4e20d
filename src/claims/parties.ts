import { PREFIXES, toBech32PubKey } from '../crypto/address.js';
import { equalBytes } from '../crypto/bytes.js';
import type { ContractTerms } from '../nonces/store.js';
import { chainV1017, sentinelArkContractV1017, sentinelParseArkAuth, sentinelV1017, type Verdict } from './verifiers.js';
import type { ClaimProfile } from './wire.js';

/**
 * A contract's parties and what each v1.0.17 verifier does with a claim from a given key (arkeo-claims.md §3.3,
 * §3.4, §5 I-6, I-10):
 *   sentinel  3-part header: checked against contract.Client; 4-part: against the key in the header, which it
 *             never compares with the contract (so it accepts any key there);
 *   chain     contract.GetSpender(): the delegate if the contract names one, else the client;
 *   arkcontract  contract.Client only.
 * So a claim is good for both only when the signer is the spender AND the sentinel checks that same key: the
 * delegate in the 4-part form, or (no delegate) the client in either form, 3-part by choice.
 */
export interface ContractParties {
  client: Uint8Array;
  delegate?: Uint8Array;
}

export type HeaderForm = '3-part' | '4-part';
export type Role = 'client' | 'delegate' | 'neither';

export function partiesOf(terms: ContractTerms | undefined): ContractParties | undefined {
  return terms?.client ? { client: terms.client, delegate: terms.delegate } : undefined;
}

export function roleOf(parties: ContractParties, key: Uint8Array): Role {
  if (parties.delegate && equalBytes(parties.delegate, key)) return 'delegate';
  return equalBytes(parties.client, key) ? 'client' : 'neither';
}

const pub = (k: Uint8Array, prefix: string) => toBech32PubKey(k, prefix);

/** What each verifier will do with a claim that `signer` makes in `form` (a valid signature assumed). */
export function predictClaim(parties: ContractParties, signer: Uint8Array, form: HeaderForm, profile: ClaimProfile = 'compat'): { sentinel: Verdict; chain: Verdict } {
  const spender = parties.delegate ?? parties.client;
  const sentinelKey = form === '4-part' ? signer : parties.client;
  const sentinel: Verdict =
    profile === 'chain-id'
      ? { accepted: false, reason: '401: the sentinel never accepts a preimage with the chain id (profile chain-id)' }
      : equalBytes(sentinelKey, signer)
        ? { accepted: true, branch: form === '4-part' ? 'the key in the 4-part header (not compared with the contract)' : 'contract.Client' }
        : { accepted: false, reason: `401 invalid signature for client: a 3-part header is checked against contract.Client, and this key is the ${roleOf(parties, signer) === 'delegate' ? 'delegate' : 'not the client'}` };
  const chain: Verdict = equalBytes(spender, signer)
    ? { accepted: true, branch: parties.delegate ? 'contract.GetSpender() = the delegate' : 'contract.GetSpender() = the client' }
    : { accepted: false, reason: `signature mismatch: the chain checks contract.GetSpender(), the ${parties.delegate ? 'delegate' : 'client'}, and this key is ${roleOf(parties, signer) === 'neither' ? 'neither party' : `the ${roleOf(parties, signer)}`}` };
  return { sentinel, chain };
}

export type FormDecision =
  | { ok: true; form: HeaderForm; role: Role; warning?: string }
  | { ok: false; code: 'WRONG_KEY' | 'WRONG_FORM'; reason: string };

/**
 * The header form a key must use on a contract with registered parties, or why it may not sign there at all.
 * `requested` is the caller's explicit choice (undefined: choose). Refused: any claim the chain would not settle
 * or the sentinel would not serve, for these parties, because a nonce spent on it buys nothing (a sentinel
 * 401) or is served and never paid for (the provider cannot settle it). Warned: profile chain-id, which the
 * caller chose knowing the sentinel rejects it.
 */
export function decideForm(parties: ContractParties, signer: Uint8Array, requested: HeaderForm | undefined, profile: ClaimProfile, contractId: bigint, prefix: string = PREFIXES.accountPub): FormDecision {
  const role = roleOf(parties, signer);
  const who = `contract ${contractId}`;
  if (role === 'neither') {
    const named = parties.delegate ? `client ${pub(parties.client, prefix)} or delegate ${pub(parties.delegate, prefix)}` : `client ${pub(parties.client, prefix)}`;
    return { ok: false, code: 'WRONG_KEY', reason: `${who}: this key (${pub(signer, prefix)}) is not a party of the contract (${named}); the chain settles only the ${parties.delegate ? 'delegate' : 'client'}'s claims, so nothing was signed (sign with that key, or register the contract's parties again if they changed)` };
  }
  if (role === 'client' && parties.delegate) {
    return { ok: false, code: 'WRONG_KEY', reason: `${who}: names the delegate ${pub(parties.delegate, prefix)}; the chain settles only its claims, not the client's, so nothing was signed (sign with the delegate key)` };
  }
  const form: HeaderForm = requested ?? (role === 'delegate' ? '4-part' : '3-part');
  const p = predictClaim(parties, signer, form, 'compat');
  if (!p.sentinel.accepted) {
    return { ok: false, code: 'WRONG_FORM', reason: `${who}: a ${form} header from the ${role} would be accepted by the chain and rejected by the sentinel (${p.sentinel.reason}); nothing was signed (use the 4-part form: drop --form 3-part / "delegate": false)` };
  }
  const warning = profile === 'chain-id' ? `${who}: profile chain-id: the chain will accept this claim and the sentinel will reject it (401); use the default compat profile to be served` : undefined;
  return { ok: true, form, role, ...(warning ? { warning } : {}) };
}

/** Who may sign `arkcontract` for these parties: only the client (the sentinel answers 400 to anyone else). */
export function arkContractRefusal(parties: ContractParties, signer: Uint8Array, contractId: bigint, prefix: string = PREFIXES.accountPub): string | undefined {
  const role = roleOf(parties, signer);
  if (role === 'client') return undefined;
  return `contract ${contractId}: arkcontract must be signed by the contract's client ${pub(parties.client, prefix)}; this key is ${role === 'delegate' ? 'its delegate, which can sign claims and nothing else' : 'not a party of the contract'}, and the sentinel would answer 400 bad contract auth: invalid signature; nothing was signed`;
}

export interface Explanation {
  verdicts: Record<string, Verdict>;
  /** What a reader must know beyond the two verdicts: where they disagree, and why. */
  findings: string[];
}

/**
 * Each verifier's verdict on an `arkauth` value for the contract's parties, plus findings where they disagree.
 * The sentinel is given contract.Client; the chain contract.GetSpender().
 */
export function explainArkAuth(value: string, parties: ContractParties, chainId: string, prefix: string = PREFIXES.accountPub): Explanation {
  const sentinel = sentinelV1017(value, { client: parties.client, pubPrefix: prefix });
  const parsed = sentinelParseArkAuth(value, prefix);
  // The chain sees what a provider submits: the contract id, nonce and signature from the header.
  const chain: Verdict =
    typeof parsed === 'string'
      ? { accepted: false, reason: `a provider cannot build a claim from this header: ${parsed}` }
      : chainV1017(parsed.contractId, parsed.nonce, parsed.signature, { spender: parties.delegate ?? parties.client, chainId });
  const findings: string[] = [];
  if (typeof parsed !== 'string') {
    const headerKey = parsed.spender;
    const headerRole = headerKey ? roleOf(parties, headerKey) : undefined;
    if (sentinel.accepted && !chain.accepted) {
      findings.push(
        headerRole === 'neither'
          ? `the sentinel accepts this, the chain will not settle it: the 4-part header names ${pub(headerKey!, prefix)}, which is neither the contract's client nor its delegate; sentinel v1.0.17 never compares that key with the contract (upstream flaw, arkeo-claims.md §5 I-6)`
          : `the sentinel accepts this, the chain will not settle it: the provider serves the request and cannot be paid for it`,
      );
    }
    if (!sentinel.accepted && chain.accepted) {
      findings.push(
        !headerKey && parties.delegate
          ? 'the chain would settle this, but the sentinel rejects it (401): a 3-part header is checked against the contract\'s client, and the chain settles the delegate\'s claims; the delegate must use the 4-part form <cid>:<its arkeopub>:<nonce>:<sig>'
          : 'the chain would settle this, but the sentinel rejects it: the request is not served',
      );
    }
    if (headerRole === 'client' && parties.delegate) findings.push('the contract names a delegate: claims signed by the client are never settled');
  }
  return { verdicts: { 'sentinel-v1.0.17': sentinel, 'chain-v1.0.17': chain }, findings };
}

/** The sentinel's verdict on an `arkcontract` value for the contract's parties; a delegate's signature is named. */
export function explainArkContract(value: string, parties: ContractParties, lastTimestamp: bigint): Explanation {
  const sentinel = sentinelArkContractV1017(value, { client: parties.client, lastTimestamp });
  const findings: string[] = [];
  if (!sentinel.accepted && parties.delegate && sentinelArkContractV1017(value, { client: parties.delegate, lastTimestamp }).accepted) {
    findings.push('signed by the contract\'s delegate: only the client manages the contract (arkeo-claims.md §5 I-10); the sentinel answers 400');
  }
  return { verdicts: { 'sentinel-v1.0.17': sentinel }, findings };
}
