/*
 * What TypeScript and C both know, defined here once (and two numbers only C files share). The
 * addon exports it at load as `abi` (addon.c): each constant of ABI_CONSTANTS under its
 * camelCase name, the close codes under `close`, the stats layout and the event types as lists
 * of their names in index order. src/native.ts reads them from there; test/unit/abi.test.ts
 * checks that both sides use them alike.
 */
#ifndef WSNIC_ABI_H
#define WSNIC_ABI_H

/* Largest message a client may send: 65,535 MTU (v86 virtio) + 14-byte Ethernet header. */
#define MAX_MESSAGE 65549
/* Largest read from a TAP: 65,535 MTU + 14 header + VLAN tag, with room to spare (C only). */
#define FRAME_MAX 65560
/* Bytes owed to a slow client past which its TAP is not read ... */
#define HIGH_WATER (1024 * 1024)
/* ... and below which it is read again. */
#define LOW_WATER (256 * 1024)
/* A client over its upload limit is not read for this long (ms). */
#define REST_MS 20
/* A closing client that does not finish the close handshake is cut off after this long (ms). */
#define LINGER_MS 2000
/* The most a plane may owe a client, so the most a hand-over carries of it (bytes). */
#define OWED_MAX (4 * HIGH_WATER)
/* IPv6 addresses a client's guard holds by DAD besides its EUI-64 link-local (guard6.h) ... */
#define CLAIMS_MAX 8
/* ... and the bytes of one as a hand-over carries it: the address, then 1 tentative or 2 bound. */
#define CLAIM_BYTES 17
/* Frames read from one TAP a wakeup, so one busy TAP cannot starve others (C only: TapPort and
   the planes). */
#define TAP_BATCH 64

/* X(C name, JS name): the constants the addon exports. */
#define ABI_CONSTANTS(X)            \
    X(MAX_MESSAGE, maxMessage)      \
    X(HIGH_WATER, highWater)        \
    X(LOW_WATER, lowWater)          \
    X(REST_MS, restMs)              \
    X(LINGER_MS, lingerMs)          \
    X(OWED_MAX, owedMax)            \
    X(CLAIMS_MAX, claimsMax)        \
    X(CLAIM_BYTES, claimBytes)

/*
 * The stats layout: planeStats fills a Float64Array with a session's counters in this order,
 * and planeAdd takes them back in the same order (a handed-over session). X(index, JS name).
 */
#define ABI_STATS(X)                    \
    X(STAT_FRAMES_IN, framesIn)         \
    X(STAT_BYTES_IN, bytesIn)           \
    X(STAT_FRAMES_OUT, framesOut)       \
    X(STAT_BYTES_OUT, bytesOut)         \
    X(STAT_REFUSED, refused)            \
    X(STAT_STALLS, stalls)              \
    X(STAT_SPOOFED, spoofed)            \
    X(STAT_LIMITED_IN, limitedIn)       \
    X(STAT_LIMITED_OUT, limitedOut)     \
    X(STAT_LAST_SEEN, lastSeen)         \
    X(STAT_LAST_FRAME, lastFrame)

/* What a plane tells Node (never per frame), by the name onEvent gets: X(C name, JS name). */
#define ABI_EVENTS(X)        \
    X(E_BOUND, bound)        \
    X(E_DHCP, dhcp)          \
    X(E_LIMITED, limited)    \
    X(E_TEXT, text)          \
    X(E_ENDED, ended)        \
    X(E_CLOSED, closed)      \
    X(E_DETACHED, detached)

/* The WebSocket close codes (RFC 6455 7.4.1) wsnic sends or tells: X(C name, code, JS name). */
#define ABI_CLOSE_CODES(X)                          \
    X(CLOSE_NORMAL, 1000, normal)                   \
    X(CLOSE_GOING_AWAY, 1001, goingAway)            \
    X(CLOSE_PROTOCOL, 1002, protocol)               \
    X(CLOSE_NO_STATUS, 1005, noStatus)              \
    X(CLOSE_ABNORMAL, 1006, abnormal)               \
    X(CLOSE_INVALID, 1007, invalid)                 \
    X(CLOSE_POLICY, 1008, policy)                   \
    X(CLOSE_TOO_BIG, 1009, tooBig)                  \
    X(CLOSE_INTERNAL, 1011, internal)               \
    X(CLOSE_SERVICE_RESTART, 1012, serviceRestart)

#define ABI_CLOSE_ENUM(c, code, js) c = code,
enum CloseCode { ABI_CLOSE_CODES(ABI_CLOSE_ENUM) };
#undef ABI_CLOSE_ENUM

#define ABI_ENUM(c, js) c,
enum Stat { ABI_STATS(ABI_ENUM) STAT_COUNT };
enum EventType { ABI_EVENTS(ABI_ENUM) EVENT_COUNT };
#undef ABI_ENUM

#endif
