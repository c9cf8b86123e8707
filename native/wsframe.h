/*
 * The WebSocket frame codec (RFC 6455) of the native data path: pure, no system calls, no
 * allocation beyond one reassembly buffer per reader. What a client sends is parsed here; it is
 * the code the fuzz harness (native/fuzz/wsframe_fuzz.c) drives.
 */
#ifndef WSNIC_WSFRAME_H
#define WSNIC_WSFRAME_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum { WS_CONT = 0, WS_TEXT = 1, WS_BINARY = 2, WS_CLOSE = 8, WS_PING = 9, WS_PONG = 10 };

/* Longest header: 2 bytes, 8 of extended length, 4 of mask key. */
#define WS_HEADER_MAX 14

/* A handler's answer: go on with the next frame, or stop after this one (it is consumed). */
enum { WS_GO = 0, WS_STOP = 1 };

typedef struct {
    /* A whole binary or text message (unmasked, fragments joined). */
    int (*message)(void *ctx, int opcode, uint8_t *data, size_t len);
    /* A close, ping or pong frame (unmasked; close already checked: code and UTF-8). */
    int (*control)(void *ctx, int opcode, uint8_t *data, size_t len);
} WsHandlers;

typedef struct {
    /* Largest message (frame, or fragments together); larger closes with 1009. */
    size_t max_message;
    /* true: the peer is a client and must mask (a server's reader); false: must not. */
    bool expect_masked;
    /* A fragmented message in progress: its opcode (WS_TEXT or WS_BINARY), else 0. */
    uint8_t frag_opcode;
    uint8_t *frag;     /* its bytes so far (malloc'd on the first fragment, max_message) */
    size_t frag_len;
    /* Set with a protocol error: the close code to send and why (static text). */
    int error_code;
    const char *error;
} WsReader;

void ws_reader_init(WsReader *r, size_t max_message, bool expect_masked);
void ws_reader_free(WsReader *r);

/*
 * Parses the whole frames at buf[0, len) (unmasking in place) and hands each message and control
 * frame to h. Returns the bytes consumed (a partial frame at the end is left for next time), or
 * -1 on a protocol error (r->error_code, r->error). A frame whose header already shows it too
 * large is an error at once, without waiting for its payload.
 */
ssize_t ws_read(WsReader *r, uint8_t *buf, size_t len, const WsHandlers *h, void *ctx);

/*
 * Writes the header of one final frame with `len` payload bytes to out (WS_HEADER_MAX bytes
 * room); with mask (a client's frame) the 4-byte key follows and the caller masks the payload.
 * Returns the header's length.
 */
size_t ws_header(uint8_t *out, int opcode, size_t len, const uint8_t *mask);

/* A frame's whole length (header and payload) once p[0, len) holds its header, else 0. */
size_t ws_frame_length(const uint8_t *p, size_t len);

/* XOR with the 4-byte key, starting at key byte `phase` (0 for a whole payload). */
void ws_mask(uint8_t *data, size_t len, const uint8_t key[4], size_t phase);

/* Whether s[0, len) is well-formed UTF-8 (no surrogates, no overlongs, at most U+10FFFF). */
bool ws_utf8_valid(const uint8_t *s, size_t len);

/* Whether a close frame may carry this code (RFC 6455 7.4, as ws checks it). */
bool ws_close_code_valid(unsigned code);

#endif
