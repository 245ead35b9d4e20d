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
export { ClaimSigner, ClaimPolicyError, type SignedClaim, type ReservedClaim, type SignedArkContract, type CheckedArkContract, type ClaimSignerOptions } from './service.js';
export { fetchSentinelNonce, fetchChainContract, RemoteError, type ChainContract } from './remote.js';
