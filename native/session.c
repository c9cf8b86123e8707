/*
 * One client of the native data path, on its host's thread (a plane's): see session.h.
 *
 * What the socket does not take is owed (s->out); past HIGH_WATER owed the TAP is not read (its
 * kernel queue then drops, as Ethernet may) until below LOW_WATER. Failures found deep in a call
 * (a write to a dead socket) only mark the session; the entry points end it on their way out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "session.h"

static size_t owed(const Session *s) { return s->out_len - s->out_off; }
static void tap_flush(Session *s);

/* The socket's epoll interest, from the session's state. */
static void sock_interest(Session *s) {
    if (s->state == S_DONE) return;
    bool want_in = !s->holding && !s->resting && owed(s) < SOCK_STOP;
    bool want_out = owed(s) > 0;
    if (want_in == s->sock_in && want_out == s->sock_out) return;
    struct epoll_event ev = {.events = (want_in ? EPOLLIN : 0) | (want_out ? EPOLLOUT : 0), .data.ptr = s};
    epoll_ctl(s->host->ep, EPOLL_CTL_MOD, s->sock, &ev);
    s->sock_in = want_in;
    s->sock_out = want_out;
}

static void tap_interest(Session *s) {
    if (!s->tap_on) return;
    struct epoll_event ev = {.events = s->tap_reading ? EPOLLIN : 0, .data.u64 = (uint64_t)(uintptr_t)s | 1};
    epoll_ctl(s->host->ep, EPOLL_CTL_MOD, s->tap, &ev);
}

/* Stops reading the TAP above HIGH_WATER owed, reads it again below LOW_WATER. */
static void backpressure(Session *s) {
    size_t o = owed(s);
    if (s->tap_reading && o > HIGH_WATER) {
        s->tap_reading = false;
        COUNT(s->stalls, 1);
        tap_interest(s);
    } else if (!s->tap_reading && o < LOW_WATER) {
        s->tap_reading = true;
        tap_interest(s);
    }
}

/* Keeps iov's bytes from `skip` on as owed; false if memory ran out. */
static bool keep(Session *s, const struct iovec *iov, int n, size_t skip) {
    size_t add = 0;
    for (int i = 0; i < n; i++) add += iov[i].iov_len;
    add -= skip;
    if (owed(s) == 0) s->out_off = s->out_len = 0;
    if (s->out_len + add > s->out_cap && s->out_off > 0) {
        memmove(s->out, s->out + s->out_off, owed(s));
        s->out_len -= s->out_off;
        s->out_off = 0;
    }
    if (s->out_len + add > s->out_cap) {
        size_t cap = s->out_cap * 2;
        if (cap < s->out_len + add) cap = s->out_len + add;
        if (cap < 64 * 1024) cap = 64 * 1024;
        uint8_t *p = realloc(s->out, cap);
        if (!p) return false;
        s->out = p;
        s->out_cap = cap;
    }
    for (int i = 0; i < n; i++) {
        size_t len = iov[i].iov_len;
        const uint8_t *b = iov[i].iov_base;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        memcpy(s->out + s->out_len, b + skip, len - skip);
        s->out_len += len - skip;
        skip = 0;
    }
    return true;
}

/* Marks the connection dead; the entry point that called us ends the session on its way out. */
static bool failed(Session *s) { return s->broken; }
static void fail_socket(Session *s) { s->broken = true; }

/* Sends iov after what is owed: the socket takes what it can, the rest is owed. */
static void send_iov(Session *s, struct iovec *iov, int n) {
    size_t total = 0, done = 0;
    if (s->shut || failed(s)) return;
    for (int i = 0; i < n; i++) total += iov[i].iov_len;
    if (owed(s) == 0) {
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(s->sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) done = (size_t)w;
        else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            fail_socket(s);
            return;
        }
    }
    if (done < total && !keep(s, iov, n, done)) {
        fail_socket(s); /* out of memory for this client only */
        return;
    }
    sock_interest(s);
    backpressure(s);
}

