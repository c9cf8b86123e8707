/*
 * A session from its client (see session.h): bytes read from the socket are parsed (wsframe.c),
 * each message judged (guard_judge_up) and written to the TAP, one frame a write or a stream's TCP
 * segments joined (coalesce.c). A stop (the first frame held for Node's verdict, a rest over the
 * upload limit, a close) keeps what is left for later; so does a partial frame.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "session_parts.h"

/* Counted as relayed, as the pump counts (a frame the kernel refuses is also counted there). */
void up_tap_write(Session *s, const uint8_t *f, size_t len) {
    COUNT(s->frames_in, 1);
    COUNT(s->bytes_in, len);
    int refused = s->vnet ? co_add(&s->host->co, s->tap, f, len) : write(s->tap, f, len) != (ssize_t)len;
    if (refused) COUNT(s->refused, (uint64_t)refused); /* Ethernet drops, so do we */
}

/* Segments joined for this session's TAP go now: before it returns from an entry point, and
 * before the TAP is Node's again. */
void up_tap_flush(Session *s) {
    Coalescer *co = &s->host->co;
    if (!s->vnet || co->len == 0 || co->fd != s->tap) return;
    int refused = co_flush(co);
    if (refused) COUNT(s->refused, (uint64_t)refused);
}

static void start_rest(Session *s) {
    s->resting = true;
    s->rest_until = s->host->now + REST_MS;
    s->host->timed(s, true);
    session_interest(s);
}

static int on_message(void *ctx, int op, uint8_t *data, size_t len) {
    Session *s = ctx;
    SET(s->last_seen, (uint64_t)s->host->wall);
    if (s->state != S_RUN) return WS_GO; /* closing: only its close frame matters */
    if (op == WS_TEXT) {
        /* v86 sends none, jor1k its pings: not frames. Told once, for the debug log. */
        if (!s->text_told) {
            s->text_told = true;
            s->host->event(s, E_TEXT, (int)len, NULL, NULL, 0);
        }
        return WS_GO;
    }
    SET(s->last_frame, (uint64_t)s->host->wall);
    if (!s->server) { /* the client side: nothing to judge, frames from the whole bridge */
        if (len >= GUARD_MIN_FRAME) up_tap_write(s, data, len);
        return WS_GO;
    }
    unsigned told = guard_judge_up(&s->guard, data, len, s->host->now);
    enum Verdict v = told & G_VERDICT;
    if (v == V_RUNT) goto runt;
    if (told & G_BOUND) {
        /* Node decides on a duplicate MAC before this frame reaches the bridge. */
        s->holding = true;
        if (v == V_PASS && (s->held = malloc(len))) {
            memcpy(s->held, data, len);
            s->held_len = len;
            s->has_held = true;
        }
        s->host->event(s, E_BOUND, 0, NULL, s->guard.mac, 0);
        if (v == V_LIMITED) start_rest(s);
        session_interest(s);
        s->stopped = true;
        return WS_STOP;
    }
    if (v == V_PASS) {
        up_tap_write(s, data, len);
        return WS_GO;
    }
    if (v == V_LIMITED) {
        if (told & G_FIRST_LIMITED) s->host->event(s, E_LIMITED, 0, "up", NULL, 0);
        start_rest(s);
        s->stopped = true;
        return WS_STOP;
    }
    return WS_GO; /* another MAC: counted by the guard */
runt: {
    char why[80];
    snprintf(why, sizeof why, "frame of %zu bytes is shorter than an Ethernet header", len);
    session_close_with(s, CLOSE_INVALID, why);
    s->stopped = true;
    return WS_STOP;
}
}

static int on_control(void *ctx, int op, uint8_t *data, size_t len) {
    Session *s = ctx;
    if (op != WS_PING) SET(s->last_seen, (uint64_t)s->host->wall); /* heard: messages, PONGs (as ws) */
    if (op == WS_PING && s->state == S_RUN) down_control(s, WS_PONG, data, len);
    if (op != WS_CLOSE) return WS_GO;
    s->peer_closed = true;
    if (s->state == S_RUN) {
        /* The client closes: the same code and reason go back (none if it gave none: 1005). */
        int code = len >= 2 ? (data[0] << 8 | data[1]) : 0;
        char why[124];
        size_t rlen = len >= 2 ? len - 2 : 0;
        memcpy(why, data + (len >= 2 ? 2 : len), rlen);
        why[rlen] = 0;
        down_close(s, code, data + 2, rlen);
        s->close_sent = true;
        session_end(s, code ? code : CLOSE_NO_STATUS, why);
    }
    session_shut_when_flushed(s);
    s->stopped = true;
    return WS_STOP;
}

