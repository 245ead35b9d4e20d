import type { Coin } from 'cosmjs-types/cosmos/base/v1beta1/coin';
import { AuthInfo, TxBody, TxRaw } from 'cosmjs-types/cosmos/tx/v1beta1/tx';
import { toHex } from '../crypto/bytes.js';
import { MsgClaimContractIncomeCodec } from '../tx/index.js';

/**
 * The claims a signed transaction carries, read back from its bytes (the journal keeps the TxRaw): which claim a
 * journal entry sends is never a separate record that a crash could leave behind, and a refusal's
 * "message index: N" names its claim by position.
 */
export interface ClaimInTx {
  /** The message's position in the body: what the chain's "message index: N" counts. */
  index: number;
  contractId: bigint;
  nonce: bigint;
  /** Lower-case hex, as the settler's store keys it. */
  signature: string;
}

function raw(txBase64: string): TxRaw {
  return TxRaw.decode(new Uint8Array(Buffer.from(txBase64, 'base64')));
}

export function claimsInTx(txBase64: string): ClaimInTx[] {
  const body = TxBody.decode(raw(txBase64).bodyBytes);
  const out: ClaimInTx[] = [];
  body.messages.forEach((any, index) => {
    if (any.typeUrl !== MsgClaimContractIncomeCodec.typeUrl) return;
    const m = MsgClaimContractIncomeCodec.decode(any.value);
    out.push({ index, contractId: m.contractId, nonce: m.nonce, signature: toHex(m.signature) });
  });
  return out;
}

/** The fee the transaction pays (charged whether its messages succeed or not, once it is in a block). */
export function feeOfTx(txBase64: string): Coin[] {
  return AuthInfo.decode(raw(txBase64).authInfoBytes).fee?.amount ?? [];
}
