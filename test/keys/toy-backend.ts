import { InputError } from '../../src/errors.js';
import { LocalSigner } from '../../src/signers/index.js';
import { textOption, type ExternalBackend, type KeySigner } from '../../src/keys/index.js';
import { publicKeyFromPrivate, sha256, utf8 } from '../../src/crypto/index.js';

/**
 * A key backend defined here, in the tests, and nowhere else: toy-backend.test.ts registers it in its own process,
 * and toy-register.ts in a CLI process (`--import`), which then takes its `keys add --toy-seed` flag.
 *
 * The toy: the private key is SHA-256 of a seed kept in the key's external-key file (so, no secret at all: a test
 * only), signed in this process by a signer that says its own kind.
 */
export const KIND = 'toy-seed';

export function privateKeyOf(seed: string): Uint8Array {
  return sha256(utf8(`toy-backend:${seed}`));
}

export class ToySigner implements KeySigner {
  readonly kind = KIND;
  signatures = 0;
  private readonly inner: LocalSigner;
  constructor(seed: string) {
    this.inner = new LocalSigner(privateKeyOf(seed));
  }
  publicKey(): Promise<Uint8Array> {
    return this.inner.publicKey();
  }
  async sign(message: Uint8Array): Promise<Uint8Array> {
    this.signatures++;
    return this.inner.sign(message);
  }
  destroy(): void {
    this.inner.destroy();
  }
}

export const TOY_WARNING = 'a toy key: its seed is stored in the clear beside the keyring';

export const toyBackend: ExternalBackend<ToySigner> = {
  kinds: [KIND],
  description: 'toy',
  served: true,
  inProcess: false,
  async open(key) {
    const info = key.info ?? (await key.keyring.get(key.name));
    return new ToySigner(info.external!.location.seed!);
  },
  deleted: () => 'Key reference deleted; the toy seed went with it',
  async serve({ registry }) {
    const { Gauge } = await import('prom-client');
    const signatures = new Gauge({ name: 'arkeo_signer_toy_signatures', help: 'Signatures per toy key', labelNames: ['key'], registers: [registry] });
    const keys = new Map<string, ToySigner>();
    return {
      served: (name, signer) => void keys.set(name, signer),
      scrape: () => keys.forEach((s, key) => signatures.set({ key }, s.signatures)),
      health: async () => (keys.size ? { section: 'toys', entries: Object.fromEntries([...keys.keys()].map((k) => [k, 'ok'])), ok: true } : undefined),
    };
  },
  // Its part of `keys add`: one flag that chooses it and carries the seed; the CLI's table takes it from here.
  add: {
    selectors: ['toy-seed'],
    options: { 'toy-seed': { type: 'string', value: 'SEED', help: 'a toy key made from SEED (tests only)' } },
    why: 'a toy key is made from its seed',
    usage: ['NAME --toy-seed SEED [keyring flags]'],
    about: '--toy-seed SEED: a toy key, its private key the SHA-256 of SEED (tests only).',
    check(values) {
      if (textOption(values, 'toy-seed')!.length < 8) throw new InputError('BAD_SEED', '--toy-seed: at least 8 characters');
    },
    async add({ name, values, keyring }) {
      const seed = textOption(values, 'toy-seed')!;
      const info = await keyring().addExternalKey(name, publicKeyFromPrivate(privateKeyOf(seed)), KIND, { seed });
      return { info, fields: { seed }, warnings: [`${name}: ${TOY_WARNING}`] };
    },
  },
};
