import assert from 'node:assert/strict';
import * as path from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { privateKeyToSigner, type Signer } from '../../src/signers/index.js';
import { parseHex, toAddress, toBech32PubKey } from '../../src/crypto/index.js';
import { ChainClient, ContractAuthorization, ContractType, MsgClaimContractIncomeCodec, MsgOpenContractCodec, TxSender, findEvent, parseFeeChoice, type FeeChoice } from '../../src/tx/index.js';
import { createSettleMetrics, SentinelClient, Settler, type SettleMetrics, type SettlerOptions, type SettleStore } from '../../src/settle/index.js';
import { SqliteSettleStore } from '../../src/settle/sqlite.js';
import { readVector, tempDir, type ClaimVectors } from '../helpers.js';
import { startChainRules, type ChainRules } from '../support/chain-rules.js';
import { claimSignedBy, startSentinelRules, type SentinelRules, type StoredClaim } from '../support/sentinel-rules.js';

/**
 * The settler's world for tests: the chain-rules test server (our stand-in for an Arkeo node: ante handler, keeper
 * claim/settle rules, blocks) and the sentinel-rules test server (our stand-in for a sentinel, with its settlement
 * routes). Keys: cat is the client that opens contracts, fox the provider, dog the fee payer (the settler's key is not
 * the provider's), bird another provider, and del a delegate.
 */
const KEYS = readVector<ClaimVectors>('arkeo-claims.json').keys;

export interface Key {
  name: string;
  priv: Uint8Array;
  signer: Signer;
  pub: Uint8Array;
  address: string;
  bech32: string;
}

export async function keyOf(name: string): Promise<Key> {
  const priv = KEYS[name] ? parseHex(KEYS[name]!.priv, name) : sha256(new TextEncoder().encode(`settle test key ${name}`));
  const signer = privateKeyToSigner(priv);
  const pub = await signer.publicKey();
  return { name, priv, signer, pub, address: toAddress(pub), bech32: toBech32PubKey(pub) };
}

export const [dog, cat, fox, bird, del] = (await Promise.all(['dog', 'cat', 'fox', 'bird', 'del'].map(keyOf))) as [Key, Key, Key, Key, Key];

export const RICH = 10n ** 15n;

export interface World {
  chain: ChainRules;
  sentinel: SentinelRules;
  client: ChainClient;
  /** Open a contract (cat is the client) and return its id once the block has it. */
  open(o?: { provider?: Key; delegate?: Key; duration?: bigint; type?: 'payg' | 'subscription'; deposit?: bigint; qpm?: bigint }): Promise<bigint>;
  /** The claim a spender's key signs, stored at the sentinel as its record for the contract. */
  claim(contractId: bigint, nonce: bigint, by?: Key): StoredClaim;
  /** Every MsgClaimContractIncome in an included transaction, with the transaction's code. */
  claimsOnChain(): Promise<{ hash: string; code: number; contractId: bigint; nonce: bigint; creator: string; index: number }[]>;
  /** Wait for the chain to pass a height. */
  until(height: bigint): Promise<void>;
}

