import { keccak_256 } from '@noble/hashes/sha3.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { concatBytes, highSTwin, sha256, signMessage, toHex, utf8 } from '../../src/crypto/index.js';
import { claimPreimage } from '../../src/claims/index.js';

/**
 * Every claim form of arkeo-claims.md §3.1, each with what the spec says each verifier does. Both profiles we
 * emit (compat, chain-id) are in it; so are forms we never emit, because the emulations must match Go on all.
 */
export interface ClaimForm {
  name: string;
  signature: string;
  chain: boolean;
  sentinel: boolean;
}

export function claimForms(priv: Uint8Array, cid: bigint, nonce: bigint, chainId: string): ClaimForm[] {
  const pre0 = utf8(claimPreimage(cid, nonce, 'compat'));
  const preC = utf8(claimPreimage(cid, nonce, 'chain-id', chainId));
  const eip191 = concatBytes(utf8(`\x19Ethereum Signed Message:\n${pre0.length}`), pre0);
  const f = (name: string, sig: Uint8Array, chain: boolean, sentinel: boolean): ClaimForm => ({ name, signature: toHex(sig), chain, sentinel });
  return [
    f('profile compat: Sign("cid:nonce:")', signMessage(priv, pre0), true, true),
    f('profile chain-id: Sign("cid:nonce:chain")', signMessage(priv, preC), true, false),
    f('Sign(sha256("cid:nonce:"))', signMessage(priv, sha256(pre0)), true, true),
    f('Sign(sha256("cid:nonce:chain"))', signMessage(priv, sha256(preC)), true, false),
    f('Sign(keccak("cid:nonce:"))', signMessage(priv, keccak_256(pre0)), false, true),
    f('Sign(keccak(EIP-191 "cid:nonce:"))', signMessage(priv, keccak_256(eip191)), false, true),
    f('raw keccak ECDSA (Ethereum wallet)', secp256k1.sign(keccak_256(eip191), priv, { prehash: false }), false, false),
    f('Sign("cid:nonce") (pre-2025 format)', signMessage(priv, utf8(`${cid}:${nonce}`)), false, false),
    f('high-S twin of profile compat', highSTwin(signMessage(priv, pre0)), true, false),
    f('high-S twin of profile chain-id', highSTwin(signMessage(priv, preC)), true, false),
  ];
}
