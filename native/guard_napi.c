/*
 * The guard (guard.c) for JavaScript: the path Node's event loop runs (wss://, data_path = js)
 * judges its clients' frames with the same code as the native path's threads. Exports the class
 *
 *   new Guard({ up: [bytes/s, frames/s], down: [...], burst: s, dhcpServer: u32, ipv6?: bool, now?: ms })
 *     .up(frame, now?)   a frame from the client: its verdict | G_* bits (guard.h)
 *     .down(frames, from, out, now?)   a batch to the client, verdict | bits into out[i]
 *     .mac()        the bound MAC "02:aa:bb:cc:dd:ee", or undefined while unbound
 *     .ack()        [mac, ip] of the last OFFER or ACK .down() told (G_ACKED)
 *     .counts(out)  spoofed, limitedIn, limitedOut into a Float64Array(3)
 *     .claims()     the IPv6 addresses claimed by DAD (guard6.h), each "ADDRESS tentative|bound"
 *   Guard.verdicts (names by number), .minFrame, .verdictMask, .bound, .firstLimited, .acked
 *
 * One call a frame up, one a batch down (the TAP's reads come in batches). now: milliseconds on
 * CLOCK_MONOTONIC (what performance.now() counts from too); absent, the guard reads that clock. The tests pass their own to replay vectors in time.
 */
#include <arpa/inet.h>
#include <math.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addon.h"
#include "guard.h"
#include "napi_check.h"

typedef struct {
    Guard g;
    /* The last OFFER or ACK .down() told, for .ack(). */
    uint8_t ack_mac[6];
    uint32_t ack_ip;
} JsGuard;

static double monotonic_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1000 + (double)t.tv_nsec / 1e6;
}

/* A rate (0 or more, finite) or a count; false if v is no such number. */
static bool rate_of(napi_env env, napi_value v, double *out) {
    return napi_get_value_double(env, v, out) == napi_ok && *out >= 0 && *out <= 1e15;
}

/* obj[key] as [bytes/s, frames/s]. */
static bool limit_of(napi_env env, napi_value obj, const char *key, double out[2]) {
    napi_value v, x;
    bool is = false;
    uint32_t n = 0;
    if (napi_get_named_property(env, obj, key, &v) != napi_ok || napi_is_array(env, v, &is) != napi_ok || !is) return false;
    if (napi_get_array_length(env, v, &n) != napi_ok || n != 2) return false;
    for (uint32_t i = 0; i < 2; i++)
        if (napi_get_element(env, v, i, &x) != napi_ok || !rate_of(env, x, &out[i])) return false;
    return true;
}

/* The optional clock argument: a finite number, or the clock now. */
static bool now_of(napi_env env, size_t argc, napi_value *argv, size_t at, double *now) {
    napi_valuetype t = napi_undefined;
    if (argc > at && napi_typeof(env, argv[at], &t) != napi_ok) return false;
    if (t == napi_undefined) {
        *now = monotonic_ms();
        return true;
    }
    return napi_get_value_double(env, argv[at], now) == napi_ok && isfinite(*now);
}

static void finalize(napi_env env, void *data, void *hint) {
    (void)env, (void)hint;
    free(data);
}

static napi_value construct(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value self, o, v;
    double up[2], down[2], burst, server, now;
    bool ipv6 = false;
    CHECK(napi_get_cb_info(env, info, &argc, &o, &self, NULL));
    napi_valuetype t = napi_undefined;
    if (argc >= 1) CHECK(napi_typeof(env, o, &t));
    const char *bad = t != napi_object               ? "Guard: takes a rules object"
                      : !limit_of(env, o, "up", up)     ? "Guard: up must be [bytes/s, frames/s], each 0 or more"
                      : !limit_of(env, o, "down", down) ? "Guard: down must be [bytes/s, frames/s], each 0 or more"
                      : napi_get_named_property(env, o, "burst", &v) != napi_ok || !rate_of(env, v, &burst) || burst <= 0
                          ? "Guard: burst must be seconds, more than 0"
                      : napi_get_named_property(env, o, "dhcpServer", &v) != napi_ok || !rate_of(env, v, &server) || server > 0xffffffffu
                          ? "Guard: dhcpServer must be an IPv4 address as a number (0: none)"
                      : !get_bool(env, o, "ipv6", &ipv6) ? "Guard: ipv6 must be true or false"
                      : napi_get_named_property(env, o, "now", &v) != napi_ok || !now_of(env, 1, &v, 0, &now) ? "Guard: now must be a number of ms"
                                                                                                               : NULL;
    if (bad) {
        napi_throw_type_error(env, NULL, bad);
        return NULL;
    }
    JsGuard *j = calloc(1, sizeof *j);
    if (!j) {
        napi_throw_error(env, NULL, "Guard: out of memory");
        return NULL;
    }
    guard_init(&j->g, up, down, burst, (uint32_t)server, ipv6, now);
    if (napi_wrap(env, self, j, finalize, NULL, NULL) != napi_ok) {
        free(j);
        napi_throw_error(env, NULL, "Guard: cannot wrap");
        return NULL;
    }
    return self;
}

