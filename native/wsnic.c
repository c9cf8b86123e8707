/*
 * wsnic native addon: the few system calls Node cannot make itself.
 *
 *   tapCreate(pattern, { exclusive, bridge, mtu, isolated, vnetHdr })
 *                               a client's whole TAP on libuv's thread pool: TUNSETIFF
 *                               (IFF_TAP|IFF_NO_PI, IFF_TUN_EXCL if exclusive, IFF_VNET_HDR
 *                               for the native data path's joined segments, non-blocking),
 *                               IPv6 address generation off and port isolation over rtnetlink,
 *                               MTU, bridge port and up by ioctl -> Promise<{ fd, name }>
 *   tapOpen(pattern, options)   the same on the calling thread -> { fd, name }
 *   new TapPort(fd, onFrames, onError)
 *                               a uv_poll on Node's own loop: reads until EAGAIN (at most
 *                               BATCH frames a wakeup) and hands them over in one call;
 *     .write(buf)               one write() per frame, or an exception with the errno: the tun
 *                               driver never makes a write wait (its socket's sndbuf is
 *                               INT_MAX), it takes the frame or refuses it
 *     .pause() / .resume()      stop / start reading (the kernel queue then drops, as Ethernet may)
 *     .close()                  stop polling; the fd stays open for the caller to close
 *   wsMask(...), wsUnmask(...)  WebSocket masking for ws, in place of its per-byte JS loop
 *   sendDatagram(path, payload, fds?)   one AF_UNIX datagram, SCM_RIGHTS if fds: sd_notify and
 *                               the journal's native protocol, no libsystemd
 *   notifyBarrier(path, ms)     sd_notify BARRIER=1: waits until systemd has handled the rest
 *   memfdCreate(name)           an fd of an anonymous file in memory (a handed-over session's state)
 *   setCloexec(fd)              close-on-exec on an inherited fd (none reaches a child)
 *   carrierPack(fds), carrierUnpack(fd)   fds held in flight in a socketpair (the hand-over)
 *
 * Errors become JS exceptions whose message names the call and the interface, with .errno
 * and .code (e.g. "EPERM").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "coalesce.h"
#include "napi_check.h"

/* plane.c: the native data path's functions. */
napi_status plane_register(napi_env env, napi_value exports);

#define FRAME_MAX 65560 /* 65,535 MTU + 14 header + VLAN tag, with room to spare */
#define BATCH 64        /* frames handed to JS per wakeup, so one busy TAP cannot starve others */

static const char *errno_code(int err) {
    switch (err) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case ENODEV: return "ENODEV";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case EIO: return "EIO";
    case ENOMEM: return "ENOMEM";
    case ENOBUFS: return "ENOBUFS";
    case EMSGSIZE: return "EMSGSIZE";
    case EXFULL: return "EXFULL";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EROFS: return "EROFS";
    case ENOTCONN: return "ENOTCONN";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    default: return "EUNKNOWN";
    }
}

/* Error("<what>: <strerror> (<CODE>)") with .errno and .code set. */
static napi_value errno_error(napi_env env, int err, const char *what) {
    char msg[256];
    napi_value error, message, code, num;
    snprintf(msg, sizeof msg, "%s: %s (%s)", what, strerror(err), errno_code(err));
    napi_create_string_utf8(env, errno_code(err), NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, code, message, &error);
    napi_create_int32(env, err, &num);
    napi_set_named_property(env, error, "errno", num);
    napi_set_named_property(env, error, "code", code);
    return error;
}

static void throw_errno(napi_env env, int err, const char *what) {
    napi_throw(env, errno_error(env, err, what));
}

static int get_string(napi_env env, napi_value v, char *buf, size_t size, const char *what) {
    size_t len;
    if (napi_get_value_string_utf8(env, v, buf, size, &len) != napi_ok) {
        napi_throw_type_error(env, NULL, what);
        return -1;
    }
    if (len >= size - 1) {
        napi_throw_range_error(env, NULL, what);
        return -1;
    }
    return 0;
}

/*
 * The cores: each returns 0 or an errno and touches no JS value, so that tapCreate can run
 * them on libuv's thread pool (they wait for the kernel's RTNL lock, which anything changing
 * interfaces on the host may hold for a while: not on the event loop).
 */

/* Runs one interface ioctl on a throwaway AF_INET socket; 0 or errno. */
static int if_ioctl(unsigned long req, struct ifreq *ifr) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc, err;
    if (s < 0) return errno;
    rc = ioctl(s, req, ifr);
    err = errno;
    close(s);
    return rc < 0 ? err : 0;
}

