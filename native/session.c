/*
 * One client of the native data path, on its host's thread (a plane's): see session.h. This part
 * is the state machine (running, closing, done): the socket's epoll interest, the end and the
 * close handshake, the hand-over, and the entry points; session_up.c and session_down.c move the
 * bytes. Failures found deep in a call (a write to a dead socket) only mark the session; the
 * entry points end it on their way out (session_settle).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "session_parts.h"

/* The socket's epoll interest, from the session's state. */
void session_interest(Session *s) {
    if (s->state == S_DONE) return;
    bool want_in = !s->holding && !s->resting && owed(s) < SOCK_STOP;
    bool want_out = owed(s) > 0;
    if (want_in == s->sock_in && want_out == s->sock_out) return;
    struct epoll_event ev = {.events = (want_in ? EPOLLIN : 0) | (want_out ? EPOLLOUT : 0), .data.ptr = s};
    epoll_ctl(s->host->ep, EPOLL_CTL_MOD, s->sock, &ev);
    s->sock_in = want_in;
    s->sock_out = want_out;
}

/* The TAP is no longer this session's: out of epoll, and Node may close it (E_ENDED). */
static void detach_tap(Session *s) {
    if (!s->tap_on) return;
    epoll_ctl(s->host->ep, EPOLL_CTL_DEL, s->tap, NULL);
    s->tap_on = false;
}

/*
 * The session stops relaying: the TAP goes back to Node with the code and reason for its log
 * line, the socket stays for the close handshake (LINGER_MS at most).
 */
void session_end(Session *s, int code, const char *why) {
    if (s->state != S_RUN) return;
    s->state = S_CLOSING;
    s->holding = false;
    s->resting = false;
    free(s->held);
    s->held = NULL;
    s->has_held = false;
    up_tap_flush(s);
    detach_tap(s);
    s->linger_until = s->host->now + LINGER_MS;
    s->host->timed(s, true);
    s->host->event(s, E_ENDED, code, why, NULL, 0);
    session_interest(s);
}

/* The socket is closed and the host lets go of the session (Node hears E_CLOSED). */
void session_finish(Session *s) {
    if (s->state == S_DONE) return;
    if (s->state == S_RUN) session_end(s, CLOSE_ABNORMAL, "");
    s->host->timed(s, false);
    if (s->sock >= 0) {
        epoll_ctl(s->host->ep, EPOLL_CTL_DEL, s->sock, NULL);
        close(s->sock);
        s->sock = -1;
    }
    s->state = S_DONE;
    ws_reader_free(&s->reader);
    free(s->in);
    free(s->out);
    s->in = s->out = NULL;
    s->in_len = s->in_cap = s->out_cap = s->out_len = s->out_off = 0;
    s->in_pending = false;
    s->host->event(s, E_CLOSED, 0, NULL, NULL, 0);
    s->host->done(s);
}

/* Both close frames sent: our side of the connection is shut once nothing is owed. */
void session_shut_when_flushed(Session *s) {
    if (s->state == S_CLOSING && s->peer_closed && !s->shut && owed(s) == 0 && s->close_sent) {
        shutdown(s->sock, SHUT_WR);
        s->shut = true;
    }
}

/* Closes the client with a code and reason (for its close frame and the log). */
void session_close_with(Session *s, int code, const char *reason) {
    if (s->state != S_RUN) return;
    down_close(s, code, (const uint8_t *)reason, strlen(reason));
    s->close_sent = true;
    session_end(s, code, reason);
}

/*
 * On the way out of every entry point: whole frames a stop kept are parsed once reading may go
 * on (a close, an admit, a rest over, room again towards the client), and a failure found
 * inside ends the session now.
 */
void session_settle(Session *s) {
    if (s->in_pending && up_readable(s)) up_read(s);
    up_tap_flush(s);
    if (s->state != S_DONE && failed(s)) session_finish(s);
}

void session_on_sock(Session *s, uint32_t events) {
    if (s->state == S_DONE) return;
    if (events & EPOLLOUT) {
        down_flush(s);
        session_shut_when_flushed(s);
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        if (!s->sock_in && (events & (EPOLLHUP | EPOLLERR))) session_finish(s); /* dead while not read */
        else up_read(s);
    }
    session_settle(s);
}

/* Node admitted the MAC the first frame bound: that frame goes to the bridge, reading resumes. */
void session_admit(Session *s) {
    if (s->state != S_RUN || !s->holding) return;
    s->holding = false;
    if (s->has_held) up_tap_write(s, s->held, s->held_len);
    free(s->held);
    s->held = NULL;
    s->has_held = false;
    session_interest(s);
    up_read(s);
    session_settle(s);
}

