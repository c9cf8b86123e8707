/*
 * The guard's IPv6 rules: see guard6.h. Every read is bounded by the frame: the header chain is
 * followed from the IPv6 header to the upper-layer header, each step checked against the end
 * before it is read. Judged conservatively, as RFC 7112 and RFC 7113 (RA-Guard) advise:
 * - a chain cut short by the frame, longer than GUARD6_CHAIN extension headers, or a first
 *   fragment that does not hold the ICMPv6 or UDP header whole is dropped (a router
 *   advertisement hidden behind a long chain or split across fragments passes no guard that
 *   looks only at the first bytes);
 * - a later fragment (offset > 0) has no upper-layer header to judge: its source address is
 *   judged alone (the first fragment, judged whole, decides whether the packet can be put
 *   together at all; receivers drop overlapping fragments, RFC 5722).
 */
#include <string.h>

#include "counter.h"
#include "guard.h"

#define ETH 14
#define IP6 40

enum { NH_HOP = 0, NH_UDP = 17, NH_ROUTING = 43, NH_FRAGMENT = 44, NH_AH = 51, NH_ICMP6 = 58, NH_DSTOPTS = 60 };
enum { ICMP6_RA = 134, ICMP6_NS = 135, ICMP6_NA = 136, ICMP6_REDIRECT = 137, ICMP6_RENUMBERING = 138 };
#define DHCP6_SERVER_PORT 547
#define DHCP6_CLIENT_PORT 546

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* Where a packet's upper-layer header starts, which it is, and where the packet ends. */
typedef struct {
    int proto;
    size_t at, end;
} Upper;

enum Chain { CHAIN_BAD = -1, CHAIN_LATER_FRAGMENT = 0, CHAIN_UPPER = 1 };

/* The IPv6 header (whole, version 6, checked by the caller) followed to its upper layer. */
static enum Chain upper_of(const uint8_t *f, size_t len, Upper *u) {
    size_t end = ETH + IP6 + be16(f + ETH + 4); /* past the payload: Ethernet padding, not packet */
    if (end > len) end = len;
    uint8_t next = f[ETH + 6];
    size_t at = ETH + IP6;
    for (int n = 0;; n++) {
        if (next != NH_HOP && next != NH_ROUTING && next != NH_DSTOPTS && next != NH_AH && next != NH_FRAGMENT) break;
        if (n == GUARD6_CHAIN || at + 8 > end) return CHAIN_BAD; /* (8: every extension header's least) */
        if (next == NH_FRAGMENT && (be16(f + at + 2) & 0xfff8) != 0) return CHAIN_LATER_FRAGMENT;
        size_t size = next == NH_FRAGMENT ? 8 : next == NH_AH ? ((size_t)f[at + 1] + 2) * 4 : ((size_t)f[at + 1] + 1) * 8;
        next = f[at];
        at += size;
    }
    u->proto = next;
    u->at = at;
    u->end = end;
    return CHAIN_UPPER;
}

static bool is_unspecified(const uint8_t a[16]) {
    static const uint8_t zero[16];
    return memcmp(a, zero, 16) == 0;
}

/* A DAD probe's destination: the solicited-node group of its target, ff02::1:ffXX:XXXX. */
static bool solicited_node(const uint8_t dst[16], const uint8_t target[16]) {
    static const uint8_t prefix[13] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff};
    return memcmp(dst, prefix, 13) == 0 && memcmp(dst + 13, target + 13, 3) == 0;
}

/* The link-local address a guest makes from its MAC (EUI-64, RFC 4291 appendix A). */
static bool eui64_link_local(const uint8_t a[16], const uint8_t mac[6]) {
    static const uint8_t fe80[8] = {0xfe, 0x80};
    return memcmp(a, fe80, 8) == 0 && a[8] == (mac[0] ^ 2) && a[9] == mac[1] && a[10] == mac[2] && a[11] == 0xff &&
           a[12] == 0xfe && memcmp(a + 13, mac + 3, 3) == 0;
}

static Claim6 *claim_of(Guard6 *v6, const uint8_t a[16]) {
    for (int i = 0; i < GUARD6_CLAIMS; i++)
        if (v6->claims[i].state != C6_FREE && memcmp(v6->claims[i].addr, a, 16) == 0) return &v6->claims[i];
    return NULL;
}

/* Whether a is the client's own now; a tentative claim held long enough becomes bound here. */
static bool owns(Guard *g, const uint8_t a[16], double now) {
    if (eui64_link_local(a, g->mac)) return true;
    Claim6 *c = claim_of(&g->v6, a);
    if (!c) return false;
    if (c->state == C6_TENTATIVE) {
        if (now - c->since < GUARD6_HOLD_MS) return false;
        c->state = C6_BOUND;
        g->v6.tentative--;
    }
    return true;
}

