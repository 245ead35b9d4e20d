/* A thin N-API binding to the system's libsecp256k1 (Debian's libsecp256k1-dev): sign, verify, public key, point check.
 * Why not only the npm `secp256k1` addon: it vendors a 2019 snapshot of the library, which signs and verifies at
 * about 0.7x the speed of the distribution's 0.2.0 here and gets no security updates from the OS. This file adds
 * no cryptography of its own: every operation is one libsecp256k1 call on caller-owned buffers (no copies of the
 * private key are made here), and the TypeScript side checks it against a known answer before using it. */
#include <node_api.h>
#include <secp256k1.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static void destroy_context(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  secp256k1_context_destroy((secp256k1_context *)data);
}

static int bytes_arg(napi_env env, napi_value v, size_t want, const unsigned char **out) {
  bool is;
  napi_typedarray_type type;
  size_t len;
  void *data;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  if (napi_get_typedarray_info(env, v, &type, &len, &data, NULL, NULL) != napi_ok) return 0;
  if (type != napi_uint8_array || len != want) return 0;
  *out = data;
  return 1;
}

static napi_value new_bytes(napi_env env, const unsigned char *src, size_t len) {
  void *data;
  napi_value buf, arr;
  napi_create_arraybuffer(env, len, &data, &buf);
  memcpy(data, src, len);
  napi_create_typedarray(env, napi_uint8_array, len, buf, 0, &arr);
  return arr;
}

static secp256k1_context *ctx_of(napi_env env) {
  void *ctx = NULL;
  napi_get_instance_data(env, &ctx);
  return ctx;
}

/* sign(digest32, seckey32) -> 64-byte compact r||s, RFC 6979 nonce, always low-S; null if the key is invalid. */
static napi_value Sign(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  const unsigned char *digest, *seckey;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 2 || !bytes_arg(env, argv[0], 32, &digest) || !bytes_arg(env, argv[1], 32, &seckey)) {
    napi_throw_type_error(env, NULL, "sign: expected a 32-byte digest and a 32-byte key");
    return NULL;
  }
  secp256k1_ecdsa_signature sig;
  unsigned char out[64];
  if (!secp256k1_ecdsa_sign(ctx_of(env), &sig, digest, seckey, NULL, NULL)) {
    napi_get_null(env, &result);
    return result;
  }
  secp256k1_ecdsa_signature_serialize_compact(ctx_of(env), out, &sig);
  return new_bytes(env, out, 64);
}

/* verify(sig64, digest32, pubkey33) -> boolean; false for high-S (libsecp256k1 requires the lower form). */
static napi_value Verify(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], result;
  const unsigned char *sig64, *digest, *pub33;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 3 || !bytes_arg(env, argv[0], 64, &sig64) || !bytes_arg(env, argv[1], 32, &digest) || !bytes_arg(env, argv[2], 33, &pub33)) {
    napi_throw_type_error(env, NULL, "verify: expected a 64-byte signature, a 32-byte digest and a 33-byte public key");
    return NULL;
  }
  secp256k1_ecdsa_signature sig;
  secp256k1_pubkey pub;
  int ok = secp256k1_ecdsa_signature_parse_compact(ctx_of(env), &sig, sig64) && secp256k1_ec_pubkey_parse(ctx_of(env), &pub, pub33, 33) &&
           secp256k1_ecdsa_verify(ctx_of(env), &sig, digest, &pub);
  napi_get_boolean(env, ok, &result);
  return result;
}

/* publicKey(seckey32) -> 33-byte compressed public key; null if the key is invalid. */
static napi_value PublicKey(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  const unsigned char *seckey;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 1 || !bytes_arg(env, argv[0], 32, &seckey)) {
    napi_throw_type_error(env, NULL, "publicKey: expected a 32-byte key");
    return NULL;
  }
  secp256k1_pubkey pub;
  unsigned char out[33];
  size_t len = 33;
  if (!secp256k1_ec_pubkey_create(ctx_of(env), &pub, seckey)) {
    napi_get_null(env, &result);
    return result;
  }
  secp256k1_ec_pubkey_serialize(ctx_of(env), out, &len, &pub, SECP256K1_EC_COMPRESSED);
  return new_bytes(env, out, 33);
}

/* publicKeyVerify(pubkey33) -> boolean: a compressed point on the curve (prefix 02/03, x below p, y exists). */
static napi_value PublicKeyVerify(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  const unsigned char *pub33;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 1 || !bytes_arg(env, argv[0], 33, &pub33)) {
    napi_throw_type_error(env, NULL, "publicKeyVerify: expected a 33-byte public key");
    return NULL;
  }
  secp256k1_pubkey pub;
  napi_get_boolean(env, secp256k1_ec_pubkey_parse(ctx_of(env), &pub, pub33, 33), &result);
  return result;
}

NAPI_MODULE_INIT() {
  /* One context per Node environment (main thread or worker). Randomized: libsecp256k1's blinding of the
   * signing computation against side channels. */
  secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_SIGN | SECP256K1_CONTEXT_VERIFY);
  unsigned char seed[32];
  if (!ctx || getrandom(seed, sizeof seed, 0) != sizeof seed || !secp256k1_context_randomize(ctx, seed)) {
    if (ctx) secp256k1_context_destroy(ctx);
    napi_throw_error(env, NULL, "libsecp256k1: could not create a randomized context");
    return NULL;
  }
  memset(seed, 0, sizeof seed);
  napi_set_instance_data(env, ctx, destroy_context, NULL);
  const struct { const char *name; napi_callback fn; } fns[] = {{"sign", Sign}, {"verify", Verify}, {"publicKey", PublicKey}, {"publicKeyVerify", PublicKeyVerify}};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  napi_value version;
  napi_create_string_utf8(env, "system libsecp256k1", NAPI_AUTO_LENGTH, &version);
  napi_set_named_property(env, exports, "library", version);
  return exports;
}