/* TUNSETIFF on a new /dev/net/tun fd; name_out gets the kernel's name (PATTERN%d filled in). */
static int tap_create(const char *pattern, bool exclusive, bool vnet, int *fd_out, char name_out[IFNAMSIZ + 1]) {
    struct ifreq ifr;
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return errno;
    memset(&ifr, 0, sizeof ifr);
    /* Exclusive: a device of that name that exists already (say, someone's persistent TAP)
     * is EBUSY instead of being attached to. */
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (exclusive ? IFF_TUN_EXCL : 0) | (vnet ? IFF_VNET_HDR : 0);
    memcpy(ifr.ifr_name, pattern, IFNAMSIZ);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int err = errno;
        close(fd);
        return err;
    }
    /* The native path completes checksums and cuts large TCP segments itself (coalesce.c): the
       bridge then hands them over whole, one read for up to 64 KiB. */
    if (vnet && ioctl(fd, TUNSETOFFLOAD, (unsigned long)CO_OFFLOADS) < 0) {
        int err = errno;
        close(fd);
        return err;
    }
    memcpy(name_out, ifr.ifr_name, IFNAMSIZ);
    name_out[IFNAMSIZ] = 0;
    *fd_out = fd;
    return 0;
}

static int link_up_core(const char *name) {
    struct ifreq ifr;
    int err;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, name, IFNAMSIZ);
    if ((err = if_ioctl(SIOCGIFFLAGS, &ifr))) return err;
    ifr.ifr_flags |= IFF_UP;
    return if_ioctl(SIOCSIFFLAGS, &ifr);
}

static int set_mtu_core(const char *name, int mtu) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, name, IFNAMSIZ);
    ifr.ifr_mtu = mtu;
    return if_ioctl(SIOCSIFMTU, &ifr);
}

static int bridge_add_core(const char *bridge, const char *port) {
    struct ifreq ifr, q;
    int err;
    memset(&q, 0, sizeof q);
    memcpy(q.ifr_name, port, IFNAMSIZ);
    if ((err = if_ioctl(SIOCGIFINDEX, &q))) return err;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, bridge, IFNAMSIZ);
    ifr.ifr_ifindex = q.ifr_ifindex;
    return if_ioctl(SIOCBRADDIF, &ifr);
}

static int ipv6_off_core(const char *name);
static int isolate_core(const char *name);

/* ---- tapCreate: a client's whole TAP, made on the thread pool ---- */

typedef struct {
    napi_async_work work;
    napi_deferred deferred;
    char pattern[IFNAMSIZ + 1], bridge[IFNAMSIZ + 1], name[IFNAMSIZ + 1];
    int32_t mtu;
    bool exclusive, isolated, vnet;
    int fd, err;
    char what[96];
} CreateJob;

/* On a pool thread (tapOpen: the caller's): device, IPv6 off, MTU, bridge port (isolated), up;
   undone on failure. */
static void create_execute(napi_env env, void *data) {
    CreateJob *j = data;
    (void)env;
    j->fd = -1;
    if ((j->err = tap_create(j->pattern, j->exclusive, j->vnet, &j->fd, j->name))) {
        snprintf(j->what, sizeof j->what, "cannot create TAP device '%s' (TUNSETIFF)", j->pattern);
        return;
    }
    if ((j->err = ipv6_off_core(j->name)))
        snprintf(j->what, sizeof j->what, "cannot turn IPv6 off on %s", j->name);
    else if (j->mtu > 0 && (j->err = set_mtu_core(j->name, j->mtu)))
        snprintf(j->what, sizeof j->what, "cannot set MTU %d on %s", j->mtu, j->name);
    else if (j->bridge[0] && (j->err = bridge_add_core(j->bridge, j->name)))
        snprintf(j->what, sizeof j->what, "cannot add %s to bridge %s", j->name, j->bridge);
    else if (j->bridge[0] && j->isolated && (j->err = isolate_core(j->name)))
        snprintf(j->what, sizeof j->what, "cannot isolate bridge port %s", j->name);
    else if ((j->err = link_up_core(j->name)))
        snprintf(j->what, sizeof j->what, "cannot bring up %s", j->name);
    if (j->err) {
        close(j->fd); /* the device goes with its only fd */
        j->fd = -1;
    }
}

/* { fd, name } of a job that succeeded. */
static napi_value made_tap(napi_env env, CreateJob *j) {
    napi_value result, v;
    napi_create_object(env, &result);
    napi_create_int32(env, j->fd, &v);
    napi_set_named_property(env, result, "fd", v);
    napi_create_string_utf8(env, j->name, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, result, "name", v);
    return result;
}

