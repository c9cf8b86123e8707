/*
 * The native data path's N-API functions (see plane.h for the threads themselves):
 *
 *   planeStart(threads, onEvent(id, type, code, text, mac, ip))   once a process
 *   planeAdd({ id, sock, tap, head, up, down, burst, dhcpServer, ipv6, server }) -> handle
 *                 sock is dup'ed (Node then closes its own fd), the TAP fd is used as is: Node
 *                 closes it once the "ended" event says the plane let go of it
 *   planeAdmit(h), planeClose(h, code, reason), planePing(h), planeRelease(h)
 *   planeStats(h, Float64Array(STAT_COUNT))   the counters in abi.h's stats layout
 *   planeDetach(h)   hand-over: the "detached" event follows (code 1; 0: not handed over), then
 *   planeTake(h) -> { sock, tap, unread, owed, frag, fragOpcode, claims }   what the next relay
 *                 needs; planeAdd takes them back (unread as head, owed, frag, fragOpcode, mac,
 *                 counts, claims: the guard's IPv6 claims, guard6.h's records)
 *
 * Events reach Node through one thread-safe function; a handle is an external holding Node's
 * reference to its session (released by planeRelease or the garbage collector).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addon.h"
#include "napi_check.h"
#include "plane.h"
#include "resume.h"

typedef struct {
    uint32_t id;
    enum EventType type;
    int code;
    bool has_mac, has_text;
    uint8_t mac[6];
    uint32_t ip;
    char text[128];
} Event;

static napi_threadsafe_function events;
static pthread_mutex_t events_lock = PTHREAD_MUTEX_INITIALIZER;
static bool events_closed;

/*
 * Node's environment is going (exit): the threads, which run to the end of the process, tell it
 * nothing from now on. Registered after the thread-safe function, so it runs before Node frees it.
 */
static void events_cleanup(void *arg) {
    (void)arg;
    pthread_mutex_lock(&events_lock);
    events_closed = true;
    pthread_mutex_unlock(&events_lock);
}

/* On a plane's thread (PlaneEventFn): the event goes to Node's loop. */
static void tell(Session *s, enum EventType type, int code, const char *text, const uint8_t *mac, uint32_t ip) {
    Event *e = calloc(1, sizeof *e);
    if (!e) return;
    e->id = s->id;
    e->type = type;
    e->code = code;
    e->ip = ip;
    if (mac) {
        e->has_mac = true;
        memcpy(e->mac, mac, 6);
    }
    if (text) {
        e->has_text = true;
        snprintf(e->text, sizeof e->text, "%s", text);
    }
    /* Once Node is tearing down (the cleanup hook), the function is gone: nothing is told. */
    pthread_mutex_lock(&events_lock);
    if (events_closed || napi_call_threadsafe_function(events, e, napi_tsfn_nonblocking) != napi_ok) free(e);
    pthread_mutex_unlock(&events_lock);
}

#define ABI_NAME(c, js) [c] = #js,
static const char *EVENT_NAMES[EVENT_COUNT] = {ABI_EVENTS(ABI_NAME)};
#undef ABI_NAME

static void call_js(napi_env env, napi_value fn, void *context, void *data) {
    Event *e = data;
    (void)context;
    if (env && fn) {
        napi_value argv[6], undef, self;
        char buf[20];
        napi_get_undefined(env, &undef);
        napi_get_global(env, &self);
        napi_create_uint32(env, e->id, &argv[0]);
        napi_create_string_utf8(env, EVENT_NAMES[e->type], NAPI_AUTO_LENGTH, &argv[1]);
        napi_create_int32(env, e->code, &argv[2]);
        argv[3] = argv[4] = argv[5] = undef;
        if (e->has_text) napi_create_string_utf8(env, e->text, NAPI_AUTO_LENGTH, &argv[3]);
        if (e->has_mac) {
            snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", e->mac[0], e->mac[1], e->mac[2], e->mac[3], e->mac[4], e->mac[5]);
            napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &argv[4]);
        }
        if (e->type == E_DHCP) {
            snprintf(buf, sizeof buf, "%u.%u.%u.%u", e->ip >> 24, (e->ip >> 16) & 255, (e->ip >> 8) & 255, e->ip & 255);
            napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &argv[5]);
        }
        napi_call_function(env, self, fn, 6, argv, NULL);
    }
    free(e);
}

static napi_value js_plane_start(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2], name;
    int32_t threads;
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (plane_started()) return NULL; /* once a process */
    if (argc < 2 || napi_get_value_int32(env, argv[0], &threads) != napi_ok || threads < 1 || threads > 64) {
        napi_throw_range_error(env, NULL, "planeStart: threads must be 1 to 64");
        return NULL;
    }
    CHECK(napi_create_string_utf8(env, "wsnic data plane", NAPI_AUTO_LENGTH, &name));
    CHECK(napi_create_threadsafe_function(env, argv[1], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &events));
    CHECK(napi_unref_threadsafe_function(env, events)); /* the relay's own handles keep it alive */
    CHECK(napi_add_env_cleanup_hook(env, events_cleanup, NULL));
    const char *failed = plane_start(threads, tell);
    if (failed) {
        char msg[80];
        snprintf(msg, sizeof msg, "planeStart: %s", failed);
        napi_throw_error(env, NULL, msg);
        return NULL; /* (what was made stays: a relay that cannot start exits) */
    }
    return NULL;
}

