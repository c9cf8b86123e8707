/*
 * A session towards its client (see session.h): what the socket does not take is owed (s->out);
 * past HIGH_WATER owed the TAP is not read (its kernel queue then drops, as Ethernet may) until
 * below LOW_WATER. The TAP's frames go out judged (guard_judge_down), framed and masked if we are the
 * client, a wakeup's batch in one sendmsg; control frames (close, ping, pong) go the same way.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_net.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "session_parts.h"

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
    session_interest(s);
    backpressure(s);
}

/* Writes what is owed; frees the buffer once all is sent. */
void down_flush(Session *s) {
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
    session_interest(s);
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
void down_control(Session *s, int op, const uint8_t *p, size_t len) {
    uint8_t frame[WS_HEADER_MAX + 125], key[4];
    if (len > 125) len = 125;
    if (!s->server) random_key(s->host, key);
    size_t h = ws_header(frame, op, len, s->server ? NULL : key);
    if (len) memcpy(frame + h, p, len);
    if (!s->server) ws_mask(frame + h, len, key, 0);
    struct iovec iov = {frame, h + len};
    send_iov(s, &iov, 1);
}

/* A close frame: the code and at most 123 bytes of reason, cut at a character's start. */
void down_close(Session *s, int code, const uint8_t *reason, size_t rlen) {
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
    down_control(s, WS_CLOSE, p, len);
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
    if (s->server) {
        uint8_t mac[6];
        uint32_t ip;
        unsigned told = guard_judge_down(&s->guard, f, n, s->host->now, mac, &ip);
        if (told & G_ACKED) s->host->event(s, E_DHCP, 0, NULL, mac, ip);
        if ((told & G_VERDICT) != V_PASS) {
            if (told & G_FIRST_LIMITED) s->host->event(s, E_LIMITED, 0, "down", NULL, 0);
            return;
        }
    }
    uint8_t key[4], hdr[WS_HEADER_MAX];
    if (!s->server) {
        random_key(s->host, key);
        ws_mask(f, n, key, 0);
    }
    size_t h = ws_header(hdr, WS_BINARY, n, s->server ? NULL : key);
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
        session_close_with(s, CLOSE_INTERNAL, why);
    }
    session_settle(s);
}
