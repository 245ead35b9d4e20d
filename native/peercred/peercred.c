/* Peer credentials of a connected unix socket (Linux SO_PEERCRED): who is calling the key daemon.
 * Node has no API for this; the daemon loads this addon when it was built and records uid/pid in the audit log. */
#define _GNU_SOURCE
#include <node_api.h>
#include <sys/socket.h>
#include <sys/types.h>

static napi_value set_int(napi_env env, napi_value obj, const char *name, int64_t v) {
  napi_value n;
  napi_create_int64(env, v, &n);
  napi_set_named_property(env, obj, name, n);
  return obj;
}

/* peerCred(fd) -> { pid, uid, gid } or null when the fd is not a connected unix socket. */
static napi_value PeerCred(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "peerCred: expected a file descriptor");
    return NULL;
  }
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred)) {
    napi_get_null(env, &result);
    return result;
  }
  napi_create_object(env, &result);
  set_int(env, result, "pid", cred.pid);
  set_int(env, result, "uid", cred.uid);
  set_int(env, result, "gid", cred.gid);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "peerCred", NAPI_AUTO_LENGTH, PeerCred, NULL, &fn);
  napi_set_named_property(env, exports, "peerCred", fn);
  return exports;
}