/* Back on the loop: resolve with { fd, name } or reject with the errno error. */
static void create_complete(napi_env env, napi_status status, void *data) {
    CreateJob *j = data;
    if (status != napi_ok && j->err == 0) {
        if (j->fd >= 0) close(j->fd);
        j->err = ECANCELED;
        snprintf(j->what, sizeof j->what, "TAP creation cancelled");
    }
    if (j->err) napi_reject_deferred(env, j->deferred, errno_error(env, j->err, j->what));
    else napi_resolve_deferred(env, j->deferred, made_tap(env, j));
    napi_delete_async_work(env, j->work);
    free(j);
}

static int opt_bool(napi_env env, napi_value obj, const char *key, bool *out) {
    napi_value v;
    napi_valuetype t;
    if (napi_get_named_property(env, obj, key, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok) return -1;
    if (t == napi_undefined) return 0;
    return napi_get_value_bool(env, v, out) == napi_ok ? 0 : -1;
}

/* A job from (pattern, { exclusive, bridge, mtu, isolated, vnetHdr }); NULL with an exception pending. */
static CreateJob *create_job(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2], v;
    napi_valuetype t;
    CreateJob *j = calloc(1, sizeof *j);
    if (j == NULL) {
        throw_errno(env, ENOMEM, "tapCreate");
        return NULL;
    }
    j->fd = -1; /* no device yet: nothing to close if the work never runs */
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
        get_string(env, argv[0], j->pattern, sizeof j->pattern, "tapCreate: name pattern must be a string of at most 15 bytes")) {
        free(j);
        return NULL;
    }
    if (opt_bool(env, argv[1], "exclusive", &j->exclusive) || opt_bool(env, argv[1], "isolated", &j->isolated) ||
        opt_bool(env, argv[1], "vnetHdr", &j->vnet) ||
        napi_get_named_property(env, argv[1], "bridge", &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok ||
        (t != napi_undefined && get_string(env, v, j->bridge, sizeof j->bridge, "tapCreate: bad bridge name")) ||
        napi_get_named_property(env, argv[1], "mtu", &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok ||
        (t != napi_undefined && napi_get_value_int32(env, v, &j->mtu) != napi_ok)) {
        free(j);
        napi_throw_type_error(env, NULL, "tapCreate: bad options");
        return NULL;
    }
    return j;
}

/* tapCreate(pattern, options) -> Promise<{ fd, name }>, the work on the thread pool. */
static napi_value tap_create_async(napi_env env, napi_callback_info info) {
    napi_value promise, resource;
    CreateJob *j = create_job(env, info);
    if (j == NULL) return NULL;
    if (napi_create_promise(env, &j->deferred, &promise) != napi_ok ||
        napi_create_string_utf8(env, "wsnic:tapCreate", NAPI_AUTO_LENGTH, &resource) != napi_ok ||
        napi_create_async_work(env, NULL, resource, create_execute, create_complete, j, &j->work) != napi_ok ||
        napi_queue_async_work(env, j->work) != napi_ok) {
        if (j->work != NULL) napi_delete_async_work(env, j->work);
        free(j); /* (a promise made before the failure is never settled: nothing awaits it yet) */
        napi_throw_error(env, NULL, "tapCreate: cannot queue the work");
        return NULL;
    }
    return promise;
}

/* tapOpen(pattern, options) -> { fd, name }: the same work on the calling thread (wsnic connect). */
static napi_value tap_open(napi_env env, napi_callback_info info) {
    napi_value result;
    CreateJob *j = create_job(env, info);
    if (j == NULL) return NULL;
    create_execute(env, j);
    if (j->err) {
        throw_errno(env, j->err, j->what);
        free(j);
        return NULL;
    }
    result = made_tap(env, j);
    free(j);
    return result;
}

/* ---- TapPort: a TAP fd polled on Node's loop ---- */

typedef struct {
    napi_env env;
    uv_poll_t poll;
    int fd;
    int events;        /* UV_READABLE while reading, 0 while paused */
    int closing;
    napi_ref self;     /* keeps the JS object alive while polling */
    napi_ref on_frames, on_error;
    napi_async_context async; /* calls into JS go through it, so that nextTicks and promises run after */
} TapPort;

/*
 * One read buffer for every port: reads happen on the main loop's thread (wsnic uses no
 * workers), one at a time, and each frame is copied into its own Buffer at once. (A buffer per
 * port cost 64 KiB per client.)
 */
static unsigned char read_buf[FRAME_MAX];

/*
 * napi_make_callback, not napi_call_function: it runs the process.nextTick queue and microtasks
 * when the callback returns, as Node does for its own I/O callbacks. Without it, work a callback
 * defers (ws and stream internals do) waits for the next unrelated event.
 */
static void call_js(TapPort *p, napi_ref fn_ref, size_t argc, napi_value *argv) {
    napi_env env = p->env;
    napi_value fn, self;
    napi_get_reference_value(env, fn_ref, &fn);
    napi_get_reference_value(env, p->self, &self);
    napi_make_callback(env, p->async, self, fn, argc, argv, NULL);
}

static void on_poll(uv_poll_t *handle, int status, int events);

static void port_start(TapPort *p) {
    if (p->closing) return;
    if (p->events) uv_poll_start(&p->poll, p->events, on_poll);
    else uv_poll_stop(&p->poll);
}

static void on_poll(uv_poll_t *handle, int status, int events) {
    TapPort *p = handle->data;
    napi_env env = p->env;
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    if (status < 0) {
        napi_value argv[1];
        napi_create_int32(env, -status, &argv[0]);
        call_js(p, p->on_error, 1, argv);
        goto out;
    }
    if ((events & UV_READABLE) && !p->closing && (p->events & UV_READABLE)) {
        napi_value frames, buf;
        uint32_t count = 0;
        int err = 0;
        napi_create_array(env, &frames);
        while (count < BATCH) {
            ssize_t n = read(p->fd, read_buf, sizeof read_buf);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno != EAGAIN) err = errno;
                break;
            }
            if (n == 0) break;
            napi_create_buffer_copy(env, (size_t)n, read_buf, NULL, &buf);
            napi_set_element(env, frames, count++, buf);
        }
        if (count > 0) {
            napi_value argv[1] = {frames};
            call_js(p, p->on_frames, 1, argv);
        }
        if (err && !p->closing) {
            napi_value argv[1];
            napi_create_int32(env, err, &argv[0]);
            call_js(p, p->on_error, 1, argv);
        }
    }
