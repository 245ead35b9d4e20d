import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { BIN, requireComponent, run, tempDir } from '../helpers.js';
import { startSoftHsm, USER_PIN, type SoftHsm } from '../support/softhsm.js';
import { buildOracle, goAvailable, oracle, oracleJson, type GoKey } from './oracle.js';
import { Keyring } from '../../src/keyring/index.js';
import { openSigner } from '../../src/keys/index.js';
import { publicKeyFromPrivate, toAddress, toHex } from '../../src/crypto/index.js';

/**
 * A keyring holding PKCS#11 keys, read by cosmos-sdk v0.50.11's own keyring (the oracle): it lists, shows and
 * deletes it without error and sees each PKCS#11 key as the offline record it is; our location files beside the
 * items do not disturb it. And an offline key arkeod writes stays a plain offline key in ours.
 */
const FILE_PASS = 'pkcs11-interop-pass';
let haveGo = false;
let hsm: SoftHsm | undefined;

before(() => {
  haveGo = goAvailable();
  if (haveGo) buildOracle();
});

for (const backend of ['test', 'file'] as const) {
  test(`Go lists, shows and deletes a ${backend} keyring holding PKCS#11 keys`, { timeout: 120_000 }, async (t) => {
    if (!requireComponent(t, haveGo, 'the go toolchain (interop oracle)')) return;
    hsm ??= startSoftHsm(t);
    if (!hsm) return;
    const token = `interop-${backend}`;
    hsm.initToken(token);
    const home = tempDir();
    const pinFile = path.join(home, 'pin');
    const passFile = path.join(home, 'pass');
    fs.writeFileSync(pinFile, USER_PIN + '\n');
    fs.writeFileSync(passFile, FILE_PASS + '\n');
    const cli = (...args: string[]) => {
      const r = run(BIN.arkeoSigner, [...args, '--home', home, '--keyring-backend', backend, '--passphrase-file', passFile], { env: hsm!.env });
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    cli('keys', 'import-hex', 'local-key', toHex(secp256k1.utils.randomSecretKey()));
    const hsmKey = JSON.parse(cli('keys', 'add', 'hsm-key', '--pkcs11', `pkcs11:token=${token};object=k`, '--create', '--pkcs11-module', hsm.module, '--pin-file', pinFile, '-o', 'json')) as Record<string, string>;
    const other = JSON.parse(cli('keys', 'add', 'hsm-other', '--pkcs11', `pkcs11:token=${token};object=o`, '--create', '--pkcs11-module', hsm.module, '--pin-file', pinFile, '-o', 'json')) as Record<string, string>;
    assert.ok(fs.existsSync(path.join(home, `keyring-${backend}`, 'hsm-key.external.json')));

    const goList = oracleJson<GoKey[]>(['list', home, backend], { passphrase: FILE_PASS });
    const ours = await Keyring.open({ backend, dir: home, passphrase: { interactive: false, get: async () => FILE_PASS } }).list();
    assert.deepEqual(
      goList.map((k) => [k.name, k.type, k.address, k.pubkey_hex]),
      ours.map((k) => [k.name, k.type, k.address, toHex(k.publicKey!)]),
      'Go and we list the same names, record types, addresses and keys',
    );
    assert.deepEqual(ours.map((k) => [k.name, k.kind]), [['hsm-key', 'pkcs11'], ['hsm-other', 'pkcs11'], ['local-key', 'local']]);
    const shown = oracleJson<GoKey>(['show', home, backend, 'hsm-key'], { passphrase: FILE_PASS });
    assert.deepEqual([shown.type, shown.address], ['offline', hsmKey.address], 'arkeod keys show: an offline key with the token key\'s address');
    // arkeod never mistakes it for a local key: signing with it through the SDK fails.
    assert.throws(() => oracle(['sign', home, backend, 'hsm-key', '00'], { passphrase: FILE_PASS }), /oracle: cannot sign with offline keys/);

    oracle(['delete', home, backend, 'hsm-other'], { passphrase: FILE_PASS });
    const after = oracleJson<GoKey[]>(['list', home, backend], { passphrase: FILE_PASS }).map((k) => k.name);
    assert.deepEqual(after, ['hsm-key', 'local-key']);
    const ourNames = run(BIN.arkeoSigner, ['keys', 'list', '-n', '--home', home, '--keyring-backend', backend, '--passphrase-file', passFile]);
    assert.equal(ourNames.stdout, 'hsm-key\nlocal-key\n');
    assert.equal(ourNames.stderr, '', 'the location file arkeod left behind is not read (no record names it)');
    // Re-adding the existing token key under the same name replaces the leftover location file.
    cli('keys', 'add', 'hsm-other', '--pkcs11', `pkcs11:token=${token};object=o`, '--pkcs11-module', hsm.module, '--pin-file', pinFile);
    assert.equal(cli('keys', 'show', 'hsm-other', '-a'), other.address + '\n');
    // Our delete leaves a keyring Go still reads.
    cli('keys', 'delete', 'hsm-key', '-y');
    assert.deepEqual(oracleJson<GoKey[]>(['list', home, backend], { passphrase: FILE_PASS }).map((k) => k.name), ['hsm-other', 'local-key']);
  });
}

test('an offline key arkeod writes (keys add --pubkey) is a plain offline key in ours: listed, shown, and refused for signing', { timeout: 60_000 }, async (t) => {
  if (!requireComponent(t, haveGo, 'the go toolchain (interop oracle)')) return;
  const home = tempDir();
  const pub = publicKeyFromPrivate(secp256k1.utils.randomSecretKey());
  oracleJson<GoKey>(['save-offline', home, 'test', 'watch', toHex(pub)]);
  const kr = Keyring.open({ backend: 'test', dir: home });
  const info = await kr.get('watch');
  assert.deepEqual([info.type, info.kind, info.address], ['offline', 'offline', toAddress(pub)]);
  const shown = run(BIN.arkeoSigner, ['keys', 'show', 'watch', '--home', home, '-o', 'json']);
  assert.equal(JSON.parse(shown.stdout).kind, undefined, 'arkeod\'s own kinds print exactly as arkeod prints them');
  await assert.rejects(openSigner(kr, 'watch'), { code: 'CANNOT_SIGN', message: 'watch: is an offline key (public key only here); it cannot sign with arkeo-signer' });
});
