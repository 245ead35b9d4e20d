/* C baseline: libsecp256k1 secp256k1_ecdsa_sign over precomputed SHA-256 digests (RFC 6979, low-S).
 * Prints signatures per second for each repetition, one per line. Built and run by bench/run.ts. */
#include <secp256k1.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 5;
  secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_SIGN);
  unsigned char key[32], digests[1024][32], out[64];
  for (int i = 0; i < 32; i++) key[i] = (unsigned char)(i + 1);
  for (int m = 0; m < 1024; m++)
    for (int i = 0; i < 32; i++) digests[m][i] = (unsigned char)(m * 31 + i * 7);
  secp256k1_ecdsa_signature sig;
  for (int r = 0; r < reps; r++) {
    long n = 0;
    double start = now(), end;
    do {
      for (int k = 0; k < 256; k++, n++) {
        secp256k1_ecdsa_sign(ctx, &sig, digests[n & 1023], key, NULL, NULL);
        secp256k1_ecdsa_signature_serialize_compact(ctx, out, &sig);
      }
      end = now();
    } while (end - start < 1.0);
    printf("%.0f\n", n / (end - start));
  }
  secp256k1_context_destroy(ctx);
  return out[0] == 0xff && out[1] == 0xff ? 1 : 0;
}
