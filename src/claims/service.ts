import { toAddress, PREFIXES } from '../crypto/address.js';
import { toHex, utf8 } from '../crypto/bytes.js';
import { ArkeoSignerError } from '../errors.js';
import type { Signer } from '../signers/index.js';
import { NonceAllocator } from '../nonces/allocator.js';
import { NonceStoreError, maxNonceFor, type ContractTerms, type NonceStore } from '../nonces/store.js';
import { spendBudget, tighter, type VelocityLimits } from '../nonces/velocity.js';
import { arkcontractPreimage, claimPreimage, formatArkAuth, formatArkContract, type ClaimProfile } from './wire.js';
import { arkContractRefusal, decideForm, partiesOf, type HeaderForm, type Role } from './parties.js';

export class ClaimPolicyError extends ArkeoSignerError {}

export interface ClaimSignerOptions {
  profile?: ClaimProfile;
  /** Needed for profile chain-id (e.g. arkeo-main-v1). */
  chainId?: string;
  /** Refuse contracts with no registered terms instead of signing without a ceiling. */
  requireTerms?: boolean;
  /** Bech32 prefix for the delegate form (tarkeopub on testnet binaries). */
  pubPrefix?: string;
  /**
   * Spend velocity limits that tighten every contract's own (the proxy's per-upstream keys): counted in the
   * contract's window, with every claim made under a limit of that contract.
   */
  contractVelocity?: VelocityLimits;
}

/** A nonce durably reserved for a claim, and the claim's preimage, not yet signed. */
export interface ReservedClaim {
  contractId: bigint;
  nonce: bigint;
  preimage: string;
  /** The header form the claim will take: chosen from the contract's registered parties, else as requested. */
  form: HeaderForm;
  /** The signer's part in the contract; undefined when its parties are not registered. */
  role?: Role;
  /** Said before signing: the header will be accepted by one verifier and rejected by the other. */
  warnings: string[];
  /** What the claim adds to the contract's spend (its rate, in uarkeo); undefined when the terms are unknown. */
  cost?: bigint;
}

export interface ClaimRequest {
  /**
   * The header form asked for: true = 4-part, false = 3-part, undefined = choose. With registered parties a
   * form that one verifier would reject is refused; without them, undefined means 3-part (as before parties).
   */
  delegate?: boolean;
  /** A per-caller ceiling (e.g. a daemon token's) under the contract's own limit. */
  maxSpend?: bigint;
  /** Sign only on contracts whose registered delegate is this key (a delegate-only daemon key or token). */
  delegateOnly?: boolean;
  /** A daemon token's spend velocity limits: its own window on each contract, beside the contract's. */
  tokenVelocity?: { name: string } & VelocityLimits;
}

export interface SignedClaim extends ReservedClaim {
  signature: Uint8Array;
  /** The `arkauth` value. */
  arkauth: string;
  signer: string;
}

export interface CheckedArkContract {
  contractId: bigint;
  timestamp: bigint;
  preimage: string;
}

export interface SignedArkContract extends CheckedArkContract {
  signature: Uint8Array;
  arkcontract: string;
}

function spendText(terms: ContractTerms): string {
  return terms.maxSpend !== undefined && terms.maxSpend < terms.deposit ? `max spend ${terms.maxSpend}` : `deposit ${terms.deposit}`;
}

/**
 * Signs claims for one key: reserve the next nonce durably (within the contract's spend ceiling), then sign the
 * preimage, then format the header. If the reservation fails nothing is signed; if signing fails the nonce stays
 * used (skipped), never reused.
 */
export class ClaimSigner {
  private constructor(
    private readonly signer: Signer,
    readonly address: string,
    private readonly publicKey: Uint8Array,
    private readonly store: NonceStore,
    private readonly allocator: NonceAllocator,
    private readonly options: ClaimSignerOptions,
  ) {}

  static async create(signer: Signer, store: NonceStore, options: ClaimSignerOptions & { blockSize?: number } = {}): Promise<ClaimSigner> {
    const pub = await signer.publicKey();
    return new ClaimSigner(signer, toAddress(pub), pub, store, new NonceAllocator(store, options.blockSize ?? 1), options);
  }

  private async termsFor(contractId: bigint): Promise<ContractTerms | undefined> {
    const terms = await this.store.getContract(contractId);
    if (!terms && this.options.requireTerms) {
      throw new ClaimPolicyError('CONTRACT_UNKNOWN', `contract ${contractId}: no registered rate and deposit (claim contract add --id ${contractId} …); nothing was signed`);
    }
    return terms;
  }