/* Writes what is owed; frees the buffer once all is sent. */
static void flush(Session *s) {
    while (owed(s) > 0) {
        ssize_t w = send(s->sock, s->out + s->out_off, owed(s), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) fail_socket(s);
            break;
        }
        s->out_off += (size_t)w;
    }
    if (owed(s) == 0 && s->out_cap > 0) {
        free(s->out);
        s->out = NULL;
        s->out_cap = s->out_off = s->out_len = 0;
    }
    sock_interest(s);
    backpressure(s);
}

/* A client's masking key: from the host's pool of getrandom() bytes, refilled 4 KiB at a time. */
static void random_key(SessionHost *p, uint8_t key[4]) {
    if (p->pool_left < 4) {
        size_t got = 0;
        while (got < sizeof p->pool) {
            ssize_t n = getrandom(p->pool + got, sizeof p->pool - got, 0);
            if (n > 0) got += (size_t)n;
            else if (errno != EINTR) abort(); /* no randomness: no unpredictable keys (RFC 6455 5.3) */
        }
        p->pool_left = sizeof p->pool;
    }
    p->pool_left -= 4;
    memcpy(key, p->pool + p->pool_left, 4);
}

/* One control frame (close, ping, pong) of at most 125 payload bytes. */
static void send_control(Session *s, int op, const uint8_t *p, size_t len) {
    uint8_t frame[WS_HEADER_MAX + 125], key[4];
    if (len > 125) len = 125;
    if (!s->masked) random_key(s->host, key);
    size_t h = ws_header(frame, op, len, s->masked ? NULL : key);
    if (len) memcpy(frame + h, p, len);
    if (!s->masked) ws_mask(frame + h, len, key, 0);
    struct iovec iov = {frame, h + len};
    send_iov(s, &iov, 1);
}