static const WsHandlers handlers = {on_message, on_control};

/* s->in holds at least n bytes, or the socket has failed (out of memory) and false is returned. */
static bool reserve_in(Session *s, size_t n) {
    if (s->in_cap >= n) return true;
    uint8_t *p = realloc(s->in, n);
    if (!p) {
        fail_socket(s);
        return false;
    }
    s->in = p;
    s->in_cap = n;
    return true;
}

/* Bytes [used, len) of buf stay for later in s->in (buf may be s->in itself). */
static void keep_rest(Session *s, uint8_t *buf, size_t used, size_t len) {
    size_t rest = len - used;
    if (rest == 0) {
        free(s->in);
        s->in = NULL;
        s->in_len = s->in_cap = 0;
        return;
    }
    if (buf == s->in) {
        memmove(s->in, s->in + used, rest);
    } else {
        if (!reserve_in(s, rest)) return;
        memcpy(s->in, buf + used, rest);
    }
    s->in_len = rest;
}

/*
 * Parses buf[0, len) and keeps what is left in s->in: a partial frame, or, after a stop (held,
 * resting, closing), whole frames too, to be parsed first when reading goes on (in_pending).
 */
static void parse(Session *s, uint8_t *buf, size_t len) {
    s->stopped = false;
    ssize_t used = s->peer_closed ? (ssize_t)len : ws_read(&s->reader, buf, len, &handlers, s);
    if (used < 0) {
        /* A protocol error: its code, no reason in the frame (as ws); the log says why. */
        char why[96];
        int code = s->reader.error_code;
        if (code == CLOSE_TOO_BIG) snprintf(why, sizeof why, "frame too large (%s)", s->reader.error);
        else snprintf(why, sizeof why, "%s", s->reader.error);
        if (s->state == S_RUN) {
            down_close(s, code, NULL, 0);
            s->close_sent = true;
            session_end(s, code, why);
        }
        s->peer_closed = true; /* nothing more it sends is read */
        used = (ssize_t)len;
        session_shut_when_flushed(s);
    }
    keep_rest(s, buf, (size_t)used, len);
    s->in_pending = s->stopped && s->in_len > 0;
}

/* May the client be read now? */
bool up_readable(const Session *s) {
    return s->state != S_DONE && !s->broken && !s->holding && !s->resting && owed(s) < SOCK_STOP;
}

/*
 * Reads and parses the client's bytes while it may be read (a few reads, then others' turn).
 * What a stop kept is parsed first. The rest of a partial frame whose header is in is read
 * straight after it in s->in, so a client dripping a large frame byte by byte costs one copy of
 * it, not one per read.
 */
void up_read(Session *s) {
    uint8_t *buf = s->host->inbuf;
    for (int round = 0; round < 4 && up_readable(s);) {
        if (s->in_pending) { /* whole frames a stop kept: no read needed, and progress each time */
            parse(s, s->in, s->in_len);
            continue;
        }
        size_t len = s->in_len, need = len ? ws_frame_length(s->in, len) : 0;
        uint8_t *into;
        size_t room;
        /* the rest of a frame whose header is in: read into s->in after it */
        bool rest = need > len && need <= WS_HEADER_MAX + MAX_MESSAGE;
        if (rest) {
            if (!reserve_in(s, need)) return;
            into = s->in + len;
            room = need - len;
        } else {
            if (len) memcpy(buf, s->in, len);
            into = buf + len;
            room = IN_SCRATCH - len;
        }
        ssize_t n = recv(s->sock, into, room, MSG_DONTWAIT);
        round++;
        if (n == 0) {
            s->peer_closed = true;
            session_finish(s);
            return;
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) session_finish(s);
            return;
        }
        if (rest) {
            s->in_len += (size_t)n;
            if (s->in_len == need) parse(s, s->in, s->in_len);
            if ((size_t)n < room) return; /* drained */
            continue;
        }
        parse(s, buf, len + (size_t)n);
        if ((size_t)n < room) return; /* drained */
    }
}
