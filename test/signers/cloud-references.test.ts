import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KmsError, cloudSignerFor, parseAwsKmsReference, parseAzureKvReference, parseGcpKmsReference } from '../../src/signers/index.js';
import { oneLine } from '../../src/signers/cloud/retry.js';

/** Reference strings are checked at the boundary, with one line that says what shape is expected. No server needed. */

function badRef(fn: () => unknown, mentions: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof KmsError, String(e));
    assert.equal(e.code, 'BAD_REFERENCE');
    assert.match(e.message, mentions);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
}

test('awskms: key and alias ARNs parse (region, account, partition); bare ids, other services and AWS managed aliases are refused', { timeout: 10_000 }, () => {
  const k = parseAwsKmsReference('awskms:arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab');
  assert.deepEqual(k, { arn: 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab', partition: 'aws', region: 'us-east-1', account: '111122223333', type: 'key', id: '1234abcd-12ab-34cd-56ef-1234567890ab' });
  assert.equal(parseAwsKmsReference('awskms:arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab').id, 'mrk-1234abcd12ab34cd56ef1234567890ab');
  const a = parseAwsKmsReference('awskms:arn:aws-cn:kms:cn-north-1:111122223333:alias/arkeo/claims_1');
  assert.equal(a.type, 'alias');
  assert.equal(a.id, 'alias/arkeo/claims_1');
  badRef(() => parseAwsKmsReference('awskms:1234abcd-12ab-34cd-56ef-1234567890ab'), /full ARN/);
  badRef(() => parseAwsKmsReference('awskms:alias/claims'), /full ARN/);
  badRef(() => parseAwsKmsReference('awskms:arn:aws:s3:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab'), /expected arn:aws:kms/);
  badRef(() => parseAwsKmsReference('awskms:arn:aws:kms:us-east-1:1111:key/1234abcd-12ab-34cd-56ef-1234567890ab'), /expected arn:aws:kms/);
  badRef(() => parseAwsKmsReference('awskms:arn:aws:kms:us-east-1:111122223333:alias/aws/ebs'), /AWS managed key/);
  badRef(() => parseAwsKmsReference('arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab'), /expected awskms:/);
});

test('azurekv: key URLs with and without a version; http, other hosts, bad names or versions, queries are refused', { timeout: 10_000 }, () => {
  assert.deepEqual(parseAzureKvReference('azurekv:https://my-vault.vault.azure.net/keys/claims-1'), { vaultUrl: 'https://my-vault.vault.azure.net', name: 'claims-1' });
  assert.deepEqual(parseAzureKvReference('azurekv:https://hsm1.managedhsm.azure.net/keys/k/0123456789abcdef0123456789abcdef'), { vaultUrl: 'https://hsm1.managedhsm.azure.net', name: 'k', version: '0123456789abcdef0123456789abcdef' });
  badRef(() => parseAzureKvReference('azurekv:http://my-vault.vault.azure.net/keys/k'), /must be https/);
  badRef(() => parseAzureKvReference('azurekv:https://example.com/keys/k'), /not a Key Vault or Managed HSM host/);
  badRef(() => parseAzureKvReference('azurekv:https://my-vault.vault.azure.net/secrets/k'), /the path must be \/keys\/NAME/);
  badRef(() => parseAzureKvReference('azurekv:https://my-vault.vault.azure.net/keys/k_1'), /the path must be/);
  badRef(() => parseAzureKvReference('azurekv:https://my-vault.vault.azure.net/keys/k/123'), /32-hex-digit version/);
  badRef(() => parseAzureKvReference('azurekv:https://my-vault.vault.azure.net/keys/k?api-version=7.6'), /no user, query or fragment/);
  badRef(() => parseAzureKvReference('azurekv:not a url'), /not a URL/);
  assert.equal(parseAzureKvReference('azurekv:https://127.0.0.1:8443/keys/k', { allowAnyHost: true }).vaultUrl, 'https://127.0.0.1:8443');
});

test('gcpkms: cryptoKeyVersion names parse; a key without a version, bad segments and other prefixes are refused', { timeout: 10_000 }, () => {
  const r = parseGcpKmsReference('gcpkms:projects/my-project/locations/europe-west1/keyRings/ring_1/cryptoKeys/claims-key/cryptoKeyVersions/3');
  assert.deepEqual(r, { name: 'projects/my-project/locations/europe-west1/keyRings/ring_1/cryptoKeys/claims-key/cryptoKeyVersions/3', project: 'my-project', location: 'europe-west1', keyRing: 'ring_1', cryptoKey: 'claims-key', version: '3' });
  assert.equal(parseGcpKmsReference('gcpkms:projects/example.com:my-project/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1').project, 'example.com:my-project');
  badRef(() => parseGcpKmsReference('gcpkms:projects/my-project/locations/global/keyRings/r/cryptoKeys/k'), /add \/cryptoKeyVersions\/N/);
  badRef(() => parseGcpKmsReference('gcpkms:projects/my-project/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/0'), /expected gcpkms:projects/);
  badRef(() => parseGcpKmsReference('gcpkms:projects/My_Project/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1'), /expected gcpkms:projects/);
  badRef(() => parseGcpKmsReference('projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1'), /expected gcpkms:/);
});

test('cloudSignerFor picks the backend by prefix without loading any SDK or calling anything; an unknown prefix is refused', { timeout: 10_000 }, () => {
  assert.equal(cloudSignerFor('awskms:arn:aws:kms:us-east-1:111122223333:alias/x').kind, 'aws-kms');
  assert.equal(cloudSignerFor('azurekv:https://v.vault.azure.net/keys/k').kind, 'azure-kv');
  assert.equal(cloudSignerFor('gcpkms:projects/my-project/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1').kind, 'gcp-kms');
  badRef(() => cloudSignerFor('pkcs11:token=x'), /expected awskms:ARN/);
});

test('SDK error text is folded to one line with bearer tokens, JWTs, SigV4 fields and access keys redacted', { timeout: 10_000 }, () => {
  const text = 'denied\nAuthorization: Bearer abc.def-ghi X-Amz-Security-Token=FwoGZXIvYXdzEBY Credential=AKIAIOSFODNN7EXAMPLE/20261129 eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig access_token=ya29.secret';
  const out = oneLine(text);
  assert.ok(!out.includes('\n'));
  for (const secret of ['abc.def-ghi', 'FwoGZXIvYXdzEBY', 'AKIAIOSFODNN7EXAMPLE', 'eyJhbGciOiJIUzI1NiJ9', 'ya29.secret']) assert.ok(!out.includes(secret), `${secret} redacted: ${out}`);
  assert.ok(oneLine('x'.repeat(500)).length <= 200);
});