typedef struct {
    Session *s;
    bool released;
} Handle;

static void handle_finalize(napi_env env, void *data, void *hint) {
    Handle *h = data;
    (void)env;
    (void)hint;
    if (!h->released) session_unref(h->s);
    free(h);
}

static Handle *get_handle(napi_env env, napi_value v) {
    void *data = NULL;
    napi_valuetype t;
    if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &data) != napi_ok || !data) {
        napi_throw_type_error(env, NULL, "wsnic addon: not a data-plane session handle");
        return NULL;
    }
    return data;
}

static bool get_pair(napi_env env, napi_value obj, const char *key, double out[2]) {
    napi_value v, x;
    bool is;
    if (napi_get_named_property(env, obj, key, &v) != napi_ok || napi_is_array(env, v, &is) != napi_ok) return false;
    if (!is) return true;
    for (uint32_t i = 0; i < 2; i++)
        if (napi_get_element(env, v, i, &x) != napi_ok || napi_get_value_double(env, x, &out[i]) != napi_ok) return false;
    return true;
}

static napi_value js_plane_add(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value o, head, result, v;
    double id = 0, sock = -1, tap = -1, burst = 1, dhcp = 0, up[2] = {0, 0}, down[2] = {0, 0};
    bool server = true, has_head = false, ipv6 = false;
    void *head_data = NULL;
    size_t head_len = 0;
    CHECK(napi_get_cb_info(env, info, &argc, &o, NULL, NULL));
    if (!plane_started()) {
        napi_throw_error(env, NULL, "planeAdd: planeStart first");
        return NULL;
    }
    if (argc < 1 || !get_number(env, o, "id", &id) || !get_number(env, o, "sock", &sock) || !get_number(env, o, "tap", &tap) ||
        !get_number(env, o, "burst", &burst) || !get_number(env, o, "dhcpServer", &dhcp) || !get_pair(env, o, "up", up) ||
        !get_pair(env, o, "down", down) || !get_bool(env, o, "ipv6", &ipv6) || sock < 0 || tap < 0) {
        napi_throw_type_error(env, NULL, "planeAdd: bad options");
        return NULL;
    }
    if (napi_get_named_property(env, o, "server", &v) == napi_ok) {
        napi_valuetype t;
        napi_typeof(env, v, &t);
        if (t == napi_boolean) napi_get_value_bool(env, v, &server);
    }
    if (napi_get_named_property(env, o, "head", &head) == napi_ok) napi_is_buffer(env, head, &has_head);
    if (has_head) CHECK(napi_get_buffer_info(env, head, &head_data, &head_len));
    /* A session handed over by a relay before a restart (the rest of planeAdd's options). */
    Resume r;
    if (!resume_read(env, o, &r)) return NULL;
    if (head_len > 2 * IN_SCRATCH) { /* (Node holds 64 KiB of a paused socket; a stop at most a read) */
        napi_throw_range_error(env, NULL, "planeAdd: more bytes read already than a plane takes at once");
        return NULL;
    }

    int fd = fcntl((int)sock, F_DUPFD_CLOEXEC, 3);
    if (fd < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
        int err = errno;
        if (fd >= 0) close(fd);
        char msg[96];
        snprintf(msg, sizeof msg, "planeAdd: cannot take the client's socket: %s", strerror(err));
        napi_throw_error(env, NULL, msg);
        return NULL;
    }
    Session *s = calloc(1, sizeof *s);
    Handle *h = calloc(1, sizeof *h);
    if (!s || !h || (head_len && !(s->in = malloc(head_len))) || (r.owed_len && !(s->out = malloc(r.owed_len))) ||
        (r.frag_len && !(s->reader.frag = malloc(MAX_MESSAGE)))) {
        close(fd);
        if (s) {
            free(s->in);
            free(s->out);
            free(s->reader.frag);
        }
        free(s);
        free(h);
        napi_throw_error(env, NULL, "planeAdd: out of memory");
        return NULL;
    }
    if (head_len) memcpy(s->in, head_data, head_len);
    s->in_len = s->in_cap = head_len;
    s->in_pending = head_len > 0;
    s->id = (uint32_t)id;
    s->sock = fd;
    s->tap = (int)tap;
    s->server = server;
    s->refs = 2;
    s->last_seen = s->last_frame = (uint64_t)clock_ms(CLOCK_REALTIME); /* (resume() may set them) */
    guard_init(&s->guard, up, down, burst, (uint32_t)dhcp, ipv6, clock_ms(CLOCK_MONOTONIC));
    uint8_t *frag = s->reader.frag;
    ws_reader_init(&s->reader, MAX_MESSAGE, server);
    resume_apply(s, &r, frag);
    h->s = s;
    CHECK(napi_create_external(env, h, handle_finalize, NULL, &result));
    plane_add(s);
    return result;
}

