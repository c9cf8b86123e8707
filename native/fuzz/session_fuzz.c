/*
 * libFuzzer harness for one native session (session*.c) as its plane drives it: what a client
 * sends arrives in arbitrary pieces on a real socket, frames come from the "TAP" (a datagram
 * socketpair: one write, one frame, as a TAP), and the input decides when the relay's side is
 * read, when Node admits the MAC, pings, closes or hands the session over, and when time passes
 * (rest over, linger over). It reaches what wsframe_fuzz.c does not: the session's buffering of
 * partial frames and of whole frames a stop kept (held, resting, closing), owed bytes and
 * backpressure, and the close handshake.
 *
 * Checked besides ASan/UBSan:
 *   - up: the frames written to the TAP are, in order, the frames the same bytes parsed in one
 *     piece (wsframe.c) and judged by a fresh guard make; the session tried exactly frames_in
 *     of them and refused_count of those tries were refused (no frame lost, added or altered);
 *   - down: what the relay sent the client parses cleanly as unmasked frames; its binary
 *     messages are, in order, frames the TAP gave, nothing after a close frame.
 *
 *   input: a flags byte (bit 0: rate limits on, bit 1: the client side, as wsnic connect;
 *   bit 2: a small socket buffer towards the client; bit 3: the first piece was read by Node,
 *   handed in as planeAdd does: a 16-bit length and the bytes), then operations (run_op; a
 *   frame's payload is a 16-bit length, a 16-bit count given by the input, the rest filled).
 *   test/fixtures/session-seeds.js writes seeds in this language.
 *
 * Built and run by test/native/fuzz.test.ts (clang -fsanitize=fuzzer,address,undefined).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../session.h"

#define STREAM_MAX (256 * 1024)
#define DHCP_SERVER 0xc0a85601u /* 192.168.86.1 */

/* What the session's plane would tell Node (the host's callbacks below). */
static bool ended_told, closed_told, done;

static void event(Session *s, enum EventType type, int code, const char *text, const uint8_t *mac, uint32_t ip) {
    (void)s, (void)code, (void)text, (void)mac, (void)ip;
    if (type == E_ENDED) {
        if (ended_told) abort(); /* told once */
        ended_told = true;
    }
    if (type == E_CLOSED) {
        if (!ended_told || closed_told) abort(); /* after ENDED, once */
        closed_told = true;
    }
}
static void timed(Session *s, bool on) { s->timed = on; }
static void done_with(Session *s) {
    (void)s;
    if (done) abort(); /* let go once */
    done = true;
}

/* The session's host, as a plane is (its buffers made on the first input). */
static SessionHost plane = {.event = event, .timed = timed, .done = done_with};

/* A list of frames (owned copies). */
typedef struct {
    uint8_t **f;
    size_t *len;
    size_t n, cap;
} Frames;

static void frames_add(Frames *fs, const uint8_t *f, size_t len) {
    if (fs->n == fs->cap) {
        fs->cap = fs->cap ? fs->cap * 2 : 64;
        fs->f = realloc(fs->f, fs->cap * sizeof *fs->f);
        fs->len = realloc(fs->len, fs->cap * sizeof *fs->len);
    }
    fs->f[fs->n] = malloc(len ? len : 1);
    memcpy(fs->f[fs->n], f, len);
    fs->len[fs->n++] = len;
}

static void frames_free(Frames *fs) {
    for (size_t i = 0; i < fs->n; i++) free(fs->f[i]);
    free(fs->f);
    free(fs->len);
    memset(fs, 0, sizeof *fs);
}

static bool same(const Frames *a, size_t i, const Frames *b, size_t j) {
    return a->len[i] == b->len[j] && memcmp(a->f[i], b->f[j], a->len[i]) == 0;
}

/* Whether `sub` is `all` with some frames left out, order kept. */
static bool subsequence(const Frames *sub, const Frames *all, size_t all_n) {
    size_t j = 0;
    for (size_t i = 0; i < sub->n; i++) {
        while (j < all_n && !same(sub, i, all, j)) j++;
        if (j == all_n) return false;
        j++;
    }
    return true;
}

/* One run's world. */
static Session *s;
static int client = -1, tap_peer = -1;
static uint8_t stream[STREAM_MAX]; /* every byte the client made, in order */
static size_t stream_len, sent;    /* [0, sent) written to the socket */
static Frames up_out;    /* frames the session wrote to the TAP */
static Frames down_in;   /* frames the TAP gave the session */
static Frames to_client; /* binary messages the client read */
static uint8_t *down;    /* the relay's bytes the client read, not parsed yet */
static size_t down_len, down_cap, down_total;
static WsReader down_reader;
static bool down_closed;