void session_close(Session *s, int code, const char *reason) {
    session_close_with(s, code, reason);
    session_settle(s);
}

void session_ping(Session *s) {
    if (s->state != S_RUN) return;
    down_control(s, WS_PING, NULL, 0);
    session_settle(s);
}

/* A deadline passed: a rest is over, or a close handshake took too long. */
void session_timer(Session *s) {
    double now = s->host->now;
    if (s->state == S_CLOSING && now >= s->linger_until) {
        session_finish(s);
        return;
    }
    if (s->resting && now >= s->rest_until) {
        s->resting = false;
        if (s->state == S_RUN) s->host->timed(s, false);
        session_interest(s);
        up_read(s);
    }
    session_settle(s);
}

/*
 * Hand-over (a restart, src/handover/restart.ts): the host lets go of a running session without
 * closing anything. What the socket takes now is sent; what it does not stays owed (s->out),
 * the bytes not parsed yet stay in s->in (still masked), a fragmented message in the reader:
 * Node takes them (planeTake) for the next relay. A session closing, or holding its first frame
 * for Node's verdict, is not handed over (code 0: Node closes it).
 */
void session_detach(Session *s) {
    if (s->state != S_RUN || s->holding || failed(s)) {
        s->host->event(s, E_DETACHED, 0, NULL, NULL, 0);
        session_settle(s);
        return;
    }
    down_flush(s);
    if (failed(s)) {
        s->host->event(s, E_DETACHED, 0, NULL, NULL, 0);
        session_settle(s);
        return;
    }
    s->host->timed(s, false);
    up_tap_flush(s);
    detach_tap(s);
    epoll_ctl(s->host->ep, EPOLL_CTL_DEL, s->sock, NULL);
    s->state = S_DONE;
    s->detached = true;
    s->host->event(s, E_DETACHED, 1, NULL, NULL, 0);
    s->host->done(s);
}

/* A new session on its host: epoll on both fds, then what Node had read already. */
void session_start(Session *s) {
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
    struct epoll_event tev = {.events = EPOLLIN, .data.u64 = (uint64_t)(uintptr_t)s | 1};
    struct ifreq ifr = {0};
    s->state = S_RUN;
    s->tap_reading = true;
    s->vnet = ioctl(s->tap, TUNGETIFF, &ifr) == 0 && (ifr.ifr_flags & IFF_VNET_HDR);
    if (epoll_ctl(s->host->ep, EPOLL_CTL_ADD, s->sock, &ev) < 0) {
        close(s->sock);
        s->sock = -1;
        s->state = S_DONE;
        free(s->in);
        s->in = NULL;
        s->in_len = s->in_cap = 0;
        s->host->event(s, E_ENDED, CLOSE_INTERNAL, "cannot poll the client's socket", NULL, 0);
        s->host->event(s, E_CLOSED, 0, NULL, NULL, 0);
        s->host->done(s);
        return;
    }
    s->sock_in = true;
    if (epoll_ctl(s->host->ep, EPOLL_CTL_ADD, s->tap, &tev) == 0) s->tap_on = true;
    else {
        session_close_with(s, CLOSE_INTERNAL, "cannot poll the TAP");
        session_settle(s);
        return;
    }
    if (owed(s) > 0) down_flush(s); /* what a relay before a restart owed the client */
    up_read(s); /* what Node had read first (in_pending), then the socket */
    session_settle(s);
}

uint64_t *session_counter(Session *s, enum Stat i) {
    switch (i) {
    case STAT_FRAMES_IN: return &s->frames_in;
    case STAT_BYTES_IN: return &s->bytes_in;
    case STAT_FRAMES_OUT: return &s->frames_out;
    case STAT_BYTES_OUT: return &s->bytes_out;
    case STAT_REFUSED: return &s->refused;
    case STAT_STALLS: return &s->stalls;
    case STAT_SPOOFED: return &s->guard.spoofed;
    case STAT_LIMITED_IN: return &s->guard.limited_in;
    case STAT_LIMITED_OUT: return &s->guard.limited_out;
    case STAT_LAST_SEEN: return &s->last_seen;
    case STAT_LAST_FRAME: return &s->last_frame;
    case STAT_COUNT: break;
    }
    abort(); /* (an index out of the layout: a bug here) */
}

void session_ref(Session *s) { __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED); }

void session_unref(Session *s) {
    if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    /* (a finished session freed its buffers already; a handed-over one kept them for planeTake) */
    free(s->in);
    free(s->out);
    ws_reader_free(&s->reader);
    free(s->held);
    free(s);
}
