import * as fs from 'node:fs';
import * as path from 'node:path';
import { runDoctor } from '../doctor/index.js';
import { defaultHome } from '../keyring/keyring.js';
import { exactPositionals, expandHome, helpRequested, parseFlags, printUsage, commandRunner } from './common.js';
import { parseOutputFormat } from './output.js';

export const DOCTOR_USAGE = `Usage: arkeo-signer doctor [--home DIR] [--config PATH] [--unit FILE] [-o json]

Check this host and the daemon's set-up against Arkeo's key-security practices: owners and modes of the home,
keyrings, key files, nonce store, daemon config, tokens, audit log and key, socket, and every parent folder up to /;
test-backend keys on a shared host; the running daemon's user, core dumps and memory; the audit chain; idle and
wide tokens; contracts near their ceiling; the installed systemd unit. Each finding is ok, warn, fail or skip, with
what to do. Read-only. Exit 0 when nothing fails, 1 otherwise.

  --home DIR      the home (default $ARKEO_HOME or ~/.arkeo); its signer/daemon.toml is read when present
  --config PATH   the daemon config (as daemon start --config)
  --unit FILE     a systemd unit to check (default: arkeo-signer.service where systemd looks for it)
`;

export async function doctorCommand(args: string[]): Promise<number | void> {
  if (helpRequested(args)) return printUsage(DOCTOR_USAGE);
  const { values, positionals } = parseFlags(args, {
    home: { type: 'string' },
    config: { type: 'string', short: 'c' },
    unit: { type: 'string' },
    output: { type: 'string', short: 'o' },
  });
  exactPositionals(positionals, [], 'doctor');
  const format = parseOutputFormat(values.output);
  const home = path.resolve(expandHome(values.home ?? defaultHome()));
  const implicit = path.join(home, 'signer', 'daemon.toml');
  const configFile = values.config ?? (fs.existsSync(implicit) ? implicit : undefined);
  const findings = await runDoctor({ home, configFile, unitFiles: values.unit ? [values.unit] : undefined });
  const failed = findings.some((f) => f.level === 'fail');
  if (format === 'json') process.stdout.write(JSON.stringify({ ok: !failed, findings }) + '\n');
  else {
    for (const f of findings) process.stdout.write(`${f.level.padEnd(4)}  ${f.check}: ${f.message}${f.fix ? `\n      fix: ${f.fix}` : ''}\n`);
    const count = (l: string) => findings.filter((f) => f.level === l).length;
    process.stdout.write(`${count('fail')} fail, ${count('warn')} warn, ${count('ok')} ok, ${count('skip')} skipped\n`);
  }
  return failed ? 1 : 0;
}

/** `arkeo-signer doctor …`, run by the dispatcher (arkeo-signer.ts). */
export const run = commandRunner(doctorCommand);
