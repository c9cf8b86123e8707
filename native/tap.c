/*
 * A client's TAP device, made whole: TUNSETIFF (IFF_TAP|IFF_NO_PI, IFF_TUN_EXCL if exclusive,
 * IFF_VNET_HDR and the offloads for the native data path's joined segments, non-blocking), then
 * IPv6 address generation off, MTU, bridge port (isolated) and up (link.c); undone on failure.
 *
 *   tapCreate(pattern, { exclusive, bridge, mtu, isolated, vnetHdr }) -> Promise<{ fd, name }>
 *                          on libuv's thread pool (the kernel's RTNL lock may be held a while)
 *   tapOpen(pattern, options) -> { fd, name }   the same on the calling thread (wsnic connect)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "addon.h"
#include "coalesce.h"
#include "link.h"
#include "napi_check.h"

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
    if ((j->err = link_ipv6_off(j->name)))
        snprintf(j->what, sizeof j->what, "cannot turn IPv6 off on %s", j->name);
    else if (j->mtu > 0 && (j->err = link_set_mtu(j->name, j->mtu)))
        snprintf(j->what, sizeof j->what, "cannot set MTU %d on %s", j->mtu, j->name);
    else if (j->bridge[0] && (j->err = link_bridge_add(j->bridge, j->name)))
        snprintf(j->what, sizeof j->what, "cannot add %s to bridge %s", j->name, j->bridge);
    else if (j->bridge[0] && j->isolated && (j->err = link_isolate(j->name)))
        snprintf(j->what, sizeof j->what, "cannot isolate bridge port %s", j->name);
    else if ((j->err = link_up(j->name)))
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

napi_status tap_register(napi_env env, napi_value exports) {
    return EXPORT_FUNCTIONS(env, exports,
                            JS_FUNCTION("tapOpen", tap_open),
                            JS_FUNCTION("tapCreate", tap_create_async));
}
