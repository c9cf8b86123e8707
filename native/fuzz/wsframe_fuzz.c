/*
 * libFuzzer harness for what a client sends the native data path: the frame codec (wsframe.c)
 * fed in chunks as a session feeds it (kept bytes + the next read), every message through the
 * guard (guard.c) both ways and the DHCP parsers, once more made IPv6 for the guard's IPv6 rules
 * (guard6.c), then the TCP segment joiner (coalesce.c) as
 * it came and once more repaired (IPv4 length, the next sequence number, both checksums) so
 * that it joins, and an encode/parse round trip. The joiner writes to /dev/null.
 *
 *   first input byte: bit 0 server/client side, bits 1-2 rate limits on, bits 3-7 chunk size
 *
 * Built and run by test/native/fuzz.test.ts (clang -fsanitize=fuzzer,address,undefined).
 */
#include <fcntl.h>
#include <linux/virtio_net.h>
#include <stdlib.h>
#include <string.h>

#include "../coalesce.h"
#include "../guard.h"
#include "../wsframe.h"

#define MAX 65549

static Coalescer co;
static int sink = -1;

static uint32_t csum(const uint8_t *p, size_t n, uint32_t acc) {
    for (size_t i = 0; i + 1 < n; i += 2) acc += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1) acc += (uint32_t)p[n - 1] << 8;
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return acc;
}

/* The frame made a joinable next segment where it can be: what a well-behaved guest sends. */
static void join_repaired(const uint8_t *d, size_t len) {
    static uint8_t f[CO_MAX];
    if (len < 54 || len > CO_MAX) return;
    memcpy(f, d, len);
    f[12] = 0x08, f[13] = 0x00, f[14] = 0x45, f[23] = 6;
    f[16] = (uint8_t)((len - 14) >> 8), f[17] = (uint8_t)(len - 14);
    f[20] = (f[20] & 0x40) | 0x40, f[21] = 0;
    size_t doff = (size_t)(f[46] >> 4) * 4;
    if (doff < 20 || 34 + doff > len) return;
    f[46] &= 0xf0, f[47] = (f[47] & 0x08) | 0x10;
    if (co.len > 0 && len - 34 - doff <= co.mss) {
        memcpy(f, co.buf, 34);                                   /* same Ethernet and IPv4 header */
        f[16] = (uint8_t)((len - 14) >> 8), f[17] = (uint8_t)(len - 14);
        memcpy(f + 34, co.buf + 34, co.hlen - 34 < doff ? co.hlen - 34 : doff); /* same TCP header */
        f[38] = (uint8_t)(co.next_seq >> 24), f[39] = (uint8_t)(co.next_seq >> 16), f[40] = (uint8_t)(co.next_seq >> 8), f[41] = (uint8_t)co.next_seq;
    }
    f[24] = f[25] = 0;
    uint32_t ic = ~csum(f + 14, 20, 0) & 0xffff;
    f[24] = (uint8_t)(ic >> 8), f[25] = (uint8_t)ic;
    f[50] = f[51] = 0;
    size_t tl = len - 34;
    uint32_t tc = ~csum(f + 34, tl, csum(f + 26, 8, 6 + (uint32_t)tl)) & 0xffff;
    f[50] = (uint8_t)(tc >> 8), f[51] = (uint8_t)tc;
    (void)co_add(&co, sink, f, len);
    if (co.len > CO_MAX || (co.len && co.segs < 1)) abort();
}

/* co_split's output: frames laid one after another in a buffer, each checked to fit. */
static uint8_t split_out[4 * CO_MAX];
static size_t split_pos;
static uint8_t *split_room(void *ctx, size_t need) {
    (void)ctx;
    if (split_pos + need > sizeof split_out) return NULL;
    return split_out + split_pos;
}
static uint32_t csum(const uint8_t *p, size_t n, uint32_t acc);

/* A cut segment's IPv4 and TCP checksums, by this harness's own plain sum: right, or abort. */
static void check_cut(const uint8_t *f, size_t len) {
    size_t ihl = (size_t)(f[14] & 15) * 4;
    if (len < 14 + ihl + 20 || (csum(f + 14, ihl, 0) != 0xffff)) abort();
    uint32_t tl = (uint32_t)(len - 14 - ihl);
    if (csum(f + 14 + ihl, tl, csum(f + 26, 8, 6 + tl)) != 0xffff) abort();
}

static void split_emit(void *ctx, uint8_t *f, size_t len) {
    (void)ctx;
    if (f < split_out || f + len > split_out + sizeof split_out) {
        if (len > CO_MAX + 16) abort(); /* (a frame completed in place: the caller's buffer) */
        return;
    }
    check_cut(f, len);
    split_pos = (size_t)(f - split_out) + len;
}