export async function world(t: { after: (fn: () => Promise<void> | void) => void }, options: { blockIntervalMs?: number; feePayerBalance?: bigint; settlementDuration?: bigint } = {}): Promise<World> {
  const chain = await startChainRules({
    blockIntervalMs: options.blockIntervalMs ?? 100,
    accounts: [
      { address: dog.address, balance: options.feePayerBalance ?? RICH },
      { address: cat.address, balance: RICH },
      { address: fox.address, balance: RICH },
    ],
    providers: [fox, bird].map((p) => ({ pubkey: p.bech32, service: 'mock', payAsYouGoRate: 10n, subscriptionRate: 10n, settlementDuration: options.settlementDuration ?? 10n })),
  });
  t.after(() => chain.close());
  const sentinel = await startSentinelRules({ provider: fox.pub, services: ['mock'] });
  t.after(() => sentinel.close());
  const client = new ChainClient(chain.url);
  const opener = new TxSender(client, cat.signer, { pollMs: 25, waitMs: 20_000 });
  return {
    chain,
    sentinel,
    client,
    async open(o = {}) {
      const subscription = o.type === 'subscription';
      const duration = o.duration ?? 100_000n;
      const qpm = o.qpm ?? 1n;
      const message = MsgOpenContractCodec.encode({
        creator: cat.address,
        provider: (o.provider ?? fox).bech32,
        service: 'mock',
        client: cat.bech32,
        ...(o.delegate ? { delegate: o.delegate.bech32 } : {}),
        contractType: subscription ? ContractType.SUBSCRIPTION : ContractType.PAY_AS_YOU_GO,
        duration,
        rate: { denom: 'uarkeo', amount: '10' },
        deposit: String(subscription ? 10n * duration * qpm : (o.deposit ?? 1_000_000n)),
        settlementDuration: subscription ? 0n : (options.settlementDuration ?? 10n),
        authorization: ContractAuthorization.STRICT,
        queriesPerMinute: qpm,
      });
      const out = await opener.send({ messages: [{ typeUrl: MsgOpenContractCodec.typeUrl, value: message }], fee: parseFeeChoice({}) });
      assert.equal(out.included?.code, 0, out.included?.rawLog);
      return BigInt(findEvent(out.included!, 'arkeo.arkeo.EventOpenContract')!.contract_id!);
    },
    claim(contractId, nonce, by = cat) {
      const c = claimSignedBy(by.priv, contractId, nonce);
      sentinel.claims.set(contractId, c);
      return c;
    },
    async claimsOnChain() {
      const out: Awaited<ReturnType<World['claimsOnChain']>> = [];
      for (const inc of chain.included()) {
        if (!inc.messages.includes(MsgClaimContractIncomeCodec.typeUrl)) continue;
        const body = (await (await fetch(`${chain.url}/cosmos/tx/v1beta1/txs/${inc.hash}`)).json()) as { tx: { body: { messages: { '@type': string; contract_id: string; nonce: string; creator: string }[] } } };
        body.tx.body.messages.forEach((m, index) => {
          if (m['@type'] === MsgClaimContractIncomeCodec.typeUrl) out.push({ hash: inc.hash, code: inc.code, contractId: BigInt(m.contract_id), nonce: BigInt(m.nonce), creator: m.creator, index });
        });
      }
      return out;
    },
    async until(height) {
      for (let i = 0; i < 2000 && chain.height() <= height; i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok(chain.height() > height, `the chain passed block ${height}`);
    },
  };
}

export interface TestSettler {
  settler: Settler;
  store: SettleStore;
  metrics: SettleMetrics;
  lines: string[];
}

/** A settler in this process (dog pays, fox is the provider), on a fresh SQLite store unless one is given. */
export async function settlerFor(w: World, t: { after: (fn: () => Promise<void> | void) => void }, o: Partial<SettlerOptions> & { fees?: Partial<Parameters<typeof parseFeeChoice>[0]> } = {}): Promise<TestSettler> {
  const store = o.store ?? SqliteSettleStore.open(path.join(tempDir(), 'nonces.db'));
  if (!o.store) t.after(() => store.close());
  const metrics = createSettleMetrics();
  const lines: string[] = [];
  const fee: FeeChoice = o.fee ?? parseFeeChoice(o.fees ?? {});
  const settler = await Settler.open({
    chain: w.client,
    sentinel: new SentinelClient(w.sentinel.url, 2000),
    signer: dog.signer,
    store,
    fee,
    provider: { bech32: fox.bech32, key: fox.pub },
    batch: 10,
    minValue: 0n,
    margin: 3n,
    deadlineBlocks: 50n,
    intervalMs: 200,
    waitMs: 20_000,
    pollMs: 25,
    metrics,
    log: (level, line) => lines.push(`${level}: ${line}`),
    ...o,
  });
  // A settler leads before it settles; in-process tests drive cycle() themselves.
  assert.equal(await store.acquireLeadership(fox.bech32, 30_000), true);
  return { settler, store, metrics, lines };
}

export async function refusedCount(metrics: SettleMetrics, reason: string): Promise<number> {
  const m = await metrics.claimsRefused.get();
  return m.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

/** A signature over the claim by a key that is not the spender's (a sentinel that stores what the chain refuses). */
export function foreignClaim(contractId: bigint, nonce: bigint, key: Key): StoredClaim {
  return claimSignedBy(key.priv, contractId, nonce);
}

export { secp256k1 };
