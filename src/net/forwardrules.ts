/**
 * The nftables part of port forwards (with NAT on): the map `fwd4` the relay keeps, from
 * `proto . host port` to `guest address . guest port`, and the set `fwdports` of every forwarded
 * port, rendered from the configuration. A connection to a forwarded port of any local address
 * (arriving from outside, from a guest, or made by the host itself) is sent to the guest the map
 * names; with no element (the guest absent) it reaches the input hook and is refused there, so
 * it never reaches a service of the host.
 */
import type { Forward } from '../config/forward';

/** The map of forwards to present guests, kept by the relay (src/net/leasedset.ts). */
export const FORWARD_MAP = 'fwd4';
export const FORWARD_PORTS = 'fwdports';

/** `tcp . 2222 : 192.168.86.23 . 22`: the map element of a forward to a guest at ip. */
export function forwardElement(f: Forward, ip: string): string {
  return `${f.proto} . ${f.port} : ${ip} . ${f.guestPort}`;
}

/** Rules at the top of the input chain: forwarded ports whose guest is absent refuse at once. */
export const FORWARD_GUARD: readonly string[] = [
  '\t\t# A forwarded port reaching the host itself found no guest in @fwd4: refuse it at once.',
  `\t\tct state new meta l4proto tcp meta l4proto . th dport @${FORWARD_PORTS} counter reject with tcp reset comment "forward, guest absent"`,
  `\t\tct state new meta l4proto udp meta l4proto . th dport @${FORWARD_PORTS} counter reject with icmpx type port-unreachable comment "forward, guest absent"`,
];

export function forwardChains(forwards: readonly Forward[]): string[] {
  const ports = forwards.map((f) => `${f.proto} . ${f.port}`);
  const dnat = `\t\tmeta l4proto { tcp, udp } fib daddr type local dnat ip to meta l4proto . th dport map @${FORWARD_MAP}`;
  return [
    '',
    `\tmap ${FORWARD_MAP} {`,
    '\t\ttype inet_proto . inet_service : ipv4_addr . inet_service',
    '\t\tcomment "proto . port : guest address . port, kept by the relay while the guest is present"',
    '\t}',
    '',
    `\tset ${FORWARD_PORTS} {`,
    '\t\ttype inet_proto . inet_service',
    ...(ports.length > 0 ? [`\t\telements = { ${ports.join(', ')} }`] : []),
    '\t}',
    '',
    '\tchain forwards_in {',
    '\t\ttype nat hook prerouting priority dstnat; policy accept;',
    '\t\t# Any local address: the uplink\'s, the gateway\'s (hairpin from guests), any other.',
    dnat,
    '\t}',
    '',
    '\tchain forwards_out {',
    '\t\ttype nat hook output priority -100; policy accept;',
    '\t\t# Connections the host itself makes to one of its addresses (127.0.0.1 is refused: a',
    '\t\t# loopback source cannot leave through the bridge).',
    `\t\tip daddr != 127.0.0.0/8 ${dnat.trim()}`,
    '\t}',
  ];
}
