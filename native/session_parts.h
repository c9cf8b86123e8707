/*
 * What the three parts of a session share (session.h is what the rest may call):
 *   session.c       the state machine: epoll interest, the end and close handshake, the entry points
 *   session_up.c    from the client: read, parse, judge, write to the TAP
 *   session_down.c  towards the client: owed bytes and backpressure, control frames, the TAP's frames
 * Only they include this file.
 */
#ifndef WSNIC_SESSION_PARTS_H
#define WSNIC_SESSION_PARTS_H
#include "session.h"

/* Bytes owed to the client (sent when its socket takes them). */
static inline size_t owed(const Session *s) { return s->out_len - s->out_off; }

/* Marks the connection dead; the entry point that called us ends the session on its way out. */
static inline bool failed(const Session *s) { return s->broken; }
static inline void fail_socket(Session *s) { s->broken = true; }

/* session.c */
void session_interest(Session *s);                            /* the socket's epoll interest, from the state */
void session_end(Session *s, int code, const char *why);      /* stops relaying: the TAP goes back to Node */
void session_finish(Session *s);                              /* the socket closed, the host lets go */
void session_shut_when_flushed(Session *s);                   /* both close frames sent: shut once flushed */
void session_close_with(Session *s, int code, const char *reason); /* close frame, then end */
void session_settle(Session *s);                              /* on the way out of every entry point */

/* session_up.c */
void up_read(Session *s);     /* reads and parses while the client may be read */
bool up_readable(const Session *s);
void up_tap_write(Session *s, const uint8_t *f, size_t len);
void up_tap_flush(Session *s); /* joined segments go to the TAP now */

/* session_down.c */
void down_flush(Session *s); /* writes what is owed */
void down_control(Session *s, int op, const uint8_t *p, size_t len);
void down_close(Session *s, int code, const uint8_t *reason, size_t rlen);

#endif
