import * as fs from 'node:fs';
import { ArkeoSignerError } from '../errors.js';
import { maxNonceFor, type NonceStore } from '../nonces/store.js';
import { holdMember, readPool, type HeldMember, type Pool } from '../claims/pools.js';
import { ContractPayer, PayerError, SentinelError, checkPoolSentinel, type PaidReply } from '../proxy/index.js';
import { checkService } from '../proxy/config.js';
import { UsageError, flagValue, commandRunner } from './common.js';
import { homeOf, openStoreOf } from './nonce-store.js';
import { blockSizeFlag, contractFlag, headersTimeoutFlag, nodeFlag, openPayKeys } from './proxy.js';
import { bind, runCommand, type Parsed } from './table.js';
import { CURL } from './tables/pay.js';
import { EXIT } from './exit-codes.js';

const err = (s: string) => process.stderr.write(s);

function parseHeader(h: string): [string, string] {
  const i = h.indexOf(':');
  if (i <= 0) throw new UsageError(`-H: expected "Name: value", got "${h.slice(0, 100)}"`);
  const name = h.slice(0, i).trim();
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new UsageError(`-H: "${name.slice(0, 100)}" is not a header name`);
  if (name.toLowerCase() === 'arkauth') throw new UsageError('-H: arkauth is what this command adds; leave it out');
  return [name, h.slice(i + 1).trim()];
}

function dataArg(text: string, binary: boolean): Buffer {
  if (!text.startsWith('@')) return Buffer.from(text, 'utf8');
  const file = text.slice(1);
  let data: Buffer;
  try {
    data = file === '-' ? fs.readFileSync(0) : fs.readFileSync(file);
  } catch (e) {
    throw new UsageError(`${binary ? '--data-binary' : '-d'} @${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).name})`);
  }
  // curl's -d @file drops carriage returns and newlines; --data-binary sends the bytes as they are.
  return binary ? data : Buffer.from(data.toString('utf8').replace(/[\r\n]/g, ''), 'utf8');
}

function writeOut(chunk: Buffer | string): Promise<void> {
  return new Promise((resolve) => (process.stdout.write(chunk) ? resolve() : process.stdout.once('drain', resolve)));
}

