import { PubKey } from 'cosmjs-types/cosmos/crypto/secp256k1/keys';
import type { Coin } from 'cosmjs-types/cosmos/base/v1beta1/coin';
import { SignMode } from 'cosmjs-types/cosmos/tx/signing/v1beta1/signing';
import { AuthInfo, SignDoc, TxBody, TxRaw } from 'cosmjs-types/cosmos/tx/v1beta1/tx';
import { toHex } from '../crypto/bytes.js';
import { sha256 } from '../crypto/secp256k1.js';
import type { Signer } from '../signers/index.js';

/**
 * A Cosmos SDK v0.50 transaction, signed in SIGN_MODE_DIRECT: the SignDoc (body, auth info, chain id, account
 * number) is what the key signs, through the one Signer interface, so every backend signs transactions unchanged.
 */
export interface EncodedMessage {
  typeUrl: string;
  value: Uint8Array;
}

export interface TxIntent {
  messages: EncodedMessage[];
  memo?: string;
  timeoutHeight?: bigint;
  fee: { amount: Coin[]; gasLimit: bigint };
}

/** Who signs, and where the chain has their account. */
export interface TxAccount {
  publicKey: Uint8Array;
  accountNumber: bigint;
  sequence: bigint;
  chainId: string;
}

export interface SignDocBytes {
  bodyBytes: Uint8Array;
  authInfoBytes: Uint8Array;
  /** What the key signs (its SHA-256, as every Cosmos secp256k1 signature). */
  signDoc: Uint8Array;
}

export function signDocOf(intent: TxIntent, account: TxAccount): SignDocBytes {
  const bodyBytes = TxBody.encode(
    TxBody.fromPartial({ messages: intent.messages, memo: intent.memo ?? '', timeoutHeight: intent.timeoutHeight ?? 0n }),
  ).finish();
  const authInfoBytes = AuthInfo.encode(
    AuthInfo.fromPartial({
      signerInfos: [
        {
          publicKey: { typeUrl: '/cosmos.crypto.secp256k1.PubKey', value: PubKey.encode({ key: account.publicKey }).finish() },
          modeInfo: { single: { mode: SignMode.SIGN_MODE_DIRECT } },
          sequence: account.sequence,
        },
      ],
      fee: { amount: intent.fee.amount, gasLimit: intent.fee.gasLimit },
    }),
  ).finish();
  const signDoc = SignDoc.encode({ bodyBytes, authInfoBytes, chainId: account.chainId, accountNumber: account.accountNumber }).finish();
  return { bodyBytes, authInfoBytes, signDoc };
}

export interface SignedTx extends SignDocBytes {
  signature: Uint8Array;
  /** TxRaw: what is broadcast. */
  txBytes: Uint8Array;
  /** UPPER_HEX(SHA-256(TxRaw)), as the chain names it. */
  txHash: string;
}

/** Sign the transaction with any backend's key; the signature is the backend's, normalised and checked by it. */
export async function signTx(signer: Signer, intent: TxIntent, account: TxAccount): Promise<SignedTx> {
  const doc = signDocOf(intent, account);
  const signature = await signer.sign(doc.signDoc);
  const txBytes = TxRaw.encode({ bodyBytes: doc.bodyBytes, authInfoBytes: doc.authInfoBytes, signatures: [signature] }).finish();
  return { ...doc, signature, txBytes, txHash: txHashOf(txBytes) };
}

export function txHashOf(txBytes: Uint8Array): string {
  return toHex(sha256(txBytes)).toUpperCase();
}
