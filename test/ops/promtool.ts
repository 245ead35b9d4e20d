import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { REPO_ROOT } from '../helpers.js';

/** The shipped rules and their unit test. */
export const PROMETHEUS_DIR = path.join(REPO_ROOT, 'contrib', 'prometheus');
export const RULES = path.join(PROMETHEUS_DIR, 'arkeo-signer.rules.yml');
export const RULES_TEST = path.join(PROMETHEUS_DIR, 'arkeo-signer.rules.test.yml');

/** promtool (Debian's prometheus package; .ci/run installs it) on PATH. */
export const havePromtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;
export const PROMTOOL = 'promtool (Debian package prometheus)';

export interface PromtoolResult {
  status: number | null;
  /** stdout and stderr together: promtool writes its verdicts to both. */
  output: string;
}

/** One promtool command, bounded: a hung promtool fails the test instead of stalling the file. */
export function promtool(args: string[], input?: string): PromtoolResult {
  const r = spawnSync('promtool', args, { input, encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
}

/** `promtool check metrics` on an exposition: its findings, one per line; none when the names follow the conventions. */
export function lintMetrics(exposition: string): { status: number | null; problems: string[] } {
  const { status, output } = promtool(['check', 'metrics'], exposition);
  return { status, problems: output.split('\n').map((l) => l.trim()).filter(Boolean) };
}