/* A close frame: the code and at most 123 bytes of reason, cut at a character's start. */
static void send_close(Session *s, int code, const uint8_t *reason, size_t rlen) {
    uint8_t p[125];
    size_t len = 0;
    if (code) {
        if (rlen > 123) {
            rlen = 123;
            while (rlen > 0 && (reason[rlen] & 0xc0) == 0x80) rlen--;
        }
        p[0] = (uint8_t)(code >> 8);
        p[1] = (uint8_t)code;
        if (rlen) memcpy(p + 2, reason, rlen);
        len = 2 + rlen;
    }
    send_control(s, WS_CLOSE, p, len);
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
static void end(Session *s, int code, const char *why) {
    if (s->state != S_RUN) return;
    s->state = S_CLOSING;
    s->holding = false;
    s->resting = false;
    free(s->held);
    s->held = NULL;
    s->has_held = false;
    tap_flush(s);
    detach_tap(s);
    s->linger_until = s->host->now + LINGER_MS;
    s->host->timed(s, true);
    s->host->event(s, E_ENDED, code, why, NULL, 0);
    sock_interest(s);
}

/* The socket is closed and the host lets go of the session (Node hears E_CLOSED). */
static void finish(Session *s) {
    if (s->state == S_DONE) return;
    if (s->state == S_RUN) end(s, CLOSE_ABNORMAL, "");
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
static void shut_when_flushed(Session *s) {
    if (s->state == S_CLOSING && s->peer_closed && !s->shut && owed(s) == 0 && s->close_sent) {
        shutdown(s->sock, SHUT_WR);
        s->shut = true;
    }
}

/* Closes the client with a code and reason (for its close frame and the log). */
static void close_with(Session *s, int code, const char *reason) {
    if (s->state != S_RUN) return;
    send_close(s, code, (const uint8_t *)reason, strlen(reason));
    s->close_sent = true;
    end(s, code, reason);
}

/* Counted as relayed, as the pump counts (a frame the kernel refuses is also counted there). */
static void tap_write(Session *s, const uint8_t *f, size_t len) {
    COUNT(s->frames_in, 1);
    COUNT(s->bytes_in, len);
    int refused = s->vnet ? co_add(&s->host->co, s->tap, f, len) : write(s->tap, f, len) != (ssize_t)len;
    if (refused) COUNT(s->refused, (uint64_t)refused); /* Ethernet drops, so do we */
}

/* Segments joined for this session's TAP go now: before it returns from an entry point, and
 * before the TAP is Node's again. */
static void tap_flush(Session *s) {
    Coalescer *co = &s->host->co;
    if (!s->vnet || co->len == 0 || co->fd != s->tap) return;
    int refused = co_flush(co);
    if (refused) COUNT(s->refused, (uint64_t)refused);
}

static void start_rest(Session *s) {
    s->resting = true;
    s->rest_until = s->host->now + REST_MS;
    s->host->timed(s, true);
    sock_interest(s);
}

static int on_message(void *ctx, int op, uint8_t *data, size_t len) {
    Session *s = ctx;
    SET(s->last_seen, (uint64_t)s->host->wall);
    if (s->state != S_RUN) return WS_GO; /* closing: only its close frame matters */
    if (op == WS_TEXT) {
        /* v86 sends none, jor1k its pings: not frames. Told once, for the debug log. */
        COUNT(s->texts, 1);
        if (!s->text_told) {
            s->text_told = true;
            s->host->event(s, E_TEXT, (int)len, NULL, NULL, 0);
        }
        return WS_GO;
    }
    SET(s->last_frame, (uint64_t)s->host->wall);
    if (!s->masked) { /* the client side: nothing to judge, frames from the whole bridge */
        if (len >= GUARD_MIN_FRAME) tap_write(s, data, len);
        return WS_GO;
    }
    bool was_bound = s->guard.bound;
    enum Verdict v = guard_up(&s->guard, data, len, s->host->now);
    if (v == V_RUNT) goto runt;
    if (!was_bound && s->guard.bound) {
        /* Node decides on a duplicate MAC before this frame reaches the bridge. */
        s->holding = true;
        if (v == V_PASS && (s->held = malloc(len))) {
            memcpy(s->held, data, len);
            s->held_len = len;
            s->has_held = true;
        }
        s->host->event(s, E_BOUND, 0, NULL, s->guard.mac, 0);
        if (v == V_LIMITED) start_rest(s);
        sock_interest(s);
        s->stopped = true;
        return WS_STOP;
    }
    if (v == V_PASS) {
        tap_write(s, data, len);
        return WS_GO;
    }
    if (v == V_LIMITED) {
        if (GET(s->guard.limited_in) == 1) s->host->event(s, E_LIMITED, 0, "up", NULL, 0);
        start_rest(s);
        s->stopped = true;
        return WS_STOP;
    }
    return WS_GO; /* another MAC: counted by the guard */
runt: {
    char why[80];
    snprintf(why, sizeof why, "frame of %zu bytes is shorter than an Ethernet header", len);
    close_with(s, CLOSE_INVALID, why);
    s->stopped = true;
    return WS_STOP;
}
}

static int on_control(void *ctx, int op, uint8_t *data, size_t len) {
    Session *s = ctx;
    if (op != WS_PING) SET(s->last_seen, (uint64_t)s->host->wall); /* heard: messages, PONGs (as ws) */
    if (op == WS_PING && s->state == S_RUN) send_control(s, WS_PONG, data, len);
    if (op != WS_CLOSE) return WS_GO;
    s->peer_closed = true;
    if (s->state == S_RUN) {
        /* The client closes: the same code and reason go back (none if it gave none: 1005). */
        int code = len >= 2 ? (data[0] << 8 | data[1]) : 0;
        char why[124];
        size_t rlen = len >= 2 ? len - 2 : 0;
        memcpy(why, data + (len >= 2 ? 2 : len), rlen);
        why[rlen] = 0;
        send_close(s, code, data + 2, rlen);
        s->close_sent = true;
        end(s, code ? code : CLOSE_NO_STATUS, why);
    }
    shut_when_flushed(s);
    s->stopped = true;
    return WS_STOP;
}

static const WsHandlers handlers = {on_message, on_control};

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
        if (s->in_cap < rest) {
            uint8_t *p = realloc(s->in, rest);
            if (!p) {
                fail_socket(s);
                return;
            }
            s->in = p;
            s->in_cap = rest;
        }
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
            send_close(s, code, NULL, 0);
            s->close_sent = true;
            end(s, code, why);
        }
        s->peer_closed = true; /* nothing more it sends is read */
        used = (ssize_t)len;
        shut_when_flushed(s);
    }
    keep_rest(s, buf, (size_t)used, len);
    s->in_pending = s->stopped && s->in_len > 0;
}

