/**
 * Cloud KMS signers: AWS KMS, Azure Key Vault, Google Cloud KMS. Each is a `Signer`; the SDKs load on first use,
 * so importing this module costs nothing for programs that never sign with a cloud key.
 */
export { CloudSigner, type CloudKind, type CloudSignerOptions, type CloudHealth, spkiToCompressed, xyToCompressed, derToCompact } from './base.js';
export { KmsError, CloudStats, type CloudStatsSnapshot, type RetryPolicy, DEFAULT_RETRY, LATENCY_BUCKETS_MS } from './retry.js';
export { AwsKmsSigner, createAwsKmsKey, parseAwsKmsReference, AWS_KMS_PREFIX, type AwsKmsOptions, type AwsKmsReference, type CreateAwsKmsKeyOptions } from './aws-kms.js';
export { AzureKvSigner, createAzureKvKey, parseAzureKvReference, AZURE_KV_PREFIX, type AzureKvOptions, type AzureKvReference, type CreateAzureKvKeyOptions } from './azure-kv.js';
export { GcpKmsSigner, createGcpKmsKey, parseGcpKmsReference, GCP_KMS_PREFIX, type GcpKmsOptions, type GcpKmsReference, type CreateGcpKmsKeyOptions } from './gcp-kms.js';
import { AwsKmsSigner, AWS_KMS_PREFIX, type AwsKmsOptions } from './aws-kms.js';
import { AzureKvSigner, AZURE_KV_PREFIX, type AzureKvOptions } from './azure-kv.js';
import { GcpKmsSigner, GCP_KMS_PREFIX, type GcpKmsOptions } from './gcp-kms.js';
import type { CloudSigner, CloudSignerOptions } from './base.js';
import { KmsError } from './retry.js';

/** Per-cloud options for cloudSignerFor; the common ones (expected key, timeouts, stats) apply to whichever is used. */
export interface CloudSignerForOptions extends CloudSignerOptions {
  aws?: AwsKmsOptions;
  azure?: AzureKvOptions;
  gcp?: GcpKmsOptions;
}

/** The signer for an `awskms:`, `azurekv:` or `gcpkms:` reference. */
export function cloudSignerFor(reference: string, options: CloudSignerForOptions = {}): CloudSigner {
  const { aws, azure, gcp, ...common } = options;
  if (reference.startsWith(AWS_KMS_PREFIX)) return new AwsKmsSigner(reference, { ...common, ...aws });
  if (reference.startsWith(AZURE_KV_PREFIX)) return new AzureKvSigner(reference, { ...common, ...azure });
  if (reference.startsWith(GCP_KMS_PREFIX)) return new GcpKmsSigner(reference, { ...common, ...gcp });
  throw new KmsError('BAD_REFERENCE', `key reference ${JSON.stringify(String(reference)).slice(0, 120)}: expected awskms:ARN, azurekv:https://VAULT/keys/NAME[/VERSION] or gcpkms:projects/…/cryptoKeyVersions/N`);
}
