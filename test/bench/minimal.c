/*
 * The bench's yardstick: a minimal WebSocket-to-TAP relay and a minimal client, in one epoll
 * loop each, with the same wire protocol as wsnic (one binary WebSocket message = one Ethernet
 * frame) and nothing else: no admission, no MAC binding, no DHCP filter, no limits, no counters.
 * It is not wsnic code and shares none: it measures what this machine allows one user-space hop.
 *
 *   minimal relay PORT BRIDGE      listen on 0.0.0.0:PORT, one TAP (mrtapN) per client on BRIDGE
 *   minimal client HOST PORT TAP MTU
 *                                  connect to ws://HOST:PORT/, make TAP (MTU), relay, masking
 *   minimal steady HOST PORT N DST_MAC FRAME
 *                                  N clients, each sending one FRAME-byte frame every 10 ms to
 *                                  DST_MAC (ethertype 0x88b5, a MAC of its own each), what
 *                                  arrives read and dropped; prints {"event":"connected",...},
 *                                  then on SIGTERM {"event":"done","frames":F,"seconds":S}
 *
 * Both print the lines the bench waits for (`listening url=`, `client connected
 * client_address=`, `connected url=`). Frames: a batch of TAP reads leaves in one writev; frames
 * from the socket are written to the TAP one write each (the tun driver has no batched write).
 * Fragmented messages are not supported (neither wsnic nor v86 sends them); a ping is answered.
 *
 * Build: cc -O2 -o minimal minimal.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAX 65550          /* a 65,521-MTU frame plus its Ethernet header */
#define IN_CAP (4 * FRAME_MAX)   /* bytes from the socket not yet parsed */
#define BATCH 64                 /* TAP reads per writev */
#define SLOT (FRAME_MAX + 16)    /* one frame in the out buffer, with room for its WS header */
#define MAXFD 65536

typedef struct Conn {
    int sock, tap, open, client;  /* open: handshake done; client: we mask */
    uint8_t in[IN_CAP];
    size_t inlen;
    uint8_t *out;                 /* BATCH slots; pending bytes are kept packed at out */
    size_t pending, pendoff;
    char tapname[IFNAMSIZ];
} Conn;

static Conn *byfd[MAXFD];
static int ep, ctl;
static uint32_t rng = 2463534242u;

static void die(const char *what) { perror(what); exit(1); }

/* ---- SHA-1 and base64, for Sec-WebSocket-Accept only ---- */
#define ROL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))
static void sha1(const uint8_t *msg, size_t len, uint8_t out[20]) {
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    uint8_t block[64];
    size_t total = ((len + 8) / 64 + 1) * 64;
    for (size_t off = 0; off < total; off += 64) {
        for (size_t i = 0; i < 64; i++) {
            size_t k = off + i;
            block[i] = k < len ? msg[k] : k == len ? 0x80 : 0;
        }
        if (off + 64 == total)
            for (int i = 0; i < 8; i++) block[56 + i] = (uint8_t)(((uint64_t)len * 8) >> (56 - 8 * i));
        uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 16; i++) w[i] = (uint32_t)block[4 * i] << 24 | block[4 * i + 1] << 16 | block[4 * i + 2] << 8 | block[4 * i + 3];
        for (int i = 16; i < 80; i++) w[i] = ROL(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20) f = (b & c) | (~b & d), k = 0x5A827999;
            else if (i < 40) f = b ^ c ^ d, k = 0x6ED9EBA1;
            else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
            else f = b ^ c ^ d, k = 0xCA62C1D6;
            uint32_t t = ROL(a, 5) + f + e + k + w[i];
            e = d, d = c, c = ROL(b, 30), b = a, a = t;
        }
        h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
    }
    for (int i = 0; i < 20; i++) out[i] = (uint8_t)(h[i / 4] >> (24 - 8 * (i % 4)));
}

