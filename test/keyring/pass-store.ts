import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { tempDir } from '../helpers.js';

/**
 * A real `pass` store for tests: a private GNUPGHOME with a GPG key made here (ed25519/cv25519; with no
 * passphrase unless one is asked for), gpg-agent told to use pinentry-curses (so that, with no terminal, a key
 * that needs its passphrase fails as on a server), and `pass init` with that key. stop() ends its gpg-agent.
 */
export function passAvailable(): boolean {
  return ['pass', 'gpg', 'gpgconf'].every((p) => spawnSync('sh', ['-c', `command -v ${p}`]).status === 0);
}

export class PassFixture {
  private constructor(
    readonly root: string,
    readonly gnupgHome: string,
    readonly keyId: string,
  ) {}

  /** GNUPGHOME and PASSWORD_STORE_DIR for programs that should use this store. */
  get env(): Record<string, string> {
    return { GNUPGHOME: this.gnupgHome, PASSWORD_STORE_DIR: this.root };
  }

  static create(options: { passphrase?: string; init?: boolean } = {}): PassFixture {
    const dir = tempDir('arkeo-pass-');
    const gnupgHome = path.join(dir, 'g');
    fs.mkdirSync(gnupgHome, { mode: 0o700 });
    const pinentry = ['/usr/bin/pinentry-curses', '/usr/bin/pinentry'].find((p) => fs.existsSync(p));
    fs.writeFileSync(path.join(gnupgHome, 'gpg-agent.conf'), `${pinentry ? `pinentry-program ${pinentry}\n` : ''}allow-loopback-pinentry\n`);
    const env: NodeJS.ProcessEnv = { ...process.env, GNUPGHOME: gnupgHome };
    delete env.DISPLAY;
    delete env.WAYLAND_DISPLAY;
    const uid = `arkeo-signer test ${path.basename(dir)} <test@arkeo-signer.invalid>`;
    const gen = spawnSync('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', options.passphrase ?? '', '--quick-gen-key', uid, 'future-default', 'default', 'never'], { env, encoding: 'utf8', timeout: 60_000 });
    if (gen.status !== 0) throw new Error(`gpg --quick-gen-key: ${gen.stderr}`);
    const list = spawnSync('gpg', ['--batch', '--with-colons', '--list-secret-keys', uid], { env, encoding: 'utf8' });
    const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(list.stdout)?.[1];
    if (!fpr) throw new Error(`no fingerprint for the test key: ${list.stdout}${list.stderr}`);
    // A fresh agent, so no passphrase typed above is cached.
    spawnSync('gpgconf', ['--kill', 'gpg-agent'], { env });
    const fixture = new PassFixture(path.join(dir, 'store'), gnupgHome, fpr);
    if (options.init !== false) fixture.pass(['init', fpr]);
    return fixture;
  }

  /** Run pass (or gpg with `gpg: true`) against this store; throws on failure. */
  pass(args: string[], input?: string | Buffer): Buffer {
    const r = spawnSync('pass', args, { env: { ...process.env, ...this.env }, input: input ?? '', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`pass ${args.join(' ')}: ${r.stderr.toString()}`);
    return r.stdout;
  }

  /** Decrypt one store file with gpg directly (not through pass): what it holds, byte for byte. */
  decrypt(file: string): Buffer {
    const r = spawnSync('gpg', ['--batch', '--quiet', '-d', file], { env: { ...process.env, ...this.env }, timeout: 60_000 });
    if (r.status !== 0) throw new Error(`gpg -d ${file}: ${r.stderr.toString()}`);
    return r.stdout;
  }

  stop(): void {
    spawnSync('gpgconf', ['--kill', 'all'], { env: { ...process.env, GNUPGHOME: this.gnupgHome } });
  }
}
