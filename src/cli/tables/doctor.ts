import { commandTable } from '../table.js';
import { CONFIG_FLAG, OUTPUT_FLAG } from './shared.js';

export const DOCTOR = commandTable({
  command: 'doctor',
  summary: 'check the host and the daemon\'s set-up against key-security practices',
  about: `Check this host and the daemon's set-up against Arkeo's key-security practices: owners and modes of the home,
keyrings, key files, nonce store, daemon config, tokens, audit log and key, socket, and every parent folder up to /;
test-backend keys on a shared host; the running daemon's user, core dumps and memory; the audit chain; idle and
wide tokens; contracts near their ceiling; the installed systemd unit. Where a settler is set up (--settle-config,
an installed arkeo-signer-settle.service, its audit log or its tables in the store): its settings, its store
(pending claims, transactions not yet in a block), its fee payer's key and balance (with its node), its audit
chain, its unit and its /healthz. Each finding is ok, warn, fail or skip, with what to do. Read-only. Exit 0 when
nothing fails, 1 otherwise.`,
  flags: {
    home: { type: 'string', value: 'DIR', computedDefault: '$ARKEO_HOME or ~/.arkeo', help: 'the home; its signer/daemon.toml is read when present' },
    config: { ...CONFIG_FLAG.config, help: 'the daemon config, as daemon start --config' },
    unit: { type: 'string', value: 'FILE', computedDefault: 'arkeo-signer.service where systemd looks for it', help: 'a systemd unit to check' },
    'settle-config': { type: 'string', value: 'FILE', computedDefault: 'the file the settle unit\'s ExecStart names', help: 'the settler\'s settings, as settle --config' },
    'settle-unit': { type: 'string', value: 'FILE', computedDefault: 'arkeo-signer-settle.service where systemd looks for it', help: 'the settler\'s systemd unit to check' },
    ...OUTPUT_FLAG,
  },
});
