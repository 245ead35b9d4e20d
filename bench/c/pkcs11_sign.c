/*
 * A PKCS#11 module's own ECDSA signing rate: N threads, each with its own session on one token, signing a 32-byte
 * digest with one private key (C_SignInit + C_Sign, CKM_ECDSA) for S seconds. The daemon's PKCS#11 figures are set
 * beside this one, same module, token, key and number of sessions, so the ratio says what our path costs.
 *
 *   pkcs11_sign MODULE TOKEN_LABEL KEY_LABEL SESSIONS SECONDS   (the PIN in $PKCS11_PIN)
 *
 * Prints {"sessions":N,"seconds":S,"signatures":K,"rate":R,"errors":E} on stdout.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST_PTR p11;
static CK_SLOT_ID slot;
static CK_OBJECT_HANDLE key;
static volatile int stop;

struct worker {
  CK_SESSION_HANDLE session;
  unsigned long signatures;
  unsigned long errors;
};

static void *sign_loop(void *arg) {
  struct worker *w = arg;
  CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
  unsigned char digest[32], sig[128];
  for (int i = 0; i < 32; i++) digest[i] = (unsigned char)(i * 7 + 1);
  while (!stop) {
    CK_ULONG len = sizeof sig;
    digest[0]++;
    if (p11->C_SignInit(w->session, &mech, key) != CKR_OK || p11->C_Sign(w->session, digest, sizeof digest, sig, &len) != CKR_OK) w->errors++;
    else w->signatures++;
  }
  return NULL;
}

static int fail(const char *what, CK_RV rv) {
  fprintf(stderr, "pkcs11_sign: %s failed (0x%lx)\n", what, (unsigned long)rv);
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: pkcs11_sign MODULE TOKEN_LABEL KEY_LABEL SESSIONS SECONDS (PIN in $PKCS11_PIN)\n");
    return 2;
  }
  const char *pin = getenv("PKCS11_PIN");
  int sessions = atoi(argv[4]);
  double seconds = atof(argv[5]);
  if (!pin || sessions < 1 || sessions > 64 || seconds <= 0) return fail("arguments", 0);
  void *lib = dlopen(argv[1], RTLD_NOW);
  if (!lib) return fail("dlopen", 0);
  CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
  if (!get || get(&p11) != CKR_OK) return fail("C_GetFunctionList", 0);
  CK_C_INITIALIZE_ARGS init = {0};
  init.flags = CKF_OS_LOCKING_OK;
  CK_RV rv = p11->C_Initialize(&init);
  if (rv != CKR_OK) return fail("C_Initialize", rv);

  CK_SLOT_ID slots[64];
  CK_ULONG count = 64;
  if ((rv = p11->C_GetSlotList(CK_TRUE, slots, &count)) != CKR_OK) return fail("C_GetSlotList", rv);
  int found = 0;
  for (CK_ULONG i = 0; i < count && !found; i++) {
    CK_TOKEN_INFO info;
    if (p11->C_GetTokenInfo(slots[i], &info) != CKR_OK) continue;
    size_t n = strlen(argv[2]);
    if (n <= sizeof info.label && memcmp(info.label, argv[2], n) == 0 && (n == sizeof info.label || info.label[n] == ' ')) slot = slots[i], found = 1;
  }
  if (!found) return fail("finding the token", 0);

  struct worker *workers = calloc(sessions, sizeof *workers);
  for (int i = 0; i < sessions; i++) {
    if ((rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &workers[i].session)) != CKR_OK) return fail("C_OpenSession", rv);
  }
  if ((rv = p11->C_Login(workers[0].session, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin))) != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) return fail("C_Login", rv);

  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, argv[3], strlen(argv[3])}};
  CK_ULONG n = 0;
  if ((rv = p11->C_FindObjectsInit(workers[0].session, tmpl, 2)) != CKR_OK) return fail("C_FindObjectsInit", rv);
  p11->C_FindObjects(workers[0].session, &key, 1, &n);
  p11->C_FindObjectsFinal(workers[0].session);
  if (n != 1) return fail("finding the private key", 0);

  pthread_t *threads = calloc(sessions, sizeof *threads);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < sessions; i++) pthread_create(&threads[i], NULL, sign_loop, &workers[i]);
  struct timespec wait = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
  nanosleep(&wait, NULL);
  stop = 1;
  unsigned long total = 0, errors = 0;
  for (int i = 0; i < sessions; i++) {
    pthread_join(threads[i], NULL);
    total += workers[i].signatures;
    errors += workers[i].errors;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double elapsed = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("{\"sessions\":%d,\"seconds\":%.3f,\"signatures\":%lu,\"rate\":%.1f,\"errors\":%lu}\n", sessions, elapsed, total, total / elapsed, errors);
  for (int i = 0; i < sessions; i++) p11->C_CloseSession(workers[i].session);
  p11->C_Finalize(NULL);
  return errors ? 1 : 0;
}
