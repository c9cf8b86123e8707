/* A handed-over session's state, from planeAdd's options into a new session: see resume.h. */
#include <stdio.h>
#include <string.h>

#include "napi_check.h"
#include "plane.h"
#include "resume.h"

static bool get_buffer(napi_env env, napi_value obj, const char *key, void **data, size_t *len) {
    napi_value v;
    bool is = false;
    *data = NULL;
    *len = 0;
    if (napi_get_named_property(env, obj, key, &v) != napi_ok) return false;
    napi_is_buffer(env, v, &is);
    return !is || napi_get_buffer_info(env, v, data, len) == napi_ok;
}

bool resume_read(napi_env env, napi_value o, Resume *r) {
    void *mac, *claims;
    size_t mac_len, claims_len;
    double op = 0;
    napi_value v;
    bool is = false;
    memset(r, 0, sizeof *r);
    /* (a fragmented message may be open with no byte yet: an empty first fragment) */
    const char *bad = !get_buffer(env, o, "owed", &r->owed, &r->owed_len)  ? "owed must be a Buffer"
                      : !get_buffer(env, o, "frag", &r->frag, &r->frag_len) ? "frag must be a Buffer"
                      : !get_buffer(env, o, "mac", &mac, &mac_len)          ? "mac must be a Buffer"
                      : !get_buffer(env, o, "claims", &claims, &claims_len) ? "claims must be a Buffer"
                      : !get_number(env, o, "fragOpcode", &op)               ? "fragOpcode must be a number"
                      : mac && mac_len != 6                                  ? "mac is not 6 bytes"
                      : r->frag_len > MAX_MESSAGE                            ? "frag is larger than a message"
                      : op != 0 && op != WS_TEXT && op != WS_BINARY          ? "fragOpcode is not 0, 1 or 2"
                      : r->frag_len && op == 0                               ? "frag without fragOpcode"
                      : r->owed_len > OWED_MAX                               ? "owed is more than a plane owes"
                      : claims && !guard6_load(&r->v6, claims, claims_len, 0)
                          ? "claims are not at most 8 claimed IPv6 addresses (17 bytes each)"
                                                                             : NULL;
    if (bad) {
        char msg[80];
        snprintf(msg, sizeof msg, "planeAdd: %s", bad);
        napi_throw_range_error(env, NULL, msg);
        return false;
    }
    r->frag_opcode = (uint32_t)op;
    if (mac) {
        r->has_mac = true;
        memcpy(r->mac, mac, 6);
    }
    if (napi_get_named_property(env, o, "counts", &v) == napi_ok) napi_is_typedarray(env, v, &is);
    if (is) {
        napi_typedarray_type type;
        size_t length;
        void *data;
        if (napi_get_typedarray_info(env, v, &type, &length, &data, NULL, NULL) != napi_ok || type != napi_float64_array || length < STAT_COUNT) {
            napi_throw_type_error(env, NULL, "planeAdd: counts must be a Float64Array as long as abi.stats");
            return false;
        }
        memcpy(r->counts, data, sizeof r->counts);
        for (int i = 0; i < STAT_COUNT; i++)
            if (!(r->counts[i] >= 0 && r->counts[i] <= 9007199254740992.0)) { /* (NaN fails too) */
                napi_throw_range_error(env, NULL, "planeAdd: counts must be 0 to 2^53");
                return false;
            }
        r->has_counts = true;
    }
    return true;
}

void resume_apply(Session *s, const Resume *r, uint8_t *frag) {
    if (r->owed_len) {
        memcpy(s->out, r->owed, r->owed_len);
        s->out_len = s->out_cap = r->owed_len;
    }
    if (r->frag_len) {
        memcpy(frag, r->frag, r->frag_len);
        s->reader.frag = frag;
        s->reader.frag_len = r->frag_len;
    }
    s->reader.frag_opcode = (uint8_t)r->frag_opcode; /* (the reader allocates its buffer if none) */
    if (r->has_mac) { /* bound and admitted by the relay before */
        s->guard.bound = true;
        memcpy(s->guard.mac, r->mac, 6);
    }
    s->guard.v6 = r->v6;
    for (int i = 0; i < GUARD6_CLAIMS; i++) /* a tentative claim is held anew from now */
        if (s->guard.v6.claims[i].state == C6_TENTATIVE) s->guard.v6.claims[i].since = clock_ms(CLOCK_MONOTONIC);
    if (r->has_counts) {
        for (int i = 0; i < STAT_COUNT; i++) *session_counter(s, (enum Stat)i) = (uint64_t)r->counts[i];
    }
}
