/**
 * The guard's IPv6 vectors (native/guard6.c; the format is guard-vectors.ts's, run by
 * guard.test.ts). Verdicts: v6Router (a router advertisement, redirect or router renumbering),
 * v6DhcpServer (UDP from port 547 or to port 546), v6Source (from an address not the client's own), v6ForgedNa
 * (a neighbour advertisement for an address not its own), v6Full (a DAD probe past the claims
 * table), v6Malformed (a header chain cut short, too long, or a first fragment without its
 * ICMPv6 or UDP header). All of them count as spoofed. Checksums are zero: the guard reads none.
 *
 * The client is MAC 02:aa:bb:cc:dd:01, so its EUI-64 link-local address is LL below.
 */
import { BOUND, down, expand, hex, MAC, OTHER, u16, up, type Vector } from './guard-vectors';

const LL = 'fe80::aa:bbff:fecc:dd01';
const OTHER_LL = 'fe80::aa:bbff:fecc:dd02';
const ADDR = 'fd00::10';
const ROUTER_MAC = '33:33:00:00:00:01';

/** An IPv6 address as 32 hex digits. */
function v6(a: string): string {
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const words = (s: string | undefined): string[] => (s ? s.split(':') : []);
  const h = words(head), t = words(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return all.map((w) => w.padStart(4, '0')).join('');
}

/** The solicited-node group of an address (where its DAD probe goes). */
const solicited = (a: string): string => `ff02::1:ff${v6(a).slice(26, 28)}:${v6(a).slice(28)}`;

/** An IPv6 packet in an Ethernet frame: `next` the first next-header, `payload` hex. */
function ip6(from: string, to: string, next: number, payload: string, src = MAC): string {
  const p = expand(payload);
  return `${hex(ROUTER_MAC)} ${hex(src)} 86dd 60000000 ${u16(p.length / 2)} ${next.toString(16).padStart(2, '0')} ff ${v6(from)} ${v6(to)} ${p}`;
}

const ICMP6 = 58, UDP = 17, TCP = 6, HOP = 0, DEST = 60, FRAG = 44;
const b = (n: number): string => n.toString(16).padStart(2, '0');
/** ICMPv6 type, code 0, checksum 0, then the body. */
const icmp = (type: number, body: string): string => `${b(type)} 00 0000 ${body}`;
/** Neighbour solicitation and advertisement (flags: solicited, override) for target. */
const ns = (target: string): string => icmp(135, `00000000 ${v6(target)}`);
const na = (target: string): string => icmp(136, `60000000 ${v6(target)}`);
/** A router advertisement: hop limit 64, lifetime 1800 s. */
const RA = icmp(134, '40 00 0708 00000000 00000000');
const REDIRECT = icmp(137, `00000000 ${v6('fd00::1')} ${v6('fd00::99')}`);
const RENUMBERING = icmp(138, '00000001 00 00 0000 00000000');
const RS = icmp(133, '00000000');
/** An MLDv2 report (143) with no records. */
const MLD = icmp(143, '0000 0000');
const udp = (sport: number, dport: number): string => `${u16(sport)} ${u16(dport)} 000c 0000 00000000`;
const TCP_SYN = `c000 0016 00000001 00000000 5002 ffff 0000 0000`;
/** Extension headers in front of `next`: hop-by-hop with a router alert, destination options (empty), a fragment header. */
const hop = (next: number): string => `${b(next)} 00 05020000 0100`;
const dest = (next: number): string => `${b(next)} 00 0104 00000000`;
/** n empty destination options headers, each followed by another. */
const dests = (n: number): string => Array.from({ length: n }, () => dest(DEST)).join(' ');
const frag = (next: number, offset: number, more = 1): string => `${b(next)} 00 ${u16((offset << 3) | more)} 00000001`;

/** The first n bytes of a frame. */
const cut = (f: string, n: number): string => expand(f).slice(0, 2 * n);
/** A DAD probe for `a`: a neighbour solicitation from :: to its solicited-node group. */
const probe = (a: string): string => ip6('::', solicited(a), ICMP6, ns(a));
/** TCP from `a` to fd00::1. */
const tcpFrom = (a: string): string => ip6(a, 'fd00::1', TCP, TCP_SYN);
const first = { told: [`bound ${MAC}`] };

/** A router advertisement behind hop-by-hop and destination options headers, from the client's link-local address. */
export const HIDDEN_RA = ip6(LL, 'ff02::1', HOP, `${hop(DEST)} ${dest(ICMP6)} ${RA}`);

/** client_ipv6 = 1: the guard judges IPv6. */
const V6 = { ipv6: true };

export const VECTORS6: Vector[] = [
  {
    name: 'IPv6 off (client_ipv6 = 0): the guard leaves IPv6 to the bridge, which drops every IPv6 frame',
    steps: [
      up(ip6(LL, 'ff02::1', ICMP6, RA), 'pass', first),
      up(tcpFrom(OTHER_LL), 'pass'),
      up(`ffffffffffff ${hex(MAC)} 86dd 00*46`, 'pass'),
    ],
    end: BOUND,
  },
  {
    name: 'IPv6: a guest\'s own link-local traffic passes: DAD and MLD from ::, solicitations and UDP from its EUI-64 address',
    rules: V6,
    steps: [
      up(ip6('::', 'ff02::16', HOP, `${hop(ICMP6)} ${MLD}`), 'pass', first), // MLD report from ::, hop-by-hop router alert
      up(probe(LL), 'pass'), // its own link-local needs no claim: it is made from the bound MAC
      up(ip6(LL, 'ff02::2', ICMP6, RS), 'pass'), // a router solicitation
      up(ip6(LL, 'ff02::16', HOP, `${hop(ICMP6)} ${MLD}`), 'pass'),
      up(ip6(LL, 'ff02::1:2', UDP, udp(546, 547)), 'pass'), // a DHCPv6 client
      up(ip6(LL, OTHER_LL, ICMP6, na(LL)), 'pass'), // an advertisement of its own address
    ],
    end: BOUND,
  },
  {
    name: 'IPv6: a DAD probe claims an address; it is the client\'s once held 500 ms (NS, NA, TCP, UDP from it pass)',
    rules: V6,
    steps: [
      up(probe(ADDR), 'pass', { ...first, at: 0 }),
      up(tcpFrom(ADDR), 'v6Source', { at: 100 }), // still tentative: DAD has not had its second
      up(tcpFrom(ADDR), 'pass', { at: 1000 }), // held long enough: bound by this frame
      up(ip6(ADDR, solicited('fd00::1'), ICMP6, ns('fd00::1')), 'pass'),
      up(ip6(ADDR, 'fd00::1', ICMP6, na(ADDR)), 'pass'),
      up(ip6(ADDR, 'fd00::1', UDP, udp(5353, 53)), 'pass'),
      up(probe(ADDR), 'pass'), // probed again (a link flap): still its own
    ],
    end: { ...BOUND, spoofed: 1, claims: [`${ADDR} bound`] },
  },
  {
    name: 'IPv6: from another client\'s link-local address, or an address never claimed: dropped',
    rules: V6,
    steps: [
      up(tcpFrom(OTHER_LL), 'v6Source', first),
      up(tcpFrom('fd00::20'), 'v6Source'),
      up(tcpFrom('2001:db8::1'), 'v6Source'),
    ],
    end: { ...BOUND, spoofed: 3 },
  },
  {
    name: 'IPv6: router advertisements, redirects and router renumbering are dropped, behind extension headers too',
    rules: V6,
    steps: [
      up(ip6(LL, 'ff02::1', ICMP6, RA), 'v6Router', first),
      up(ip6(LL, 'fd00::5', ICMP6, REDIRECT), 'v6Router'),
      up(ip6(LL, 'ff02::2', ICMP6, RENUMBERING), 'v6Router'),
      up(HIDDEN_RA, 'v6Router'),
      up(ip6('::', 'ff02::1', ICMP6, RA), 'v6Router'), // from any source
      up(ip6(LL, 'ff02::1', FRAG, `${frag(ICMP6, 0)} ${RA}`), 'v6Router'), // a first fragment holding it
    ],
    end: { ...BOUND, spoofed: 6 },
  },
  {
    name: 'IPv6: DHCPv6 server traffic (from port 547, or to a client at 546) is dropped; a DHCPv6 client passes',
    rules: V6,
    steps: [
      up(ip6(LL, OTHER_LL, UDP, udp(547, 546)), 'v6DhcpServer', first),
      up(ip6(LL, 'ff02::1:2', UDP, udp(547, 547)), 'v6DhcpServer'), // a relay's too
      up(ip6(LL, OTHER_LL, UDP, udp(40000, 546)), 'v6DhcpServer'), // an Advertise from another port: a client takes it all the same
      up(ip6(LL, 'ff02::1:2', UDP, udp(546, 547)), 'pass'),
    ],
    end: { ...BOUND, spoofed: 3 },
  },
  {
    name: 'IPv6: a neighbour advertisement for an address not its own (or from ::) is forged: dropped',
    rules: V6,
    steps: [
      up(ip6(LL, 'ff02::1', ICMP6, na('fd00::1')), 'v6ForgedNa', first), // the gateway's
      up(ip6(LL, 'ff02::1', ICMP6, na(OTHER_LL)), 'v6ForgedNa'),
      up(ip6('::', 'ff02::1', ICMP6, na(LL)), 'v6ForgedNa'),
      up(probe(ADDR), 'pass', { at: 0 }),
      up(ip6(LL, 'ff02::1', ICMP6, na(ADDR)), 'v6ForgedNa', { at: 10 }), // tentative is not yet its own
    ],
    end: { ...BOUND, spoofed: 4, claims: [`${ADDR} tentative`] },
  },
  {
    name: 'IPv6: a DAD conflict: an advertisement or another probe coming down frees a tentative claim, nothing bound',
    rules: V6,
    steps: [
      up(probe(ADDR), 'pass', { ...first, at: 0 }),
      down(ip6(OTHER_LL, 'ff02::1', ICMP6, na(ADDR), OTHER), 'pass', { at: 5 }), // the holder defends it
      up(tcpFrom(ADDR), 'v6Source', { at: 2000 }), // a guest that ignores dadfailed
      up(probe('fd00::11'), 'pass'),
      down(probe('fd00::11').replace(hex(MAC), hex(OTHER)), 'pass'), // probed by another at once
      up(tcpFrom('fd00::11'), 'v6Source', { at: 4000 }),
    ],
    end: { ...BOUND, spoofed: 2 },
  },
  {
    name: 'IPv6: a defence dropped by the download limit still frees the tentative claim (a client cannot flood itself past DAD)',
    rules: { ...V6, down: [0, 1], burst: 1 },
    steps: [
      up(probe(ADDR), 'pass', { ...first, at: 0 }),
      down(ip6(OTHER_LL, 'ff02::1', UDP, udp(5353, 5353), OTHER), 'pass', { at: 1 }), // the bucket's one frame
      down(ip6(OTHER_LL, 'ff02::1', ICMP6, na(ADDR), OTHER), 'limited', { at: 2, told: ['limited down'] }), // the defence
      up(tcpFrom(ADDR), 'v6Source', { at: 600 }),
    ],
    end: { ...BOUND, spoofed: 1, limitedOut: 1 },
  },
  {
    rules: V6,
    name: 'IPv6: a probe by another coming down after the DAD window (1 s) finds the claim bound: the holder defends it',
    steps: [
      up(probe(ADDR), 'pass', { ...first, at: 0 }), // the guest's DAD, then no frame from it yet
      down(probe(ADDR).replace(hex(MAC), hex(OTHER)), 'pass', { at: 5000 }), // a newcomer probes
      up(ip6(ADDR, 'ff02::1', ICMP6, na(ADDR)), 'pass'), // the defence goes out
    ],
    end: { ...BOUND, claims: [`${ADDR} bound`] },
  },
  {
    name: 'IPv6: once bound, an address stays the client\'s whatever comes down',
    rules: V6,
    steps: [
      up(probe(ADDR), 'pass', { ...first, at: 0 }),
      up(tcpFrom(ADDR), 'pass', { at: 1000 }),
      down(ip6(OTHER_LL, 'ff02::1', ICMP6, na(ADDR), OTHER), 'pass'),
      up(tcpFrom(ADDR), 'pass'),
    ],
    end: { ...BOUND, claims: [`${ADDR} bound`] },
  },
  {
    name: 'IPv6: at most 8 claims: the 9th probe is dropped and counted; probing one held again passes',
    rules: V6,
    steps: [
      ...[1, 2, 3, 4, 5, 6, 7, 8].map((i) => up(probe(`fd00::${i}`), 'pass', i === 1 ? first : {})),
      up(probe('fd00::9'), 'v6Full'),
      up(probe('fd00::1'), 'pass'),
      up(tcpFrom('fd00::9'), 'v6Source', { at: 1000 }),
    ],
    end: { ...BOUND, spoofed: 2, claims: [1, 2, 3, 4, 5, 6, 7, 8].map((i) => `fd00::${i} tentative`) },
  },
  {
    name: 'IPv6: header chains are read safely: cut short, too long, or a first fragment without its header is dropped',
    rules: V6,
    steps: [
      up(cut(ip6(LL, 'ff02::1', UDP, udp(546, 547)), 30), 'v6Malformed', first), // IPv6 header cut
      up(cut(ip6(LL, 'ff02::1', ICMP6, RS), 56), 'v6Malformed'), // ICMPv6 header cut
      up(ip6(LL, 'ff02::1', DEST, `${dests(8)} ${dest(UDP)} ${udp(546, 547)}`), 'v6Malformed'), // 9 extension headers
      up(ip6(LL, 'ff02::1', DEST, `${dests(7)} ${dest(UDP)} ${udp(546, 547)}`), 'pass'), // 8 pass
      up(ip6(LL, 'ff02::1', FRAG, frag(ICMP6, 0)), 'v6Malformed'), // a first fragment without the ICMPv6 header
      up(ip6(LL, 'ff02::1', HOP, '3a 02 00000000 0000'), 'v6Malformed'), // hop-by-hop claiming 24 bytes of 8
      up(ip6(LL, 'fd00::1', FRAG, `${frag(UDP, 185)} 00*16`), 'pass'), // a later fragment from its own address
      up(ip6('fd00::20', 'fd00::1', FRAG, `${frag(UDP, 185)} 00*16`), 'v6Source'), // from another's
      up(ip6(LL, 'ff02::1', UDP, udp(546, 547)).replace('86dd 6', '86dd 4'), 'v6Malformed'), // version 4 in an IPv6 frame
    ],
    end: { ...BOUND, spoofed: 7 },
  },
];
