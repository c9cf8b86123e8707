/*
 * What every N-API file of the addon uses to turn failures into JS exceptions:
 *
 *   CHECK(call)                  an N-API call that failed throws an Error naming it, and the
 *                                calling function returns NULL (needs `env` in scope)
 *   errno_error(env, err, what)  Error("<what>: <strerror> (<CODE>)") with .errno and .code
 *   throw_errno(env, err, what)  the same, thrown
 *   get_string(env, v, buf, size, what)   a string argument into buf: 0, or -1 with a
 *                                TypeError (not a string) or RangeError (too long) thrown
 *   get_number(env, obj, key, &out)   obj[key] into out if it is a number, left as is if
 *                                undefined: false if it is something else
 *   get_bool(env, obj, key, &out)     the same for a boolean
 *   EXPORT_FUNCTIONS(env, exports, JS_FUNCTION("name", fn), ...)   a file's functions, added
 *                                to the exports (a napi_status)
 */
#ifndef WSNIC_NAPI_CHECK_H
#define WSNIC_NAPI_CHECK_H
#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>

#define CHECK(call)                                                                    \
    do {                                                                               \
        if ((call) != napi_ok) {                                                       \
            napi_throw_error(env, NULL, "wsnic addon: N-API call failed: " #call);    \
            return NULL;                                                               \
        }                                                                              \
    } while (0)

#define JS_FUNCTION(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_default, NULL}
#define EXPORT_FUNCTIONS(env, exports, ...)                                                          \
    napi_define_properties(env, exports, sizeof((napi_property_descriptor[]){__VA_ARGS__}) / sizeof(napi_property_descriptor), \
                           (napi_property_descriptor[]){__VA_ARGS__})

napi_value errno_error(napi_env env, int err, const char *what);
void throw_errno(napi_env env, int err, const char *what);
int get_string(napi_env env, napi_value v, char *buf, size_t size, const char *what);
bool get_number(napi_env env, napi_value obj, const char *key, double *out);
bool get_bool(napi_env env, napi_value obj, const char *key, bool *out);

#endif