  /**
   * `maxSpend` (a per-caller ceiling, e.g. a daemon token's) tightens the contract's own limit; it needs the
   * contract's registered rate, so an unregistered contract is refused when it is given.
   */
  async signClaim(contractId: bigint, options: ClaimRequest = {}): Promise<SignedClaim> {
    return this.signReserved(await this.reserveClaim(contractId, options));
  }

  /**
   * The first half of signClaim: the next nonce, durable, and the preimage to sign; nothing is signed yet. A
   * server uses the pause to start work that needs only the preimage (its audit entry) while signing runs.
   */
  async reserveClaim(contractId: bigint, options: ClaimRequest = {}): Promise<ReservedClaim> {
    try {
      return await this.reserveClaimFor(contractId, options);
    } catch (e) {
      // Every refusal and failure says which contract and key it was about (the daemon's audit entry and metric read these).
      throw e instanceof ArkeoSignerError ? e.about({ contract: String(contractId), address: this.address }) : e;
    }
  }

  private async reserveClaimFor(contractId: bigint, options: ClaimRequest): Promise<ReservedClaim> {
    const profile = this.options.profile ?? 'compat';
    // Validate the preimage shape before a nonce is spent on it.
    claimPreimage(contractId, 1n, profile, this.options.chainId);
    let terms = await this.termsFor(contractId);
    // Who may sign and in which form is decided before a nonce is spent: a refused claim consumes nothing.
    const requested: HeaderForm | undefined = options.delegate === undefined ? undefined : options.delegate ? '4-part' : '3-part';
    const parties = partiesOf(terms);
    const prefix = this.options.pubPrefix ?? PREFIXES.accountPub;
    let form: HeaderForm = requested ?? '3-part';
    let role: Role | undefined;
    const warnings: string[] = [];
    if (parties) {
      const d = decideForm(parties, this.publicKey, requested, profile, contractId, prefix);
      if (!d.ok) throw new ClaimPolicyError(d.code, d.reason);
      [form, role] = [d.form, d.role];
      if (d.warning) warnings.push(d.warning);
    }
    if (options.delegateOnly && role !== 'delegate') {
      throw new ClaimPolicyError(
        'DELEGATE_ONLY',
        parties
          ? `contract ${contractId}: this key may sign only for contracts that name it as delegate, and this one ${parties.delegate ? 'names another delegate' : 'names none'}; nothing was signed`
          : `contract ${contractId}: this key may sign only for contracts that name it as delegate, and this contract's parties are not registered (claim contract add --id ${contractId} … --client PUB --delegate PUB, or --lcd URL); nothing was signed`,
      );
    }
    if (options.maxSpend !== undefined) {
      if (!terms) throw new ClaimPolicyError('CONTRACT_UNKNOWN', `contract ${contractId}: a spend ceiling applies but the contract's rate is unknown (register it); nothing was signed`);
      if (terms.maxSpend === undefined || options.maxSpend < terms.maxSpend) terms = { ...terms, maxSpend: options.maxSpend };
    }
    // Spend velocity: checked and recorded by the store in the transaction that reserves the nonce.
    const contractLimits: VelocityLimits = { perHour: tighter(terms?.maxSpendPerHour, this.options.contractVelocity?.perHour), perDay: tighter(terms?.maxSpendPerDay, this.options.contractVelocity?.perDay) };
    const token = options.tokenVelocity;
    if (!terms && [contractLimits.perHour, contractLimits.perDay, token?.perHour, token?.perDay].some((l) => l !== undefined)) {
      throw new ClaimPolicyError('CONTRACT_UNKNOWN', `contract ${contractId}: a spend velocity limit applies but the contract's rate is unknown (register it: claim contract add --id ${contractId} …); nothing was signed`);
    }
    const budget = terms && spendBudget(terms.rate, contractLimits, token);
    let nonce: bigint;
    try {
      nonce = await this.allocator.next(contractId, this.address, terms ? maxNonceFor(terms) : undefined, budget);
    } catch (e) {
      if (e instanceof NonceStoreError && e.code === 'SPEND_LIMIT' && terms) {
        const next = (await this.store.current(contractId, this.address)) + 1n;
        throw new ClaimPolicyError(
          'SPEND_LIMIT',
          `contract ${contractId}: nonce ${next} × rate ${terms.rate} = ${next * terms.rate} exceeds the ${spendText(terms)}; nothing was signed`,
        );
      }
      throw e;
    }
    return { contractId, nonce, preimage: claimPreimage(contractId, nonce, profile, this.options.chainId), form, ...(role ? { role } : {}), warnings, ...(terms ? { cost: terms.rate } : {}) };
  }