static void base64(const uint8_t *in, size_t n, char *out) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        out[o++] = t[v >> 18 & 63];
        out[o++] = t[v >> 12 & 63];
        out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[o] = 0;
}

/* ---- the loop ---- */
static void watch(int fd, uint32_t events, int op) {
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(ep, op, fd, &ev) < 0) die("epoll_ctl");
}

static void drop(Conn *c, const char *why) {
    fprintf(stderr, "client closed tap=%s reason=%s\n", c->tapname, why);
    if (!c->client) {
        byfd[c->sock] = NULL;
        close(c->sock);
        if (c->tap >= 0) byfd[c->tap] = NULL, close(c->tap);
        free(c->out);
        free(c);
        return;
    }
    exit(0); /* the client has one connection: its end is the process's */
}

static void mask(uint8_t *p, size_t n, uint32_t key) {
    uint8_t kb[4];
    uint64_t k8;
    memcpy(kb, &key, 4);
    memcpy(&k8, kb, 4), memcpy((uint8_t *)&k8 + 4, kb, 4);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        v ^= k8;
        memcpy(p + i, &v, 8);
    }
    for (; i < n; i++) p[i] ^= kb[i & 3];
}

/** A WebSocket frame header for a binary (or other opcode) payload of len, before p. */
static size_t header(uint8_t *p, uint8_t opcode, size_t len, int masked) {
    uint8_t h[14];
    size_t n = 2;
    h[0] = 0x80 | opcode;
    if (len < 126) h[1] = (uint8_t)len;
    else if (len < 65536) h[1] = 126, h[2] = (uint8_t)(len >> 8), h[3] = (uint8_t)len, n = 4;
    else {
        h[1] = 127, n = 10;
        for (int i = 0; i < 8; i++) h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    if (masked) {
        h[1] |= 0x80;
        rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
        memcpy(h + n, &rng, 4);
        mask(p, len, rng);
        n += 4;
    }
    memcpy(p - n, h, n);
    return n;
}

/** Sends what is pending; stops reading the TAP while the socket is full. */
static int flush(Conn *c) {
    while (c->pending > c->pendoff) {
        ssize_t w = write(c->sock, c->out + c->pendoff, c->pending - c->pendoff);
        if (w < 0 && errno == EAGAIN) {
            watch(c->sock, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
            if (c->tap >= 0) watch(c->tap, 0, EPOLL_CTL_MOD);
            return 0;
        }
        if (w <= 0) return drop(c, "write"), -1;
        c->pendoff += (size_t)w;
    }
    c->pending = c->pendoff = 0;
    watch(c->sock, EPOLLIN, EPOLL_CTL_MOD);
    if (c->tap >= 0) watch(c->tap, EPOLLIN, EPOLL_CTL_MOD);
    return 1;
}

/** TAP -> socket: up to BATCH frames, one writev; what the socket does not take waits packed. */
static void from_tap(Conn *c) {
    struct iovec iov[BATCH];
    int n = 0;
    while (n < BATCH) {
        uint8_t *slot = c->out + (size_t)n * SLOT + 16;
        ssize_t r = read(c->tap, slot, FRAME_MAX);
        if (r < 0) {
            if (errno == EAGAIN) break;
            return drop(c, "tap read");
        }
        size_t h = header(slot, 2, (size_t)r, c->client);
        iov[n].iov_base = slot - h, iov[n].iov_len = h + (size_t)r;
        n++;
    }
    if (n == 0) return;
    ssize_t w = writev(c->sock, iov, n);
    if (w < 0 && errno != EAGAIN) return drop(c, "writev");
    size_t done = w < 0 ? 0 : (size_t)w, keep = 0;
    for (int i = 0; i < n; i++) {
        if (done >= iov[i].iov_len) { done -= iov[i].iov_len; continue; }
        memmove(c->out + keep, (uint8_t *)iov[i].iov_base + done, iov[i].iov_len - done);
        keep += iov[i].iov_len - done;
        done = 0;
    }
    if (keep > 0) c->pending = keep, c->pendoff = 0, flush(c);
}

/** Socket -> TAP: every whole frame in the buffer, one write each. */
static void from_sock(Conn *c) {
    ssize_t r = read(c->sock, c->in + c->inlen, IN_CAP - c->inlen);
    if (r == 0) return drop(c, "eof");
    if (r < 0) {
        if (errno == EAGAIN) return;
        return drop(c, "read");
    }
    c->inlen += (size_t)r;
    size_t off = 0;
    while (c->inlen - off >= 2) {
        uint8_t *p = c->in + off;
        uint8_t op = p[0] & 15;
        int masked = p[1] >> 7;
        uint64_t len = p[1] & 127;
        size_t h = 2;
        if (len == 126) {
            if (c->inlen - off < 4) break;
            len = (uint64_t)p[2] << 8 | p[3], h = 4;
        } else if (len == 127) {
            if (c->inlen - off < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++) len = len << 8 | p[2 + i];
            h = 10;
        }
        if (len > FRAME_MAX) return drop(c, "too big");
        size_t mh = h + (masked ? 4 : 0);
        if (c->inlen - off < mh + len) break;
        uint8_t *payload = p + mh;
        if (masked) {
            uint32_t key;
            memcpy(&key, p + h, 4);
            mask(payload, (size_t)len, key);
        }
        if (op == 2 || op == 0) {
            if (write(c->tap, payload, (size_t)len) < 0 && errno != EAGAIN && errno != EINVAL && errno != ENOBUFS)
                return drop(c, "tap write");
        } else if (op == 8) {
            return drop(c, "close");
        } else if (op == 9 && c->pending == 0 && len < 126) {
            uint8_t pong[16 + 125];
            memcpy(pong + 16, payload, (size_t)len);
            size_t hh = header(pong + 16, 10, (size_t)len, c->client);
            if (write(c->sock, pong + 16 - hh, hh + (size_t)len) < 0) { /* a lost pong: the peer pings again */ }
        }
        off += mh + (size_t)len;
    }
    memmove(c->in, c->in + off, c->inlen - off);
    c->inlen -= off;
}

static int tap_open(const char *name, int mtu, const char *bridge) {
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) die("/dev/net/tun");
    struct ifreq ifr = {0};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
    if (bridge) {
        struct ifreq br = {0};
        snprintf(br.ifr_name, IFNAMSIZ, "%s", bridge);
        if (ioctl(ctl, SIOCGIFMTU, &br) < 0) die("bridge mtu");
        mtu = br.ifr_mtu;
        struct ifreq ix = {0};
        snprintf(ix.ifr_name, IFNAMSIZ, "%s", name);
        if (ioctl(ctl, SIOCGIFINDEX, &ix) < 0) die("SIOCGIFINDEX");
        br.ifr_ifindex = ix.ifr_ifindex;
        if (ioctl(ctl, SIOCBRADDIF, &br) < 0) die("SIOCBRADDIF");
    }
    struct ifreq m = {0};
    snprintf(m.ifr_name, IFNAMSIZ, "%s", name);
    m.ifr_mtu = mtu;
    if (ioctl(ctl, SIOCSIFMTU, &m) < 0) die("SIOCSIFMTU");
    if (ioctl(ctl, SIOCGIFFLAGS, &m) < 0) die("SIOCGIFFLAGS");
    m.ifr_flags |= IFF_UP;
    if (ioctl(ctl, SIOCSIFFLAGS, &m) < 0) die("SIOCSIFFLAGS");
    return fd;
}

static Conn *conn_new(int sock, int client) {
    Conn *c = calloc(1, sizeof *c);
    if (!c || !(c->out = malloc((size_t)BATCH * SLOT))) die("malloc");
    c->sock = sock, c->tap = -1, c->client = client;
    int one = 1;
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    byfd[sock] = c;
    return c;
}

/** The server's side of the opening handshake: 101 with the accept key, then frames. */
static void handshake(Conn *c, const char *bridge) {
    static int taps;
    ssize_t r = read(c->sock, c->in + c->inlen, 4096 - c->inlen);
    if (r <= 0) return (r < 0 && errno == EAGAIN) ? (void)0 : drop(c, "handshake eof");
    c->inlen += (size_t)r;
    c->in[c->inlen] = 0;
    char *end = strstr((char *)c->in, "\r\n\r\n");
    if (!end) return c->inlen >= 4095 ? drop(c, "handshake too long") : (void)0;
    char *key = strcasestr((char *)c->in, "\r\nSec-WebSocket-Key:");
    if (!key || key > end) return drop(c, "no key");
    key += 20;
    while (*key == ' ') key++;
    size_t klen = strcspn(key, " \r");
    char buf[128], acc[64], resp[256];
    snprintf(buf, sizeof buf, "%.*s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", (int)klen, key);
    uint8_t dig[20];
    sha1((uint8_t *)buf, strlen(buf), dig);
    base64(dig, 20, acc);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    snprintf(c->tapname, IFNAMSIZ, "mrtap%d", taps++);
    c->tap = tap_open(c->tapname, 1500, bridge);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int n = snprintf(resp, sizeof resp, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", acc);
    if (write(c->sock, resp, (size_t)n) != n) return drop(c, "handshake write");
    size_t rest = c->inlen - (size_t)(end + 4 - (char *)c->in);
    memmove(c->in, end + 4, rest);
    c->inlen = rest, c->open = 1;
    byfd[c->tap] = c;
    watch(c->tap, EPOLLIN, EPOLL_CTL_ADD);
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    getpeername(c->sock, (struct sockaddr *)&a, &al);
    printf("client connected client_address=%s tap=%s tap_ms=%.3f\n", inet_ntoa(a.sin_addr), c->tapname,
           (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    fflush(stdout);
}

/** A WebSocket connection to HOST:PORT (blocking until the 101), or -1. Bytes after it: none expected. */
static int ws_connect(const char *host, const char *port) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) return perror("connect"), close(s), -1;
    char req[512], resp[4096];
    int n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", host, port);
    if (write(s, req, (size_t)n) != n) return close(s), -1;
    size_t got = 0;
    /* byte by byte to the blank line: the relay sends nothing before the client's first frame */
    while (got < 4 || memcmp(resp + got - 4, "\r\n\r\n", 4)) {
        if (got == sizeof resp - 1 || read(s, resp + got, 1) != 1) return close(s), -1;
        got++;
    }
    resp[got] = 0;
    if (strncmp(resp, "HTTP/1.1 101", 12)) return fprintf(stderr, "refused: %s\n", resp), close(s), -1;
    return s;
}

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

/** The steady load: n clients, one frame each every 10 ms (pre-masked: the same bytes each time). */
static int steady(const char *host, const char *port, int n, const char *dst, size_t frame) {
    int *socks = calloc((size_t)n, sizeof *socks), ok = 0, failed = 0;
    size_t *part = calloc((size_t)n, sizeof *part);
    uint8_t **msgs = calloc((size_t)n, sizeof *msgs), junk[65536];
    size_t mlen = 0;
    unsigned mac[6];
    if (!socks || !part || !msgs || frame < 60 || frame > 65535 || sscanf(dst, "%x:%x:%x:%x:%x:%x", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) != 6) return 2;
    signal(SIGTERM, on_term);
    for (int i = 0; i < n; i++) {
        int s = ws_connect(host, port);
        if (s < 0) { failed++; continue; }
        fcntl(s, F_SETFL, O_NONBLOCK);
        uint8_t *m = malloc(16 + frame), *f = m + 16;
        memset(f, 0, frame);
        for (int k = 0; k < 6; k++) f[k] = (uint8_t)mac[k];
        f[6] = 0x02, f[7] = 0xfe, f[8] = 0, f[9] = 0, f[10] = (uint8_t)(i >> 8), f[11] = (uint8_t)i; /* 02:fe:00:00:ii:ii */
        f[12] = 0x88, f[13] = 0xb5;
        size_t h = header(f, 2, frame, 1);
        memmove(m, f - h, h + frame);
        mlen = h + frame;
        msgs[ok] = m;
        socks[ok++] = s;
    }
    printf("{\"event\":\"connected\",\"n\":%d,\"failed\":%d}\n", ok, failed);
    struct timespec t0, now, next;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    next = t0;
    unsigned long long frames = 0;
    while (!stop) {
        for (int i = 0; i < ok; i++) {
            while (read(socks[i], junk, sizeof junk) > 0) { /* what the bridge sends: dropped */ }
            /* a client that cannot keep up (its socket full) skips a tick rather than queue; a
               frame the socket took in part is finished first */
            size_t from = part[i];
            ssize_t w = write(socks[i], msgs[i] + from, mlen - from);
            if (w < 0) continue;
            part[i] = (from + (size_t)w) % mlen;
            if (part[i] == 0) frames++;
        }
        next.tv_nsec += 10000000;
        if (next.tv_nsec >= 1000000000) next.tv_sec++, next.tv_nsec -= 1000000000;
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    printf("{\"event\":\"done\",\"frames\":%llu,\"seconds\":%.3f}\n", frames,
           (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    ep = epoll_create1(EPOLL_CLOEXEC);
    ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (ep < 0 || ctl < 0) die("setup");
    int lsn = -1;
    const char *bridge = NULL;
    if (argc == 4 && !strcmp(argv[1], "relay")) {
        bridge = argv[3];
        lsn = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(lsn, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
        if (bind(lsn, (struct sockaddr *)&a, sizeof a) < 0 || listen(lsn, 512) < 0) die("listen");
        watch(lsn, EPOLLIN, EPOLL_CTL_ADD);
        printf("listening url=ws://0.0.0.0:%s/\n", argv[2]);
    } else if (argc == 7 && !strcmp(argv[1], "steady")) {
        return steady(argv[2], argv[3], atoi(argv[4]), argv[5], (size_t)atoi(argv[6]));
    } else if (argc == 6 && !strcmp(argv[1], "client")) {
        int s = ws_connect(argv[2], argv[3]);
        if (s < 0) return 1;
        Conn *c = conn_new(s, 1);
        c->open = 1;
        snprintf(c->tapname, IFNAMSIZ, "%s", argv[4]);
        c->tap = tap_open(argv[4], atoi(argv[5]), NULL);
        fcntl(s, F_SETFL, O_NONBLOCK);
        byfd[c->tap] = c;
        watch(s, EPOLLIN, EPOLL_CTL_ADD);
        watch(c->tap, EPOLLIN, EPOLL_CTL_ADD);
        printf("connected url=ws://%s:%s/ tap=%s\n", argv[2], argv[3], argv[4]);
    } else {
        fprintf(stderr, "usage: minimal relay PORT BRIDGE | minimal client HOST PORT TAP MTU | minimal steady HOST PORT N DST_MAC FRAME\n");
        return 2;
    }
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(ep, evs, 64, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die("epoll_wait");
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lsn) {
                int s;
                while ((s = accept4(lsn, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    if (s >= MAXFD) { close(s); continue; }
                    conn_new(s, 0);
                    watch(s, EPOLLIN, EPOLL_CTL_ADD);
                }
                continue;
            }
            Conn *c = byfd[fd];
            if (!c) continue; /* closed earlier in this batch */
            if (fd == c->sock) {
                if (!c->open) { handshake(c, bridge); continue; }
                if ((evs[i].events & EPOLLOUT) && flush(c) < 0) continue;
                if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) from_sock(c);
            } else if (c->pending == 0) {
                from_tap(c);
            }
        }
    }
}
