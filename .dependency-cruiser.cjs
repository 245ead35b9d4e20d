/**
 * The house rules (docs/architecture.md): folders on floors, a floor may use the floors below it and never one
 * above; a few arrows are forbidden even downward; no circles. `npm test` runs this (test/architecture), so a new
 * arrow upward or a circle fails CI.
 */
const FLOORS = [
  ['errors', 'log', 'fsutil', 'paths', 'hardening', 'http'],
  ['crypto'],
  ['keyring'],
  ['signers'],
  ['nonces', 'audit'],
  ['claims'],
  ['keys'],
  ['tx'],
  ['cli', 'daemon', 'proxy', 'console', 'doctor', 'settle'],
];
const folder = (names) => `^src/(${names.join('|')})(/|\\.ts$)`;
/**
 * The settler's record and settings (its store, its audit log, its config, how it judges a claim): the console
 * reads them as it reads the daemon's files, never the settler's running parts (settler.ts holds a Signer; the
 * console holds no key). Doctor checks the settler's whole set-up, as it checks the daemon's: it may use any of it.
 */
const SETTLE_RECORD = '^src/settle/(config|store|sqlite|postgres|open|judge|txclaims|audit|errors)\\.ts$';

const upward = FLOORS.slice(0, -1).map((floor, i) => ({
  name: `no-upward-from-${floor.join('-')}`,
  comment: `${floor.join(', ')} may use only the floors below it`,
  severity: 'error',
  from: { path: folder(floor) },
  to: { path: folder(FLOORS.slice(i + 1).flat()) },
}));

module.exports = {
  forbidden: [
    ...upward,
    { name: 'no-circular', severity: 'error', comment: 'no module depends on itself through others', from: {}, to: { circular: true } },
    { name: 'console-holds-no-key', severity: 'error', comment: 'the console reads; it never opens a key', from: { path: folder(['console']) }, to: { path: folder(['keys', 'signers']) } },
    { name: 'proxy-is-a-daemon-client', severity: 'error', comment: 'the proxy reaches the daemon only as a client', from: { path: folder(['proxy']) }, to: { path: '^src/daemon/(?!client\\.ts$)' } },
    ...['daemon', 'proxy', 'console', 'doctor', 'settle'].map((program) => ({
      name: `${program}-stays-apart`,
      severity: 'error',
      comment: 'a program uses the services, not another program (the CLI starts them all); reading the daemon\'s config or talking to it as a client is allowed, and so is reading the settler\'s record from the console (SETTLE_RECORD) and checking the settler from doctor',
      from: { path: folder([program]) },
      to: { path: folder(['proxy', 'console', 'doctor', 'settle'].filter((p) => p !== program)), ...(program === 'console' ? { pathNot: SETTLE_RECORD } : program === 'doctor' ? { pathNot: '^src/settle/' } : {}) },
    })),
    { name: 'daemon-server-is-a-program', severity: 'error', comment: 'only the CLI starts the daemon server (its index loads it too)', from: { pathNot: '^src/(cli/|daemon/|index\\.ts$)' }, to: { path: '^src/daemon/(server|index)\\.ts$' } },
    { name: 'no-cli-below', severity: 'error', comment: 'only the CLI knows about flags and exit codes', from: { pathNot: '^src/(cli/|index\\.ts$)' }, to: { path: folder(['cli']) } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    exclude: { path: '^src/console/web/' },
  },
};
