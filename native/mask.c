/*
 * WebSocket masking (RFC 6455 5.3) for ws, in place of its per-byte JavaScript loop: XOR with a
 * 4-byte key, 8 bytes at a time.
 *
 *   wsMask(source, mask, output, offset, length)   as ws's bufferutil.mask
 *   wsUnmask(buffer, mask)                         in place, as ws's bufferutil.unmask
 */
#include <stdint.h>
#include <string.h>

#include "addon.h"
#include "napi_check.h"

static void xor_mask(const unsigned char *src, unsigned char *dst, size_t len, const unsigned char key[4]) {
    uint64_t k8;
    size_t i = 0;
    unsigned char k[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
    memcpy(&k8, k, 8);
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        v ^= k8;
        memcpy(dst + i, &v, 8);
    }
    for (; i < len; i++) dst[i] = src[i] ^ key[i & 3];
}

/* wsMask(source, mask, output, offset, length), as ws's bufferutil.mask. */
static napi_value ws_mask(napi_env env, napi_callback_info info) {
    size_t argc = 5, slen, mlen, olen;
    napi_value argv[5];
    void *src, *key, *out;
    uint32_t offset, length;
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 5 || napi_get_buffer_info(env, argv[0], &src, &slen) != napi_ok || napi_get_buffer_info(env, argv[1], &key, &mlen) != napi_ok ||
        napi_get_buffer_info(env, argv[2], &out, &olen) != napi_ok || napi_get_value_uint32(env, argv[3], &offset) != napi_ok ||
        napi_get_value_uint32(env, argv[4], &length) != napi_ok || mlen < 4 || length > slen || (size_t)offset + length > olen) {
        napi_throw_range_error(env, NULL, "wsMask(source, mask, output, offset, length): bad arguments");
        return NULL;
    }
    xor_mask(src, (unsigned char *)out + offset, length, key);
    return NULL;
}

/* wsUnmask(buffer, mask): in place, as ws's bufferutil.unmask. */
static napi_value ws_unmask(napi_env env, napi_callback_info info) {
    size_t argc = 2, blen, mlen;
    napi_value argv[2];
    void *buf, *key;
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 2 || napi_get_buffer_info(env, argv[0], &buf, &blen) != napi_ok || napi_get_buffer_info(env, argv[1], &key, &mlen) != napi_ok || mlen < 4) {
        napi_throw_range_error(env, NULL, "wsUnmask(buffer, mask): bad arguments");
        return NULL;
    }
    xor_mask(buf, buf, blen, key);
    return NULL;
}

napi_status mask_register(napi_env env, napi_value exports) {
    return EXPORT_FUNCTIONS(env, exports,
                            JS_FUNCTION("wsMask", ws_mask),
                            JS_FUNCTION("wsUnmask", ws_unmask));
}
