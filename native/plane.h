/*
 * The native data path: established ws:// sessions relayed by data-plane threads of their own
 * (epoll), off Node's event loop.
 *
 *   session.c  one client: its socket and TAP, the frame codec and guard between them,
 *              backpressure, the close handshake (runs on its plane's thread only)
 *   plane.c    the threads, the commands Node sends them, the events they send Node, and the
 *              N-API functions (planeStart, planeAdd, ...)
 */
#ifndef WSNIC_PLANE_H
#define WSNIC_PLANE_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "coalesce.h"
#include "guard.h"
#include "wsframe.h"

#define MAX_MESSAGE 65549 /* 65,535 MTU + 14-byte Ethernet header, as the TypeScript path */
#define FRAME_MAX 65560   /* largest read from a TAP */
#define HIGH_WATER (1024 * 1024) /* owed to a slow client: the TAP stops being read */
#define LOW_WATER (256 * 1024)   /* ... and is read again below this */
#define SOCK_STOP (2 * HIGH_WATER) /* owed past this (a deaf client's pongs): the client is not read */
#define REST_MS 20.0     /* a client over its upload limit is not read for this long */
#define LINGER_MS 2000.0 /* a closing client that does not finish the close handshake is cut off */
#define IN_SCRATCH (384 * 1024)
#define IN_READ_MIN (96 * 1024) /* room a read needs in the scratch after kept bytes */
#define OUT_SCRATCH (512 * 1024)
#define TAP_BATCH 64 /* frames read from one TAP a wakeup, so one busy TAP cannot starve others */

enum SessionState { S_RUN, S_CLOSING, S_DONE };

/* What a plane tells Node (never per frame). */
enum EventType { E_BOUND, E_DHCP, E_LIMITED, E_TEXT, E_ENDED, E_CLOSED, E_DETACHED };

typedef struct Plane Plane;

typedef struct Session {
    uint32_t id; /* Node's id of the client */
    int sock, tap;
    Plane *plane;
    int refs; /* the plane's and Node's; freed at 0 (atomic) */
    bool masked; /* we are the server: the peer masks, we do not */
    enum SessionState state;
    bool tap_on;      /* the TAP is in epoll (until the session ends) */
    bool tap_reading; /* ... with EPOLLIN (off: backpressure) */
    bool sock_in, sock_out; /* the socket's epoll interest now */
    bool holding;     /* bound by its first frame: not read until Node admits the MAC */
    bool resting;     /* over its upload limit: not read until rest_until */
    bool peer_closed; /* the peer sent its close frame */
    bool shut;        /* our side of the TCP connection is shut (after both close frames) */
    bool text_told;
    bool broken;     /* the socket failed (or memory ran out): ended on the way out */
    bool close_sent;
    bool in_pending; /* `in` may hold whole frames (kept by a stop), parsed before reading more */
    bool detached;   /* handed over (a restart): the plane let go, fds open, state for planeTake */
    bool vnet;       /* the TAP has a virtio-net header (IFF_VNET_HDR): segments are joined (coalesce.c) */
    double rest_until, linger_until; /* monotonic ms */
    Guard guard;
    WsReader reader;
    uint8_t *in;   /* bytes from the client not parsed yet (a partial frame, or what a stop left) */
    size_t in_len, in_cap;
    bool stopped;  /* a handler stopped the parse (hold, rest, close) */
    uint8_t *out;  /* bytes owed to the client: out[out_off, out_len) */
    size_t out_off, out_len, out_cap;
    uint8_t *held; /* the binding frame, until admitted */
    size_t held_len;
    bool has_held;
    struct Session *tnext, *tprev; /* the plane's timed list (resting or lingering) */
    bool timed;
    struct Session *dnext; /* the plane's list of sessions whose reference goes after this wakeup */
    /* Counters: written by the plane, read by Node (relaxed atomics). */
    uint64_t frames_in, bytes_in, frames_out, bytes_out, refused, stalls, texts;
    uint64_t last_seen, last_frame; /* wall-clock ms */
} Session;

struct Plane {
    pthread_t thread;
    int ep, wake;
    pthread_mutex_t lock;
    struct Cmd *head, *tail;
    uint8_t *inbuf, *outbuf;
    uint8_t *gsobuf; /* FRAME_MAX: a large TCP segment from a vnet TAP, while it is cut (coalesce.c) */
    Coalescer co; /* a session's TCP segments for its TAP, joined within one wakeup (flushed in settle) */
    struct iovec iov[TAP_BATCH];
    Session *timed;
    Session *dead;
    int sessions; /* how many it serves (atomic), to give a new one to the least busy */
    double now, wall; /* the clocks, read once a wakeup */
    uint8_t pool[4096]; /* random bytes for a client's masking keys */
    size_t pool_left;
};

/* session.c: called on the plane's thread. */
void session_start(Session *s);
void session_on_sock(Session *s, uint32_t events);
void session_on_tap(Session *s, uint32_t events);
void session_admit(Session *s);
void session_close(Session *s, int code, const char *reason);
void session_ping(Session *s);
void session_timer(Session *s);
void session_detach(Session *s);

/* plane.c: for session.c. */
void plane_event(Session *s, enum EventType type, int code, const char *text, const uint8_t *mac, uint32_t ip);
void plane_timed(Session *s, bool on);
void plane_done(Session *s);
void session_unref(Session *s);

/* plane.c: the N-API functions, added to the addon's exports by wsnic.c. (Not in the session
 * fuzz harness, which drives session.c without Node: native/fuzz/session_fuzz.c.) */
#ifndef WSNIC_NO_NAPI
#include <node_api.h>
napi_status plane_register(napi_env env, napi_value exports);
#endif

#define COUNT(field, n) __atomic_store_n(&(field), (field) + (n), __ATOMIC_RELAXED)
#define SET(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define GET(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

#endif
