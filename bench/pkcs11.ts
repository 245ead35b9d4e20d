/**
 * Claims/s through the daemon with a PKCS#11 key on SoftHSM2 (1 and 4 logged-in sessions), beside a local key in
 * the same daemon setup and load, and beside SoftHSM2's own signing rate with the same key and number of sessions
 * (bench/c/pkcs11_sign.c: C_SignInit + C_Sign in a loop per session thread, measured just before and just after
 * each daemon figure; the mean of the two). SoftHSM2 signs with OpenSSL's generic secp256k1 code, so these figures
 * say what the session pool and the PKCS#11 path cost, not what a hardware HSM would do.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Keyring } from '../src/keyring/index.js';
import { TokenStore, parsePolicy, exampleConfig } from '../src/daemon/index.js';
import { sha256, utf8 } from '../src/crypto/index.js';
import type { Row } from './claims.js';
import { buildLoadgen, cpuNote, load, repeated, stop, waitFor } from './daemon.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.resolve(HERE, '..', 'bin', 'arkeo-signer.js');
const MODULES = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so', '/usr/local/lib/softhsm/libsofthsm2.so'];
const PIN = '12345678';
const CLIENTS = 32;
const RAW_SECONDS = Number(process.env.BENCH_DAEMON_SECONDS ?? 4);

/** bench/c/pkcs11_sign.c, built here (it needs p11-kit's pkcs11.h: Debian's libp11-kit-dev). */
function buildRawSigner(dir: string): string | undefined {
  const cc = ['cc', 'gcc', 'clang'].find((c) => spawnSync(c, ['--version']).status === 0);
  const exe = path.join(dir, 'pkcs11_sign');
  return cc && spawnSync(cc, ['-O2', '-pthread', '-I/usr/include/p11-kit-1', '-o', exe, path.join(HERE, '..', '..', 'bench', 'c', 'pkcs11_sign.c'), '-ldl']).status === 0 ? exe : undefined;
}

/** SoftHSM2's own rate: signatures/s with `sessions` sessions on the token, the same key the daemon uses. */
function rawRate(exe: string, module: string, sessions: number, env: NodeJS.ProcessEnv): number {
  const r = spawnSync(exe, [module, 'bench', 'bench', String(sessions), String(RAW_SECONDS)], { env: { ...env, PKCS11_PIN: PIN }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`pkcs11_sign: exit ${r.status}: ${r.stderr.trim()}`);
  return (JSON.parse(r.stdout) as { rate: number }).rate;
}

export async function benchPkcs11(): Promise<Row[]> {
  const module = MODULES.find((m) => fs.existsSync(m));
  if (!module || spawnSync('softhsm2-util', ['--version']).status !== 0) return [{ name: 'daemon claims, PKCS#11 key', value: NaN, unit: 'claims/s', note: 'skipped: needs SoftHSM2 (apt softhsm2)' }];
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'arkeo-bench-pkcs11-'));
  const loadgen = buildLoadgen(home);
  if (!loadgen) return [{ name: 'daemon claims, PKCS#11 key', value: NaN, unit: 'claims/s', note: 'skipped: needs a C compiler for bench/c/loadgen.c' }];
  const rows: Row[] = [];
  const raw = buildRawSigner(home);
  try {
    fs.mkdirSync(path.join(home, 'tokens'), { mode: 0o700 });
    const conf = path.join(home, 'softhsm2.conf');
    fs.writeFileSync(conf, `directories.tokendir = ${home}/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
    const env = { ...process.env, SOFTHSM2_CONF: conf, ARKEO_HOME: home, ARKEO_PKCS11_PIN: PIN };
    spawnSync('softhsm2-util', ['--init-token', '--free', '--label', 'bench', '--so-pin', '87654321', '--pin', PIN], { env, stdio: 'ignore' });
    const add = spawnSync(process.execPath, [CLI, 'keys', 'add', 'hsm', '--pkcs11', 'pkcs11:token=bench;object=bench', '--create', '--pkcs11-module', module], { env, encoding: 'utf8' });
    if (add.status !== 0) return [{ name: 'daemon claims, PKCS#11 key', value: NaN, unit: 'claims/s', note: `skipped: keys add --pkcs11 failed: ${add.stderr.trim()}` }];
    await Keyring.open({ backend: 'test', dir: home }).importPrivateKey('local', sha256(utf8('bench pkcs11 local key')));
    const signer = path.join(home, 'signer');
    fs.mkdirSync(signer, { recursive: true, mode: 0o700 });
    const token = TokenStore.load(path.join(signer, 'tokens.json')).create('bench', parsePolicy({ keys: ['*'], rate: { per_second: 1e6, burst: 1e6 } }));
    const socket = path.join(signer, 'keyd.sock');
    let contract = 1;
    const rates = new Map<string, number>();
    const runs: { label: string; key: string; sessions: number }[] = [
      { label: 'local key (signing thread)', key: 'local', sessions: 1 },
      { label: 'PKCS#11 key, 1 session', key: 'hsm', sessions: 1 },
      { label: 'PKCS#11 key, 4 sessions', key: 'hsm', sessions: 4 },
    ];
    for (const r of runs) {
      const own = raw && r.key === 'hsm' ? [rawRate(raw, module, r.sessions, env)] : [];
      const config = exampleConfig(home).replace(/^sessions = \d+/m, `sessions = ${r.sessions}`);
      fs.writeFileSync(path.join(signer, 'daemon.toml'), config, { mode: 0o600 });
      const daemon = spawn(process.execPath, [CLI, 'daemon', 'start'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      try {
        await waitFor(daemon, /listening on/);
        const body = `{"contract":"${contract++}","key":"${r.key}"}`;
        const request = path.join(home, `claim-${contract}.http`);
        fs.writeFileSync(request, `POST /v1/claims HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        await load(loadgen, socket, request, CLIENTS, 1000, 2); // warm-up
        const m = await repeated(() => load(loadgen, socket, request, CLIENTS, 0), 'rate');
        rows.push({ name: `daemon claims, ${r.label}, ${CLIENTS} clients`, value: Math.round(m.mid.rate), unit: 'claims/s', note: `p50 ${m.mid.p50_ms.toFixed(2)} ms, p99 ${m.mid.p99_ms.toFixed(2)} ms${cpuNote(m.mid)}; SoftHSM2, nonce block 64; ${m.spread}` });
        rates.set(r.label, m.mid.rate);
      } finally {
        await stop(daemon);
      }
      if (own.length) {
        own.push(rawRate(raw!, module, r.sessions, env));
        const mean = (own[0]! + own[1]!) / 2;
        const daemonRate = rates.get(r.label)!;
        rows.push({ name: `SoftHSM2's own signing rate, ${r.sessions} session(s)`, value: Math.round(mean), unit: 'sig/s', note: `bench/c/pkcs11_sign.c, same key; before / after the daemon figure: ${own.map((x) => Math.round(x)).join(' / ')}` });
        rows.push({ name: `daemon with the PKCS#11 key / SoftHSM2's own rate, ${r.sessions} session(s)`, value: +(daemonRate / mean).toFixed(3), unit: '×', note: `goal ≥ 0.8: ${Math.round(daemonRate)} / ${Math.round(mean)}` });
      }
    }
    if (!raw) rows.push({ name: "SoftHSM2's own signing rate", value: NaN, unit: 'sig/s', note: 'skipped: needs a C compiler and p11-kit\'s pkcs11.h (apt libp11-kit-dev) for bench/c/pkcs11_sign.c' });
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
  return rows;
}
