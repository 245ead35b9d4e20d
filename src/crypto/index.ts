export { parseHex, toHex, utf8, concatBytes, equalBytes, wipe } from './bytes.js';
export {
  CURVE_ORDER,
  type CurveEngine,
  availableEngines,
  curveEngine,
  curveEngineNote,
  sha256,
  sha256Hex,
  signMessage,
  signDigest,
  verifySignature,
  verifyDigest,
  publicKeyFromPrivate,
  isValidPublicKey,
  isLowS,
  normalizeLowS,
  highSTwin,
} from './secp256k1.js';
export {
  DEFAULT_HD_PATH,
  COSMOS_COIN_TYPE,
  type DeriveOptions,
  hdPathFor,
  validateHdPath,
  generateMnemonic,
  checkMnemonic,
  mnemonicToSeed,
  deriveKey,
} from './hd.js';
export { PREFIXES, addressBytes, toAddress, toBech32PubKey, parseAddress, parseBech32PubKey } from './address.js';
