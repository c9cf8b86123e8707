/*
 * The WebSocket frame codec: see wsframe.h. It gives the close codes and reasons the `ws` package
 * gives for the same input (1002 protocol error, 1007 bad UTF-8, 1009 too large), so both data
 * paths answer a client alike.
 */
#include "abi.h"
#include "wsframe.h"

#include <stdlib.h>
#include <string.h>

void ws_reader_init(WsReader *r, size_t max_message, bool expect_masked) {
    memset(r, 0, sizeof *r);
    r->max_message = max_message;
    r->expect_masked = expect_masked;
}

void ws_reader_free(WsReader *r) {
    free(r->frag);
    r->frag = NULL;
    r->frag_len = 0;
    r->frag_opcode = 0;
}

static ssize_t fail(WsReader *r, int code, const char *why) {
    r->error_code = code;
    r->error = why;
    return -1;
}

bool ws_close_code_valid(unsigned code) {
    return (code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006) ||
           (code >= 3000 && code <= 4999);
}

bool ws_utf8_valid(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if ((c & 0xe0) == 0xc0) n = 1, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0) n = 2, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0) n = 3, cp = c & 0x07;
        else return false;
        if (len - i <= n) return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        /* Overlong forms, surrogates, beyond U+10FFFF. */
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;
        if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return false;
        i += n + 1;
    }
    return true;
}

void ws_mask(uint8_t *data, size_t len, const uint8_t key[4], size_t phase) {
    uint8_t k[8];
    for (int i = 0; i < 8; i++) k[i] = key[(phase + i) & 3];
    uint64_t k64;
    memcpy(&k64, k, 8);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, data + i, 8);
        w ^= k64;
        memcpy(data + i, &w, 8);
    }
    for (; i < len; i++) data[i] ^= k[i & 7];
}

size_t ws_frame_length(const uint8_t *p, size_t len) {
    if (len < 2) return 0;
    size_t h = 2;
    uint64_t plen = p[1] & 0x7f;
    if (plen == 126) {
        if (len < 4) return 0;
        plen = (uint64_t)p[2] << 8 | p[3];
        h = 4;
    } else if (plen == 127) {
        if (len < 10) return 0;
        plen = 0;
        for (int i = 0; i < 8; i++) plen = plen << 8 | p[2 + i];
        h = 10;
        if (plen > ((uint64_t)1 << 40)) return 0; /* never a frame we take (1009 first) */
    }
    if (p[1] & 0x80) h += 4;
    return h + (size_t)plen;
}

size_t ws_header(uint8_t *out, int opcode, size_t len, const uint8_t *mask) {
    size_t n;
    uint8_t m = mask ? 0x80 : 0;
    out[0] = 0x80 | (uint8_t)opcode;
    if (len < 126) {
        out[1] = m | (uint8_t)len;
        n = 2;
    } else if (len < 65536) {
        out[1] = m | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        n = 4;
    } else {
        out[1] = m | 127;
        for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        n = 10;
    }
    if (mask) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

/* The checks of a close frame's payload: none, or a valid code and a UTF-8 reason. */
static ssize_t check_close(WsReader *r, const uint8_t *p, size_t len) {
    if (len == 0) return 0;
    if (len == 1) return fail(r, CLOSE_PROTOCOL, "invalid payload length 1");
    if (!ws_close_code_valid((unsigned)p[0] << 8 | p[1])) return fail(r, CLOSE_PROTOCOL, "invalid status code");
    if (!ws_utf8_valid(p + 2, len - 2)) return fail(r, CLOSE_INVALID, "invalid UTF-8 sequence");
    return 0;
}

ssize_t ws_read(WsReader *r, uint8_t *buf, size_t len, const WsHandlers *h, void *ctx) {
    size_t pos = 0;
    while (len - pos >= 2) {
        uint8_t *p = buf + pos;
        size_t avail = len - pos, hlen = 2;
        bool fin = p[0] & 0x80, masked = p[1] & 0x80;
        int op = p[0] & 0x0f;
        bool control = op & 0x08;
        uint64_t plen = p[1] & 0x7f;

        if (p[0] & 0x70) return fail(r, CLOSE_PROTOCOL, "RSV bits must be clear");
        if (control) {
            if (op > WS_PONG) return fail(r, CLOSE_PROTOCOL, "invalid opcode");
            if (!fin) return fail(r, CLOSE_PROTOCOL, "FIN must be set");
            if (plen > 125) return fail(r, CLOSE_PROTOCOL, "invalid payload length");
        } else if (op == WS_CONT) {
            if (!r->frag_opcode) return fail(r, CLOSE_PROTOCOL, "invalid opcode 0");
        } else if (op == WS_TEXT || op == WS_BINARY) {
            if (r->frag_opcode) return fail(r, CLOSE_PROTOCOL, "invalid opcode");
        } else {
            return fail(r, CLOSE_PROTOCOL, "invalid opcode");
        }
        if (masked != r->expect_masked) return fail(r, CLOSE_PROTOCOL, masked ? "MASK must be clear" : "MASK must be set");

        if (plen == 126) {
            if (avail < 4) break;
            plen = (uint64_t)p[2] << 8 | p[3];
            hlen = 4;
        } else if (plen == 127) {
            if (avail < 10) break;
            plen = 0;
            for (int i = 0; i < 8; i++) plen = plen << 8 | p[2 + i];
            hlen = 10;
        }
        /* (r->frag_len is 0 outside a fragmented message; plen is compared first so no sum wraps) */
        if (!control && (plen > r->max_message || r->frag_len + plen > r->max_message))
            return fail(r, CLOSE_TOO_BIG, "Max payload size exceeded");

        const uint8_t *key = NULL;
        if (masked) {
            if (avail < hlen + 4) break;
            key = p + hlen;
            hlen += 4;
        }
        if (avail - hlen < plen) break; /* the rest of this frame has not arrived */
        uint8_t *payload = p + hlen;
        if (key) ws_mask(payload, (size_t)plen, key, 0);
        pos += hlen + (size_t)plen;

        int rc;
        if (control) {
            if (op == WS_CLOSE && check_close(r, payload, (size_t)plen) < 0) return -1;
            rc = h->control(ctx, op, payload, (size_t)plen);
        } else if (fin && !r->frag_opcode) {
            if (op == WS_TEXT && !ws_utf8_valid(payload, (size_t)plen)) return fail(r, CLOSE_INVALID, "invalid UTF-8 sequence");
            rc = h->message(ctx, op, payload, (size_t)plen);
        } else {
            /* A fragment: joined in the reader's buffer, which exists only while one is open. */
            if (!r->frag && !(r->frag = malloc(r->max_message ? r->max_message : 1))) return fail(r, CLOSE_INTERNAL, "out of memory");
            if (op != WS_CONT) r->frag_opcode = (uint8_t)op;
            memcpy(r->frag + r->frag_len, payload, (size_t)plen);
            r->frag_len += (size_t)plen;
            if (!fin) continue;
            int mop = r->frag_opcode;
            size_t mlen = r->frag_len;
            if (mop == WS_TEXT && !ws_utf8_valid(r->frag, mlen)) return fail(r, CLOSE_INVALID, "invalid UTF-8 sequence");
            rc = h->message(ctx, mop, r->frag, mlen);
            ws_reader_free(r);
        }
        if (rc == WS_STOP) break;
    }
    return (ssize_t)pos;
}