out:
    /* An exception thrown by a callback must reach Node, not vanish. */
    {
        bool pending = false;
        napi_is_exception_pending(env, &pending);
        if (pending) {
            napi_value exc;
            napi_get_and_clear_last_exception(env, &exc);
            napi_fatal_exception(env, exc);
        }
    }
    napi_close_handle_scope(env, scope);
}

static void on_closed(uv_handle_t *handle) {
    TapPort *p = handle->data;
    napi_env env = p->env;
    napi_delete_reference(env, p->on_frames);
    napi_delete_reference(env, p->on_error);
    napi_delete_reference(env, p->self);
    napi_async_destroy(env, p->async);
    free(p);
}

static TapPort *unwrap(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
    napi_value self;
    TapPort *p = NULL;
    if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return NULL;
    if (napi_unwrap(env, self, (void **)&p) != napi_ok || !p || p->closing) {
        napi_throw_error(env, "EBADF", "TapPort is closed");
        return NULL;
    }
    return p;
}

static napi_value port_ctor(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3], self;
    int32_t fd;
    TapPort *p;
    int rc;
    CHECK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
    if (argc < 3) {
        napi_throw_type_error(env, NULL, "TapPort(fd, onFrames, onError)");
        return NULL;
    }
    CHECK(napi_get_value_int32(env, argv[0], &fd));
    p = calloc(1, sizeof *p);
    if (!p) {
        throw_errno(env, ENOMEM, "TapPort");
        return NULL;
    }
    p->env = env;
    p->fd = fd;
    {
        uv_loop_t *loop = NULL;
        CHECK(napi_get_uv_event_loop(env, &loop));
        rc = uv_poll_init(loop, &p->poll, fd);
    }
    if (rc < 0) {
        free(p);
        throw_errno(env, -rc, "TapPort: cannot poll the TAP fd");
        return NULL;
    }
    p->poll.data = p;
    napi_create_reference(env, argv[1], 1, &p->on_frames);
    napi_create_reference(env, argv[2], 1, &p->on_error);
    CHECK(napi_wrap(env, self, p, NULL, NULL, NULL));
    napi_create_reference(env, self, 1, &p->self);
    {
        napi_value name;
        CHECK(napi_create_string_utf8(env, "wsnic.TapPort", NAPI_AUTO_LENGTH, &name));
        CHECK(napi_async_init(env, self, name, &p->async));
    }
    p->events = UV_READABLE;
    port_start(p);
    return self;
}

