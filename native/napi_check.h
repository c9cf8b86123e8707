/* CHECK(call): an N-API call that failed becomes a JS exception naming it (and the function returns NULL). */
#ifndef WSNIC_NAPI_CHECK_H
#define WSNIC_NAPI_CHECK_H
#include <node_api.h>

#define CHECK(call)                                                                    \
    do {                                                                               \
        if ((call) != napi_ok) {                                                       \
            napi_throw_error(env, NULL, "wsnic addon: N-API call failed: " #call);    \
            return NULL;                                                               \
        }                                                                              \
    } while (0)

#endif