/* this's guard, and up to n arguments; NULL with a TypeError thrown if this is no Guard. */
static JsGuard *this_guard(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
    napi_value self;
    JsGuard *j = NULL;
    if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok || napi_unwrap(env, self, (void **)&j) != napi_ok || !j) {
        napi_throw_type_error(env, NULL, "Guard: not a Guard");
        return NULL;
    }
    return j;
}

/* .up(frame, now?): one frame from the client. */
static napi_value judge_up(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2], r;
    void *f = NULL;
    size_t len;
    double now;
    JsGuard *j = this_guard(env, info, &argc, argv);
    if (!j) return NULL;
    if (argc < 1 || napi_get_buffer_info(env, argv[0], &f, &len) != napi_ok) {
        napi_throw_type_error(env, NULL, "Guard: the frame must be a Buffer");
        return NULL;
    }
    if (!now_of(env, argc, argv, 1, &now)) {
        napi_throw_type_error(env, NULL, "Guard: now must be a number of ms");
        return NULL;
    }
    CHECK(napi_create_uint32(env, guard_judge_up(&j->g, f ? f : "", len, now), &r)); /* (an empty Buffer may have no memory) */
    return r;
}

/*
 * .down(frames, from, out, now?): a batch of frames to the client (a TAP read's), at one clock
 * read, into out[i] from frames[from] on. It stops after a frame that tells something (so .ack()
 * is that frame's) and returns the index after the last one judged: the caller goes on from there.
 */
static napi_value judge_down(napi_env env, napi_callback_info info) {
    size_t argc = 4, cap = 0;
    napi_value argv[4], r, e;
    napi_typedarray_type type;
    uint32_t n = 0, i = 0;
    uint8_t *out = NULL;
    bool is = false;
    double now;
    JsGuard *j = this_guard(env, info, &argc, argv);
    if (!j) return NULL;
    const char *bad = argc < 3 || napi_is_array(env, argv[0], &is) != napi_ok || !is || napi_get_array_length(env, argv[0], &n) != napi_ok
                          ? "Guard: down takes an array of frames"
                      : napi_get_value_uint32(env, argv[1], &i) != napi_ok || i >= n ? "Guard: down's from must be an index of the frames"
                      : napi_get_typedarray_info(env, argv[2], &type, &cap, (void **)&out, NULL, NULL) != napi_ok || type != napi_uint8_array || cap < n
                          ? "Guard: down's out must be a Uint8Array as long as the frames"
                      : !now_of(env, argc, argv, 3, &now) ? "Guard: now must be a number of ms"
                                                           : NULL;
    if (bad) {
        napi_throw_type_error(env, NULL, bad);
        return NULL;
    }
    while (i < n) {
        void *f = NULL;
        size_t len;
        uint8_t mac[6];
        uint32_t ip;
        if (napi_get_element(env, argv[0], i, &e) != napi_ok || napi_get_buffer_info(env, e, &f, &len) != napi_ok) {
            napi_throw_type_error(env, NULL, "Guard: a frame must be a Buffer");
            return NULL;
        }
        unsigned v = guard_judge_down(&j->g, f ? f : "", len, now, mac, &ip);
        out[i++] = (uint8_t)v;
        if (v & G_ACKED) {
            memcpy(j->ack_mac, mac, 6);
            j->ack_ip = ip;
        }
        if (v & ~(unsigned)G_VERDICT) break;
    }
    CHECK(napi_create_uint32(env, i, &r));
    return r;
}

static napi_value mac_string(napi_env env, const uint8_t m[6]) {
    char buf[18];
    napi_value r;
    snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    CHECK(napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &r));
    return r;
}

static napi_value bound_mac(napi_env env, napi_callback_info info) {
    size_t argc = 0;
    JsGuard *j = this_guard(env, info, &argc, NULL);
    if (!j || !j->g.bound) return NULL; /* (undefined) */
    return mac_string(env, j->g.mac);
}

