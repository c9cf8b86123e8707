/*
 * The per-client guard, the one judge of client frames for both data paths: the native path's
 * sessions call it on their threads (session_up.c, session_down.c), the JavaScript path
 * (wss://, data_path = js) through the addon (guard_napi.c). A state machine (unbound -> bound
 * by the first frame's source MAC) that judges every frame a client sends ("up") and every frame
 * sent to it ("down"):
 *
 * Up: an Ethernet header at least; from the bound MAC only; a DHCP request must name the bound
 * MAC as its client (else dnsmasq would offer or release another client's address); within the
 * upload limit; IPv6 by guard6.h's rules (no router, no DHCPv6 server, only its own addresses,
 * counted as spoofed). Down: within the download limit; an OFFER or ACK from the DHCP server is
 * told so the bridge allows the address before the client uses it. A DHCP server inside a client,
 * spoofed IPv4 addresses and foreign ethertypes are the bridge's rules (nftables), not here.
 *
 * Pure: no I/O, the clock is passed in (ms, monotonic). Its vectors: test/unit/guard-vectors.ts.
 */
#ifndef WSNIC_GUARD_H
#define WSNIC_GUARD_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guard6.h"

#define GUARD_MIN_FRAME 14

/* What the guard makes of one frame, X(C name, JS name): pass, or drop for a named reason. */
#define GUARD_VERDICTS(X)                                                                          \
    X(V_PASS, pass)                                                                                \
    X(V_RUNT, runt)                 /* shorter than an Ethernet header: not Ethernet (1007) */   \
    X(V_OTHER_MAC, otherMac)        /* from a source MAC other than the bound one: spoofed */    \
    X(V_DHCP_OTHER_MAC, dhcpOtherMac) /* a DHCP request naming another MAC: spoofed */           \
    X(V_LIMITED, limited)           /* over the rate limit: limited_in up, limited_out down */    \
    X(V_V6_ROUTER, v6Router)        /* a router advertisement, redirect or router renumbering */ \
    X(V_V6_DHCP_SERVER, v6DhcpServer) /* DHCPv6 server or relay traffic (UDP from 547 or to 546) */ \
    X(V_V6_SOURCE, v6Source)        /* from an IPv6 address not the client's own */             \
    X(V_V6_FORGED_NA, v6ForgedNa)   /* a neighbour advertisement for an address not its own */  \
    X(V_V6_FULL, v6Full)            /* a DAD probe for one address more than GUARD6_CLAIMS */    \
    X(V_V6_MALFORMED, v6Malformed)  /* a header chain cut short, too long, or fragmented early */

#define GUARD_ENUM(c, js) c,
enum Verdict { GUARD_VERDICTS(GUARD_ENUM) };
#undef GUARD_ENUM

/*
 * What judging a frame also tells the guard's owner, as bits above the verdict in what
 * guard_judge_up/down return (each at most once a client, but G_ACKED).
 */
#define G_VERDICT 15       /* the verdict's bits */
#define G_BOUND 16         /* this frame bound the client: its MAC is g->mac now */
#define G_FIRST_LIMITED 32 /* the first frame over the limit this way (to log it once, not per frame) */
#define G_ACKED 64         /* an OFFER or ACK from the DHCP server: *mac and *ip filled (all fit a byte) */

/* One token bucket: rate a second, capacity rate * burst; off when rate is 0. */
typedef struct {
    double per_ms, capacity, tokens, last;
} Bucket;

/* One direction's limit: bytes and frames a second (0: that one off). */
typedef struct {
    Bucket bytes, frames;
} Limit;

typedef struct Guard {
    bool bound;
    uint8_t mac[6];
    Limit up, down;
    Guard6 v6; /* the IPv6 addresses it claimed (guard6.h) */
    /* The DHCP server's address (host order), 0: no snooping. */
    uint32_t dhcp_server;
    /* Clients may speak IPv6 (client_ipv6): judge it by guard6.h's rules. Off, the bridge drops
       every IPv6 frame (its ethertype rule) and the guard leaves them to it. */
    bool ipv6;
    uint64_t spoofed, limited_in, limited_out;
} Guard;

/* Rates in bytes and frames a second, 0 for none; burst in seconds; now in ms (monotonic). */
void guard_init(Guard *g, const double up[2], const double down[2], double burst, uint32_t dhcp_server, bool ipv6, double now);

/*
 * A frame from the client. The first frame of an unbound client binds it (g->bound turns true,
 * its source MAC is g->mac) whatever the verdict but runt.
 */
enum Verdict guard_up(Guard *g, const uint8_t *f, size_t len, double now);

/* A frame to the client; *acked is set (and mac/ip filled) for a DHCP OFFER or ACK from the server. */
enum Verdict guard_down(Guard *g, const uint8_t *f, size_t len, double now, bool *acked, uint8_t mac[6], uint32_t *ip);

/* guard_up and guard_down with what they tell besides the verdict: verdict | G_* bits. */
unsigned guard_judge_up(Guard *g, const uint8_t *f, size_t len, double now);
unsigned guard_judge_down(Guard *g, const uint8_t *f, size_t len, double now, uint8_t mac[6], uint32_t *ip);

/* The DHCP checks, also used alone by the fuzz harness: see guard.c. */
bool dhcp_ack(const uint8_t *f, size_t len, uint32_t server, uint8_t mac[6], uint32_t *ip);
const uint8_t *dhcp_request_chaddr(const uint8_t *f, size_t len);

#endif
