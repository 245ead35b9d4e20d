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