static int down_message(void *ctx, int op, uint8_t *data, size_t len) {
    (void)ctx;
    if (down_closed) abort(); /* nothing after a close frame */
    if (op == WS_BINARY) frames_add(&to_client, data, len);
    return WS_GO;
}
static int down_control(void *ctx, int op, uint8_t *data, size_t len) {
    (void)ctx, (void)data, (void)len;
    if (down_closed) abort();
    if (op == WS_CLOSE) down_closed = true;
    return WS_GO;
}
static const WsHandlers down_handlers = {down_message, down_control};

/* Reads what the relay sent the client and parses it as the client would: it must parse. */
static void drain_client(void) {
    for (;;) {
        if (down_cap - down_len < 65536) {
            down_cap = down_cap ? down_cap * 2 : 256 * 1024;
            down = realloc(down, down_cap);
        }
        ssize_t n = recv(client, down + down_len, down_cap - down_len, MSG_DONTWAIT);
        if (n <= 0) break;
        down_len += (size_t)n;
        down_total += (size_t)n;
    }
    ssize_t used = ws_read(&down_reader, down, down_len, &down_handlers, NULL);
    if (used < 0) {
        fprintf(stderr, "the relay sent a bad frame: %s\n", down_reader.error);
        abort();
    }
    memmove(down, down + used, down_len - (size_t)used);
    down_len -= (size_t)used;
}

/* Reads the frames the session wrote to the TAP. */
static void drain_tap(void) {
    static uint8_t f[FRAME_MAX];
    for (;;) {
        ssize_t n = recv(tap_peer, f, sizeof f, MSG_DONTWAIT);
        if (n < 0) break;
        frames_add(&up_out, f, (size_t)n);
    }
}

/* Writes up to k more of the client's bytes to its socket; the session hears of it. */
static void deliver(size_t k) {
    if (k > stream_len - sent) k = stream_len - sent;
    if (k > 0) {
        ssize_t w = send(client, stream + sent, k, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) sent += (size_t)w;
    }
    session_on_sock(s, EPOLLIN);
}

static void append(const uint8_t *p, size_t len) {
    if (len > STREAM_MAX - stream_len) len = STREAM_MAX - stream_len;
    memcpy(stream + stream_len, p, len);
    stream_len += len;
}

/* One frame as the peer sends it (masked towards a server): FIN and opcode from `bits`. */
static void make_frame(uint8_t bits, const uint8_t key[4], uint8_t *payload, size_t len) {
    static const int ops[8] = {WS_BINARY, WS_BINARY, WS_BINARY, WS_CONT, WS_TEXT, WS_PING, WS_PONG, WS_CLOSE};
    uint8_t hdr[WS_HEADER_MAX];
    int op = ops[bits & 7];
    if ((op & 8) && len > 125) len = 125;
    if (op == WS_CLOSE && len == 1) len = 0;
    if (op == WS_CLOSE && len >= 2) payload[0] = 0x03, payload[1] = 0xe8; /* 1000 */
    size_t h = ws_header(hdr, op, len, s->server ? key : NULL);
    if ((bits & 8) && !(op & 8)) hdr[0] &= 0x7f; /* not FIN: a fragment */
    if (s->server) ws_mask(payload, len, key, 0);
    append(hdr, h);
    append(payload, len);
}

static size_t take16(const uint8_t **d, size_t *n) {
    size_t v = 0;
    if (*n >= 2) v = (size_t)((*d)[0] << 8 | (*d)[1]), *d += 2, *n -= 2;
    return v;
}

/* `len` bytes: as many as the input's next two bytes say from the input, the rest `fill` (a large
 * frame from a short input, and the operations after it still the input's). */
static uint8_t *take_bytes(const uint8_t **d, size_t *n, size_t len, uint8_t fill) {
    static uint8_t buf[FRAME_MAX];
    size_t given = take16(d, n);
    if (given > len) given = len;
    if (given > *n) given = *n;
    memcpy(buf, *d, given);
    memset(buf + given, fill, len - given);
    *d += given, *n -= given;
    return buf;
}