/* May the client be read now? */
static bool readable(const Session *s) {
    return s->state != S_DONE && !s->broken && !s->holding && !s->resting && owed(s) < SOCK_STOP;
}

/*
 * Reads and parses the client's bytes while it may be read (a few reads, then others' turn).
 * What a stop kept is parsed first. The rest of a partial frame whose header is in is read
 * straight after it in s->in, so a client dripping a large frame byte by byte costs one copy of
 * it, not one per read.
 */
static void read_client(Session *s) {
    uint8_t *buf = s->host->inbuf;
    for (int round = 0; round < 4 && readable(s);) {
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
            if (s->in_cap < need) {
                uint8_t *p = realloc(s->in, need);
                if (!p) {
                    fail_socket(s);
                    return;
                }
                s->in = p;
                s->in_cap = need;
            }
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
            finish(s);
            return;
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) finish(s);
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

/*
 * On the way out of every entry point: whole frames a stop kept are parsed once reading may go
 * on (a close, an admit, a rest over, room again towards the client), and a failure found
 * inside ends the session now.
 */
static void settle(Session *s) {
    if (s->in_pending && readable(s)) read_client(s);
    tap_flush(s);
    if (s->state != S_DONE && failed(s)) finish(s);
}

void session_on_sock(Session *s, uint32_t events) {
    if (s->state == S_DONE) return;
    if (events & EPOLLOUT) {
        flush(s);
        shut_when_flushed(s);
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        if (!s->sock_in && (events & (EPOLLHUP | EPOLLERR))) finish(s); /* dead while not read */
        else read_client(s);
    }
    settle(s);
}

/* A wakeup's frames towards the client: where the next one goes in the host's out buffer. */
typedef struct Batch {
    Session *s;
    size_t pos;
    int k;
} Batch;

static uint8_t *batch_room(void *ctx, size_t need) {
    Batch *b = ctx;
    if (b->pos + WS_HEADER_MAX + need > OUT_SCRATCH) return NULL;
    return b->s->host->outbuf + b->pos + WS_HEADER_MAX;
}

/* One frame for the client, at batch_room's place: judged, framed (masked on the client side). */
static void batch_frame(void *ctx, uint8_t *f, size_t n) {
    Batch *b = ctx;
    Session *s = b->s;
    if (s->masked) {
        bool acked;
        uint8_t mac[6];
        uint32_t ip;
        enum Verdict v = guard_down(&s->guard, f, n, s->host->now, &acked, mac, &ip);
        if (acked) s->host->event(s, E_DHCP, 0, NULL, mac, ip);
        if (v != V_PASS) {
            if (GET(s->guard.limited_out) == 1) s->host->event(s, E_LIMITED, 0, "down", NULL, 0);
            return;
        }
    }
    uint8_t key[4], hdr[WS_HEADER_MAX];
    if (!s->masked) {
        random_key(s->host, key);
        ws_mask(f, n, key, 0);
    }
    size_t h = ws_header(hdr, WS_BINARY, n, s->masked ? NULL : key);
    memcpy(f - h, hdr, h);
    s->host->iov[b->k].iov_base = f - h;
    s->host->iov[b->k].iov_len = h + n;
    b->k++;
    b->pos += WS_HEADER_MAX + n;
    COUNT(s->frames_out, 1);
    COUNT(s->bytes_out, (uint64_t)n);
    if (b->k == TAP_BATCH) { /* the iovec is full: this much goes now */
        send_iov(s, s->host->iov, b->k);
        b->k = 0;
        b->pos = 0;
    }
}

void session_on_tap(Session *s, uint32_t events) {
    if (s->state != S_RUN || !s->tap_on) return;
    if (!s->tap_reading && !(events & EPOLLERR)) return;
    Batch b = {s, 0, 0};
    CoSink sink = {batch_room, batch_frame, &b};
    int err = 0;
    /* a large TCP segment from a vnet TAP becomes up to ~45 frames: room for them too */
    size_t need = s->vnet ? 2 * (WS_HEADER_MAX + FRAME_MAX) : WS_HEADER_MAX + FRAME_MAX;
    for (int reads = 0; reads < TAP_BATCH && b.pos + need <= OUT_SCRATCH && s->state == S_RUN; reads++) {
        uint8_t *f = batch_room(&b, FRAME_MAX);
        uint8_t vh[VNET_HDR_LEN];
        struct iovec rv[2] = {{vh, sizeof vh}, {f, FRAME_MAX}};
        ssize_t n = s->vnet ? readv(s->tap, rv, 2) : read(s->tap, f, FRAME_MAX);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) err = errno;
            break;
        }
        if (!s->vnet) {
            if (n == 0) break;
            batch_frame(&b, f, (size_t)n);
            continue;
        }
        if (n <= VNET_HDR_LEN) break;
        n -= VNET_HDR_LEN;
        /* A large segment is cut from a copy: its frames take the place it was read into. */
        struct virtio_net_hdr h;
        memcpy(&h, vh, sizeof h);
        uint8_t *src = f;
        if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
            memcpy(s->host->gsobuf, f, (size_t)n);
            src = s->host->gsobuf;
        }
        /* (-1: a segment the offloads offered cannot produce; dropped, as a NIC would) */
        (void)co_split(vh, src, (size_t)n, &sink);
    }
    if (b.k > 0) send_iov(s, s->host->iov, b.k);
    if (err) {
        char why[96];
        snprintf(why, sizeof why, "TAP read failed (%s)", strerror(err));
        close_with(s, CLOSE_INTERNAL, why);
    }
    settle(s);
}

