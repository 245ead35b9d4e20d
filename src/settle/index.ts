export { Settler, parseProvider, type SettlerOptions, type CycleReport, type SettlerHealth, ANTE_GAS, CLAIM_GAS } from './settler.js';
export { SentinelClient, MAX_CLAIMS_REPLY } from './sentinel.js';
export { judge, reserveOf, roundHalfEven, settlementEnd, deadlines, REFUSALS, type Refusal, type Judgement, type JudgeContext, type Worth } from './judge.js';
export { openSettleStore, lockKey, type SettleStore, type StoredClaim, type StoredTx, type ClaimState, type ClaimKey, type SeenClaim } from './store.js';
export { createSettleMetrics, type SettleMetrics } from './metrics.js';
export { startSettleServer, parseListen, type SettleServer } from './server.js';
export { loadSettleConfig, CONFIG_KEYS, type SettleConfig } from './config.js';
export { claimsInTx, feeOfTx, type ClaimInTx } from './txclaims.js';
export { SettleError } from './errors.js';