/* One operation from the input. */
static void run_op(const uint8_t **d, size_t *n) {
    uint8_t op = **d;
    (*d)++, (*n)--;
    switch (op & 15) {
    case 0: { /* raw bytes from the client (made, not yet written) */
        size_t len = take16(d, n);
        if (len > *n) len = *n;
        append(*d, len);
        *d += len, *n -= len;
        break;
    }
    case 1: case 2: case 3: { /* a well-formed frame: bits, key, length, payload */
        uint8_t bits = 0, key[4] = {0};
        if (*n >= 5) bits = (*d)[0], memcpy(key, *d + 1, 4), *d += 5, *n -= 5;
        size_t len = take16(d, n) % 65536;
        make_frame(bits, key, take_bytes(d, n, len, 0x5a), len);
        break;
    }
    case 4: case 5: /* a piece of the client's bytes arrives */
        deliver(take16(d, n) + 1);
        break;
    case 6: case 14: { /* a frame from the TAP; 14: queued, the session not woken yet */
        size_t len = take16(d, n) % FRAME_MAX + 1; /* (a TAP gives no empty frame) */
        uint8_t *f = take_bytes(d, n, len, 0xa5);
        if (send(tap_peer, f, len, MSG_DONTWAIT) == (ssize_t)len) frames_add(&down_in, f, len);
        if ((op & 15) == 6) session_on_tap(s, EPOLLIN);
        break;
    }
    case 15: /* the TAP has frames */
        session_on_tap(s, EPOLLIN);
        break;
    case 7: /* the client reads what the relay sent */
        drain_client();
        session_on_sock(s, EPOLLOUT);
        break;
    case 8: /* Node admits the MAC */
        session_admit(s);
        break;
    case 9: /* keepalive */
        session_ping(s);
        break;
    case 10: /* time passes: a rest, a linger */
        plane.now += (double)(op >> 4) * 8.0;
        if (s->timed) session_timer(s);
        break;
    case 11: { /* the relay closes it, with a reason of up to 150 characters (2 bytes each) */
        static const char e[] = "\xc3\xa9";
        char reason[301] = "";
        for (int i = 0; i < (op >> 4) * 10; i++) memcpy(reason + 2 * i, e, 3);
        session_close(s, 1008, reason);
        break;
    }
    case 12: /* the client goes */
        shutdown(client, SHUT_WR);
        session_on_sock(s, EPOLLIN | EPOLLHUP);
        break;
    case 13: /* a restart: handed over */
        session_detach(s);
        break;
    default:
        break;
    }
    drain_tap();
}

/* The reference: the bytes written, parsed in one piece and judged by a fresh guard. */
static Frames ref;
static Guard ref_guard;
static bool ref_stopped;

static int ref_message(void *ctx, int op, uint8_t *data, size_t len) {
    (void)ctx;
    if (ref_stopped) return WS_STOP;
    if (op != WS_BINARY) return WS_GO;
    if (!s->server) { /* the client side: every Ethernet-sized frame */
        if (len >= GUARD_MIN_FRAME) frames_add(&ref, data, len);
        return WS_GO;
    }
    enum Verdict v = guard_up(&ref_guard, data, len, plane.now);
    if (v == V_RUNT) {
        ref_stopped = true;
        return WS_STOP;
    }
    if (v == V_PASS) frames_add(&ref, data, len);
    return WS_GO;
}
static int ref_control(void *ctx, int op, uint8_t *data, size_t len) {
    (void)ctx, (void)data, (void)len;
    if (op != WS_CLOSE) return WS_GO;
    ref_stopped = true;
    return WS_STOP;
}
static const WsHandlers ref_handlers = {ref_message, ref_control};

static void check(void) {
    static uint8_t copy[STREAM_MAX];
    const double none[2] = {0, 0};
    /* IPv6 rules off: a claim's state hangs on when frames came each way, which the reference
       does not replay (wsframe_fuzz.c runs them). */
    guard_init(&ref_guard, none, none, 1, DHCP_SERVER, false, plane.now);
    WsReader r;
    ws_reader_init(&r, MAX_MESSAGE, s->server);
    ref_stopped = false;
    memcpy(copy, stream, sent);
    (void)ws_read(&r, copy, sent, &ref_handlers, NULL);
    ws_reader_free(&r);

    /* Frames over the rate limit are dropped before they are tried: then any of the reference's.
     * Without: the reference's first `tried` frames, those the TAP refused left out (none refused:
     * exactly those, as up_out.n == tried). */
    uint64_t tried = GET(s->frames_in), refused = GET(s->refused), limited = GET(s->guard.limited_in);
    if (tried > ref.n || up_out.n != tried - refused || !subsequence(&up_out, &ref, limited ? ref.n : (size_t)tried)) {
        fprintf(stderr, "up: %zu frames on the TAP, %llu tried, %llu refused, reference %zu\n", up_out.n,
                (unsigned long long)tried, (unsigned long long)refused, ref.n);
        abort();
    }
    if (!subsequence(&to_client, &down_in, down_in.n)) {
        fprintf(stderr, "down: %zu messages are not the TAP's %zu frames in order\n", to_client.n, down_in.n);
        abort();
    }
    /* A session still relaying, after the final rounds, has done all its work: every frame the
     * client sent was tried or dropped over the limit, every frame the TAP gave reached it. */
    if (s->state == S_RUN && !s->holding && !s->resting && sent == stream_len && refused == 0 && !s->broken) {
        if (tried + limited != ref.n) {
            fprintf(stderr, "up: %llu tried and %llu limited of the reference's %zu frames\n", (unsigned long long)tried,
                    (unsigned long long)limited, ref.n);
            abort();
        }
        if (GET(s->guard.limited_out) == 0 && to_client.n != down_in.n) {
            fprintf(stderr, "down: %zu of the TAP's %zu frames reached the client\n", to_client.n, down_in.n);
            abort();
        }
    }
    frames_free(&ref);
}

