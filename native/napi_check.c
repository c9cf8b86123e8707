/* Errors with an errno for JS, and string arguments: see napi_check.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "napi_check.h"

static const char *errno_code(int err) {
    switch (err) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case ENODEV: return "ENODEV";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case EIO: return "EIO";
    case ENOMEM: return "ENOMEM";
    case ENOBUFS: return "ENOBUFS";
    case EMSGSIZE: return "EMSGSIZE";
    case EXFULL: return "EXFULL";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EROFS: return "EROFS";
    case ENOTCONN: return "ENOTCONN";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    default: return "EUNKNOWN";
    }
}

napi_value errno_error(napi_env env, int err, const char *what) {
    char msg[256];
    napi_value error, message, code, num;
    snprintf(msg, sizeof msg, "%s: %s (%s)", what, strerror(err), errno_code(err));
    napi_create_string_utf8(env, errno_code(err), NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, code, message, &error);
    napi_create_int32(env, err, &num);
    napi_set_named_property(env, error, "errno", num);
    napi_set_named_property(env, error, "code", code);
    return error;
}

void throw_errno(napi_env env, int err, const char *what) {
    napi_throw(env, errno_error(env, err, what));
}

int get_string(napi_env env, napi_value v, char *buf, size_t size, const char *what) {
    size_t len;
    if (napi_get_value_string_utf8(env, v, buf, size, &len) != napi_ok) {
        napi_throw_type_error(env, NULL, what);
        return -1;
    }
    if (len >= size - 1) {
        napi_throw_range_error(env, NULL, what);
        return -1;
    }
    return 0;
}

bool get_number(napi_env env, napi_value obj, const char *key, double *out) {
    napi_value v;
    napi_valuetype t;
    if (napi_get_named_property(env, obj, key, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok) return false;
    if (t == napi_undefined) return true;
    return napi_get_value_double(env, v, out) == napi_ok;
}

bool get_bool(napi_env env, napi_value obj, const char *key, bool *out) {
    napi_value v;
    napi_valuetype t;
    if (napi_get_named_property(env, obj, key, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok) return false;
    if (t == napi_undefined) return true;
    return t == napi_boolean && napi_get_value_bool(env, v, out) == napi_ok;
}