/* A DAD probe for target: claimed first come, as a DHCP lease is for IPv4. */
static int claim(Guard *g, const uint8_t target[16], double now) {
    if (target[0] == 0xff || is_unspecified(target) || eui64_link_local(target, g->mac) || claim_of(&g->v6, target)) return V_PASS;
    for (int i = 0; i < GUARD6_CLAIMS; i++) {
        Claim6 *c = &g->v6.claims[i];
        if (c->state != C6_FREE) continue;
        memcpy(c->addr, target, 16);
        c->state = C6_TENTATIVE;
        c->since = now;
        g->v6.tentative++;
        return V_PASS;
    }
    return V_V6_FULL;
}

static int dropped(Guard *g, int verdict) {
    COUNT(g->spoofed, 1);
    return verdict;
}

int guard6_up(Guard *g, const uint8_t *f, size_t len, double now) {
    Upper u = {-1, 0, 0};
    if (len < ETH + IP6 || f[ETH] >> 4 != 6) return dropped(g, V_V6_MALFORMED);
    enum Chain chain = upper_of(f, len, &u);
    if (chain == CHAIN_BAD) return dropped(g, V_V6_MALFORMED);
    const uint8_t *src = f + ETH + 8, *dst = f + ETH + 24, *target = NULL;
    int type = -1;
    if (u.proto == NH_ICMP6) {
        if (u.at + 4 > u.end) return dropped(g, V_V6_MALFORMED);
        type = f[u.at];
        if (type == ICMP6_RA || type == ICMP6_REDIRECT || type == ICMP6_RENUMBERING) return dropped(g, V_V6_ROUTER);
        if (type == ICMP6_NS || type == ICMP6_NA) {
            if (u.at + 24 > u.end) return dropped(g, V_V6_MALFORMED);
            target = f + u.at + 8;
        }
    } else if (u.proto == NH_UDP) {
        if (u.at + 8 > u.end) return dropped(g, V_V6_MALFORMED);
        /* From a server's port, or to a client's from any port (a client takes an Advertise or
           Reply whatever its source port; RFC 7610 judges by the destination). */
        if (be16(f + u.at) == DHCP6_SERVER_PORT || be16(f + u.at + 2) == DHCP6_CLIENT_PORT) return dropped(g, V_V6_DHCP_SERVER);
    }
    if (is_unspecified(src)) {
        if (type == ICMP6_NA) return dropped(g, V_V6_FORGED_NA); /* (never from ::, RFC 4861 7.2.4) */
        if (type == ICMP6_NS && solicited_node(dst, target)) {
            int v = claim(g, target, now);
            return v == V_PASS ? v : dropped(g, v);
        }
        return V_PASS; /* DAD, the first multicast listener reports */
    }
    if (!owns(g, src, now)) return dropped(g, V_V6_SOURCE);
    if (type == ICMP6_NA && !owns(g, target, now)) return dropped(g, V_V6_FORGED_NA);
    return V_PASS;
}

void guard6_down(Guard *g, const uint8_t *f, size_t len, double now) {
    Upper u = {-1, 0, 0};
    if (len < ETH + IP6 || f[ETH] >> 4 != 6 || upper_of(f, len, &u) != CHAIN_UPPER || u.proto != NH_ICMP6 || u.at + 24 > u.end) return;
    int type = f[u.at];
    const uint8_t *target = f + u.at + 8;
    /* A defence of the address, or another host's probe for it at the same time (RFC 4862 5.4.3). */
    bool taken = type == ICMP6_NA || (type == ICMP6_NS && is_unspecified(f + ETH + 8) && solicited_node(f + ETH + 24, target));
    Claim6 *c = taken ? claim_of(&g->v6, target) : NULL;
    if (c && c->state == C6_TENTATIVE) {
        c->state = now - c->since < GUARD6_DAD_MS ? C6_FREE : C6_BOUND; /* (too late: its DAD was over) */
        g->v6.tentative--;
    }
}

size_t guard6_save(const Guard6 *v6, uint8_t out[GUARD6_CLAIMS * GUARD6_RECORD]) {
    size_t n = 0;
    for (int i = 0; i < GUARD6_CLAIMS; i++) {
        const Claim6 *c = &v6->claims[i];
        if (c->state == C6_FREE) continue;
        memcpy(out + n, c->addr, 16);
        out[n + 16] = c->state;
        n += GUARD6_RECORD;
    }
    return n;
}

bool guard6_load(Guard6 *v6, const uint8_t *in, size_t len, double now) {
    if (len % GUARD6_RECORD != 0 || len / GUARD6_RECORD > GUARD6_CLAIMS) return false;
    memset(v6, 0, sizeof *v6);
    for (size_t i = 0; i < len / GUARD6_RECORD; i++) {
        const uint8_t *r = in + i * GUARD6_RECORD;
        if ((r[16] != C6_TENTATIVE && r[16] != C6_BOUND) || r[0] == 0xff || is_unspecified(r)) return false;
        Claim6 *c = &v6->claims[i];
        memcpy(c->addr, r, 16);
        c->state = r[16];
        c->since = now;
        v6->tentative += c->state == C6_TENTATIVE;
    }
    return true;
}
