import { AuditLog, type AuditInput } from '../../src/audit/index.js';

/** Audit logs for the console's tests, written by the real AuditLog (chain, MACs, head file). */

export const TOKENS = ['agent', 'narrow', 'ops'];
export const CONTRACTS = ['1', '42', '43', '18446744073709551615'];
const RESULTS: AuditInput['result'][] = ['ok', 'ok', 'ok', 'denied', 'error', 'unauthenticated'];

export function entryFor(i: number): AuditInput {
  const result = RESULTS[i % RESULTS.length]!;
  return {
    who: result === 'unauthenticated' ? { transport: 'unix', uid: 1000 } : { transport: 'unix', token: TOKENS[i % 3], uid: 1000 },
    what: { op: i % 7 === 0 ? 'arkcontract' : 'claim', key: i % 2 ? 'arkeo1alice' : 'bob', contract: CONTRACTS[i % 4], nonce: String(i) },
    result,
    status: result === 'ok' ? 200 : result === 'denied' ? 403 : result === 'error' ? 503 : 401,
    reason: result === 'ok' ? undefined : `reason ${i}, with "quotes"`,
  };
}

/**
 * `n` entries appended in batches of `batch` (one group commit each). A pause between small batches gives entries
 * different timestamps; large logs are written without it (200,000 entries take about a second).
 */
export async function writeLog(file: string, n: number, { batch = 50, pauseMs = 3 } = {}): Promise<void> {
  const log = await AuditLog.open(file);
  for (let i = 0; i < n; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => log.append(entryFor(i + j))));
    if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
  }
  await log.close();
}
