/*
 * The data-plane threads: see plane.h. Each thread owns an epoll set, the sessions given to it
 * and the scratch buffers they share (its SessionHost); commands come through a queue woken by
 * an eventfd. A session's memory is held by references (session.h): the plane's until its
 * socket is closed (or it is handed over), Node's handle's, and each queued command's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "plane.h"

typedef struct Cmd {
    struct Cmd *next;
    enum PlaneCmd type;
    Session *s;
    int code;
    char reason[128];
} Cmd;

typedef struct Plane {
    SessionHost host; /* first: a session's host is its plane */
    pthread_t thread;
    int wake;
    pthread_mutex_t lock;
    Cmd *head, *tail;
    Session *timed; /* resting or lingering: see next_timeout */
    Session *dead;  /* let go this wakeup: their reference goes after it */
    int sessions;   /* how many it serves (atomic), to give a new one to the least busy */
} Plane;

static Plane *planes;
static int nplanes;

static Plane *plane_of(Session *s) { return (Plane *)s->host; }

double clock_ms(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec * 1000 + (double)t.tv_nsec / 1e6;
}

static void plane_timed(Session *s, bool on) {
    Plane *p = plane_of(s);
    if (on == s->timed) return;
    if (on) {
        s->tprev = NULL;
        s->tnext = p->timed;
        if (p->timed) p->timed->tprev = s;
        p->timed = s;
    } else {
        if (s->tprev) s->tprev->tnext = s->tnext;
        else p->timed = s->tnext;
        if (s->tnext) s->tnext->tprev = s->tprev;
        s->tnext = s->tprev = NULL;
    }
    s->timed = on;
}

/* The plane lets go of s once this wakeup's events are handled (a later one may name it). */
static void plane_done(Session *s) {
    Plane *p = plane_of(s);
    s->dnext = p->dead;
    p->dead = s;
    __atomic_sub_fetch(&p->sessions, 1, __ATOMIC_RELAXED);
}

static void run_commands(Plane *p) {
    uint64_t n;
    if (read(p->wake, &n, sizeof n) < 0 && errno != EAGAIN) return;
    pthread_mutex_lock(&p->lock);
    Cmd *c = p->head;
    p->head = p->tail = NULL;
    pthread_mutex_unlock(&p->lock);
    while (c) {
        Cmd *next = c->next;
        switch (c->type) {
        case C_ADD: session_start(c->s); break;
        case C_ADMIT: session_admit(c->s); break;
        case C_CLOSE: session_close(c->s, c->code, c->reason); break;
        case C_PING: session_ping(c->s); break;
        case C_DETACH: session_detach(c->s); break;
        }
        session_unref(c->s); /* the command's own reference */
        free(c);
        c = next;
    }
}

/* Milliseconds to the nearest deadline of a timed session; -1: none. */
static int next_timeout(Plane *p) {
    double first = -1;
    for (Session *s = p->timed; s; s = s->tnext) {
        double d = s->state == S_CLOSING ? s->linger_until : s->rest_until;
        if (first < 0 || d < first) first = d;
    }
    if (first < 0) return -1;
    double ms = first - clock_ms(CLOCK_MONOTONIC);
    return ms <= 0 ? 0 : (int)ms + 1;
}

static void *plane_main(void *arg) {
    Plane *p = arg;
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(p->host.ep, evs, 256, next_timeout(p));
        if (n < 0 && errno != EINTR) break;
        p->host.now = clock_ms(CLOCK_MONOTONIC);
        p->host.wall = clock_ms(CLOCK_REALTIME);
        for (int i = 0; i < n; i++) {
            uint64_t u = evs[i].data.u64;
            if (u == 0) run_commands(p);
            else if (u & 1) session_on_tap((Session *)(uintptr_t)(u & ~(uint64_t)1), evs[i].events);
            else session_on_sock((Session *)(uintptr_t)u, evs[i].events);
        }
        for (Session *s = p->timed, *next; s; s = next) {
            next = s->tnext;
            double d = s->state == S_CLOSING ? s->linger_until : s->rest_until;
            if (d <= p->host.now) session_timer(s);
        }
        while (p->dead) {
            Session *s = p->dead;
            p->dead = s->dnext;
            session_unref(s);
        }
    }
    return NULL;
}

void plane_post(Session *s, enum PlaneCmd type, int code, const char *reason) {
    Cmd *c = calloc(1, sizeof *c);
    if (!c) return;
    c->type = type;
    c->s = s;
    c->code = code;
    if (reason) snprintf(c->reason, sizeof c->reason, "%s", reason);
    session_ref(s); /* the command's own, dropped once it ran */
    Plane *p = plane_of(s);
    pthread_mutex_lock(&p->lock);
    if (p->tail) p->tail->next = c;
    else p->head = c;
    p->tail = c;
    pthread_mutex_unlock(&p->lock);
    uint64_t one = 1;
    if (write(p->wake, &one, sizeof one) < 0) { /* (the counter is full: it is readable anyway) */
    }
}

const char *plane_start(int threads, PlaneEventFn *event) {
    Plane *ps = calloc((size_t)threads, sizeof *ps);
    if (!ps) return "out of memory";
    /* The threads take no signal: SIGTERM and the rest stay Node's. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (int i = 0; i < threads; i++) {
        Plane *p = &ps[i];
        SessionHost *h = &p->host;
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
        h->ep = epoll_create1(EPOLL_CLOEXEC);
        h->inbuf = malloc(IN_SCRATCH);
        h->outbuf = malloc(OUT_SCRATCH);
        h->co.buf = malloc(CO_MAX);
        h->gsobuf = malloc(FRAME_MAX);
        h->event = event;
        h->timed = plane_timed;
        h->done = plane_done;
        p->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        pthread_mutex_init(&p->lock, NULL);
        if (h->ep < 0 || p->wake < 0 || !h->inbuf || !h->outbuf || !h->co.buf || !h->gsobuf || epoll_ctl(h->ep, EPOLL_CTL_ADD, p->wake, &ev) < 0 ||
            pthread_create(&p->thread, NULL, plane_main, p) != 0) {
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            return "cannot start a data-plane thread";
        }
        pthread_setname_np(p->thread, "wsnic-plane");
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    planes = ps;
    nplanes = threads;
    return NULL;
}

bool plane_started(void) { return planes != NULL; }

void plane_add(Session *s) {
    Plane *best = &planes[0];
    for (int i = 1; i < nplanes; i++)
        if (__atomic_load_n(&planes[i].sessions, __ATOMIC_RELAXED) < __atomic_load_n(&best->sessions, __ATOMIC_RELAXED)) best = &planes[i];
    s->host = &best->host;
    __atomic_add_fetch(&best->sessions, 1, __ATOMIC_RELAXED);
    plane_post(s, C_ADD, 0, NULL);
}