  /** The second half of signClaim, in the form reserveClaim decided. If signing fails the nonce stays used (skipped), never reused. */
  async signReserved(r: ReservedClaim): Promise<SignedClaim> {
    const signature = await this.signer.sign(utf8(r.preimage));
    const arkauth = formatArkAuth({ contractId: r.contractId, nonce: r.nonce, signature, spender: r.form === '4-part' ? this.publicKey : undefined }, this.options.pubPrefix ?? PREFIXES.accountPub);
    return { ...r, signature, arkauth, signer: this.address };
  }

  /**
   * `arkcontract` management auth over timestamp T signs "<cid>:<T>:", which is byte for byte the claim for
   * nonce T: a provider holding it can settle it on chain and be paid T × rate, capped at the deposit. So it is
   * refused when T × rate exceeds the contract's limit (or the terms are unknown) unless explicitly allowed.
   */
  async signArkContract(contractId: bigint, timestamp: bigint, options: { allowManagementSpend?: boolean } = {}): Promise<SignedArkContract> {
    return this.signCheckedArkContract(await this.checkArkContract(contractId, timestamp, options));
  }

  /** The policy half of signArkContract: the preimage, once the spend risk is accepted; nothing is signed yet. */
  async checkArkContract(contractId: bigint, timestamp: bigint, options: { allowManagementSpend?: boolean; delegateOnly?: boolean } = {}): Promise<CheckedArkContract> {
    const preimage = arkcontractPreimage(contractId, timestamp);
    if (options.delegateOnly) throw new ClaimPolicyError('DELEGATE_ONLY', `contract ${contractId}: this key is served as a claim delegate, which signs claims and nothing else; arkcontract needs the contract's client key`);
    const parties = partiesOf(await this.store.getContract(contractId));
    const refusal = parties && arkContractRefusal(parties, this.publicKey, contractId, this.options.pubPrefix ?? PREFIXES.accountPub);
    if (refusal) throw new ClaimPolicyError('WRONG_KEY', refusal);
    if (!options.allowManagementSpend) {
      const terms = await this.store.getContract(contractId);
      if (!terms) {
        throw new ClaimPolicyError(
          'MANAGEMENT_SPEND',
          `contract ${contractId}: an arkcontract signature over timestamp ${timestamp} is also a valid claim for nonce ${timestamp}, and this contract's rate is unknown, so what a provider could charge with it is unbounded; register the contract or pass --allow-management-spend to accept the risk`,
        );
      }
      if (timestamp > maxNonceFor(terms)) {
        throw new ClaimPolicyError(
          'MANAGEMENT_SPEND',
          `contract ${contractId}: an arkcontract signature over timestamp ${timestamp} is also a valid claim for nonce ${timestamp}; settled on chain it would cost ${timestamp} × rate ${terms.rate} = ${timestamp * terms.rate}, capped at the deposit ${terms.deposit}, which exceeds the ${spendText(terms)}; pass --allow-management-spend to accept the risk`,
        );
      }
    }
    return { contractId, timestamp, preimage };
  }

  async signCheckedArkContract(c: CheckedArkContract): Promise<SignedArkContract> {
    const signature = await this.signer.sign(utf8(c.preimage));
    return { ...c, signature, arkcontract: formatArkContract({ contractId: c.contractId, timestamp: c.timestamp, signature }) };
  }

  /** Give back the unused part of a held nonce block (see NonceAllocator.close); no claims after this. */
  close(): Promise<void> {
    return this.allocator.close();
  }

  /** JSON shape for CLI and daemon output. */
  static toJson(c: SignedClaim, pubBech32?: string) {
    return {
      contract_id: c.contractId.toString(),
      nonce: c.nonce.toString(),
      preimage: c.preimage,
      signature: toHex(c.signature),
      arkauth: c.arkauth,
      header: `arkauth: ${c.arkauth}`,
      signer: c.signer,
      ...(pubBech32 ? { pubkey: pubBech32 } : {}),
    };
  }
}

