import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { concatBytes, highSTwin, parseHex, sha256, signMessage, toHex, utf8 } from '../../src/crypto/index.js';
import { chainV1017, sentinelArkContractV1017, sentinelV1017, type Verdict } from '../../src/claims/index.js';
import { readVector, requireVectors, type ClaimVectors } from '../helpers.js';

const hex = (s: string) => parseHex(s, 'vector');
const CHAIN = 'arkeo-main-v1';

test('acceptance matrix of arkeo-claims.md §3.1: each form against each verifier', { timeout: 60_000 }, (t) => {
  if (!requireVectors(t)) return;
  const dog = readVector<ClaimVectors>('arkeo-claims.json').keys.dog!;
  const priv = hex(dog.priv);
  const pub = hex(dog.pub);
  const pre0 = utf8('1:1:');
  const preC = utf8(`1:1:${CHAIN}`);
  const eip191 = concatBytes(utf8(`\x19Ethereum Signed Message:\n${pre0.length}`), pre0);
  const rawKeccak = secp256k1.sign(keccak_256(eip191), priv, { prehash: false }); // what an Ethereum wallet makes
  const forms: [string, Uint8Array, boolean, boolean][] = [
    // name, signature, chain accepts, sentinel accepts
    ['Sign("cid:nonce:")', signMessage(priv, pre0), true, true],
    ['Sign(sha256("cid:nonce:"))', signMessage(priv, sha256(pre0)), true, true],
    ['Sign("cid:nonce:chain")', signMessage(priv, preC), true, false],
    ['Sign(sha256("cid:nonce:chain"))', signMessage(priv, sha256(preC)), true, false],
    ['Sign(keccak("cid:nonce:"))', signMessage(priv, keccak_256(pre0)), false, true],
    ['Sign(keccak(EIP191||"cid:nonce:"))', signMessage(priv, keccak_256(eip191)), false, true],
    ['raw-keccak ECDSA (eth style)', rawKeccak, false, false],
    ['Sign("cid:nonce") [old format]', signMessage(priv, utf8('1:1')), false, false],
    ['high-S form of Sign("cid:nonce:")', highSTwin(signMessage(priv, pre0)), true, false],
  ];
  for (const [name, sig, chainOk, sentinelOk] of forms) {
    const chain: Verdict = chainV1017(1n, 1n, sig, { spender: pub, chainId: CHAIN });
    const sentinel: Verdict = sentinelV1017(`1:1:${toHex(sig)}`, { client: pub });
    assert.equal(chain.accepted, chainOk, `chain: ${name}: ${JSON.stringify(chain)}`);
    assert.equal(sentinel.accepted, sentinelOk, `sentinel: ${name}: ${JSON.stringify(sentinel)}`);
  }
});

test('negative rules: high-S twins (sentinel rejects, chain accepts) and chain-id preimages at the sentinel', { timeout: 60_000 }, (t) => {
  if (!requireVectors(t)) return;
  const v = readVector<ClaimVectors>('arkeo-claims.json');
  for (const s of v.signatures) {
    const m = /^(\d+):(\d+):(.*)$/.exec(s.message);
    if (!m) continue; // the old "1:1" format is neither verifier's
    const [, cid, nonce, chainId] = m as unknown as [string, string, string, string];
    const pub = hex(v.keys[s.key]!.pub);
    const twin = toHex(highSTwin(hex(s.signature)));
    const chainCtx = { spender: pub, chainId: chainId || CHAIN };
    assert.ok(chainV1017(BigInt(cid), BigInt(nonce), hex(s.signature), chainCtx).accepted, `chain accepts ${s.message}`);
    assert.ok(chainV1017(BigInt(cid), BigInt(nonce), hex(twin), chainCtx).accepted, `chain accepts the high-S twin of ${s.message}`);
    assert.equal(sentinelV1017(`${cid}:${nonce}:${twin}`, { client: pub }).accepted, false, `sentinel rejects the high-S twin of ${s.message}`);
    assert.equal(sentinelV1017(`${cid}:${nonce}:${s.signature}`, { client: pub }).accepted, chainId === '', `sentinel: ${s.message}`);
  }
  const dog = v.keys.dog!;
  const header4 = v.headers.find((h) => h.kind === 'arkauth-4')!.value;
  // 4-part: the sentinel uses the header's pubkey and ignores contract.Client (I-6).
  assert.ok(sentinelV1017(header4, { client: hex(v.keys.cat!.pub) }).accepted);
  const doubleColon = v.headers.find((h) => h.kind === 'rejected-double-colon')!.value;
  const r = sentinelV1017(doubleColon, { client: hex(dog.pub) });
  assert.equal(r.accepted, false);
  assert.match((r as { reason: string }).reason, /bech32/);
  // The Go parser is lenient where ours is strict: "+1" and upper-case hex pass the sentinel.
  const sig = v.signatures[0]!.signature;
  assert.ok(sentinelV1017(`1:+1:${sig.toUpperCase()}`, { client: hex(dog.pub) }).accepted);
  assert.ok(!sentinelV1017(`1:0:${sig}`, { client: hex(dog.pub) }).accepted);
  const ac = v.headers.find((h) => h.kind === 'arkcontract')!.value;
  assert.ok(sentinelArkContractV1017(ac, { client: hex(dog.pub) }).accepted);
  assert.match((sentinelArkContractV1017(ac, { client: hex(dog.pub), lastTimestamp: 1700000000n }) as { reason: string }).reason, /timestamp must be larger than 1700000000/);
  assert.equal(sentinelArkContractV1017(ac, { client: hex(v.keys.cat!.pub) }).accepted, false);
});
