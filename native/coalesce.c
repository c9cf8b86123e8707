/*
 * See coalesce.h. co_add takes frames from the client (after the guard): every byte it reads is
 * checked. co_split takes what the kernel hands a TAP with offloads, bounds checked all the same.
 */
#define _GNU_SOURCE
#include "coalesce.h"

#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <string.h>
#include <sys/uio.h>

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }

static uint16_t fold(uint64_t acc) {
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return (uint16_t)acc;
}

/*
 * acc plus the ones' complement sum of len bytes as big-endian 16-bit words (RFC 1071), not
 * folded. Summed 8 bytes at a time in the host's order, then byte-swapped once: a ones'
 * complement sum of swapped words is the swapped sum (RFC 1071, 2.B).
 */
static uint64_t sum(const uint8_t *p, size_t len, uint64_t acc) {
    uint64_t s = 0;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        s += (v & 0xffffffffu) + (v >> 32);
    }
    for (; i + 2 <= len; i += 2) {
        uint16_t v;
        memcpy(&v, p + i, 2);
        s += v;
    }
    if (i < len) {
        uint8_t last[2] = {p[i], 0}; /* an odd byte: the high half of a last word */
        uint16_t v;
        memcpy(&v, last, 2);
        s += v;
    }
    uint16_t folded = fold(s);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    folded = (uint16_t)(folded << 8 | folded >> 8);
#endif
    return acc + folded;
}

/* The TCP pseudo-header's sum for an IPv4 header and a TCP length. */
static uint64_t pseudo(const uint8_t *ip, size_t tcp_len) { return sum(ip + 12, 8, 0) + 6 + tcp_len; }

enum { ETH = 14, IP = 20, F_FIN = 1, F_SYN = 2, F_RST = 4, F_PSH = 8, F_ACK = 16 };

/* An IPv4 header's checksum, computed anew over its ihl bytes. */
static void ipv4_checksum(uint8_t *ip, size_t ihl) {
    put16(ip + 10, 0);
    put16(ip + 10, (uint16_t)~fold(sum(ip, ihl, 0)));
}

/*
 * A frame that may be joined: IPv4 without options, not a fragment, DF set, both checksums
 * right, TCP with ACK and at most PSH besides, and a payload. Its header length and payload in
 * *hlen and *plen.
 */
static bool segment(const uint8_t *f, size_t len, size_t *hlen, size_t *plen) {
    if (len < ETH + IP + 20 || be16(f + 12) != 0x0800) return false;
    const uint8_t *ip = f + ETH;
    if (ip[0] != 0x45 || ip[9] != 6 || be16(ip + 2) != len - ETH) return false;
    if ((be16(ip + 6) & 0xbfff) != 0 || !(ip[6] & 0x40)) return false; /* MF, offset, reserved; DF */
    if (fold(sum(ip, IP, 0)) != 0xffff) return false;
    const uint8_t *th = ip + IP;
    size_t doff = (size_t)(th[12] >> 4) * 4;
    if (doff < 20 || (th[12] & 0x0f) || ETH + IP + doff >= len) return false; /* no payload: not joined */
    if ((th[13] & ~(F_PSH | F_ACK)) || !(th[13] & F_ACK)) return false;
    size_t tcp_len = len - ETH - IP;
    if (fold(sum(th, tcp_len, pseudo(ip, tcp_len))) != 0xffff) return false;
    *hlen = ETH + IP + doff;
    *plen = len - *hlen;
    return true;
}

/* The next segment of the pending stream: every header byte equal but the IP length, ID and checksum, the sequence number, PSH and the TCP checksum. */
static bool follows(const Coalescer *c, const uint8_t *f, size_t hlen, size_t plen) {
    const uint8_t *a = c->buf, *b = f;
    if (hlen != c->hlen || plen > c->mss || c->len + plen > CO_MAX) return false;
    if (memcmp(a, b, ETH) || a[ETH + 1] != b[ETH + 1] || memcmp(a + ETH + 6, b + ETH + 6, 4) || memcmp(a + ETH + 12, b + ETH + 12, 8)) return false;
    const uint8_t *ta = a + ETH + IP, *tb = b + ETH + IP;
    if (be32(tb + 4) != c->next_seq || memcmp(ta, tb, 4) || memcmp(ta + 8, tb + 8, 5) || (ta[13] | F_PSH) != (tb[13] | F_PSH)) return false;
    return !memcmp(ta + 14, tb + 14, 2) && !memcmp(ta + 18, tb + 18, hlen - ETH - IP - 18);
}

/* One frame as it is, with an empty virtio-net header: 0, or 1 if refused. */
static int write_plain(int fd, const uint8_t *frame, size_t len) {
    struct virtio_net_hdr h = {.gso_type = VIRTIO_NET_HDR_GSO_NONE};
    struct iovec iov[2] = {{&h, sizeof h}, {(void *)frame, len}};
    return writev(fd, iov, 2) == (ssize_t)(sizeof h + len) ? 0 : 1;
}

