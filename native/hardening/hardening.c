/*
 * Process hardening for the key daemon, which Node has no API for: no core dumps and no same-user ptrace
 * (prctl PR_SET_DUMPABLE 0, RLIMIT_CORE 0), locked key pages (mlock), and the sd_notify datagram for systemd's
 * Type=notify. Every function returns 0 or an errno value; the JavaScript side (src/daemon/hardening.ts) decides
 * what is fatal and what is a warning.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <string.h>
#include <stddef.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif

static napi_value int_value(napi_env env, int64_t v) {
  napi_value n;
  napi_create_int64(env, v, &n);
  return n;
}

/* setNotDumpable() -> errno: PR_SET_DUMPABLE 0 makes /proc/<pid>/mem, environ etc. root-owned and refuses ptrace
   by the same uid, and the kernel writes no core dump of this process. */
static napi_value SetNotDumpable(napi_env env, napi_callback_info info) {
  return int_value(env, prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 ? 0 : errno);
}

static napi_value IsDumpable(napi_env env, napi_callback_info info) {
  return int_value(env, prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
}

/* disableCoreDumps() -> errno: soft and hard RLIMIT_CORE 0, so nothing in this process can raise it again. */
static napi_value DisableCoreDumps(napi_env env, napi_callback_info info) {
  struct rlimit none = {0, 0};
  return int_value(env, setrlimit(RLIMIT_CORE, &none) == 0 ? 0 : errno);
}

/* lockPages(typedArray) -> errno: mlock the pages holding these bytes (a key's off-heap buffer, whose address
   never moves). Not mlockall: V8 changes protections and discards pages of its own heap, which fails on locked
   pages and aborts the process (seen on Node 20 with MCL_CURRENT and with MCL_FUTURE). */
static napi_value LockPages(napi_env env, napi_callback_info info) {
  size_t argc = 1, length = 0;
  napi_value argv[1];
  napi_typedarray_type type;
  void *data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "lockPages: expected a Uint8Array");
    return NULL;
  }
  if (length == 0) return int_value(env, 0);
  return int_value(env, mlock(data, length) == 0 ? 0 : errno);
}

/* memlockLimit() -> soft RLIMIT_MEMLOCK in bytes, or -1 for unlimited. */
static napi_value MemlockLimit(napi_env env, napi_callback_info info) {
  struct rlimit r;
  if (getrlimit(RLIMIT_MEMLOCK, &r) != 0) return int_value(env, -2);
  return int_value(env, r.rlim_cur == RLIM_INFINITY ? -1 : (int64_t)r.rlim_cur);
}

/* notify(socketPath, state) -> errno: one sd_notify datagram ("READY=1", "STOPPING=1") to $NOTIFY_SOCKET, a path
   or an abstract name starting with '@'. */
static napi_value Notify(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char where[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
  char state[1024];
  size_t wlen = 0, slen = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_string_utf8(env, argv[0], where, sizeof(where), &wlen) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], state, sizeof(state), &slen) != napi_ok) {
    napi_throw_type_error(env, NULL, "notify: expected (socketPath, state) strings");
    return NULL;
  }
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  if (wlen < 2 || wlen >= sizeof(addr.sun_path) || (where[0] != '/' && where[0] != '@')) return int_value(env, EINVAL);
  memcpy(addr.sun_path, where, wlen);
  if (where[0] == '@') addr.sun_path[0] = '\0';
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return int_value(env, errno);
  socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + wlen);
  ssize_t n = sendto(fd, state, slen, MSG_NOSIGNAL, (struct sockaddr *)&addr, alen);
  int err = n < 0 ? errno : ((size_t)n == slen ? 0 : EIO);
  close(fd);
  return int_value(env, err);
}

NAPI_MODULE_INIT() {
  const struct { const char *name; napi_callback fn; } fns[] = {
    {"setNotDumpable", SetNotDumpable}, {"isDumpable", IsDumpable}, {"disableCoreDumps", DisableCoreDumps},
    {"lockPages", LockPages}, {"memlockLimit", MemlockLimit}, {"notify", Notify},
  };
  for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  return exports;
}