/*
 * No would-block path: tun_get_user() can return EAGAIN only when the fd's socket has more than
 * sk_sndbuf bytes in flight, and sk_sndbuf is INT_MAX (wsnic never sets TUNSETSNDBUF). Were it
 * ever returned, it is thrown like any refusal and the caller drops the frame.
 */
static napi_value port_write(napi_env env, napi_callback_info info) {
    size_t argc = 1, len;
    napi_value argv[1];
    void *data;
    ssize_t n;
    TapPort *p = unwrap(env, info, &argc, argv);
    if (!p) return NULL;
    if (argc < 1 || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok) {
        napi_throw_type_error(env, NULL, "TapPort.write(buffer)");
        return NULL;
    }
    do n = write(p->fd, data, len); while (n < 0 && errno == EINTR);
    if (n < 0) throw_errno(env, errno, "TAP write failed");
    return NULL;
}

static napi_value port_pause(napi_env env, napi_callback_info info) {
    size_t argc = 0;
    TapPort *p = unwrap(env, info, &argc, NULL);
    if (!p) return NULL;
    p->events &= ~UV_READABLE;
    port_start(p);
    return NULL;
}

static napi_value port_resume(napi_env env, napi_callback_info info) {
    size_t argc = 0;
    TapPort *p = unwrap(env, info, &argc, NULL);
    if (!p) return NULL;
    p->events |= UV_READABLE;
    port_start(p);
    return NULL;
}

static napi_value port_close(napi_env env, napi_callback_info info) {
    size_t argc = 0;
    napi_value self;
    TapPort *p = NULL;
    CHECK(napi_get_cb_info(env, info, &argc, NULL, &self, NULL));
    if (napi_unwrap(env, self, (void **)&p) != napi_ok || !p || p->closing) return NULL;
    p->closing = 1;
    napi_remove_wrap(env, self, NULL); /* later calls see a closed port, not freed memory */
    uv_poll_stop(&p->poll);
    /* The fd stays open: the caller closes it (off the loop: removing a TAP waits for an RCU
       grace period, ~20 ms, which would stall every other client). */
    uv_close((uv_handle_t *)&p->poll, on_closed);
    return NULL;
}

/* ---- WebSocket masking (RFC 6455 5.3) for ws: XOR with a 4-byte key, 8 bytes at a time ---- */

static void xor_mask(const unsigned char *src, unsigned char *dst, size_t len, const unsigned char key[4]) {
    uint64_t k8;
    size_t i = 0;
    unsigned char k[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
    memcpy(&k8, k, 8);
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        v ^= k8;
        memcpy(dst + i, &v, 8);
    }
    for (; i < len; i++) dst[i] = src[i] ^ key[i & 3];
}

/* wsMask(source, mask, output, offset, length), as ws's bufferutil.mask. */
static napi_value ws_mask(napi_env env, napi_callback_info info) {
    size_t argc = 5, slen, mlen, olen;
    napi_value argv[5];
    void *src, *key, *out;
    uint32_t offset, length;
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 5 || napi_get_buffer_info(env, argv[0], &src, &slen) != napi_ok || napi_get_buffer_info(env, argv[1], &key, &mlen) != napi_ok ||
        napi_get_buffer_info(env, argv[2], &out, &olen) != napi_ok || napi_get_value_uint32(env, argv[3], &offset) != napi_ok ||
        napi_get_value_uint32(env, argv[4], &length) != napi_ok || mlen < 4 || length > slen || (size_t)offset + length > olen) {
        napi_throw_range_error(env, NULL, "wsMask(source, mask, output, offset, length): bad arguments");
        return NULL;
    }
    xor_mask(src, (unsigned char *)out + offset, length, key);
    return NULL;
}

/* wsUnmask(buffer, mask): in place, as ws's bufferutil.unmask. */
static napi_value ws_unmask(napi_env env, napi_callback_info info) {
    size_t argc = 2, blen, mlen;
    napi_value argv[2];
    void *buf, *key;
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 2 || napi_get_buffer_info(env, argv[0], &buf, &blen) != napi_ok || napi_get_buffer_info(env, argv[1], &key, &mlen) != napi_ok || mlen < 4) {
        napi_throw_range_error(env, NULL, "wsUnmask(buffer, mask): bad arguments");
        return NULL;
    }
    xor_mask(buf, buf, blen, key);
    return NULL;
}

/* ---- datagrams to AF_UNIX sockets: sd_notify and the journal's native protocol ---- */

