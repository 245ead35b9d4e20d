// The Node half of real-chain.sh (plain ESM, not compiled, not part of the package). It reads what the chain holds
// and adds what has to be computed: for each transaction, what its bytes say (fee, signer, messages) and whether
// its signature and hash check out; at the end, the balances the chain's rules predict.
//
//   node real-chain.mjs tx TX_BASE64 CHAIN_ID ACCOUNT_NUMBER TXHASH
//       → JSON: txHash, signer (address, public key), sequence, fee, messages (decoded); exits 1 if TXHASH (the
//         chain's) is not SHA-256(TxRaw) or the signature does not verify over the SignDoc (SHA-256, low-S).
//   node real-chain.mjs signer TX_BASE64
//       → the address of the transaction's (one) signer, from the public key in its auth info.
//   node real-chain.mjs bech32-pub PUBKEY_PROTO_JSON
//       → arkeopub1… of a public key as `keys show -p` prints it ({"@type": …, "key": base64}).
//   node real-chain.mjs messages TX_BASE64
//       → JSON: the transaction's messages, decoded (no check: for listing what a chain search found).
//   node real-chain.mjs sign-claim PREIMAGE   (the private key, hex, on stdin)
//       → the 64-byte signature (hex) over SHA-256(PREIMAGE), low-S: how the forged claim is made, with a key that
//         is not the contract's spender.
//   node real-chain.mjs expect DRAFT_JSON
//       → the transcript with `expectation` added (stdout); exits 3 when a balance is not what the rules give.
//
// The rules (arkeo-transactions.md §2.1, §2.4, §2.5): opening costs the client deposit + OpenContractCost
// (20000000 uarkeo) + fee; a claim pays the provider debt − reserve, debt = rate × nonce − paid (capped at the
// deposit), reserve = debt × 10% rounded half to even; the final settlement refunds deposit − paid to the client.
// Each contract is reckoned on its own; which open made which contract is read from the block's EventOpenContract.
// test/tx/real-chain-transcript.test.ts checks the same arithmetic again from the recorded bytes, with its own code.
import * as fs from 'node:fs';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { AuthInfo, SignDoc, TxBody, TxRaw } from 'cosmjs-types/cosmos/tx/v1beta1/tx';
import { PubKey } from 'cosmjs-types/cosmos/crypto/secp256k1/keys';
import { MESSAGE_CODECS } from '../../dist/src/tx/index.js';
import { parseBech32PubKey, toAddress, toBech32PubKey } from '../../dist/src/crypto/index.js';

const OPEN_CONTRACT_COST = 20000000n;
const RESERVE_TAX_BP = 1000n;

const hex = (b) => Buffer.from(b).toString('hex');
const fail = (why, code = 1) => {
  process.stderr.write(`real-chain: ${why}\n`);
  process.exit(code);
};
// bigint → decimal string, bytes → hex, recursively (for the decoded messages)
const plain = (v) =>
  typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? hex(v) : Array.isArray(v) ? v.map(plain) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)])) : v;

function describe(b64, chainId, accountNumber, chainHash) {
  const bytes = Buffer.from(b64, 'base64');
  const txHash = hex(sha256(bytes)).toUpperCase();
  if (chainHash.toUpperCase() !== txHash) fail(`the chain's txhash ${chainHash} is not SHA-256(TxRaw) ${txHash}`);
  const raw = TxRaw.decode(bytes);
  const body = TxBody.decode(raw.bodyBytes);
  const auth = AuthInfo.decode(raw.authInfoBytes);
  const si = auth.signerInfos[0];
  if (raw.signatures.length !== 1 || auth.signerInfos.length !== 1 || si.publicKey?.typeUrl !== '/cosmos.crypto.secp256k1.PubKey') fail(`${txHash}: expected one secp256k1 signer and one signature`);
  const publicKey = PubKey.decode(si.publicKey.value).key;
  const doc = SignDoc.encode({ bodyBytes: raw.bodyBytes, authInfoBytes: raw.authInfoBytes, chainId, accountNumber: BigInt(accountNumber) }).finish();
  if (!secp256k1.verify(raw.signatures[0], sha256(doc), publicKey, { prehash: false, lowS: true })) fail(`${txHash}: the signature does not verify over the SignDoc (chain ${chainId}, account ${accountNumber})`);
  const messages = body.messages.map((m) => {
    const codec = MESSAGE_CODECS.get(m.typeUrl);
    return { typeUrl: m.typeUrl, ...(codec ? plain(codec.decode(m.value)) : {}) };
  });
  return {
    txHash,
    signer: { address: toAddress(publicKey), publicKey: hex(publicKey) },
    accountNumber: String(accountNumber),
    sequence: si.sequence.toString(),
    fee: { amount: auth.fee?.amount ?? [], gasLimit: (auth.fee?.gasLimit ?? 0n).toString() },
    memo: body.memo,
    messages,
  };
}

