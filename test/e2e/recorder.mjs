// The Node half of record-arkeod.sh (plain ESM, run with this repository's node_modules; not compiled, not part
// of the package). It reads what arkeod produced and adds what can only be computed: the claim signatures that
// our keys make, and for each transaction the SignDoc arkeod signed, rebuilt from the TxRaw arkeod wrote.
//
//   node recorder.mjs claim-sig PRIV_HEX PREIMAGE
//       → hex r‖s: ECDSA over SHA-256(PREIMAGE) (RFC 6979, low-S), as a Cosmos key signs, via @noble/curves.
//   node recorder.mjs describe TX_BASE64 CHAIN_ID ACCOUNT_NUMBER [TXHASH]
//       → JSON: the TxRaw's parts, the recomputed SignDoc, the signature; exits 1 if the signature does not verify
//         over SHA-256(SignDoc) with the public key in the tx, or if TXHASH (the chain's) is not SHA-256(TxRaw).
//
// The SignDoc is written here field by field (1 body_bytes, 2 auth_info_bytes, 3 chain_id, 4 account_number; a 0
// account number is omitted), not with the protobuf library src/tx uses, so that the test which compares src/tx's
// SignDoc with this one compares two independent encodings; arkeod's signature verifying over it is what shows it
// is the SignDoc arkeod signed.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { AuthInfo, TxBody, TxRaw } from 'cosmjs-types/cosmos/tx/v1beta1/tx';
import { PubKey } from 'cosmjs-types/cosmos/crypto/secp256k1/keys';

const hex = (b) => Buffer.from(b).toString('hex');
const fail = (why) => {
  process.stderr.write(`recorder: ${why}\n`);
  process.exit(1);
};

function varint(n) {
  let v = BigInt(n);
  const out = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}
const lengthDelimited = (field, bytes) => (bytes.length ? [(field << 3) | 2, ...varint(bytes.length), ...bytes] : []);

function signDocOf(bodyBytes, authInfoBytes, chainId, accountNumber) {
  const n = BigInt(accountNumber);
  return Uint8Array.from([
    ...lengthDelimited(1, bodyBytes),
    ...lengthDelimited(2, authInfoBytes),
    ...lengthDelimited(3, new TextEncoder().encode(chainId)),
    ...(n === 0n ? [] : [4 << 3, ...varint(n)]),
  ]);
}

const [command, ...args] = process.argv.slice(2);
if (command === 'claim-sig') {
  const [priv, preimage] = args;
  if (!priv || preimage === undefined) fail('claim-sig PRIV_HEX PREIMAGE');
  const digest = sha256(new TextEncoder().encode(preimage));
  process.stdout.write(hex(secp256k1.sign(digest, Buffer.from(priv, 'hex'), { prehash: false, lowS: true })) + '\n');
} else if (command === 'describe') {
  const [b64, chainId, accountNumber, chainHash] = args;
  if (!b64 || !chainId || accountNumber === undefined) fail('describe TX_BASE64 CHAIN_ID ACCOUNT_NUMBER [TXHASH]');
  const txBytes = Buffer.from(b64, 'base64');
  const raw = TxRaw.decode(txBytes);
  if (raw.signatures.length !== 1) fail(`expected one signature, found ${raw.signatures.length}`);
  const body = TxBody.decode(raw.bodyBytes);
  const auth = AuthInfo.decode(raw.authInfoBytes);
  const si = auth.signerInfos[0];
  if (auth.signerInfos.length !== 1 || si.publicKey?.typeUrl !== '/cosmos.crypto.secp256k1.PubKey') fail('expected one secp256k1 signer');
  const publicKey = PubKey.decode(si.publicKey.value).key;
  const signDoc = signDocOf(raw.bodyBytes, raw.authInfoBytes, chainId, accountNumber);
  const signature = raw.signatures[0];
  const verifies = secp256k1.verify(signature, sha256(signDoc), publicKey, { prehash: false, lowS: true });
  if (!verifies) fail(`arkeod's signature does not verify over the recomputed SignDoc (chain ${chainId}, account ${accountNumber})`);
  const txHash = hex(sha256(txBytes)).toUpperCase();
  if (chainHash && chainHash.toUpperCase() !== txHash) fail(`the chain's txhash ${chainHash} is not SHA-256(TxRaw) ${txHash}`);
  process.stdout.write(
    JSON.stringify({
      txRawBase64: txBytes.toString('base64'),
      txHash,
      bodyBytesHex: hex(raw.bodyBytes),
      authInfoBytesHex: hex(raw.authInfoBytes),
      signDocHex: hex(signDoc),
      signature: hex(signature),
      // Read back from the bytes, so the script can check them against what it asked arkeod for.
      decoded: {
        messageTypeUrls: body.messages.map((m) => m.typeUrl),
        memo: body.memo,
        timeoutHeight: body.timeoutHeight.toString(),
        publicKey: hex(publicKey),
        signMode: si.modeInfo?.single?.mode,
        sequence: si.sequence.toString(),
        fee: { amount: auth.fee?.amount ?? [], gasLimit: (auth.fee?.gasLimit ?? 0n).toString() },
      },
    }) + '\n',
  );
} else {
  fail(`unknown command ${command ?? '(none)'}; see the top of this file`);
}
