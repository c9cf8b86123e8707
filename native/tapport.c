/*
 * TapPort: the JavaScript data path's TAP, a uv_poll on Node's own loop.
 *
 *   new TapPort(fd, onFrames, onError)
 *                 reads until EAGAIN (at most TAP_BATCH frames a wakeup) and hands them over
 *                 in one call; onError(errno) on a failed read
 *     .write(buf) one write() per frame, or an exception with the errno: the tun driver never
 *                 makes a write wait (its socket's sndbuf is INT_MAX), it takes the frame or
 *                 refuses it
 *     .pause() / .resume()   stop / start reading (the kernel queue then drops, as Ethernet may)
 *     .close()    stop polling; the fd stays open for the caller to close
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include "abi.h"
#include "addon.h"
#include "napi_check.h"

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
        while (count < TAP_BATCH) {
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

napi_status tapport_register(napi_env env, napi_value exports) {
    napi_value cls;
    napi_property_descriptor methods[] = {
        {"write", NULL, port_write, NULL, NULL, NULL, napi_default, NULL},
        {"pause", NULL, port_pause, NULL, NULL, NULL, napi_default, NULL},
        {"resume", NULL, port_resume, NULL, NULL, NULL, napi_default, NULL},
        {"close", NULL, port_close, NULL, NULL, NULL, napi_default, NULL},
    };
    napi_status st = napi_define_class(env, "TapPort", NAPI_AUTO_LENGTH, port_ctor, NULL, 4, methods, &cls);
    return st != napi_ok ? st : napi_set_named_property(env, exports, "TapPort", cls);
}