/* The client's bytes the session has read off its socket (frames, but also texts and controls). */
static size_t taken(void) {
    int queued = 0;
    if (s->sock < 0 || ioctl(s->sock, FIONREAD, &queued) < 0) return sent;
    return sent - (size_t)queued;
}

/* Everything that moves when a session does its work (the final rounds go on while it moves). */
static size_t progress(void) {
    return sent + taken() + up_out.n + down_total + s->in_len + (size_t)(GET(s->frames_in) + GET(s->frames_out) + GET(s->guard.limited_in) +
                                                            GET(s->guard.limited_out) + GET(s->guard.spoofed));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (plane.ep == 0) {
        plane.ep = epoll_create1(EPOLL_CLOEXEC);
        plane.inbuf = malloc(IN_SCRATCH);
        plane.outbuf = malloc(OUT_SCRATCH);
        plane.co.buf = malloc(CO_MAX);
        plane.gsobuf = malloc(FRAME_MAX);
        if (plane.ep < 0 || !plane.inbuf || !plane.outbuf || !plane.co.buf || !plane.gsobuf) abort();
    }
    uint8_t flags = data[0];
    data++, size--;
    plane.now = 1e6;
    plane.wall = 1.7e12;
    ended_told = closed_told = done = down_closed = false;
    stream_len = sent = down_len = down_total = 0;

    int sp[2], tp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0) abort();
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, tp) < 0) abort();
    client = sp[1];
    tap_peer = tp[1];
    if (flags & 4) { /* a client slow to read: owed bytes, backpressure */
        int small = 65536;
        setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
        setsockopt(client, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    s = calloc(1, sizeof *s);
    s->sock = sp[0];
    s->tap = tp[0];
    s->host = &plane;
    s->server = !(flags & 2);
    const double up[2] = {20000, 40}, down_rate[2] = {40000, 60}, none[2] = {0, 0};
    guard_init(&s->guard, (flags & 1) ? up : none, (flags & 1) ? down_rate : none, 0.05, DHCP_SERVER, false, plane.now);
    ws_reader_init(&s->reader, MAX_MESSAGE, s->server);
    ws_reader_init(&down_reader, MAX_MESSAGE, !s->server);
    if (flags & 8) { /* bytes Node read before the plane took the session (planeAdd's head) */
        size_t len = take16(&data, &size) & 0x3ff;
        if (len > size) len = size;
        if (len) {
            append(data, len);
            sent = len;
            s->in = malloc(len);
            memcpy(s->in, data, len);
            s->in_len = s->in_cap = len;
            s->in_pending = true;
            data += len, size -= len;
        }
    }
    session_start(s);
    drain_tap();
    while (size > 0 && !done) run_op(&data, &size);

    /* The end of the input: everything made arrives, is read and admitted, rests end, the TAP's
     * frames are read, until nothing moves. */
    for (int round = 0; round < 2048 && !done; round++) {
        size_t before = progress();
        if (s->holding) session_admit(s);
        deliver(65536);
        drain_client();
        session_on_sock(s, EPOLLOUT);
        session_on_tap(s, EPOLLIN);
        if (s->timed && s->resting) {
            plane.now += REST_MS + 1;
            session_timer(s);
        }
        drain_tap();
        drain_client();
        if (before == progress()) break;
    }
    check();

    /* Gone: closed (the linger runs out), or handed over (its fds and buffers are Node's then). */
    if (!done) {
        session_close(s, 1001, "end");
        plane.now += LINGER_MS + 1;
        if (s->timed) session_timer(s);
    }
    if (!done) abort(); /* a closing session is let go when its linger runs out */
    if (!s->detached && (!closed_told || s->sock >= 0)) abort();
    if (s->sock >= 0) close(s->sock);
    close(s->tap);
    close(client);
    close(tap_peer);
    s->refs = 1;
    session_unref(s);
    ws_reader_free(&down_reader);
    free(down);
    down = NULL;
    down_cap = 0;
    frames_free(&up_out);
    frames_free(&down_in);
    frames_free(&to_client);
    return 0;
}
