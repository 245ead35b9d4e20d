import * as fs from 'node:fs';
import * as path from 'node:path';
import { runDoctor } from '../doctor/index.js';
import { defaultHome } from '../keyring/keyring.js';
import { expandHome, commandRunner } from './common.js';
import { bind, runCommand, type Parsed } from './table.js';
import { DOCTOR } from './tables/doctor.js';
import { EXIT } from './exit-codes.js';

async function doctor({ values }: Parsed<typeof DOCTOR>): Promise<number> {
  const home = path.resolve(expandHome(values.home ?? defaultHome()));
  const implicit = path.join(home, 'signer', 'daemon.toml');
  const configFile = values.config ?? (fs.existsSync(implicit) ? implicit : undefined);
  const findings = await runDoctor({
    home,
    configFile,
    unitFiles: values.unit ? [values.unit] : undefined,
    settleConfigFile: values['settle-config'],
    settleUnitFiles: values['settle-unit'] ? [values['settle-unit']] : undefined,
  });
  const failed = findings.some((f) => f.level === 'fail');
  if (values.output === 'json') process.stdout.write(JSON.stringify({ ok: !failed, findings }) + '\n');
  else {
    for (const f of findings) process.stdout.write(`${f.level.padEnd(4)}  ${f.check}: ${f.message}${f.fix ? `\n      fix: ${f.fix}` : ''}\n`);
    const count = (l: string) => findings.filter((f) => f.level === l).length;
    process.stdout.write(`${count('fail')} fail, ${count('warn')} warn, ${count('ok')} ok, ${count('skip')} skipped\n`);
  }
  return failed ? EXIT.refused : EXIT.ok;
}

/** `arkeo-signer doctor …`, run by the dispatcher (arkeo-signer.ts). */
export const run = commandRunner((args) => runCommand(bind(DOCTOR, doctor), args));
