/*
 * A session a relay handed over before a restart, taken up again by planeAdd (plane_napi.c):
 * what it owed the client, its open fragmented message, its MAC, counters and IPv6 claims
 * (resume.c).
 *
 *   resume_read(env, options, &r)     planeAdd's owed, frag, fragOpcode, mac, counts, claims, each
 *                                     checked (all absent for a new session): false with a JS
 *                                     exception thrown
 *   resume_apply(s, &r, frag)         into a new session (frag: its reassembly buffer, allocated
 *                                     by the caller when r.frag_len > 0)
 */
#ifndef WSNIC_RESUME_H
#define WSNIC_RESUME_H
#include <node_api.h>
#include <stdbool.h>

#include "session.h"

/* What planeAdd takes back (pointers into its arguments' Buffers, valid during the call). */
typedef struct {
    void *owed, *frag;
    size_t owed_len, frag_len;
    uint32_t frag_opcode;
    bool has_mac, has_counts;
    uint8_t mac[6];
    double counts[STAT_COUNT];
    Guard6 v6; /* the guard's IPv6 claims (guard6.h), read at once to check them */
} Resume;

bool resume_read(napi_env env, napi_value options, Resume *r);
void resume_apply(Session *s, const Resume *r, uint8_t *frag);

#endif
