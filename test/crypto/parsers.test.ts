import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bech32 } from '@scure/base';
import { InputError } from '../../src/errors.js';
import { checkMnemonic, deriveKey, hdPathFor, parseAddress, parseBech32PubKey, parseHex, validateHdPath } from '../../src/crypto/index.js';

const VALID_24 = 'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art';

function throwsCode(fn: () => unknown, code: string, includes?: string) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof InputError, `expected InputError, got ${String(e)}`);
    assert.equal(e.code, code);
    if (includes) assert.ok(e.message.includes(includes), e.message);
    assert.ok(!e.message.includes('\n'), 'one-line message');
    return true;
  });
}

test('parseHex: strict, bounded, names the input', { timeout: 60_000 }, () => {
  assert.deepEqual(parseHex('0x0aFF', 'x'), Uint8Array.of(10, 255));
  throwsCode(() => parseHex('abc', 'signature'), 'BAD_HEX', 'signature');
  throwsCode(() => parseHex('zz', 'signature'), 'BAD_HEX');
  throwsCode(() => parseHex('00 11', 'x'), 'BAD_HEX');
  throwsCode(() => parseHex('00', 'private key', 32), 'BAD_LENGTH', 'expected 32 bytes, got 1');
  throwsCode(() => parseHex('ab'.repeat(33), 'private key', 32), 'BAD_LENGTH');
});

test('mnemonic: bad checksum, unknown word, wrong count; messages never echo the words', { timeout: 60_000 }, () => {
  checkMnemonic(VALID_24);
  const badChecksum = VALID_24.replace(/art$/, 'abandon');
  throwsCode(() => checkMnemonic(badChecksum), 'BAD_MNEMONIC', 'checksum');
  throwsCode(() => checkMnemonic(VALID_24.replace('abandon', 'zzzcanaryzzz')), 'BAD_MNEMONIC', 'word 1');
  throwsCode(() => checkMnemonic('abandon abandon'), 'BAD_MNEMONIC', 'got 2');
  throwsCode(() => deriveKey(''), 'BAD_MNEMONIC');
  try {
    checkMnemonic(VALID_24.replace('abandon', 'zzzcanaryzzz'));
  } catch (e) {
    assert.ok(!(e as Error).message.includes('zzzcanaryzzz'));
    assert.ok(!(e as Error).message.includes('abandon'));
  }
});

test('hd paths: validated, and account/index produce distinct keys', { timeout: 60_000 }, () => {
  assert.equal(hdPathFor(), "m/44'/118'/0'/0/0");
  assert.equal(hdPathFor(2, 5), "m/44'/118'/2'/0/5");
  throwsCode(() => validateHdPath('44/118'), 'BAD_HD_PATH');
  throwsCode(() => validateHdPath("m/44'/118'/0'/0/x"), 'BAD_HD_PATH');
  throwsCode(() => validateHdPath("m/4294967296'"), 'BAD_HD_PATH');
  throwsCode(() => hdPathFor(-1), 'BAD_HD_PATH');
  const a = deriveKey(VALID_24);
  const b = deriveKey(VALID_24, { hdPath: hdPathFor(0, 1) });
  const c = deriveKey(VALID_24, { bip39Passphrase: 'extra' });
  assert.notDeepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('bech32 parsers: wrong prefix, bad checksum, wrong payload, oversized input', { timeout: 60_000 }, () => {
  const addr = 'arkeo1hnyy4gp5tgarpg3xu6w5cw4zsyphx2lyr6fljp';
  assert.equal(parseAddress(addr).length, 20);
  throwsCode(() => parseAddress(addr, 'cosmos'), 'BAD_BECH32_PREFIX', 'expected cosmos, got arkeo');
  throwsCode(() => parseAddress(addr.slice(0, -1) + 'q'), 'BAD_BECH32');
  throwsCode(() => parseAddress('arkeo1' + 'q'.repeat(200)), 'BAD_BECH32', 'longer than');
  throwsCode(() => parseAddress(''), 'BAD_BECH32');
  throwsCode(() => parseBech32PubKey(addr, 'arkeo'), 'BAD_PUBLIC_KEY');
  const notAPoint = bech32.encode('arkeopub', bech32.toWords(Uint8Array.of(0xeb, 0x5a, 0xe9, 0x87, 0x21, 0x02, ...new Uint8Array(32).fill(0xff))));
  throwsCode(() => parseBech32PubKey(notAPoint), 'BAD_PUBLIC_KEY', 'not a point');
  const shortAddr = bech32.encode('arkeo', bech32.toWords(new Uint8Array(19)));
  throwsCode(() => parseAddress(shortAddr), 'BAD_ADDRESS', 'expected 20 bytes');
});