/* The message as what a vnet TAP gives: a virtio-net header, then a frame to complete or cut. */
static void split(const uint8_t *d, size_t len) {
    static uint8_t f[CO_MAX + 16];
    if (len < VNET_HDR_LEN || len - VNET_HDR_LEN > CO_MAX) return;
    memcpy(f, d + VNET_HDR_LEN, len - VNET_HDR_LEN);
    split_pos = 0;
    CoSink sink = {split_room, split_emit, NULL};
    int n = co_split(d, f, len - VNET_HDR_LEN, &sink);
    if (n < -1 || n > (int)(sizeof split_out / 54 + 1)) abort();
}

/* The message made a large TCPv4 segment (GSO) where it can be: what the kernel hands a vnet TAP. */
static void split_repaired(const uint8_t *d, size_t len) {
    static uint8_t m[VNET_HDR_LEN + CO_MAX];
    if (len < 54 || len > CO_MAX) return;
    struct virtio_net_hdr h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
                               .gso_size = (uint16_t)(1 + d[len - 1] % 200 * 8), .csum_start = 34, .csum_offset = 16};
    memcpy(m, &h, sizeof h);
    uint8_t *f = m + VNET_HDR_LEN;
    memcpy(f, d, len);
    f[12] = 0x08, f[13] = 0x00, f[14] = (uint8_t)(0x40 | ((f[14] & 15) < 5 ? 5 : f[14] & 15)), f[23] = 6;
    split(m, VNET_HDR_LEN + len);
}

/*
 * The message made an IPv6 frame from the guard's bound MAC (ethertype, version 6, often an
 * extension header or ICMPv6 next) so the IPv6 rules (guard6.c) see more than their first test;
 * its last byte also makes some a DAD probe or advertisement for one of 8 addresses, or a packet
 * from one, so that claims go tentative, bound and free on a clock that moves. Judged up and
 * down; what the guard keeps must stay consistent (its count of tentative claims).
 */
static void v6_repaired(Guard *g, const uint8_t *d, size_t len) {
    static const uint8_t next[8] = {0, 43, 44, 51, 58, 60, 17, 6};
    static const uint8_t solicited[13] = {0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff};
    static uint8_t f[3000];
    static double now;
    uint8_t mac[6];
    uint32_t ip;
    if (len < 14 || len > sizeof f) return;
    uint8_t mode = d[len - 1], one[16] = {0xfd, 0, [15] = (uint8_t)(mode >> 5)};
    memcpy(f, d, len);
    if (g->bound) memcpy(f + 6, g->mac, 6);
    f[12] = 0x86, f[13] = 0xdd;
    if (len > 14) f[14] = (uint8_t)(0x60 | (f[14] & 15));
    if (len > 20 && (mode & 1)) f[20] = next[f[20] & 7];
    if (len >= 78 && (mode & 6) == 2) { /* neighbour solicitation or advertisement for one of 8 */
        f[18] = (uint8_t)((len - 54) >> 8), f[19] = (uint8_t)(len - 54), f[20] = 58, f[54] = (uint8_t)(135 + (mode >> 3 & 1));
        memcpy(f + 62, one, 16);
        if (mode & 16) memset(f + 22, 0, 16);                  /* from :: */
        memcpy(f + 38, solicited, 13), memcpy(f + 51, one + 13, 3); /* to its solicited-node group */
    } else if (len >= 62 && (mode & 6) == 4) {
        memcpy(f + 22, one, 16); /* from one of them */
    }
    now += 137;
    (void)guard_judge_down(g, f, len, now, mac, &ip); /* (first: the same probe coming down would free its claim) */
    (void)guard_judge_up(g, f, len, now);
    for (size_t n = 1; g->v6.tentative && n < 14; n++) { /* shorter than an Ethernet header, exactly (for ASan) */
        uint8_t *runt = malloc(n);
        if (!runt) abort();
        memcpy(runt, f, n);
        (void)guard_judge_down(g, runt, n, now, mac, &ip);
        free(runt);
    }
    int tentative = 0;
    for (int i = 0; i < GUARD6_CLAIMS; i++) {
        if (g->v6.claims[i].state > C6_BOUND) abort();
        tentative += g->v6.claims[i].state == C6_TENTATIVE;
    }
    if (tentative != g->v6.tentative) abort();
    /* The hand-over's records: what is saved loads back the same; any bytes load or are refused. */
    uint8_t saved[GUARD6_CLAIMS * GUARD6_RECORD];
    Guard6 back;
    size_t n = guard6_save(&g->v6, saved);
    if (!guard6_load(&back, saved, n, now) || back.tentative != g->v6.tentative || guard6_save(&back, f) != n || memcmp(f, saved, n) != 0) abort();
    (void)guard6_load(&back, d, len < 2 * sizeof saved ? len : 2 * sizeof saved, now);
}

