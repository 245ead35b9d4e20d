export {
  ContractType,
  ContractAuthorization,
  MsgOpenContractCodec,
  MsgCloseContractCodec,
  MsgClaimContractIncomeCodec,
  MsgSendCodec,
  MESSAGE_CODECS,
  type MsgOpenContract,
  type MsgCloseContract,
  type MsgClaimContractIncome,
  type MessageCodec,
} from './messages.js';
export { signDocOf, signTx, txHashOf, type TxIntent, type TxAccount, type SignDocBytes, type SignedTx, type EncodedMessage } from './sign.js';
export { ChainClient, ChainError, eventAttributes, findEvent, type ChainProvider, type ChainAccount, type ChainEvent, type IncludedTx, type BroadcastResult } from './chain.js';
export { parseCoin, parseCoins, parseGasPrice, parseFeeChoice, feeFromGasPrice, formatCoins, adjustedGas, DEFAULT_DENOM, DEFAULT_GAS_PRICE, DEFAULT_GAS_ADJUSTMENT, type FeeChoice, type GasPrice } from './fees.js';
export { TxJournal, intentDigest, type Journal, type JournalEntry, type JournalState } from './journal.js';
export { TxSender, signOffline, type SendRequest, type TxOutcome, type TxSenderOptions, type OfflineAccount } from './sender.js';
