import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { verifyAuditLog, keyPathOf, headPathOf } from '../audit/index.js';

/**
 * What the daemon's checks and the settler's share: the shape of a finding, and the checks both programs get the
 * same way (an audit log's chain, a systemd unit's hardening).
 */
export type Level = 'ok' | 'warn' | 'fail' | 'skip';

export interface Finding {
  /** Stable id of the check ("paths", "keyring.test", "daemon.user", …). */
  check: string;
  level: Level;
  /** What is wrong (or right), naming the file or token. */
  message: string;
  /** What to do; only on warn and fail. */
  fix?: string;
}

export type Add = (check: string, level: Level, message: string, fix?: string) => void;

export const q = (p: string) => `'${p.replace(/'/g, `'\\''`)}'`;

export function statOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch {
    return undefined;
  }
}

export interface AuditChainCheck {
  check: string;
  /** Why there may be no log yet ("the daemon has not run"). */
  absent: string;
  /** Who can read it ("the daemon's user"). */
  owner: string;
  /** What the program does with a broken log, and how to accept it. */
  accept: string;
  /** Who writes the key and head beside the log. */
  keep: string;
}

/** An audit log's chain, MACs (with its key beside it) and head, as `arkeo-signer audit verify` checks them. */
export function checkAuditChain(file: string, add: Add, o: AuditChainCheck): void {
  if (!fs.existsSync(file)) return add(o.check, 'skip', `no audit log at ${file} (${o.absent})`);
  let key: Uint8Array | undefined;
  try {
    const text = fs.readFileSync(keyPathOf(file), 'utf8').trim();
    if (/^[0-9a-f]{64}$/.test(text)) key = new Uint8Array(Buffer.from(text, 'hex'));
  } catch {
    /* missing or unreadable: the chain alone is checked, and that is said below */
  }
  let r: ReturnType<typeof verifyAuditLog>;
  try {
    r = verifyAuditLog(file, key);
  } catch (e) {
    return add(o.check, 'fail', `${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`, `run doctor as ${o.owner} or root`);
  }
  if (!r.ok) return add(o.check, 'fail', `${file}: ${r.problem}`, `inspect it: arkeo-signer audit verify ${q(file)}; ${o.accept}`);
  const notes = r.notes.filter((n) => !/after the recorded head/.test(n));
  if (!key) notes.unshift(`no readable audit key at ${keyPathOf(file)}: MACs not checked`);
  if (notes.length) return add(o.check, 'warn', `${file}: ${r.entries} entries, chain intact; ${notes.join('; ')}`, `keep ${path.basename(keyPathOf(file))} and ${path.basename(headPathOf(file))} beside the log (${o.keep}); copy the head to another host to catch a rewind`);
  add(o.check, 'ok', `${file}: ${r.entries} entries, chain, MACs and head intact`);
}

/** Directives of the shipped units that the score alone does not show, or that the programs need. */
const UNIT_NEEDS: [RegExp, string][] = [
  [/^User=(?!root\s*$)\S+/m, 'User= (a dedicated user, not root)'],
  [/^LimitCORE=0\s*$/m, 'LimitCORE=0'],
  [/^NoNewPrivileges=(yes|true)\s*$/m, 'NoNewPrivileges=yes'],
  [/^ProtectSystem=strict\s*$/m, 'ProtectSystem=strict'],
  [/^PrivateDevices=(yes|true)\s*$/m, 'PrivateDevices=yes'],
  [/^ProtectKernelTunables=(yes|true)\s*$/m, 'ProtectKernelTunables=yes'],
  [/^RestrictAddressFamilies=/m, 'RestrictAddressFamilies= (only the families it needs)'],
  [/^CapabilityBoundingSet=\s*$/m, 'CapabilityBoundingSet= (empty)'],
  [/^SystemCallFilter=@system-service/m, 'SystemCallFilter=@system-service'],
  [/^UMask=0077\s*$/m, 'UMask=0077'],
];

export interface UnitCheck {
  check: string;
  /** The unit we ship, to compare with ("contrib/systemd/arkeo-signer.service"). */
  shipped: string;
  /** The program it runs, in messages ("the daemon"). */
  what: string;
}

/** Each installed unit: its systemd-analyze score, the shipped unit's directives, nothing that stops Node. */
export function checkUnitFiles(units: string[], add: Add, o: UnitCheck): void {
  for (const unit of units) {
    let text: string;
    try {
      text = fs.readFileSync(unit, 'utf8');
    } catch (e) {
      add(o.check, 'fail', `${unit}: cannot read (${(e as NodeJS.ErrnoException).code})`);
      continue;
    }
    const missing = UNIT_NEEDS.filter(([re]) => !re.test(text)).map(([, d]) => d);
    // V8 writes its compiled code into memory it then executes: MemoryDenyWriteExecute stops the program.
    if (/^MemoryDenyWriteExecute=(yes|true)/m.test(text)) add(o.check, 'fail', `${unit}: MemoryDenyWriteExecute=yes stops Node's JIT (${o.what} aborts)`, `remove it (${o.shipped} explains what is left out and why)`);
    const score = unitScore(unit);
    if (score && /EXPOSED|UNSAFE/.test(score.level)) add(o.check, 'fail', `${unit}: systemd-analyze security scores it ${score.value} ${score.level}${missing.length ? `; missing ${missing.join(', ')}` : ''}`, `start from ${o.shipped}`);
    else if (missing.length) add(o.check, 'warn', `${unit}: missing ${missing.join(', ')}${score ? ` (systemd-analyze: ${score.value} ${score.level})` : ''}`, `compare with ${o.shipped}`);
    else if (score && score.level === 'MEDIUM') add(o.check, 'warn', `${unit}: systemd-analyze security scores it ${score.value} MEDIUM`, `compare with ${o.shipped}`);
    else add(o.check, 'ok', `${unit}: hardened${score ? ` (systemd-analyze security: ${score.value} ${score.level})` : ' (systemd-analyze not installed: directives checked only)'}`);
  }
}

/** `systemd-analyze security --offline=true UNIT`'s overall score, when systemd-analyze is installed. */
export function unitScore(unit: string): { value: number; level: string } | undefined {
  const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', unit], { encoding: 'utf8', timeout: 30_000 });
  const m = /Overall exposure level for \S+: (\d+(?:\.\d+)?) (\S+)/.exec(`${r.stdout ?? ''}`.replace(/\x1b\[[0-9;]*m/g, ''));
  return m ? { value: Number(m[1]), level: m[2]!.replace(/[^A-Z]/g, '') } : undefined;
}