/* The handle of argv[0], if Node still holds its session. */
static Session *live(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
    if (napi_get_cb_info(env, info, argc, argv, NULL, NULL) != napi_ok || *argc < 1) {
        napi_throw_type_error(env, NULL, "wsnic addon: a session handle is needed");
        return NULL;
    }
    Handle *h = get_handle(env, argv[0]);
    return h && !h->released ? h->s : NULL;
}

/* A command that takes nothing but the session: planeAdmit, planePing, planeDetach. */
static napi_value post_plain(napi_env env, napi_callback_info info, enum PlaneCmd type) {
    size_t argc = 1;
    napi_value argv[1];
    Session *s = live(env, info, &argc, argv);
    if (s) plane_post(s, type, 0, NULL);
    return NULL;
}

static napi_value js_plane_admit(napi_env env, napi_callback_info info) { return post_plain(env, info, C_ADMIT); }
static napi_value js_plane_ping(napi_env env, napi_callback_info info) { return post_plain(env, info, C_PING); }
static napi_value js_plane_detach(napi_env env, napi_callback_info info) { return post_plain(env, info, C_DETACH); }

static napi_value js_plane_close(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3];
    int32_t code = CLOSE_NORMAL;
    char reason[128] = "";
    size_t len;
    Session *s = live(env, info, &argc, argv);
    if (!s) return NULL;
    if (argc > 1) napi_get_value_int32(env, argv[1], &code);
    if (argc > 2) napi_get_value_string_utf8(env, argv[2], reason, sizeof reason, &len);
    plane_post(s, C_CLOSE, code, reason);
    return NULL;
}

static napi_value buffer_of(napi_env env, const uint8_t *data, size_t len) {
    napi_value v;
    if (napi_create_buffer_copy(env, len, len ? data : (const uint8_t *)"", NULL, &v) != napi_ok) return NULL;
    return v;
}

/*
 * After the "detached" event (the plane let go: its thread touches the session no more, and the
 * event's passage through the thread-safe function's lock orders its writes before this read).
 */
static napi_value js_plane_take(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1], o, v;
    Session *s = live(env, info, &argc, argv);
    if (!s) return NULL;
    if (!s->detached) {
        napi_throw_error(env, NULL, "planeTake: the session was not handed over");
        return NULL;
    }
    CHECK(napi_create_object(env, &o));
    napi_create_int32(env, s->sock, &v);
    napi_set_named_property(env, o, "sock", v);
    napi_create_int32(env, s->tap, &v);
    napi_set_named_property(env, o, "tap", v);
    napi_set_named_property(env, o, "unread", buffer_of(env, s->in, s->in_len));
    napi_set_named_property(env, o, "owed", buffer_of(env, s->out + s->out_off, s->out_len - s->out_off));
    napi_set_named_property(env, o, "frag", buffer_of(env, s->reader.frag, s->reader.frag_len));
    napi_create_uint32(env, s->reader.frag_opcode, &v);
    napi_set_named_property(env, o, "fragOpcode", v);
    uint8_t claims[GUARD6_CLAIMS * GUARD6_RECORD];
    napi_set_named_property(env, o, "claims", buffer_of(env, claims, guard6_save(&s->guard.v6, claims)));
    return o;
}

static napi_value js_plane_release(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    Handle *h = argc ? get_handle(env, argv[0]) : NULL;
    if (h && !h->released) {
        h->released = true;
        session_unref(h->s);
    }
    return NULL;
}

static napi_value js_plane_stats(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    napi_typedarray_type type;
    size_t length;
    void *data;
    Session *s = live(env, info, &argc, argv);
    if (!s) return NULL;
    if (argc < 2 || napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL) != napi_ok ||
        type != napi_float64_array || length < STAT_COUNT) {
        napi_throw_type_error(env, NULL, "planeStats: a Float64Array as long as abi.stats is needed");
        return NULL;
    }
    double *out = data;
    for (int i = 0; i < STAT_COUNT; i++) out[i] = (double)GET(*session_counter(s, (enum Stat)i));
    return NULL;
}

napi_status plane_register(napi_env env, napi_value exports) {
    return EXPORT_FUNCTIONS(env, exports,
                            JS_FUNCTION("planeStart", js_plane_start),
                            JS_FUNCTION("planeAdd", js_plane_add),
                            JS_FUNCTION("planeAdmit", js_plane_admit),
                            JS_FUNCTION("planeClose", js_plane_close),
                            JS_FUNCTION("planePing", js_plane_ping),
                            JS_FUNCTION("planeRelease", js_plane_release),
                            JS_FUNCTION("planeStats", js_plane_stats),
                            JS_FUNCTION("planeDetach", js_plane_detach),
                            JS_FUNCTION("planeTake", js_plane_take));
}