/** n / d rounded half to even (LegacyDec.RoundInt), for n, d ≥ 0. */
function roundHalfEven(n, d) {
  const q = n / d;
  const twice = 2n * (n % d);
  return twice > d || (twice === d && q % 2n === 1n) ? q + 1n : q;
}

function uarkeo(coins) {
  return coins.filter((c) => c.denom === 'uarkeo').reduce((s, c) => s + BigInt(c.amount), 0n);
}

/** The contract id an open transaction made, from its block's EventOpenContract (attribute values are JSON). */
function openedContractId(tx) {
  const event = (tx.events ?? []).find((e) => e.type === 'arkeo.arkeo.EventOpenContract');
  const id = event?.attributes.find((a) => a.key === 'contract_id')?.value;
  if (id === undefined) fail(`transaction ${tx.id}: no EventOpenContract with a contract_id`);
  return JSON.parse(id);
}

function expect(draft) {
  const run = draft.transactions.filter((t) => t.phase === 'run');
  const only = (typeUrl) => run.flatMap((t) => t.messages.filter((m) => m.typeUrl === typeUrl));
  const opens = run.filter((t) => t.messages.some((m) => m.typeUrl === '/arkeo.arkeo.MsgOpenContract'));
  const claims = only('/arkeo.arkeo.MsgClaimContractIncome');
  const sends = only('/cosmos.bank.v1beta1.MsgSend');
  if (opens.length === 0 || claims.length === 0) fail('the draft has no open or no claim transaction');
  const fees = {};
  for (const t of run) fees[t.signer.address] = (fees[t.signer.address] ?? 0n) + uarkeo(t.fee.amount);
  const delta = {};
  const add = (addr, v) => (delta[addr] = (delta[addr] ?? 0n) + v);
  for (const [addr, fee] of Object.entries(fees)) add(addr, -fee);
  const contracts = [];
  const settlements = [];
  for (const t of opens) {
    const open = t.messages.find((m) => m.typeUrl === '/arkeo.arkeo.MsgOpenContract');
    const id = openedContractId(t);
    const rate = BigInt(open.rate.amount);
    const deposit = BigInt(open.deposit);
    // Its claims settle in order; each pays rate × its nonce − what was paid before, capped at the deposit.
    let paid = 0n;
    let toProvider = 0n;
    for (const c of claims.filter((c) => String(c.contractId) === id)) {
      let debt = rate * BigInt(c.nonce) - paid;
      if (debt < 0n) debt = 0n;
      if (debt > deposit - paid) debt = deposit - paid;
      const reserve = roundHalfEven(debt * RESERVE_TAX_BP, 10000n);
      paid += debt;
      toProvider += debt - reserve;
      settlements.push({ contractId: c.contractId, nonce: c.nonce, debt: String(debt), reserve: String(reserve), toProvider: String(debt - reserve) });
    }
    const refund = deposit - paid;
    add(open.creator, -(deposit + OPEN_CONTRACT_COST));
    add(toAddress(parseBech32PubKey(open.client)), refund); // the refund goes to the client
    add(toAddress(parseBech32PubKey(open.provider)), toProvider); // the payout goes to the provider's address
    contracts.push({ contractId: id, rate: String(rate), deposit: String(deposit), paid: String(paid), refund: String(refund), toProvider: String(toProvider) });
  }
  const unmatched = claims.filter((c) => !contracts.some((k) => k.contractId === String(c.contractId)));
  if (unmatched.length) fail(`claims for contracts no recorded open made: ${unmatched.map((c) => c.contractId).join(', ')}`);
  for (const s of sends) {
    add(s.fromAddress, -uarkeo(s.amount));
    add(s.toAddress, uarkeo(s.amount));
  }
  const expected = {};
  const matched = {};
  for (const [name, before] of Object.entries(draft.balances.before)) {
    const address = draft.balances.addresses[name];
    // The contracts module: the deposits come in; the payouts, the reserves and the refunds go out.
    const d = name === 'contracts' ? 0n : (delta[address] ?? 0n);
    expected[name] = String(BigInt(before) + d);
    matched[name] = expected[name] === draft.balances.after[name];
  }
  return {
    rules: {
      openContractCost: String(OPEN_CONTRACT_COST),
      reserveTaxBasisPoints: String(RESERVE_TAX_BP),
      client: 'after = before − Σ (deposit + openContractCost) − its fees − what it sent + Σ (deposit − paid), the refunds at the final settlements',
      provider: 'after = before + Σ (debt − reserve) − its fees; debt = rate × nonce − paid before (capped at the deposit), reserve = round_half_even(debt × 1000 / 10000)',
      delegate: 'after = before + what it was sent',
      settler: 'after = before + what it was sent − the fees of the transactions it signed',
      contracts: 'after = before: the deposits came in, and the payouts, the reserves and the refunds went out',
    },
    inputs: { contracts, settlements, fees: Object.fromEntries(Object.entries(fees).map(([a, f]) => [a, String(f)])), sent: sends.map((s) => ({ from: s.fromAddress, to: s.toAddress, uarkeo: String(uarkeo(s.amount)) })) },
    expected,
    matched,
    allMatched: Object.values(matched).every(Boolean),
  };
}

