import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MsgClaimContractIncomeCodec, MsgOpenContractCodec, MsgSendCodec, signDocOf, signTx, type EncodedMessage } from '../../src/tx/index.js';
import { privateKeyToSigner } from '../../src/signers/index.js';
import { parseHex, sha256, toAddress, toBech32PubKey, toHex } from '../../src/crypto/index.js';
import { REPO_ROOT, readVector, type ClaimVectors } from '../helpers.js';

/**
 * Transactions a real arkeod signed and a real chain included (test/vectors-arkeod/transactions.json, with their
 * provenance): each is rebuilt from its fields by src/tx and signed through the Signer interface with the same
 * key, and must come out byte for byte, signature and txhash included.
 */
interface TxVector {
  name: string;
  signer: string;
  accountNumber: string;
  sequence: string;
  message: Record<string, any>;
  signDocLength?: number;
  signDocSha256?: string;
  txHash: string;
  signature: string;
  txRawBase64?: string;
}
const FILE = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'test', 'vectors-arkeod', 'transactions.json'), 'utf8')) as { chainId: string; fee: { denom: string; amount: string; gasLimit: string }; vectors: TxVector[] };
const KEYS = readVector<ClaimVectors>('arkeo-claims.json').keys;

async function keyOf(name: string) {
  const signer = privateKeyToSigner(parseHex(KEYS[name]!.priv, name));
  const pub = await signer.publicKey();
  return { signer, pub, address: toAddress(pub), bech32: toBech32PubKey(pub) };
}

async function messageOf(v: TxVector, creator: string): Promise<EncodedMessage> {
  const m = v.message;
  if (m.type === 'open') {
    return {
      typeUrl: MsgOpenContractCodec.typeUrl,
      value: MsgOpenContractCodec.encode({
        creator,
        provider: (await keyOf(m.provider)).bech32,
        service: m.service,
        client: (await keyOf(m.client)).bech32,
        contractType: m.contractType,
        duration: BigInt(m.duration),
        rate: m.rate,
        deposit: m.deposit,
        settlementDuration: BigInt(m.settlementDuration),
        authorization: m.authorization,
        queriesPerMinute: BigInt(m.queriesPerMinute),
      }),
    };
  }
  if (m.type === 'claim') {
    return { typeUrl: MsgClaimContractIncomeCodec.typeUrl, value: MsgClaimContractIncomeCodec.encode({ creator, contractId: BigInt(m.contractId), signature: parseHex(m.claimSignature, 'claim signature', 64), nonce: BigInt(m.nonce) }) };
  }
  return { typeUrl: MsgSendCodec.typeUrl, value: MsgSendCodec.encode({ fromAddress: creator, toAddress: (await keyOf(m.to)).address, amount: [m.amount] }) };
}

for (const v of FILE.vectors) {
  test(`tx: ${v.name} comes out as arkeod made it (signature and txhash)`, async () => {
    const key = await keyOf(v.signer);
    const intent = { messages: [await messageOf(v, key.address)], fee: { amount: [{ denom: FILE.fee.denom, amount: FILE.fee.amount }], gasLimit: BigInt(FILE.fee.gasLimit) } };
    const account = { publicKey: key.pub, accountNumber: BigInt(v.accountNumber), sequence: BigInt(v.sequence), chainId: FILE.chainId };
    const signed = await signTx(key.signer, intent, account);
    assert.equal(toHex(signed.signature), v.signature);
    assert.equal(signed.txHash, v.txHash);
    if (v.txRawBase64) assert.equal(Buffer.from(signed.txBytes).toString('base64'), v.txRawBase64);
    if (v.signDocLength !== undefined) assert.equal(signed.signDoc.length, v.signDocLength);
    if (v.signDocSha256) assert.equal(toHex(sha256(signed.signDoc)), v.signDocSha256);
  });
}

test('tx: the messages decode back to what was encoded; an unknown field is refused (the chain refuses it too)', async () => {
  const cat = await keyOf('cat');
  const open = { creator: cat.address, provider: cat.bech32, service: 'mock', client: cat.bech32, delegate: cat.bech32, contractType: 1, duration: 100n, rate: { denom: 'uarkeo', amount: '10' }, deposit: '1000', settlementDuration: 10n, authorization: 0, queriesPerMinute: 10n };
  assert.deepEqual(MsgOpenContractCodec.decode(MsgOpenContractCodec.encode(open)), open);
  const claim = { creator: cat.address, contractId: 7n, signature: new Uint8Array(64).fill(3), nonce: 9n };
  assert.deepEqual(MsgClaimContractIncomeCodec.decode(MsgClaimContractIncomeCodec.encode(claim)), claim);
  const withField3 = new Uint8Array([...MsgClaimContractIncomeCodec.encode(claim), 0x18, 0x01]);
  assert.throws(() => MsgClaimContractIncomeCodec.decode(withField3), /unknown field 3/);
  const whole = MsgOpenContractCodec.encode(open);
  for (const cut of [whole.subarray(0, whole.length - 3), whole.subarray(0, 1), Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])]) {
    assert.throws(() => MsgOpenContractCodec.decode(cut), /^InputError: \/arkeo\.arkeo\.MsgOpenContract: (truncated or malformed bytes|unknown field)/);
  }
  // Account number 0 omits SignDoc field 4 (as the SDK encodes it; the chain's account 0 signs so): 2 bytes fewer than 1.
  const docFor = (accountNumber: bigint) => signDocOf({ messages: [], fee: { amount: [], gasLimit: 1n } }, { publicKey: cat.pub, accountNumber, sequence: 0n, chainId: 'x' }).signDoc;
  assert.equal(docFor(1n).length - docFor(0n).length, 2);
});