/* One AF_UNIX datagram to path ('@': abstract), SCM_RIGHTS with fds; 0 or errno. */
static int dgram_send(const char *path, const void *data, size_t len, const int *fds, uint32_t nfds) {
    struct sockaddr_un addr;
    struct iovec iov = {(void *)data, len};
    struct msghdr msg;
    char control[CMSG_SPACE(sizeof(int) * 253)];
    socklen_t addrlen;
    int s, rc, err;
    if (nfds > 253) return EINVAL;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, strlen(path));
    addrlen = offsetof(struct sockaddr_un, sun_path) + strlen(path);
    if (path[0] == '@') addr.sun_path[0] = 0; /* abstract namespace */
    else addrlen += 1;
    memset(&msg, 0, sizeof msg);
    msg.msg_name = &addr;
    msg.msg_namelen = addrlen;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (nfds > 0) {
        struct cmsghdr *cmsg;
        memset(control, 0, sizeof control);
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
    }
    s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return errno;
    rc = sendmsg(s, &msg, MSG_NOSIGNAL);
    err = errno;
    close(s);
    return rc < 0 ? err : 0;
}

/* sendDatagram(path, payload: string | Buffer, fds?: number[]): one sendmsg(), SCM_RIGHTS if fds. */
static napi_value send_datagram(napi_env env, napi_callback_info info) {
    size_t argc = 3, len = 0;
    napi_value argv[3], result;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
    char *payload = NULL;
    void *data = NULL;
    bool is_buffer = false;
    uint32_t nfds = 0;
    int fds[253];
    int err;
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 2 || get_string(env, argv[0], path, sizeof path, "sendDatagram: bad socket path")) return NULL;
    napi_is_buffer(env, argv[1], &is_buffer);
    if (is_buffer) {
        CHECK(napi_get_buffer_info(env, argv[1], &data, &len));
    } else {
        CHECK(napi_get_value_string_utf8(env, argv[1], NULL, 0, &len));
        payload = malloc(len + 1);
        if (!payload) {
            throw_errno(env, ENOMEM, "sendDatagram");
            return NULL;
        }
        napi_get_value_string_utf8(env, argv[1], payload, len + 1, &len);
        data = payload;
    }
    if (argc > 2) {
        bool is_array = false;
        napi_is_array(env, argv[2], &is_array);
        if (is_array) {
            napi_get_array_length(env, argv[2], &nfds);
            if (nfds > 253) nfds = 253;
            for (uint32_t i = 0; i < nfds; i++) {
                napi_value v;
                napi_get_element(env, argv[2], i, &v);
                napi_get_value_int32(env, v, &fds[i]);
            }
        }
    }
    err = dgram_send(path, data, len, fds, nfds);
    free(payload);
    if (err) {
        char what[160];
        snprintf(what, sizeof what, "cannot send to %s", path);
        throw_errno(env, err, what);
        return NULL;
    }
    napi_get_boolean(env, true, &result);
    return result;
}

/*
 * notifyBarrier(path, timeoutMs) -> boolean: sd_notify's BARRIER=1 (systemd 246+). The message
 * carries a pipe's write end, which systemd closes once it has handled every message sent before
 * it: true when that happened within the time, false if not. Blocks, for a stopping relay.
 */
static napi_value notify_barrier(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2], result;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
    int32_t timeout = 5000;
    int p[2], err;
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 1 || get_string(env, argv[0], path, sizeof path, "notifyBarrier: bad socket path")) return NULL;
    if (argc > 1) napi_get_value_int32(env, argv[1], &timeout);
    if (pipe2(p, O_CLOEXEC) < 0) {
        throw_errno(env, errno, "notifyBarrier: pipe");
        return NULL;
    }
    err = dgram_send(path, "BARRIER=1", 9, &p[1], 1);
    close(p[1]);
    if (err) {
        close(p[0]);
        throw_errno(env, err, "notifyBarrier: cannot send");
        return NULL;
    }
    struct pollfd pfd = {.fd = p[0], .events = 0};
    int n;
    do n = poll(&pfd, 1, timeout);
    while (n < 0 && errno == EINTR);
    close(p[0]);
    napi_get_boolean(env, n > 0 && (pfd.revents & POLLHUP), &result);
    return result;
}

/*
 * carrierPack(fds) -> [a, b]: a socketpair holding fds "in flight" (SCM_RIGHTS, 253 a message,
 * sent from a to b), so that systemd's fd store keeps two fds for any number of sessions (it
 * compares each stored fd with every other: quadratic, measured 6.6 s for 3,006 fds). Both ends
 * stay open (a closed end would hang b up, and systemd drops a stored fd that hangs up).
 */
