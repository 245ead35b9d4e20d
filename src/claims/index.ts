export {
  type ClaimProfile,
  CLAIM_PROFILES,
  type ArkAuth,
  type ArkContract,
  claimPreimage,
  arkcontractPreimage,
  formatArkAuth,
  parseArkAuth,
  formatArkContract,
  parseArkContract,
  parseDecimal,
  parseContractId,
  parseNonce,
  checkChainId,
  MAX_HEADER_LENGTH,
  MAX_INT64,
  MAX_UINT64,
} from './wire.js';
export { type Verdict, sentinelV1017, chainV1017, sentinelArkContractV1017, sentinelParseArkAuth } from './verifiers.js';
export { ClaimSigner, ClaimPolicyError, type SignedClaim, type ReservedClaim, type ClaimRequest, type SignedArkContract, type CheckedArkContract, type ClaimSignerOptions } from './service.js';
export { fetchSentinelNonce, fetchSentinelClaim, fetchChainContract, parseChainContract, RemoteError, type ChainContract, type SentinelClaim } from './remote.js';
export { UnprovenNonceError, claimSigner, proveStoredClaim, provenSentinelNonce, type ProvenNonce } from './proof.js';
export { LocalClaimSource, type ClaimSource, type PaidClaim } from './source.js';
export { type ContractParties, type HeaderForm, type Role, type Explanation, partiesOf, roleOf, predictClaim, decideForm, arkContractRefusal, explainArkAuth, explainArkContract } from './parties.js';
export { type DelegateRecord, delegatesFile, readDelegates, recordDelegate, openContractCommand } from './delegates.js';
