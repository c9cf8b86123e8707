/*
 * The per-client guard: see guard.h. Per-client rate limits are token buckets refilled lazily
 * from the clock a frame is judged at (no timer per client); a frame over the limit is dropped
 * by the caller, never queued: a queue would only move the excess into the relay's memory.
 */
#include "guard.h"

#include <string.h>

#include "counter.h" /* counters Node reads from another thread while this one writes them */

#define ETH 14
#define BOOTP_FIXED 236
#define COOKIE 0x63825363u

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static void bucket_init(Bucket *b, double rate, double burst, double now) {
    b->per_ms = rate / 1000;
    b->capacity = rate * burst;
    b->tokens = b->capacity; /* a new client may burst at once (DHCP, ARP, the first TCP window) */
    b->last = now;
}

/*
 * Whether cost tokens are there now. A cost larger than the whole bucket (a 64 KiB frame under a
 * small byte limit) is there when the bucket is full: charged, it leaves the bucket in debt, so
 * such frames are not refused forever yet still average out to the rate. A clock that stands
 * still or steps back adds nothing.
 */
static bool bucket_has(Bucket *b, double cost, double now) {
    if (now > b->last) {
        b->tokens += (now - b->last) * b->per_ms;
        if (b->tokens > b->capacity) b->tokens = b->capacity;
        b->last = now;
    }
    return b->tokens >= cost || b->tokens >= b->capacity;
}

/* Both buckets checked before either is charged: a refused frame costs nothing. */
static bool limit_allow(Limit *l, size_t size, double now) {
    bool frames = l->frames.per_ms > 0, bytes = l->bytes.per_ms > 0;
    if (frames && !bucket_has(&l->frames, 1, now)) return false;
    if (bytes && !bucket_has(&l->bytes, (double)size, now)) return false;
    if (frames) l->frames.tokens -= 1;
    if (bytes) l->bytes.tokens -= (double)size;
    return true;
}

void guard_init(Guard *g, const double up[2], const double down[2], double burst, uint32_t dhcp_server, bool ipv6, double now) {
    memset(g, 0, sizeof *g);
    if (up[0] > 0) bucket_init(&g->up.bytes, up[0], burst, now);
    if (up[1] > 0) bucket_init(&g->up.frames, up[1], burst, now);
    if (down[0] > 0) bucket_init(&g->down.bytes, down[0], burst, now);
    if (down[1] > 0) bucket_init(&g->down.frames, down[1], burst, now);
    g->dhcp_server = dhcp_server;
    g->ipv6 = ipv6;
}

/*
 * The client hardware address of a DHCP request (IPv4, UDP 68 -> 67) a client sends, in place;
 * NULL for any other frame.
 */
const uint8_t *dhcp_request_chaddr(const uint8_t *f, size_t len) {
    if (len < ETH + 20 + 8 + 34 || f[12] != 0x08 || f[13] != 0x00 || f[ETH + 9] != 17) return NULL;
    size_t ihl = (size_t)(f[ETH] & 0x0f) * 4;
    if (f[ETH] >> 4 != 4 || ihl < 20 || (be16(f + ETH + 6) & 0x1fff) != 0) return NULL;
    size_t udp = ETH + ihl;
    if (len < udp + 8 + 34 || be16(f + udp) != 68 || be16(f + udp + 2) != 67) return NULL;
    return f + udp + 8 + 28;
}

/*
 * The OFFER or ACK in a frame to a client (IPv4, UDP 67 -> 68, BOOTREPLY), if it is one and comes
 * from server: a reply from anywhere else, say a server outside that a client talks to through
 * NAT from port 68, grants nothing. The first test rejects almost every frame in three compares.
 */
