/*
 * One client of the native data path (session.c, session_up.c, session_down.c; session_parts.h
 * says which part does what): its socket and TAP, the frame codec and guard between them,
 * backpressure, the close handshake. A session runs on one thread, its host's (a plane: plane.c;
 * the fuzz harness: fuzz/session_fuzz.c), which calls the session_* functions below on that
 * thread only, and hears back through the host's three callbacks.
 *
 *   socket -> ws_read (wsframe.c) -> guard_judge_up (guard.c) -> write(TAP) (or coalesce.c's co_add)
 *   TAP -> read, up to TAP_BATCH frames (co_split) -> guard_judge_down -> one sendmsg for the batch
 *
 * Memory: a session is held by references (refs: its host's, Node's handle's, each queued
 * command's); session_unref frees it at 0, from any thread.
 */
#ifndef WSNIC_SESSION_H
#define WSNIC_SESSION_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "abi.h"
#include "coalesce.h"
#include "counter.h"
#include "guard.h"
#include "wsframe.h"

#define SOCK_STOP (2 * HIGH_WATER) /* owed past this (a deaf client's pongs): the client is not read */
#define IN_SCRATCH (384 * 1024)    /* the host's buffer for a client's reads */
#define OUT_SCRATCH (512 * 1024)   /* the host's buffer for a batch of frames to a client */

enum SessionState { S_RUN, S_CLOSING, S_DONE };

typedef struct Session Session;

/*
 * What a session needs of the thread that runs it: the epoll set its fds are in, the clocks
 * (read once a wakeup), scratch buffers shared by the thread's sessions, and three calls back.
 */
typedef struct SessionHost {
    int ep;
    double now, wall; /* monotonic and wall-clock ms */
    uint8_t *inbuf;   /* IN_SCRATCH */
    uint8_t *outbuf;  /* OUT_SCRATCH */
    uint8_t *gsobuf;  /* FRAME_MAX: a large TCP segment from a vnet TAP, while it is cut (coalesce.c) */
    Coalescer co;     /* a session's TCP segments for its TAP, joined within one wakeup (co.buf: CO_MAX) */
    struct iovec iov[TAP_BATCH];
    uint8_t pool[4096]; /* random bytes for a client's masking keys */
    size_t pool_left;
    /* Tells Node (never per frame): see ABI_EVENTS in abi.h. */
    void (*event)(Session *s, enum EventType type, int code, const char *text, const uint8_t *mac, uint32_t ip);
    /* The session has a deadline (rest_until or, closing, linger_until): call session_timer then. */
    void (*timed)(Session *s, bool on);
    /* The session is done with its host (closed, or handed over): once, after this call's work. */
    void (*done)(Session *s);
} SessionHost;

struct Session {
    uint32_t id; /* Node's id of the client */
    int sock, tap;
    SessionHost *host;
    int refs; /* see session_unref (atomic) */
    bool server; /* the relay's side: the peer masks, we do not (false: wsnic connect, which masks) */
    enum SessionState state;
    bool tap_on;      /* the TAP is in epoll (until the session ends) */
    bool tap_reading; /* ... with EPOLLIN (off: backpressure) */
    bool sock_in, sock_out; /* the socket's epoll interest now */
    bool holding;     /* bound by its first frame: not read until Node admits the MAC */
    bool resting;     /* over its upload limit: not read until rest_until */
    bool peer_closed; /* the peer sent its close frame */
    bool shut;        /* our side of the TCP connection is shut (after both close frames) */
    bool text_told;   /* a text message came: told once (E_TEXT), for the debug log */
    bool broken;     /* the socket failed (or memory ran out): ended on the way out */
    bool close_sent;
    bool in_pending; /* `in` may hold whole frames (kept by a stop), parsed before reading more */
    bool detached;   /* handed over (a restart): the host let go, fds open, state for planeTake */
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
    /* The host's lists, kept by the host: timed (resting or lingering), and let go this wakeup. */
    struct Session *tnext, *tprev;
    bool timed;
    struct Session *dnext;
    /* Counters: written by the host's thread, read by Node (relaxed atomics). */
    uint64_t frames_in, bytes_in, frames_out, bytes_out, refused, stalls;
    uint64_t last_seen, last_frame; /* wall-clock ms */
};

/* On the host's thread. */
void session_start(Session *s); /* new: epoll on both fds, then what Node had read already */
void session_on_sock(Session *s, uint32_t events);
void session_on_tap(Session *s, uint32_t events);
void session_admit(Session *s); /* Node admitted the MAC the first frame bound */
void session_close(Session *s, int code, const char *reason);
void session_ping(Session *s);
void session_timer(Session *s); /* a deadline passed (see SessionHost.timed) */
void session_detach(Session *s); /* hand-over: let go without closing (E_DETACHED tells whether) */

/* Any thread. */
uint64_t *session_counter(Session *s, enum Stat i); /* the counter at abi.h's stats index i */
void session_ref(Session *s);
void session_unref(Session *s);

#endif
