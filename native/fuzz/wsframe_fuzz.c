/*
 * libFuzzer harness for what a client sends the native data path: the frame codec (wsframe.c)
 * fed in chunks as a session feeds it (kept bytes + the next read), every message through the
 * guard (guard.c) both ways and the DHCP parsers, and an encode/parse round trip.
 *
 *   first input byte: bit 0 server/client side, bits 1-2 rate limits on, bits 3-7 chunk size
 *
 * Built and run by test/native/fuzz.test.ts (clang -fsanitize=fuzzer,address,undefined).
 */
#include <stdlib.h>
#include <string.h>

#include "../guard.h"
#include "../wsframe.h"

#define MAX 65549

static int on_message(void *ctx, int op, uint8_t *d, size_t len) {
    Guard *g = ctx;
    bool acked;
    uint8_t mac[6];
    uint32_t ip;
    if (len > MAX || (op != WS_TEXT && op != WS_BINARY)) abort();
    if (op == WS_TEXT && !ws_utf8_valid(d, len)) abort();
    if (op == WS_BINARY) {
        guard_up(g, d, len, 1);
        guard_down(g, d, len, 1, &acked, mac, &ip);
        if (acked && (ip == 0 || ip == g->dhcp_server)) abort();
        (void)dhcp_request_chaddr(d, len);
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
    uint8_t flags = data[0];
    data++;
    size--;
    bool server = !(flags & 1);
    WsReader r;
    ws_reader_init(&r, MAX, server);
    Guard g;
    double up[2] = {flags & 2 ? 100000 : 0, flags & 4 ? 50 : 0}, down[2] = {flags & 2 ? 100000 : 0, 0};
    guard_init(&g, up, down, 1, 0x0a000001, 0);
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
    round_trip(data, size, server);
    return 0;
}
