export {
  type Backend,
  BACKENDS,
  type KeyInfo,
  type MigrationResult,
  type KeyringOptions,
  type PassphraseRequest,
  type PassphraseSource,
  Keyring,
  MAX_PASSPHRASE_ATTEMPTS,
  TEST_BACKEND_PASSWORD,
  defaultHome,
  defaultKeyringService,
  DEFAULT_KEYRING_SERVICE,
  validateKeyName,
  checkStorableName,
  showName,
  FILE_NAME_MAX_BYTES,
} from './keyring.js';
export { type Armor, type EncryptArmorOptions, type DecryptArmorOptions, decodeArmor, encodeArmor, crc24, encryptPrivateKeyArmor, decryptPrivateKeyArmor, encodePublicKeyArmor, PRIVATE_KEY_BLOCK, PUBLIC_KEY_BLOCK } from './armor.js';
export { type KeyRecord, type RecordType, type AnyMessage, encodeRecord, decodeRecord, newLocalRecord, newOfflineRecord, secp256k1PubKeyAny, pubKeyProtoJson, PUBKEY_TYPE_URL, PRIVKEY_TYPE_URL, MULTISIG_TYPE_URL } from './record.js';
export { type Item, encodeItem, decodeItem } from './item.js';
export { encryptJwe, decryptJwe, DEFAULT_P2C } from './jwe.js';
export { checkPassphraseRules, MIN_PASSPHRASE_LENGTH } from './keyhash.js';
export { percentEncode, percentDecode } from './percent.js';
export { type ExternalKeyRecord, EXTERNAL_SUFFIX } from './external.js';
export { goJsonString } from './gojson.js';
export { STORAGE_BACKENDS, storageBackend } from './backends/registry.js';
export { type StorageBackend, type StorageCheck, type ItemStore } from './store.js';
