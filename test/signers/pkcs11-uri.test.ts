import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPkcs11Uri, parsePkcs11Uri } from '../../src/signers/index.js';
import { parseConfig } from '../../src/daemon/index.js';

/** RFC 7512 examples (§3.3) and the refusals that keep a PIN out of keyring files. */
test('RFC 7512 URIs: token/object/id/serial, percent-escapes, module-path; canonical form round-trips', { timeout: 10_000 }, () => {
  const u = parsePkcs11Uri('pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;object=my-certificate;id=%01%02%AB;serial=abc;type=private?module-path=/usr/lib/p11.so');
  assert.equal(u.token, 'The Software PKCS#11 Softtoken');
  assert.equal(u.object, 'my-certificate');
  assert.deepEqual([...u.id!], [1, 2, 0xab]);
  assert.equal(u.serial, 'abc');
  assert.equal(u.modulePath, '/usr/lib/p11.so');
  const text = formatPkcs11Uri(u);
  assert.equal(text, 'pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;serial=abc;object=my-certificate;id=%01%02%AB;type=private');
  const again = parsePkcs11Uri(text);
  assert.deepEqual({ ...again, modulePath: undefined }, { ...u, modulePath: undefined });
  assert.equal(parsePkcs11Uri('pkcs11:token=t;object=%C3%BCn%C3%AF').object, 'ünï');
  assert.equal(parsePkcs11Uri('pkcs11:object=k;token=t;manufacturer=SoftHSM%20project').token, 't', 'other RFC 7512 attributes are accepted');
});

test('bad URIs: one line naming the attribute; a PIN in the URI is refused without echoing it', { timeout: 10_000 }, () => {
  const bad: [string, RegExp][] = [
    ['token=t;object=k', /expected "pkcs11:token=LABEL;object=LABEL"/],
    ['pkcs11:object=k', /token=LABEL is required/],
    ['pkcs11:token=t', /give object=LABEL and\/or id=/],
    ['pkcs11:token=t;object=k;object=j', /"object" given twice/],
    ['pkcs11:token=t;objekt=k', /unknown attribute "objekt"/],
    ['pkcs11:token=t;id=%0', /id: bad percent-escape/],
    ['pkcs11:token=t;object=%ff', /object: not valid UTF-8/],
    ['pkcs11:token=t;object=k;type=cert', /type: expected private/],
    ['pkcs11:token=t;object=k?pin-value=1234', /pin-value is not accepted/],
    ['pkcs11:token=t;object=k?pin-source=file:/x', /pin-source is not accepted/],
  ];
  for (const [uri, why] of bad) {
    assert.throws(() => parsePkcs11Uri(uri), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'BAD_PKCS11_URI', uri);
      assert.match(e.message, why, uri);
      assert.ok(!e.message.includes('\n') && !e.message.includes('1234'), uri);
      return true;
    });
  }
});

test('daemon config [pkcs11]: sessions, retries, pin_file, module; bad values name the field', { timeout: 10_000 }, () => {
  const c = parseConfig('[pkcs11]\nsessions = 4\nretries = 2\npin_file = "pin"\nmodule = "/usr/lib/softhsm/libsofthsm2.so"\n', '/etc/a/daemon.toml');
  assert.deepEqual(c.pkcs11, { sessions: 4, retries: 2, pin_file: '/etc/a/pin', module: '/usr/lib/softhsm/libsofthsm2.so' });
  assert.deepEqual(parseConfig('', 'x.toml').pkcs11, { sessions: 2, retries: 3 });
  assert.throws(() => parseConfig('[pkcs11]\nsessions = 65\n', 'd.toml'), /^InputError: d.toml: pkcs11.sessions: at most 64$/m);
  assert.throws(() => parseConfig('[pkcs11]\npin = "1234"\n', 'd.toml'), /d.toml: pkcs11.pin: unknown field/);
});
