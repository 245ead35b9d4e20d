import { MsgSendCodec, parseCoins } from '../tx/index.js';
import { parseAddress, toAddress } from '../crypto/address.js';
import { InputError } from '../errors.js';
import { flagValue, commandRunner } from './common.js';
import { bind, runGroup, type Parsed } from './table.js';
import { TX, TX_SEND, TX_SHOW } from './tables/chain.js';
import { closingSigners, includedJson, readingNode, openTxSigner, runTx } from './chain-tx.js';
import { EXIT } from './exit-codes.js';

async function send({ values }: Parsed<typeof TX_SEND>): Promise<number> {
  const amount = flagValue(() => parseCoins(values.amount, '--amount', { positive: true }));
  flagValue(() => parseAddress(values.to));
  const signer = await openTxSigner(values);
  const from = toAddress(await signer.publicKey());
  const message = { typeUrl: MsgSendCodec.typeUrl, value: MsgSendCodec.encode({ fromAddress: from, toAddress: values.to, amount }) };
  return (await runTx(values, signer, [message])).exit;
}

async function show({ values, positionals: [hash] }: Parsed<typeof TX_SHOW>): Promise<number> {
  const h = hash!.replace(/^0x/i, '').toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(h)) flagValue(() => { throw new InputError('BAD_TX_HASH', `HASH: expected 64 hex digits, got "${hash!.slice(0, 80)}"`); });
  const included = await (await readingNode(values)).tx(h);
  if (!included) {
    process.stderr.write(`transaction ${h} is not in a block (yet); it may still be in a node's mempool\n`);
    return EXIT.refused;
  }
  const report = { tx_hash: h, ...includedJson(included) };
  if (values.output === 'json') process.stdout.write(JSON.stringify(report) + '\n');
  else {
    process.stdout.write(`${h}: height ${included.height}, code ${included.code}${included.code ? ` (${included.codespace}): ${included.rawLog}` : ''}, gas used ${included.gasUsed} of ${included.gasWanted}\n`);
    for (const e of report.events) process.stdout.write(`  ${e.type} ${Object.entries(e.attributes).filter(([k]) => k !== 'msg_index').map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
  }
  return EXIT.ok;
}

/** `arkeo-signer tx …`, run by the dispatcher (arkeo-signer.ts). */
export const run = commandRunner((args) => closingSigners(() => runGroup(TX, args, [bind(TX_SEND, send), bind(TX_SHOW, show)])));