/* Node admitted the MAC the first frame bound: that frame goes to the bridge, reading resumes. */
void session_admit(Session *s) {
    if (s->state != S_RUN || !s->holding) return;
    s->holding = false;
    if (s->has_held) tap_write(s, s->held, s->held_len);
    free(s->held);
    s->held = NULL;
    s->has_held = false;
    sock_interest(s);
    read_client(s);
    settle(s);
}

void session_close(Session *s, int code, const char *reason) {
    close_with(s, code, reason);
    settle(s);
}

void session_ping(Session *s) {
    if (s->state != S_RUN) return;
    send_control(s, WS_PING, NULL, 0);
    settle(s);
}

/* A deadline passed: a rest is over, or a close handshake took too long. */
void session_timer(Session *s) {
    double now = s->host->now;
    if (s->state == S_CLOSING && now >= s->linger_until) {
        finish(s);
        return;
    }
    if (s->resting && now >= s->rest_until) {
        s->resting = false;
        if (s->state == S_RUN) s->host->timed(s, false);
        sock_interest(s);
        read_client(s);
    }
    settle(s);
}

/*
 * Hand-over (a restart, src/relay/handover.ts): the host lets go of a running session without
 * closing anything. What the socket takes now is sent; what it does not stays owed (s->out),
 * the bytes not parsed yet stay in s->in (still masked), a fragmented message in the reader:
 * Node takes them (planeTake) for the next relay. A session closing, or holding its first frame
 * for Node's verdict, is not handed over (code 0: Node closes it).
 */
void session_detach(Session *s) {
    if (s->state != S_RUN || s->holding || failed(s)) {
        s->host->event(s, E_DETACHED, 0, NULL, NULL, 0);
        settle(s);
        return;
    }
    flush(s);
    if (failed(s)) {
        s->host->event(s, E_DETACHED, 0, NULL, NULL, 0);
        settle(s);
        return;
    }
    s->host->timed(s, false);
    tap_flush(s);
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
        close_with(s, CLOSE_INTERNAL, "cannot poll the TAP");
        settle(s);
        return;
    }
    if (owed(s) > 0) flush(s); /* what a relay before a restart owed the client */
    read_client(s); /* what Node had read first (in_pending), then the socket */
    settle(s);
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
