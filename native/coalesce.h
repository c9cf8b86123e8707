/*
 * The native path's TAPs have a virtio-net header (IFF_VNET_HDR) and offer the kernel checksum and
 * TCPv4 segmentation offloads, as a VM's NIC does: large segments both ways, cut and joined here.
 *
 * Writes (co_add) join a client's consecutive TCP segments of one stream into one large segment
 * (GSO TCPv4) that the kernel takes in one write and passes through the bridge, the ruleset and
 * the receiving stack once, as its own GRO does for a NIC. Each segment is checked first (IPv4
 * and TCP checksums, headers equal but for the sequence number and PSH): anything else is
 * written as it came, in order, one write a frame. Reads (co_split) cut what the kernel left
 * whole into frames of the client's MTU, checksums done.
 */
#ifndef WSNIC_COALESCE_H
#define WSNIC_COALESCE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/if_tun.h>

#define VNET_HDR_LEN 10           /* struct virtio_net_hdr: what a read or write starts with */
#define CO_MAX (14 + 65535)       /* an Ethernet header and the largest IPv4 packet */

typedef struct Coalescer {
    uint8_t *buf;    /* CO_MAX: the first segment's headers, then every segment's payload */
    size_t len;      /* bytes in buf; 0: nothing pending */
    size_t hlen;     /* Ethernet + IPv4 + TCP header bytes */
    size_t mss;      /* the first segment's payload: every joined one but the last has as much */
    uint32_t next_seq;
    int fd;          /* the TAP the pending segments go to */
    int segs;
    bool psh;
} Coalescer;

/* Pending segments written (one large one, or the one as it came); how many frames the kernel refused. */
int co_flush(Coalescer *c);
/* A frame for the TAP fd: joined to the pending ones, or written (after them). Frames refused. */
int co_add(Coalescer *c, int fd, const uint8_t *frame, size_t len);

/*
 * The other way: a frame read from a TAP that offers the kernel checksum and TCPv4 segmentation
 * offloads (TUNSETOFFLOAD), after its virtio-net header vh. A checksum left to us is completed in
 * place; a large TCP segment (GSO) is cut into gso_size ones, each written to room(ctx, need)
 * (NULL: no room) and passed to emit(ctx, frame, len). How many frames were emitted, or -1 for
 * one that cannot be cut (nothing emitted).
 */
typedef struct CoSink {
    uint8_t *(*room)(void *ctx, size_t need);
    void (*emit)(void *ctx, uint8_t *frame, size_t len);
    void *ctx;
} CoSink;
int co_split(const uint8_t vh[VNET_HDR_LEN], uint8_t *frame, size_t len, const CoSink *out);
#define CO_OFFLOADS (TUN_F_CSUM | TUN_F_TSO4) /* what a vnet TAP offers: see co_split */

#endif
