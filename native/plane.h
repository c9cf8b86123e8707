/*
 * The native data path's threads (plane.c): established ws:// sessions relayed off Node's event
 * loop. Each thread (a plane) owns an epoll set and the sessions given to it, and is each
 * session's host (session.h). Node talks to a plane through a command queue (woken by an
 * eventfd); a plane tells Node through the event function given to plane_start, event by
 * event, never per frame. The N-API side is plane_napi.c.
 */
#ifndef WSNIC_PLANE_H
#define WSNIC_PLANE_H
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "session.h"

/* What Node asks of a session (C_ADD: plane_add's). */
enum PlaneCmd { C_ADD, C_ADMIT, C_CLOSE, C_PING, C_DETACH };

/* Called on a plane's thread (SessionHost.event): it must not block. */
typedef void PlaneEventFn(Session *s, enum EventType type, int code, const char *text, const uint8_t *mac, uint32_t ip);

/* Starts `threads` planes (once a process): NULL, or what failed (what was made stays). */
const char *plane_start(int threads, PlaneEventFn *event);
bool plane_started(void);

/* Gives a new session (refs 2: its plane's and Node's) to the least busy plane, which starts it. */
void plane_add(Session *s);

/* Queues a command for the session's plane (reason: C_CLOSE's, cut at 127 bytes). */
void plane_post(Session *s, enum PlaneCmd type, int code, const char *reason);

/* The clock `id` in ms (CLOCK_MONOTONIC for deadlines, CLOCK_REALTIME for last_seen). */
double clock_ms(clockid_t id);

#endif