static napi_value carrier_pack(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1], result, v;
    uint32_t n = 0;
    int sv[2];
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 1 || napi_get_array_length(env, argv[0], &n) != napi_ok) {
        napi_throw_type_error(env, NULL, "carrierPack: an array of fds is needed");
        return NULL;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        throw_errno(env, errno, "carrierPack: socketpair");
        return NULL;
    }
    int big = 64 << 20; /* (CAP_NET_ADMIN may force it; otherwise wmem_max holds) */
    if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) < 0) setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    for (uint32_t i = 0; i < n; i += 253) {
        int fds[253];
        uint32_t k = n - i < 253 ? n - i : 253;
        for (uint32_t j = 0; j < k; j++) {
            napi_get_element(env, argv[0], i + j, &v);
            if (napi_get_value_int32(env, v, &fds[j]) != napi_ok) fds[j] = -1;
        }
        char byte = 'w', control[CMSG_SPACE(sizeof(int) * 253)];
        struct iovec iov = {&byte, 1};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = CMSG_SPACE(sizeof(int) * k)};
        memset(control, 0, sizeof control);
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * k);
        memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * k);
        ssize_t w;
        do w = sendmsg(sv[0], &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        while (w < 0 && errno == EINTR);
        if (w != 1) {
            int err = w < 0 ? errno : EIO;
            close(sv[0]);
            close(sv[1]);
            throw_errno(env, err, "carrierPack: sendmsg");
            return NULL;
        }
    }
    CHECK(napi_create_array_with_length(env, 2, &result));
    for (uint32_t j = 0; j < 2; j++) {
        napi_create_int32(env, sv[j], &v);
        napi_set_element(env, result, j, v);
    }
    return result;
}

/* carrierUnpack(fd) -> fds: every fd in flight towards fd, in order (close-on-exec). */
static napi_value carrier_unpack(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1], result, v;
    int32_t fd = -1;
    uint32_t got = 0;
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
        napi_throw_type_error(env, NULL, "carrierUnpack: an fd is needed");
        return NULL;
    }
    CHECK(napi_create_array(env, &result));
    for (;;) {
        char byte, control[CMSG_SPACE(sizeof(int) * 253)];
        struct iovec iov = {&byte, 1};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
        ssize_t r = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break; /* drained (EAGAIN), or the other end closed */
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            int *fds = (int *)CMSG_DATA(c);
            for (size_t j = 0; j < k; j++) {
                napi_create_int32(env, fds[j], &v);
                napi_set_element(env, result, got++, v);
            }
        }
    }
    return result;
}

/* setCloexec(fd): close-on-exec on an fd we were given (systemd passes them without). */
static napi_value set_cloexec(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    int32_t fd = -1;
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
        napi_throw_type_error(env, NULL, "setCloexec: an fd is needed");
        return NULL;
    }
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) throw_errno(env, errno, "setCloexec");
    return NULL;
}

/* memfdCreate(name) -> fd: an anonymous file in memory (close-on-exec), e.g. a session's state. */
static napi_value memfd_create_js(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1], result;
    char name[200];
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 1 || get_string(env, argv[0], name, sizeof name, "memfdCreate: bad name")) return NULL;
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0) {
        throw_errno(env, errno, "memfdCreate");
        return NULL;
    }
    napi_create_int32(env, fd, &result);
    return result;
}

/* ---- rtnetlink RTM_SETLINK on one interface ---- */

typedef struct {
    struct nlmsghdr nh;
    struct ifinfomsg ifi;
    char attrs[64];
} LinkReq;

/* Sends req for the interface named `name` and waits for the ack; 0 or errno (the kernel's too). */
static int setlink_core(const char *name, LinkReq *req) {
    struct ifreq ifr;
    struct {
        struct nlmsghdr nh;
        struct nlmsgerr err;
        char pad[64];
    } ack;
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    int s, err;
    ssize_t n;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, name, IFNAMSIZ);
    if ((err = if_ioctl(SIOCGIFINDEX, &ifr))) return err;
    req->nh.nlmsg_type = RTM_SETLINK; /* AF_UNSPEC: do_setlink; AF_BRIDGE: the bridge port options */
    req->nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    req->nh.nlmsg_seq = 1;
    if (req->ifi.ifi_family == 0) req->ifi.ifi_family = AF_UNSPEC; /* AF_BRIDGE for port options */
    req->ifi.ifi_index = ifr.ifr_ifindex;
    s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (s < 0) return errno;
    if (sendto(s, req, req->nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa) < 0 || (n = recv(s, &ack, sizeof ack, 0)) < 0) {
        err = errno;
        close(s);
        return err;
    }
    close(s);
    if (n >= (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) && ack.nh.nlmsg_type == NLMSG_ERROR && ack.err.error != 0)
        return -ack.err.error;
    return 0;
}

