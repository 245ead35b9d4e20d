import type { ChainClient } from '../tx/chain.js';
import { log } from '../log.js';
import type { ProxyMetrics } from './metrics.js';

/**
 * When a contract expires, as a time an alert can compare with now (arkeo_proxy_contract_expiry_timestamp_seconds):
 * its expiry height (opened at + duration) from the chain, turned into seconds at the block rate this proxy sees
 * between two readings. Read at start and every `everyMs` while a chain node is given (`--node`); without one the
 * proxy knows no heights and exports nothing.
 */
const FIRST_GUESS_SECONDS_PER_BLOCK = 6; // Arkeo's MaxContractLength (5,256,000 blocks, "one year") implies 6 s.
const REFRESH_MS = 10 * 60_000;

export function watchExpiry(chain: ChainClient, contractId: bigint, labels: { upstream: string; contract: string }, metrics: ProxyMetrics, everyMs = REFRESH_MS): { stop(): void } {
  let first: { height: bigint; at: number } | undefined;
  let warned = false;
  const tick = async () => {
    try {
      const [c, height] = await Promise.all([chain.contract(contractId), chain.latestHeight()]);
      const at = Date.now();
      first ??= { height, at };
      if (!c || c.height === undefined || c.duration === undefined) return;
      const secondsPerBlock = height > first.height ? (at - first.at) / 1000 / Number(height - first.height) : FIRST_GUESS_SECONDS_PER_BLOCK;
      metrics.contractExpiry.set(labels, Math.round(at / 1000 + Number(c.height + c.duration - height) * secondsPerBlock));
      warned = false;
    } catch (e) {
      if (!warned) log('warn', `contract ${contractId}: cannot read its expiry from ${chain.lcd} (${(e as Error).message}); the expiry gauge keeps its last value`);
      warned = true;
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
