/*
 * Datagrams to AF_UNIX sockets, with fds: sd_notify and the journal's native protocol, no
 * libsystemd.
 *
 *   sendDatagram(path, payload, fds?)   one datagram ('@': abstract), SCM_RIGHTS if fds
 *   notifyBarrier(path, ms)             sd_notify BARRIER=1: waits until systemd has handled
 *                                       every message sent before
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "addon.h"
#include "napi_check.h"

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

napi_status notify_register(napi_env env, napi_value exports) {
    return EXPORT_FUNCTIONS(env, exports,
                            JS_FUNCTION("sendDatagram", send_datagram),
                            JS_FUNCTION("notifyBarrier", notify_barrier));
}