bool dhcp_ack(const uint8_t *f, size_t len, uint32_t server, uint8_t mac[6], uint32_t *ip) {
    if (len < ETH + 20 + 8 + BOOTP_FIXED + 4 || f[12] != 0x08 || f[13] != 0x00 || f[ETH + 9] != 17) return false;
    size_t ihl = (size_t)(f[ETH] & 0x0f) * 4;
    if (f[ETH] >> 4 != 4 || ihl < 20) return false;
    if ((be16(f + ETH + 6) & 0x3fff) != 0) return false; /* a fragment: not parsed */
    if (be32(f + ETH + 12) != server) return false;
    size_t udp = ETH + ihl;
    if (len < udp + 8 + BOOTP_FIXED + 4 || be16(f + udp) != 67 || be16(f + udp + 2) != 68) return false;
    size_t b = udp + 8;
    if (f[b] != 2 || f[b + 1] != 1 || f[b + 2] != 6) return false; /* BOOTREPLY, Ethernet */
    if (be32(f + b + BOOTP_FIXED) != COOKIE) return false;
    size_t end = udp + be16(f + udp + 4);
    if (end > len) end = len;
    for (size_t o = b + BOOTP_FIXED + 4; o < end;) {
        uint8_t code = f[o];
        if (code == 255) break;
        if (code == 0) {
            o++;
            continue;
        }
        if (o + 1 >= end) break;
        uint8_t olen = f[o + 1];
        if (code == 53 && olen == 1 && o + 2 < end) {
            if (f[o + 2] != 5 && f[o + 2] != 2) return false; /* ACK, OFFER */
            uint32_t yiaddr = be32(f + b + 16);
            if (yiaddr == 0 || yiaddr == server) return false; /* INFORM; never the gateway */
            memcpy(mac, f + b + 28, 6);
            *ip = yiaddr;
            return true;
        }
        o += 2 + (size_t)olen;
    }
    return false;
}

enum Verdict guard_up(Guard *g, const uint8_t *f, size_t len, double now) {
    if (len < GUARD_MIN_FRAME) return V_RUNT;
    if (!g->bound) {
        memcpy(g->mac, f + 6, 6);
        g->bound = true;
    } else if (memcmp(f + 6, g->mac, 6) != 0) {
        COUNT(g->spoofed, 1); /* one MAC per client: a guest does not change MAC mid-connection */
        return V_OTHER_MAC;
    }
    if (len > 23 && f[23] == 17) {
        const uint8_t *chaddr = dhcp_request_chaddr(f, len);
        if (chaddr && memcmp(chaddr, g->mac, 6) != 0) {
            COUNT(g->spoofed, 1);
            return V_DHCP_OTHER_MAC;
        }
    }
    if (g->ipv6 && f[12] == 0x86 && f[13] == 0xdd) {
        int v = guard6_up(g, f, len, now); /* (counts what it drops) */
        if (v != V_PASS) return (enum Verdict)v;
    }
    if (!limit_allow(&g->up, len, now)) {
        COUNT(g->limited_in, 1);
        return V_LIMITED;
    }
    return V_PASS;
}

enum Verdict guard_down(Guard *g, const uint8_t *f, size_t len, double now, bool *acked, uint8_t mac[6], uint32_t *ip) {
    *acked = false;
    /* Before the limit: a defence dropped by it still means the address is someone else's (else a
       client flooding its own download would keep a claim the holder defended). */
    if (g->v6.tentative && len > 13 && f[12] == 0x86 && f[13] == 0xdd) guard6_down(g, f, len, now);
    if (!limit_allow(&g->down, len, now)) {
        COUNT(g->limited_out, 1);
        return V_LIMITED;
    }
    if (g->dhcp_server && len > 23 && f[23] == 17) *acked = dhcp_ack(f, len, g->dhcp_server, mac, ip);
    return V_PASS;
}

unsigned guard_judge_up(Guard *g, const uint8_t *f, size_t len, double now) {
    bool was_bound = g->bound;
    enum Verdict v = guard_up(g, f, len, now);
    unsigned news = !was_bound && g->bound ? G_BOUND : 0;
    if (v == V_LIMITED && g->limited_in == 1) news |= G_FIRST_LIMITED;
    return v | news;
}

unsigned guard_judge_down(Guard *g, const uint8_t *f, size_t len, double now, uint8_t mac[6], uint32_t *ip) {
    bool acked;
    enum Verdict v = guard_down(g, f, len, now, &acked, mac, ip);
    unsigned news = acked ? G_ACKED : 0;
    if (v == V_LIMITED && g->limited_out == 1) news |= G_FIRST_LIMITED;
    return v | news;
}
