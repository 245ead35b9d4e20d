/**
 * Transactions signed per second with each key backend: the whole of `signTx` (SignDoc built, signed through the
 * Signer interface, normalised and verified, TxRaw and its hash), one MsgClaimContractIncome each, as a settler
 * signs them. Backends: a local key, a PKCS#11 key on SoftHSM2, and the cloud KMS servers the tests use (local-kms,
 * our Azure and GCP test servers), 1 and 8 in flight. Then transactions sent and included per second through
 * TxSender against the chain-rules test server (ours; it checks every signature, sequence and fee as a node's
 * ante handler does, with blocks every 100 ms): what one account's in-order sending sustains, not a chain's speed.
 * `node dist/bench/tx.js` runs this section alone.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ChainClient, MsgClaimContractIncomeCodec, MsgSendCodec, TxSender, parseFeeChoice, signTx } from '../src/tx/index.js';
import { AwsKmsSigner, GcpKmsSigner, Pkcs11Signer, createAwsKmsKey, createGcpKmsKey, createPkcs11Key, privateKeyToSigner, type Signer } from '../src/signers/index.js';
import { sha256, toAddress, utf8 } from '../src/crypto/index.js';
import { findLocalKms, startLocalKms } from '../test/support/local-kms.js';
import { startGcpKmsTestServer } from '../test/support/gcp-kms-test-server.js';
import { SOFTHSM_MODULES } from '../test/support/softhsm.js';
import { startChainRules } from '../test/support/chain-rules.js';
import type { Row } from './claims.js';

const SECONDS = Number(process.env.BENCH_TX_SECONDS ?? 3);

async function signRate(signer: Signer, inFlight: number): Promise<{ rate: number; count: number }> {
  const publicKey = await signer.publicKey();
  const creator = toAddress(publicKey);
  const signature = sha256(utf8('a claim signature stands in here')).slice(0, 32);
  const claim = { typeUrl: MsgClaimContractIncomeCodec.typeUrl, value: MsgClaimContractIncomeCodec.encode({ creator, contractId: 7n, signature: new Uint8Array([...signature, ...signature]), nonce: 5n }) };
  let sequence = 0n;
  const one = () => signTx(signer, { messages: [claim], fee: { amount: [{ denom: 'uarkeo', amount: '200' }], gasLimit: 200_000n } }, { publicKey, accountNumber: 3n, sequence: sequence++, chainId: 'arkeo-local-1' });
  await one(); // warm: sessions, connections, tokens
  let count = 0;
  const started = performance.now();
  const until = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < until) {
        await one();
        count++;
      }
    }),
  );
  return { rate: count / ((performance.now() - started) / 1000), count };
}

async function rowsFor(label: string, signer: Signer, note: string): Promise<Row[]> {
  const rows: Row[] = [];
  for (const inFlight of [1, 8]) {
    const m = await signRate(signer, inFlight);
    rows.push({ name: `tx signed, ${label}, ${inFlight} in flight`, value: Math.round(m.rate), unit: 'tx/s', note: `${m.count} MsgClaimContractIncome transactions in ${SECONDS} s; ${note}` });
  }
  return rows;
}

export async function benchTx(): Promise<Row[]> {
  const rows: Row[] = [];
  const local = privateKeyToSigner(sha256(utf8('bench tx local key')));
  rows.push(...(await rowsFor('local key', local, 'in process')));

  const module = SOFTHSM_MODULES.find((m) => fs.existsSync(m));
  if (module && spawnSync('softhsm2-util', ['--version']).status === 0) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arkeo-bench-tx-hsm-'));
    fs.mkdirSync(path.join(dir, 'tokens'), { mode: 0o700 });
    const conf = path.join(dir, 'softhsm2.conf');
    fs.writeFileSync(conf, `directories.tokendir = ${dir}/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
    process.env.SOFTHSM2_CONF = conf;
    spawnSync('softhsm2-util', ['--init-token', '--free', '--label', 'benchtx', '--so-pin', '87654321', '--pin', '12345678'], { stdio: 'ignore' });
    const pin = async () => '12345678';
    try {
      const uri = 'pkcs11:token=benchtx;object=tx';
      const key = await createPkcs11Key({ module, uri, pin });
      for (const sessions of [1, 4]) {
        const signer = await Pkcs11Signer.open({ module, uri, publicKey: key.publicKey, pin, sessions });
        rows.push(...(await rowsFor(`PKCS#11 key (SoftHSM2, ${sessions} session${sessions > 1 ? 's' : ''})`, signer, 'SoftHSM2 signs with OpenSSL\'s generic curve code')));
        signer.destroy();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  } else rows.push({ name: 'tx signed, PKCS#11 key', value: NaN, unit: 'tx/s', note: 'skipped: needs SoftHSM2 (apt softhsm2)' });

  process.env.AWS_ACCESS_KEY_ID ??= 'local-kms-bench';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local-kms-bench';
  const bin = findLocalKms();
  if (bin) {
    const kms = await startLocalKms(bin, fs.mkdtempSync(path.join(os.tmpdir(), 'arkeo-bench-tx-kms-')));
    try {
      const key = await createAwsKmsKey({ region: kms.region, endpoint: kms.endpoint });
      const signer = new AwsKmsSigner(key.reference, { endpoint: kms.endpoint });
      rows.push(...(await rowsFor('AWS KMS via local-kms', signer, 'a real emulator on this machine, not the cloud')));
      await signer.close();
    } finally {
      await kms.stop();
    }
  } else rows.push({ name: 'tx signed, AWS KMS via local-kms', value: NaN, unit: 'tx/s', note: 'skipped: local-kms not installed' });

  const gcp = await startGcpKmsTestServer();
  try {
    const endpoint = { host: '127.0.0.1', port: gcp.port, insecure: true };
    const key = await createGcpKmsKey({ keyRing: 'projects/arkeo-bench/locations/global/keyRings/tx', keyId: 'tx', createKeyRing: true, endpoint });
    const signer = new GcpKmsSigner(key.reference, { endpoint });
    rows.push(...(await rowsFor('Cloud KMS via our test server', signer, 'our gRPC test server on this machine')));
    await signer.close();
  } finally {
    await gcp.stop();
  }

  // Sent and included: one account, in order, through TxSender (simulate, sign, broadcast, wait for the block).
  const payer = privateKeyToSigner(sha256(utf8('bench tx sender')));
  const payerAddress = toAddress(await payer.publicKey());
  const chain = await startChainRules({ blockIntervalMs: 100, accounts: [{ address: payerAddress, balance: 10n ** 15n }] });
  try {
    for (const [gas, label] of [['auto', 'simulated gas'], ['200000', 'fixed gas']] as const) {
      const sender = new TxSender(new ChainClient(chain.url), payer, { pollMs: 20 });
      const send = { messages: [{ typeUrl: MsgSendCodec.typeUrl, value: MsgSendCodec.encode({ fromAddress: payerAddress, toAddress: payerAddress, amount: [{ denom: 'uarkeo', amount: '1' }] }) }], fee: parseFeeChoice({ gas }) };
      await sender.send(send);
      let count = 0;
      const started = performance.now();
      const until = started + SECONDS * 1000;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (performance.now() < until) {
            await sender.send(send);
            count++;
          }
        }),
      );
      rows.push({ name: `tx sent and included, one account, 32 in flight, ${label}`, value: Math.round(count / ((performance.now() - started) / 1000)), unit: 'tx/s', note: 'TxSender against the chain-rules test server (blocks every 100 ms); each waits for its block' });
    }
  } finally {
    await chain.close();
  }
  return rows;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const rows = await benchTx();
  for (const r of rows) process.stderr.write(`${r.name.padEnd(72)} ${String(r.value).padStart(8)} ${r.unit}  ${r.note ?? ''}\n`);
  process.stdout.write(JSON.stringify({ rows }, null, 2) + '\n');
  process.exit(0);
}
