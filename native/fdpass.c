/*
 * File descriptors across a restart: memfds for a handed-over session's state, fds held in
 * flight in a socketpair for systemd's fd store, close-on-exec for inherited ones.
 *
 *   memfdCreate(name) -> fd                 an anonymous file in memory (close-on-exec)
 *   setCloexec(fd)                          close-on-exec on an inherited fd (none reaches a child)
 *   carrierPack(fds) -> [a, b]              fds in flight from a to b (SCM_RIGHTS)
 *   carrierUnpack(fd) -> fds                every fd in flight towards fd, in order
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addon.h"
#include "napi_check.h"

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

napi_status fdpass_register(napi_env env, napi_value exports) {
    return EXPORT_FUNCTIONS(env, exports,
                            JS_FUNCTION("memfdCreate", memfd_create_js),
                            JS_FUNCTION("setCloexec", set_cloexec),
                            JS_FUNCTION("carrierPack", carrier_pack),
                            JS_FUNCTION("carrierUnpack", carrier_unpack));
}