static napi_value last_ack(napi_env env, napi_callback_info info) {
    size_t argc = 0;
    char buf[16];
    napi_value r, mac, ip;
    JsGuard *j = this_guard(env, info, &argc, NULL);
    if (!j) return NULL;
    uint32_t a = j->ack_ip;
    snprintf(buf, sizeof buf, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
    if (!(mac = mac_string(env, j->ack_mac))) return NULL;
    CHECK(napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &ip));
    CHECK(napi_create_array_with_length(env, 2, &r));
    CHECK(napi_set_element(env, r, 0, mac));
    CHECK(napi_set_element(env, r, 1, ip));
    return r;
}

static napi_value counts(napi_env env, napi_callback_info info) {
    size_t argc = 1, length = 0;
    napi_value out;
    napi_typedarray_type type;
    void *data = NULL;
    bool is = false;
    JsGuard *j = this_guard(env, info, &argc, &out);
    if (!j) return NULL;
    if (argc >= 1) CHECK(napi_is_typedarray(env, out, &is));
    if (is) CHECK(napi_get_typedarray_info(env, out, &type, &length, &data, NULL, NULL));
    if (!is || type != napi_float64_array || length < 3) {
        napi_throw_type_error(env, NULL, "Guard: counts takes a Float64Array(3)");
        return NULL;
    }
    double *c = data;
    c[0] = (double)j->g.spoofed;
    c[1] = (double)j->g.limited_in;
    c[2] = (double)j->g.limited_out;
    return NULL;
}

static napi_value claims(napi_env env, napi_callback_info info) {
    size_t argc = 0;
    uint32_t n = 0;
    napi_value r, v;
    JsGuard *j = this_guard(env, info, &argc, NULL);
    if (!j) return NULL;
    CHECK(napi_create_array(env, &r));
    for (int i = 0; i < GUARD6_CLAIMS; i++) {
        const Claim6 *c = &j->g.v6.claims[i];
        char buf[INET6_ADDRSTRLEN + 12];
        if (c->state == C6_FREE || !inet_ntop(AF_INET6, c->addr, buf, INET6_ADDRSTRLEN)) continue;
        strcat(buf, c->state == C6_BOUND ? " bound" : " tentative");
        CHECK(napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &v));
        CHECK(napi_set_element(env, r, n++, v));
    }
    return r;
}

static napi_value number(napi_env env, double x) {
    napi_value v;
    CHECK(napi_create_double(env, x, &v));
    return v;
}

napi_status guard_register(napi_env env, napi_value exports) {
    static const char *names[] = {
#define GUARD_NAME(c, js) #js,
        GUARD_VERDICTS(GUARD_NAME)
#undef GUARD_NAME
    };
    napi_value cls, verdicts, name;
    napi_status st;
    if ((st = napi_create_array(env, &verdicts)) != napi_ok) return st;
    for (uint32_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if ((st = napi_create_string_utf8(env, names[i], NAPI_AUTO_LENGTH, &name)) != napi_ok) return st;
        if ((st = napi_set_element(env, verdicts, i, name)) != napi_ok) return st;
    }
    if ((st = napi_object_freeze(env, verdicts)) != napi_ok) return st;
    napi_value min = number(env, GUARD_MIN_FRAME), mask = number(env, G_VERDICT), bound = number(env, G_BOUND), limited = number(env, G_FIRST_LIMITED), acked = number(env, G_ACKED);
    if (!min || !mask || !bound || !limited || !acked) return napi_generic_failure;
    napi_property_descriptor props[] = {
        {"up", NULL, judge_up, NULL, NULL, NULL, napi_default, NULL},
        {"down", NULL, judge_down, NULL, NULL, NULL, napi_default, NULL},
        {"mac", NULL, bound_mac, NULL, NULL, NULL, napi_default, NULL},
        {"ack", NULL, last_ack, NULL, NULL, NULL, napi_default, NULL},
        {"counts", NULL, counts, NULL, NULL, NULL, napi_default, NULL},
        {"claims", NULL, claims, NULL, NULL, NULL, napi_default, NULL},
        {"verdicts", NULL, NULL, NULL, NULL, verdicts, napi_static, NULL},
        {"minFrame", NULL, NULL, NULL, NULL, min, napi_static, NULL},
        {"verdictMask", NULL, NULL, NULL, NULL, mask, napi_static, NULL},
        {"bound", NULL, NULL, NULL, NULL, bound, napi_static, NULL},
        {"firstLimited", NULL, NULL, NULL, NULL, limited, napi_static, NULL},
        {"acked", NULL, NULL, NULL, NULL, acked, napi_static, NULL},
    };
    if ((st = napi_define_class(env, "Guard", NAPI_AUTO_LENGTH, construct, NULL, sizeof props / sizeof props[0], props, &cls)) != napi_ok) return st;
    return napi_set_named_property(env, exports, "Guard", cls);
}