int co_flush(Coalescer *c) {
    if (c->len == 0) return 0;
    int segs = c->segs;
    size_t len = c->len;
    c->len = 0;
    c->segs = 0;
    if (segs == 1) return write_plain(c->fd, c->buf, len); /* as it came, checksums and all */
    uint8_t *ip = c->buf + ETH, *th = ip + IP;
    put16(ip + 2, (uint16_t)(len - ETH));
    ipv4_checksum(ip, IP);
    if (c->psh) th[13] |= F_PSH;
    /* CHECKSUM_PARTIAL: the pseudo-header's sum in the field, the kernel completes each segment. */
    put16(th + 16, fold(pseudo(ip, len - ETH - IP)));
    struct virtio_net_hdr h = {
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
        .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
        .hdr_len = (uint16_t)c->hlen,
        .gso_size = (uint16_t)c->mss,
        .csum_start = ETH + IP,
        .csum_offset = 16,
    };
    struct iovec iov[2] = {{&h, sizeof h}, {c->buf, len}};
    return writev(c->fd, iov, 2) == (ssize_t)(sizeof h + len) ? 0 : segs;
}

int co_add(Coalescer *c, int fd, const uint8_t *f, size_t len) {
    size_t hlen, plen;
    int refused = 0;
    bool seg = c->buf && segment(f, len, &hlen, &plen);
    if (seg && c->len && c->fd == fd && follows(c, f, hlen, plen)) {
        memcpy(c->buf + c->len, f + hlen, plen);
        c->len += plen;
        c->segs++;
        c->next_seq += (uint32_t)plen;
        c->psh |= (f[ETH + IP + 13] & F_PSH) != 0;
        /* a short segment or PSH ends what the kernel's GRO would join too */
        return plen < c->mss || c->psh ? co_flush(c) : 0;
    }
    refused += co_flush(c);
    if (!seg || (f[ETH + IP + 13] & F_PSH)) return refused + write_plain(fd, f, len);
    memcpy(c->buf, f, len);
    c->len = len;
    c->hlen = hlen;
    c->mss = plen;
    c->next_seq = be32(f + ETH + IP + 4) + (uint32_t)plen;
    c->fd = fd;
    c->segs = 1;
    c->psh = false;
    return refused;
}

/* The checksum at csum_start + csum_offset, over [csum_start, len): what the kernel left to us. */
static bool complete_csum(uint8_t *f, size_t len, size_t start, size_t offset) {
    if (start + offset + 2 > len) return false;
    uint16_t c = (uint16_t)~fold(sum(f + start, len - start, 0));
    put16(f + start + offset, c ? c : 0xffff); /* (as the kernel's skb_checksum_help: 0 is UDP's "none") */
    return true;
}

int co_split(const uint8_t vh[VNET_HDR_LEN], uint8_t *f, size_t len, const CoSink *out) {
    struct virtio_net_hdr h;
    memcpy(&h, vh, sizeof h);
    if (h.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
        if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !complete_csum(f, len, h.csum_start, h.csum_offset)) return -1;
        out->emit(out->ctx, f, len);
        return 1;
    }
    /* Only TCPv4 is offered: IPv4 (any options), TCP, a payload longer than one segment. */
    if (h.gso_type != VIRTIO_NET_HDR_GSO_TCPV4 || h.gso_size == 0 || len < ETH + IP + 20 || be16(f + 12) != 0x0800) return -1;
    uint8_t *ip = f + ETH;
    size_t ihl = (size_t)(ip[0] & 15) * 4;
    if ((ip[0] >> 4) != 4 || ihl < IP || ip[9] != 6 || ETH + ihl + 20 > len) return -1;
    uint8_t *th = ip + ihl;
    size_t doff = (size_t)(th[12] >> 4) * 4, hlen = ETH + ihl + doff;
    if (doff < 20 || hlen > len) return -1;
    size_t payload = len - hlen, mss = h.gso_size;
    uint32_t seq = be32(th + 4);
    uint16_t id = be16(ip + 4);
    uint8_t flags = th[13];
    int n = 0;
    for (size_t off = 0; off < payload || (off == 0 && payload == 0); off += mss) {
        size_t seg = payload - off < mss ? payload - off : mss;
        bool last = off + seg >= payload;
        uint8_t *o = out->room(out->ctx, hlen + seg);
        if (!o) return n > 0 ? n : -1; /* (the rest is lost, as on a full queue) */
        memcpy(o, f, hlen);
        memcpy(o + hlen, f + hlen + off, seg);
        uint8_t *oi = o + ETH, *ot = oi + ihl;
        put16(oi + 2, (uint16_t)(ihl + doff + seg));
        put16(oi + 4, (uint16_t)(id + n));
        ipv4_checksum(oi, ihl);
        ot[4] = (uint8_t)((seq + off) >> 24), ot[5] = (uint8_t)((seq + off) >> 16), ot[6] = (uint8_t)((seq + off) >> 8), ot[7] = (uint8_t)(seq + off);
        ot[13] = (uint8_t)(flags & ~(last ? 0 : F_FIN | F_PSH) & ~(n == 0 ? 0 : 0x80 /* CWR */));
        put16(ot + 16, 0);
        size_t tcp_len = doff + seg;
        put16(ot + 16, (uint16_t)~fold(sum(ot, tcp_len, pseudo(oi, tcp_len))));
        out->emit(out->ctx, o, hlen + seg);
        n++;
        if (payload == 0) break;
    }
    return n;
}