function messagesOf(b64) {
  const body = TxBody.decode(TxRaw.decode(Buffer.from(b64, 'base64')).bodyBytes);
  return body.messages.map((m) => {
    const codec = MESSAGE_CODECS.get(m.typeUrl);
    return { typeUrl: m.typeUrl, ...(codec ? plain(codec.decode(m.value)) : {}) };
  });
}

const [command, ...args] = process.argv.slice(2);
if (command === 'tx') {
  const [b64, chainId, accountNumber, chainHash] = args;
  if (!b64 || !chainId || accountNumber === undefined || !chainHash) fail('tx TX_BASE64 CHAIN_ID ACCOUNT_NUMBER TXHASH');
  process.stdout.write(JSON.stringify(describe(b64, chainId, accountNumber, chainHash)) + '\n');
} else if (command === 'signer') {
  const auth = AuthInfo.decode(TxRaw.decode(Buffer.from(args[0] ?? '', 'base64')).authInfoBytes);
  const pk = auth.signerInfos[0]?.publicKey;
  if (!pk) fail('signer: the transaction names no signer public key');
  process.stdout.write(toAddress(PubKey.decode(pk.value).key) + '\n');
} else if (command === 'bech32-pub') {
  process.stdout.write(toBech32PubKey(Buffer.from(JSON.parse(args[0] ?? '{}').key ?? '', 'base64')) + '\n');
} else if (command === 'messages') {
  process.stdout.write(JSON.stringify(messagesOf(args[0] ?? '')) + '\n');
} else if (command === 'sign-claim') {
  if (!args[0]) fail('sign-claim PREIMAGE (the private key, hex, on stdin)');
  const priv = Buffer.from(fs.readFileSync(0, 'utf8').trim(), 'hex');
  if (priv.length !== 32) fail('sign-claim: stdin does not hold a 32-byte private key in hex');
  process.stdout.write(hex(secp256k1.sign(sha256(new TextEncoder().encode(args[0])), priv, { prehash: false, lowS: true })) + '\n');
} else if (command === 'expect') {
  if (!args[0]) fail('expect DRAFT_JSON');
  const draft = JSON.parse(fs.readFileSync(args[0], 'utf8'));
  const expectation = expect(draft);
  process.stdout.write(JSON.stringify({ ...draft, expectation }, null, 1) + '\n');
  if (!expectation.allMatched) fail(`balances differ from the rules: ${JSON.stringify({ expected: expectation.expected, after: draft.balances.after })}`, 3);
} else {
  fail(`unknown command ${command ?? '(none)'}; see the top of this file`);
}
