/*
 * A test-only addon (binding.gyp's wsnic_test, never shipped): the native path's frame codec
 * (wsframe.c) alone, for its unit tests (test/unit/codec.test.ts).
 *
 *   wsParse(bytes, server) -> { frames: [{ opcode, data }], used, error?: { code, reason } }
 */
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "napi_check.h"
#include "wsframe.h"

typedef struct {
    napi_env env;
    napi_value list;
    uint32_t n;
} ParseCtx;

static int parsed(void *ctx, int op, uint8_t *data, size_t len) {
    ParseCtx *p = ctx;
    napi_value o, v;
    napi_create_object(p->env, &o);
    napi_create_int32(p->env, op, &v);
    napi_set_named_property(p->env, o, "opcode", v);
    napi_create_buffer_copy(p->env, len, data, NULL, &v);
    napi_set_named_property(p->env, o, "data", v);
    napi_set_element(p->env, p->list, p->n++, o);
    return WS_GO;
}

/* The whole frames of bytes (a server's reader if server), or the close they call for. */
static napi_value ws_parse(napi_env env, napi_callback_info info) {
    size_t argc = 2, len;
    napi_value argv[2], result, v;
    void *data;
    bool server = true;
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 1 || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok) {
        napi_throw_type_error(env, NULL, "wsParse: a Buffer is needed");
        return NULL;
    }
    if (argc > 1) napi_get_value_bool(env, argv[1], &server);
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) return NULL;
    if (len) memcpy(copy, data, len);
    ParseCtx p = {env, NULL, 0};
    WsReader r;
    ws_reader_init(&r, MAX_MESSAGE, server);
    CHECK(napi_create_array(env, &p.list));
    ssize_t used = ws_read(&r, copy, len, &(WsHandlers){parsed, parsed}, &p);
    CHECK(napi_create_object(env, &result));
    CHECK(napi_set_named_property(env, result, "frames", p.list));
    napi_create_int64(env, used, &v);
    napi_set_named_property(env, result, "used", v);
    if (used < 0) {
        napi_value e;
        napi_create_object(env, &e);
        napi_create_int32(env, r.error_code, &v);
        napi_set_named_property(env, e, "code", v);
        napi_create_string_utf8(env, r.error, NAPI_AUTO_LENGTH, &v);
        napi_set_named_property(env, e, "reason", v);
        napi_set_named_property(env, result, "error", e);
    }
    ws_reader_free(&r);
    free(copy);
    return result;
}

static napi_value init(napi_env env, napi_value exports) {
    CHECK(EXPORT_FUNCTIONS(env, exports, JS_FUNCTION("wsParse", ws_parse)));
    return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
