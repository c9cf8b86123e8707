/*
 * The wsnic addon's entry point: the few system calls Node cannot make itself and the native
 * data path, each registered by its own file (addon.h), and `abi`, what TypeScript and C share
 * (abi.h). Errors become JS exceptions whose message names the call and the interface, with
 * .errno and .code (e.g. "EPERM"): napi_check.h.
 */
#include "abi.h"
#include "addon.h"
#include "napi_check.h"

/* abi: { <constant>: number, ..., close: { <name>: code }, stats: [names in index order],
   events: [names by type] } */
static napi_value abi_object(napi_env env) {
    napi_value abi, list, close, v;
    uint32_t i;
    CHECK(napi_create_object(env, &abi));
#define ABI_CONSTANT(c, js)                                \
    CHECK(napi_create_double(env, (double)(c), &v));       \
    CHECK(napi_set_named_property(env, abi, #js, v));
    ABI_CONSTANTS(ABI_CONSTANT)
#undef ABI_CONSTANT
    CHECK(napi_create_object(env, &close));
#define ABI_CLOSE(c, code, js)                             \
    CHECK(napi_create_int32(env, c, &v));                  \
    CHECK(napi_set_named_property(env, close, #js, v));
    ABI_CLOSE_CODES(ABI_CLOSE)
#undef ABI_CLOSE
    CHECK(napi_object_freeze(env, close));
    CHECK(napi_set_named_property(env, abi, "close", close));
#define ABI_NAME(c, js)                                                    \
    CHECK(napi_create_string_utf8(env, #js, NAPI_AUTO_LENGTH, &v));        \
    CHECK(napi_set_element(env, list, i++, v));
    i = 0;
    CHECK(napi_create_array(env, &list));
    ABI_STATS(ABI_NAME)
    CHECK(napi_set_named_property(env, abi, "stats", list));
    i = 0;
    CHECK(napi_create_array(env, &list));
    ABI_EVENTS(ABI_NAME)
    CHECK(napi_set_named_property(env, abi, "events", list));
#undef ABI_NAME
    CHECK(napi_object_freeze(env, abi));
    return abi;
}

static napi_value init(napi_env env, napi_value exports) {
    napi_value abi = abi_object(env);
    if (abi == NULL) return NULL;
    CHECK(napi_set_named_property(env, exports, "abi", abi));
    CHECK(tap_register(env, exports));
    CHECK(tapport_register(env, exports));
    CHECK(mask_register(env, exports));
    CHECK(notify_register(env, exports));
    CHECK(fdpass_register(env, exports));
    CHECK(plane_register(env, exports));
    CHECK(guard_register(env, exports));
    return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