/* IPv6 address generation off (no link-local, so no RS/DAD/MLD from the port). */
static int ipv6_off_core(const char *name) {
    LinkReq req;
    struct rtattr *spec, *inet6, *mode;
    int err;
    memset(&req, 0, sizeof req);
    /* IFLA_AF_SPEC { AF_INET6 { IFLA_INET6_ADDR_GEN_MODE: u8 NONE } } */
    spec = (struct rtattr *)req.attrs;
    spec->rta_type = IFLA_AF_SPEC;
    inet6 = RTA_DATA(spec);
    inet6->rta_type = AF_INET6;
    mode = RTA_DATA(inet6);
    mode->rta_type = IFLA_INET6_ADDR_GEN_MODE;
    mode->rta_len = RTA_LENGTH(1);
    *(unsigned char *)RTA_DATA(mode) = IN6_ADDR_GEN_MODE_NONE;
    inet6->rta_len = RTA_LENGTH(RTA_ALIGN(mode->rta_len));
    spec->rta_len = RTA_LENGTH(inet6->rta_len);
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.ifi) + RTA_ALIGN(spec->rta_len);
    err = setlink_core(name, &req);
    /* EAFNOSUPPORT: IPv6 is off in this kernel, which is what we want anyway. */
    return err == EAFNOSUPPORT ? 0 : err;
}

/* The bridge port may talk only to non-isolated ports (the bridge itself, leaf links), not to
   other isolated ones: clients do not see each other. */
static int isolate_core(const char *name) {
    LinkReq req;
    struct rtattr *protinfo, *iso;
    memset(&req, 0, sizeof req);
    req.ifi.ifi_family = AF_BRIDGE;
    protinfo = (struct rtattr *)req.attrs;
    protinfo->rta_type = IFLA_PROTINFO | NLA_F_NESTED;
    iso = RTA_DATA(protinfo);
    iso->rta_type = IFLA_BRPORT_ISOLATED;
    iso->rta_len = RTA_LENGTH(1);
    *(unsigned char *)RTA_DATA(iso) = 1;
    protinfo->rta_len = RTA_LENGTH(RTA_ALIGN(iso->rta_len));
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.ifi) + RTA_ALIGN(protinfo->rta_len);
    return setlink_core(name, &req);
}

napi_status guard_register(napi_env env, napi_value exports); /* guard_napi.c: Guard */

static napi_value init(napi_env env, napi_value exports) {
    napi_value cls;
    napi_property_descriptor methods[] = {
        {"write", NULL, port_write, NULL, NULL, NULL, napi_default, NULL},
        {"pause", NULL, port_pause, NULL, NULL, NULL, napi_default, NULL},
        {"resume", NULL, port_resume, NULL, NULL, NULL, napi_default, NULL},
        {"close", NULL, port_close, NULL, NULL, NULL, napi_default, NULL},
    };
    napi_property_descriptor fns[] = {
        {"tapOpen", NULL, tap_open, NULL, NULL, NULL, napi_default, NULL},
        {"tapCreate", NULL, tap_create_async, NULL, NULL, NULL, napi_default, NULL},
        {"sendDatagram", NULL, send_datagram, NULL, NULL, NULL, napi_default, NULL},
        {"notifyBarrier", NULL, notify_barrier, NULL, NULL, NULL, napi_default, NULL},
        {"memfdCreate", NULL, memfd_create_js, NULL, NULL, NULL, napi_default, NULL},
        {"setCloexec", NULL, set_cloexec, NULL, NULL, NULL, napi_default, NULL},
        {"carrierPack", NULL, carrier_pack, NULL, NULL, NULL, napi_default, NULL},
        {"carrierUnpack", NULL, carrier_unpack, NULL, NULL, NULL, napi_default, NULL},
        {"wsMask", NULL, ws_mask, NULL, NULL, NULL, napi_default, NULL},
        {"wsUnmask", NULL, ws_unmask, NULL, NULL, NULL, napi_default, NULL},
    };
    CHECK(napi_define_class(env, "TapPort", NAPI_AUTO_LENGTH, port_ctor, NULL, 4, methods, &cls));
    CHECK(napi_set_named_property(env, exports, "TapPort", cls));
    CHECK(napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns));
    CHECK(plane_register(env, exports));
    CHECK(guard_register(env, exports));
    return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
