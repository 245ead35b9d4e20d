import { privateKeyToSigner, type Signer } from '../../src/signers/index.js';
import { sha256, utf8 } from '../../src/crypto/index.js';

/** A real local signer that counts how many signatures it released: failure tests assert it stays at 0. */
export function countingSigner(): Signer & { signed: number } {
  const inner = privateKeyToSigner(sha256(utf8('arkeo-signer counting signer')));
  const s = {
    kind: 'counting',
    signed: 0,
    publicKey: () => inner.publicKey(),
    sign: async (m: Uint8Array) => {
      s.signed++;
      return inner.sign(m);
    },
  };
  return s;
}
