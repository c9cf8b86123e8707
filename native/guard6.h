/*
 * The guard's IPv6 rules (guard6.c), part of the per-client guard (guard.h): a client is a host,
 * never a router or a DHCPv6 server, and sends only from addresses it owns. What it owns: the
 * unspecified address (for DAD and the first multicast listener reports), the link-local address
 * made from its bound MAC (EUI-64), and the addresses it claimed by duplicate address detection,
 * first come in a small table with explicit states (no allocation per frame).
 *
 * A claim: FREE -> TENTATIVE when the client sends a DAD probe (a neighbour solicitation from ::
 * to the target's solicited-node group) -> BOUND by the first frame it sends from that address
 * at least GUARD6_HOLD_MS after the probe (a Linux guest waits a second, RetransTimer, before it
 * uses an address). A TENTATIVE claim is freed when a neighbour advertisement (a defence) or
 * another DAD probe for the same address comes down to the client within GUARD6_DAD_MS of its
 * probe: the address is someone else's, and the guest marks it dadfailed; one coming later finds
 * the DAD over and binds it. A BOUND claim lasts as long as the client.
 */
#ifndef WSNIC_GUARD6_H
#define WSNIC_GUARD6_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "abi.h"

/* Addresses a client may claim by DAD besides its EUI-64 link-local (more are dropped, counted). */
#define GUARD6_CLAIMS CLAIMS_MAX
/* A tentative address may not be sent from sooner than this after its DAD probe (ms) ... */
#define GUARD6_HOLD_MS 500
/* ... and is someone else's if a defence or another probe for it comes down within this (ms):
   a guest waits RetransTimer (1 s) for one; later, its DAD is over and the claim is bound. */
#define GUARD6_DAD_MS 1000
/* Extension headers followed before a packet is judged too evasive to pass. */
#define GUARD6_CHAIN 8

enum ClaimState { C6_FREE, C6_TENTATIVE, C6_BOUND };

typedef struct {
    uint8_t addr[16];
    uint8_t state; /* enum ClaimState */
    double since;  /* when its probe was seen (ms), for GUARD6_HOLD_MS */
} Claim6;

typedef struct {
    Claim6 claims[GUARD6_CLAIMS];
    uint8_t tentative; /* how many claims are TENTATIVE: frames down are looked at only then */
} Guard6;

/* A claim as a restart hand-over carries it: the address, then its state (1 tentative, 2 bound). */
#define GUARD6_RECORD CLAIM_BYTES

struct Guard;
/* An IPv6 frame (ethertype 86dd) from the client: a verdict (guard.h's enum Verdict). */
int guard6_up(struct Guard *g, const uint8_t *f, size_t len, double now);
/* An IPv6 frame to the client, looked at while a claim is TENTATIVE: frees a claim it defends. */
void guard6_down(struct Guard *g, const uint8_t *f, size_t len, double now);
/* The claims held, as GUARD6_RECORD-byte records into out: how many bytes. */
size_t guard6_save(const Guard6 *v6, uint8_t out[GUARD6_CLAIMS * GUARD6_RECORD]);
/* Claims saved so back into v6 (tentative ones held anew from now): false if in is not such records. */
bool guard6_load(Guard6 *v6, const uint8_t *in, size_t len, double now);

#endif