async function curl({ values, positionals: [target] }: Parsed<typeof CURL>): Promise<number> {
  let url: URL;
  try {
    url = new URL(target!);
  } catch {
    throw new UsageError(`curl: not a URL: ${target!.slice(0, 200)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`curl: expected an http(s):// URL, got ${url.protocol}`);
  const segments = url.pathname.split('/');
  const service = flagValue(() => checkService(segments[1] ?? '', 'curl URL'));
  const below = '/' + segments.slice(2).join('/') + url.search;
  const body = values.data !== undefined ? dataArg(values.data, false) : values['data-binary'] !== undefined ? dataArg(values['data-binary'], true) : Buffer.alloc(0);
  const method = values.request ?? (values.data !== undefined || values['data-binary'] !== undefined ? 'POST' : 'GET');
  if (!/^[A-Z]{1,20}$/.test(method)) throw new UsageError(`-X: expected a method such as GET or POST, got "${method.slice(0, 20)}"`);
  const headers: Record<string, string> = { 'user-agent': 'arkeo-signer-curl', accept: '*/*' };
  for (const h of values.header ?? []) {
    const [k, v] = parseHeader(h);
    headers[k.toLowerCase()] = v;
  }
  if (body.length && !headers['content-type']) headers['content-type'] = 'application/x-www-form-urlencoded'; // as curl -d
  const { contract, key } = contractFlag(values, 'curl');
  const chain = nodeFlag(values);
  const blockSize = blockSizeFlag(values['block-size']);
  const headersTimeoutMs = headersTimeoutFlag(values['headers-timeout']);
  const verbose = Boolean(values.verbose);
  const started = performance.now();
  const home = homeOf(values);
  let pool: Pool | undefined;
  if (typeof contract === 'object') {
    pool = readPool(home, contract.pool);
    if (pool.service !== service) throw new UsageError(`--contract pool:${pool.name}: the pool's contracts are for service "${pool.service}", not "${service}" (the URL's)`);
  }

  const keys = openPayKeys(values);
  let store: NonceStore | undefined;
  let payer: ContractPayer | undefined;
  let held: HeldMember | undefined;
  try {
    store = await openStoreOf(values);
    if (pool) await checkPoolSentinel(pool, url.origin, service);
    // A pool: a member no other process here is using, in turn; one that turns out stopped is passed over.
    const tried = new Set<bigint>();
    let reply: PaidReply | undefined;
    for (;;) {
      if (pool) {
        const next = holdMember(home, pool, tried);
        if (!next) break; // none left untried (the last member's reply ends the loop before this)
        held = next;
        tried.add(held.member.contractId);
      }
      const claims = await keys.claimsOf(held ? held.member.key : key!);
      payer = await ContractPayer.open({ claims, store, sentinel: url.origin, service, contract: held ? held.member.contractId : (contract as bigint | 'auto'), ...(held ? { delegate: true } : {}), ...(chain ? { chain } : {}), blockSize, headersTimeoutMs });
      const terms = await store.getContract(payer.contractId);
      if (verbose) {
        if (pool && held) err(`* pool ${pool.name}: member ${held.member.key}, contract ${held.member.contractId}${held.idle ? '' : ' (every member is in use by another process; sharing this one)'}\n`);
        err(`* contract ${payer.contractId} for ${service} at ${payer.base}; key ${payer.address}; ${terms ? `rate ${terms.rate}, ceiling nonce ${maxNonceFor(terms)}` : 'no registered terms (no local ceiling)'}\n`);
        err(`> ${method} /${service}${below} HTTP/1.1\n`);
        for (const [k, v] of Object.entries(headers)) err(`> ${k}: ${v}\n`);
        err(`> arkauth: ${payer.contractId}:<next nonce>:<signature, not shown>\n`);
      }
      try {
        reply = await payer.send({ method, path: below, headers, body });
      } catch (e) {
        if (e instanceof PayerError && e.code === 'SENTINEL_UNREACHABLE') {
          err(`arkeo-signer: ${e.message}\n`);
          return /ETIMEDOUT/.test(e.message) ? EXIT.timeout : EXIT.unreachable;
        }
        throw e;
      }
      // A stopped member consumed nothing: the request goes to the next one.
      if (pool && reply.status === 402 && reply.nonce === undefined && payer.isStopped && tried.size < pool.members.length) {
        if (verbose) err(`* contract ${payer.contractId} has stopped (${payer.state.stopped}); trying the pool's next member\n`);
        await payer.close();
        payer = undefined;
        held?.release();
        continue;
      }
      break;
    }
    if (!payer || !reply) throw new PayerError('POOL_STOPPED', `pool ${pool!.name}: every contract has stopped; nothing was sent`);
    const terms = await store.getContract(payer.contractId);
    if (verbose) {
      err(`* claim: contract ${reply.contractId} nonce ${reply.nonce ?? '-'}${reply.reused ? ' (sent again: the sentinel had not consumed it)' : ''}${reply.resynced ? ' (after a 400 bad nonce and a resync)' : ''}\n`);
      err(`< HTTP/1.1 ${reply.status}\n`);
      for (const [k, v] of Object.entries(reply.headers)) err(`< ${k}: ${Array.isArray(v) ? v.join(', ') : v}\n`);
    }
    if (values.include) {
      let head = `HTTP/1.1 ${reply.status}\r\n`;
      for (const [k, v] of Object.entries(reply.headers)) for (const one of Array.isArray(v) ? v : [v]) head += `${k}: ${one}\r\n`;
      await writeOut(head + '\r\n');
    }
    if (Buffer.isBuffer(reply.body)) await writeOut(reply.body);
    else for await (const chunk of reply.body) await writeOut(chunk as Buffer);
    if (verbose) {
      const spend = terms && reply.nonce !== undefined ? `, spend ${payer.state.last_nonce === '0' ? 0n : BigInt(payer.state.last_nonce) * terms.rate} of ${terms.maxSpend !== undefined && terms.maxSpend < terms.deposit ? terms.maxSpend : terms.deposit}` : '';
      err(
        `* summary: ${reply.status} tier ${reply.tier ?? 'none'}; contract ${reply.contractId} nonce ${reply.nonce ?? '-'} consumed ${reply.consumed}${reply.resynced ? ', resynced once' : ''}${spend}${payer.state.stopped ? `; contract stopped (${payer.state.stopped})` : ''}; ${(performance.now() - started).toFixed(0)} ms\n`,
      );
    }
    return values.fail && reply.status >= 400 ? EXIT.httpError : EXIT.ok;
  } catch (e) {
    if (e instanceof SentinelError && e.code === 'SENTINEL_UNREACHABLE') {
      err(`arkeo-signer: ${e.message}\n`);
      return /no answer within/.test(e.message) ? EXIT.timeout : EXIT.unreachable;
    }
    if (e instanceof ArkeoSignerError) throw e;
    throw e;
  } finally {
    await payer?.close();
    held?.release();
    await store?.close();
    keys.close();
  }
}

/** `arkeo-signer curl …`, run by the dispatcher (arkeo-signer.ts). */
export const run = commandRunner((args) => runCommand(bind(CURL, curl), args));
