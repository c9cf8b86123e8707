/*
 * Writes to a TAP with a virtio-net header (IFF_VNET_HDR), joining a client's consecutive TCP
 * segments of one stream into one large segment (GSO TCPv4) that the kernel takes in one write
 * and passes through the bridge, the ruleset and the receiving stack once, as its own GRO does
 * for a NIC. Each segment is checked first (IPv4 and TCP checksums, headers equal but for the
 * sequence number and PSH): anything else is written as it came, in order, one write a frame.
 */
#ifndef WSNIC_COALESCE_H
#define WSNIC_COALESCE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
/* One frame as it is, with an empty virtio-net header: 0, or 1 if refused. */
int co_write_plain(int fd, const uint8_t *frame, size_t len);

#endif
