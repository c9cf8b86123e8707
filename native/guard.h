/*
 * The per-client guard of the native data path, as src/relay/guard.ts is the TypeScript path's:
 * a state machine (unbound -> bound by the first frame's source MAC) that judges every frame a
 * client sends ("up") and every frame sent to it ("down"). Pure: the clock is passed in.
 */
#ifndef WSNIC_GUARD_H
#define WSNIC_GUARD_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUARD_MIN_FRAME 14

enum Verdict { V_PASS = 0, V_RUNT = 1, V_OTHER_MAC = 2, V_DHCP_OTHER_MAC = 3, V_LIMITED = 4 };

/* One token bucket: rate a second, capacity rate * burst; off when rate is 0. */
typedef struct {
    double per_ms, capacity, tokens, last;
} Bucket;

/* One direction's limit: bytes and frames a second (0: that one off). */
typedef struct {
    Bucket bytes, frames;
} Limit;

typedef struct {
    bool bound;
    uint8_t mac[6];
    Limit up, down;
    /* The DHCP server's address (host order), 0: no snooping. */
    uint32_t dhcp_server;
    uint64_t spoofed, limited_in, limited_out;
} Guard;

/* Rates in bytes and frames a second, 0 for none; burst in seconds; now in ms (monotonic). */
void guard_init(Guard *g, const double up[2], const double down[2], double burst, uint32_t dhcp_server, double now);

/*
 * A frame from the client. The first frame of an unbound client binds it (g->bound turns true,
 * its source MAC is g->mac) whatever the verdict, as in guard.ts.
 */
enum Verdict guard_up(Guard *g, const uint8_t *f, size_t len, double now);

/* A frame to the client; *acked is set (and mac/ip filled) for a DHCP OFFER or ACK from the server. */
enum Verdict guard_down(Guard *g, const uint8_t *f, size_t len, double now, bool *acked, uint8_t mac[6], uint32_t *ip);

/* The DHCP checks, also used alone by the tests: see guard.c. */
bool dhcp_ack(const uint8_t *f, size_t len, uint32_t server, uint8_t mac[6], uint32_t *ip);
const uint8_t *dhcp_request_chaddr(const uint8_t *f, size_t len);

#endif