static int on_message(void *ctx, int op, uint8_t *d, size_t len) {
    Guard *g = ctx;
    bool acked;
    uint8_t mac[6];
    uint32_t ip;
    if (len > MAX || (op != WS_TEXT && op != WS_BINARY)) abort();
    if (op == WS_TEXT && !ws_utf8_valid(d, len)) abort();
    if (op == WS_BINARY) {
        /* (the entry the JS path takes: guard_up/down and what they tell, each told once) */
        bool was_bound = g->bound;
        uint64_t was_in = g->limited_in, was_out = g->limited_out;
        unsigned u = guard_judge_up(g, d, len, 1), w = guard_judge_down(g, d, len, 1, mac, &ip);
        if (!!(u & G_BOUND) != (!was_bound && g->bound) || !!(u & G_FIRST_LIMITED) != (was_in == 0 && g->limited_in == 1)) abort();
        if (!!(w & G_FIRST_LIMITED) != (was_out == 0 && g->limited_out == 1) || (w & G_BOUND)) abort();
        acked = w & G_ACKED;
        if (acked && (ip == 0 || ip == g->dhcp_server)) abort();
        (void)dhcp_request_chaddr(d, len);
        v6_repaired(g, d, len);
        (void)co_add(&co, sink, d, len);
        if (co.len > CO_MAX) abort();
        /* Repaired copies of at most 3,000 bytes: the logic is the same at any size, the checksums
           of 64 KiB copies made the run 7 times slower (a million inputs: 237 s instead of 35). */
        size_t small = len < 3000 ? len : 3000;
        join_repaired(d, small);
        join_repaired(d, small);                        /* the same again: it follows, and joins */
        join_repaired(d, small > 60 ? small - d[small - 1] % 7 : small); /* a shorter last one */
        split(d, len);
        split_repaired(d, small);
    }
    return len % 7 == 3 ? WS_STOP : WS_GO; /* stops, as a hold or a rest makes them */
}

static int on_control(void *ctx, int op, uint8_t *d, size_t len) {
    (void)ctx;
    if (len > 125 || (op != WS_CLOSE && op != WS_PING && op != WS_PONG)) abort();
    if (op == WS_CLOSE && len == 1) abort();
    (void)d;
    return op == WS_CLOSE ? WS_STOP : WS_GO;
}

static const WsHandlers handlers = {on_message, on_control};

/* A frame made by ws_header (and masked, as a client's) parses back to the same payload. */
static const uint8_t *expect;
static size_t expect_len;
static int seen;

static int check_message(void *ctx, int op, uint8_t *d, size_t len) {
    (void)ctx;
    if (op != WS_BINARY || len != expect_len || memcmp(d, expect, len) != 0) abort();
    seen++;
    return WS_GO;
}

static void round_trip(const uint8_t *data, size_t size, bool masked) {
    static uint8_t frame[WS_HEADER_MAX + MAX];
    size_t len = size > MAX ? MAX : size;
    uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    if (len >= 4) memcpy(key, data, 4);
    size_t h = ws_header(frame, WS_BINARY, len, masked ? key : NULL);
    memcpy(frame + h, data, len);
    if (masked) ws_mask(frame + h, len, key, 0);
    WsReader r;
    ws_reader_init(&r, MAX, masked);
    expect = data;
    expect_len = len;
    seen = 0;
    ssize_t used = ws_read(&r, frame, h + len, &(WsHandlers){check_message, on_control}, NULL);
    if (used != (ssize_t)(h + len) || seen != 1) abort();
    ws_reader_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (sink < 0) {
        sink = open("/dev/null", O_WRONLY);
        co.buf = malloc(CO_MAX);
        if (sink < 0 || !co.buf) abort();
    }
    uint8_t flags = data[0];
    data++;
    size--;
    bool server = !(flags & 1);
    WsReader r;
    ws_reader_init(&r, MAX, server);
    Guard g;
    double up[2] = {flags & 2 ? 100000 : 0, flags & 4 ? 50 : 0}, down[2] = {flags & 2 ? 100000 : 0, 0};
    guard_init(&g, up, down, 1, 0x0a000001, true, 0);
    size_t chunk = 1 + (size_t)(flags >> 3) * 97;
    uint8_t *buf = malloc(size + 1);
    size_t kept = 0, pos = 0;
    for (;;) {
        size_t take = size - pos < chunk ? size - pos : chunk;
        memcpy(buf + kept, data + pos, take);
        pos += take;
        size_t len = kept + take;
        ssize_t used = ws_read(&r, buf, len, &handlers, &g);
        if (used < 0) {
            if (r.error_code != 1002 && r.error_code != 1007 && r.error_code != 1009 && r.error_code != 1011) abort();
            if (!r.error) abort();
            break;
        }
        if ((size_t)used > len) abort();
        memmove(buf, buf + used, len - (size_t)used);
        kept = len - (size_t)used;
        if (take == 0 && used == 0) break; /* the rest is a partial frame */
    }
    free(buf);
    ws_reader_free(&r);
    (void)co_flush(&co);
    if (co.len != 0) abort();
    round_trip(data, size, server);
    return 0;
}
