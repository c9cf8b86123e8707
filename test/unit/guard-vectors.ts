/**
 * The guard's test vectors (native/guard.c, the one judge of client frames on both data paths):
 * each case makes a fresh guard with its rules, judges its frames in order, each at a time on
 * the guard's clock, and says the verdict of each, what each told, and the guard's state at the
 * end. guard.test.ts runs them against guard.c through the addon; any other implementation of
 * the guard must pass them too.
 *
 * Frames are hex (spaces ignored; "00*46" is 46 zero bytes). Verdicts: pass, runt (shorter than
 * an Ethernet header), otherMac (a source MAC other than the bound one), dhcpOtherMac (a DHCP
 * request naming another MAC), limited (over the rate limit); the IPv6 ones (guard6-vectors.ts,
 * native/guard.h). What a frame tells: "bound MAC",
 * "limited up|down" (the first frame over a limit each way, to log it once), "dhcp MAC IP" (an
 * OFFER or ACK from the DHCP server).
 */

export type VerdictName = 'pass' | 'runt' | 'otherMac' | 'dhcpOtherMac' | 'limited'
  | 'v6Router' | 'v6DhcpServer' | 'v6Source' | 'v6ForgedNa' | 'v6Full' | 'v6Malformed';

/** A number, or a range [least, most] where floating-point refills may round either way. */
export type Count = number | [number, number];

export interface Step {
  /** up: from the client; down: to it. */
  dir: 'up' | 'down';
  frame: string;
  /** Ms on the guard's clock (made at 0); absent: the step before's time. */
  at?: number;
  /** The same frame this many times, `every` ms apart (default 1 time). */
  times?: number;
  every?: number;
  /** The verdict of each time (one name: every time); or how many of the times passed. */
  verdict: VerdictName | VerdictName[] | { passed: Count };
  /** What the frames told, in order; absent: nothing. */
  told?: string[];
}

export interface Vector {
  name: string;
  /** Absent: no limit, no DHCP server, IPv6 left to the bridge (client_ipv6 = 0). Limits are [bytes/s, frames/s], 0 for none; burst in s. */
  rules?: { up?: [number, number]; down?: [number, number]; burst?: number; dhcpServer?: string; ipv6?: boolean };
  steps: Step[];
  /**
   * The state after the last step: the bound MAC (null: unbound), the counters (or a range), and
   * the IPv6 addresses claimed ("ADDRESS tentative|bound"; absent: none).
   */
  end: { mac: string | null; spoofed: number; limitedIn: Count; limitedOut: number; claims?: string[] };
}

/** `n` verdicts alike, for a long row. */
export const times = (n: number, v: VerdictName): VerdictName[] => Array<VerdictName>(n).fill(v);

export const up = (frame: string, verdict: Step['verdict'], o: Partial<Step> = {}): Step => ({ dir: 'up', frame, verdict, ...o });
export const down = (frame: string, verdict: Step['verdict'], o: Partial<Step> = {}): Step => ({ dir: 'down', frame, verdict, ...o });

export const MAC = '02:aa:bb:cc:dd:01';
export const OTHER = '02:aa:bb:cc:dd:02';
const GUEST = '52:54:00:12:34:56';
export const hex = (mac: string): string => mac.replaceAll(':', '');
export const u16 = (n: number): string => n.toString(16).padStart(4, '0');
const ip = (a: string): string => a.split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join('');

/** `size` bytes from `src` to everyone: a local ethertype (88b5), then zeros. */
const frame = (src: string, size = 60): string => `ffffffffffff ${hex(src)} 88b5 00*${size - 14}`;

interface Dhcp {
  /** The frame's source MAC; BOOTP op (1 request, 2 reply); ports; addresses. */
  src: string;
  op: 1 | 2;
  sport: number;
  dport: number;
  from: string;
  chaddr: string;
  yiaddr?: string;
  /** The options after the cookie, hex (ends with ff). */
  options: string;
  /** IPv4 flags and fragment offset (2000: more fragments; 0001: offset 8). */
  fragment?: string;
  /** IPv4 header options, hex, a multiple of 4 bytes. */
  ipOptions?: string;
}

/** A DHCP message in an Ethernet frame, layer by layer. */
function dhcp(d: Dhcp): string {
  const ipOptions = d.ipOptions ?? '';
  const bootp = 236 + 4 + d.options.replaceAll(' ', '').length / 2;
  const ihl = 5 + ipOptions.length / 8;
  return [
    `ffffffffffff ${hex(d.src)} 0800`, // Ethernet: to everyone, IPv4
    `4${ihl} 00 ${u16(ihl * 4 + 8 + bootp)} 0000 ${d.fragment ?? '0000'} 40 11 0000`, // IPv4: header length, total length, id, fragment, TTL, UDP, checksum
    `${ip(d.from)} ffffffff ${ipOptions}`, // source, destination (broadcast), header options
    `${u16(d.sport)} ${u16(d.dport)} ${u16(8 + bootp)} 0000`, // UDP: ports, length, checksum
    `0${d.op} 01 06 00 00000000 0000 0000`, // BOOTP: op, Ethernet, 6-byte addresses, hops, xid, secs, flags
    `00000000 ${ip(d.yiaddr ?? '0.0.0.0')} 00000000 00000000`, // ciaddr, yiaddr, siaddr, giaddr
    `${hex(d.chaddr)} 00*10 00*64 00*128`, // chaddr (16 bytes), sname, file
    `63825363 ${d.options}`, // the DHCP magic cookie, options
  ].join(' ');
}

/** Option 53 (message type): 1 DISCOVER, 2 OFFER, 5 ACK, 6 NAK; then the end. */
const type = (t: number): string => `35 01 0${t} ff`;
/** A DISCOVER from `src` for `chaddr`. */
const discover = (src: string, chaddr: string, o: Partial<Dhcp> = {}): string =>
  dhcp({ src, op: 1, sport: 68, dport: 67, from: '0.0.0.0', chaddr, options: type(1), ...o });
/** A reply from the DHCP server (the gateway 192.168.86.1, option 54 naming it) granting `yiaddr` to GUEST. */
const reply = (t: number, yiaddr: string, o: Partial<Dhcp> = {}): string =>
  dhcp({ src: '02:00:00:00:00:01', op: 2, sport: 67, dport: 68, from: '192.168.86.1', chaddr: GUEST, yiaddr, options: `36 04 c0a85601 ${type(t)}`, ...o });
/** A frame without its last `n` bytes. */
const cut = (f: string, n: number): string => {
  const bytes = expand(f);
  return bytes.slice(0, bytes.length - 2 * n);
};

/** A frame's hex as plain hex digits ("00*3" -> "000000"). */
export function expand(f: string): string {
  return f.split(/\s+/).filter(Boolean).map((t) => {
    const m = /^([0-9a-f]{2})\*(\d+)$/.exec(t);
    return m ? m[1]!.repeat(Number(m[2])) : t;
  }).join('');
}

const GW = { dhcpServer: '192.168.86.1' };
const NONE = { mac: null, spoofed: 0, limitedIn: 0, limitedOut: 0 };
export const BOUND = { ...NONE, mac: MAC };

export const VECTORS: Vector[] = [
  // The binding.
  {
    name: 'unbound until the client\'s first frame, which binds its source MAC once',
    steps: [
      down(frame(OTHER), 'pass'), // frames to the client bind nothing
      up(frame(MAC), 'pass', { told: [`bound ${MAC}`] }),
      up(frame(MAC, 1514), 'pass'),
    ],
    end: BOUND,
  },
  {
    name: 'a frame shorter than an Ethernet header is a runt: not counted, and it binds nothing',
    steps: [up('ffffffffffff 02aabbccdd01 88', 'runt'), up('', 'runt'), up(frame(MAC, 14), 'pass', { told: [`bound ${MAC}`] })],
    end: BOUND,
  },
  {
    name: 'bound: frames from another source MAC are dropped and counted as spoofed; the binding does not move',
    steps: [up(frame(MAC), 'pass', { told: [`bound ${MAC}`] }), up(frame(OTHER), 'otherMac', { times: 2 }), up(frame(MAC), 'pass')],
    end: { ...BOUND, spoofed: 2 },
  },
  // DHCP requests.
  {
    name: 'a DHCP request must name the client\'s own MAC; a reply is no request (a DHCP server in a client is the bridge\'s rule)',
    steps: [
      up(discover(MAC, MAC), 'pass', { told: [`bound ${MAC}`] }),
      up(discover(MAC, OTHER), 'dhcpOtherMac'),
      up(dhcp({ src: MAC, op: 2, sport: 67, dport: 68, from: '192.168.86.1', chaddr: OTHER, options: type(5) }), 'pass'),
    ],
    end: { ...BOUND, spoofed: 1 },
  },
  {
    name: 'a first frame that is a DHCP request for another MAC is dropped, and binds its source MAC all the same',
    steps: [up(discover(MAC, OTHER), 'dhcpOtherMac', { told: [`bound ${MAC}`] })],
    end: { ...BOUND, spoofed: 1 },
  },
  {
    name: 'what is not a whole DHCP request is not read as one: cut short, or a fragment after the first',
    steps: [
      up(frame(MAC), 'pass', { told: [`bound ${MAC}`] }),
      up(expand(discover(MAC, OTHER)).slice(0, 120), 'pass'),
      up(discover(MAC, OTHER, { fragment: '0001' }), 'pass'),
      up(discover(MAC, OTHER, { sport: 1068 }), 'pass'),
    ],
    end: BOUND,
  },
  {
    name: 'a DHCP request with IPv4 header options is read past them',
    steps: [up(discover(MAC, OTHER, { ipOptions: '01010100' }), 'dhcpOtherMac', { told: [`bound ${MAC}`] })],
    end: { ...BOUND, spoofed: 1 },
  },
  // Rate limits, up.
  {
    name: 'up: a burst passes, then the limit drops and counts the excess, told once; the clock refills it',
    rules: { up: [0, 3], burst: 1 },
    steps: [
      up(frame(MAC), ['pass', 'pass', 'pass', 'limited', 'limited'], { times: 5, told: [`bound ${MAC}`, 'limited up'] }),
      up(frame(OTHER), 'otherMac'), // judged by its MAC first
      up(frame(MAC), 'pass', { at: 334 }), // a third of a second later: one more
      up(frame(MAC), 'limited'),
    ],
    end: { ...BOUND, spoofed: 1, limitedIn: 3 },
  },
  {
    name: 'up: a frame limit passes a full burst at once, then the rate: a flood of 1,000 frames a second for 10 s gets 10 a second through',
    rules: { up: [0, 10], burst: 1 },
    steps: [
      up(frame(MAC), { passed: 10 }, { times: 50, told: [`bound ${MAC}`, 'limited up'] }),
      up(frame(MAC), ['pass', 'limited'], { at: 100, times: 2 }),
      up(frame(MAC), { passed: [99, 101] }, { at: 101, times: 10_000, every: 1 }),
    ],
    end: { ...BOUND, limitedIn: [41 + 10_000 - 101, 41 + 10_000 - 99] },
  },
  // Rate limits, down (no smallest frame there: any size will do).
  {
    name: 'down: the limit drops and counts the excess, told once',
    rules: { down: [0, 2], burst: 1 },
    steps: [down(frame(OTHER), ['pass', 'pass', 'limited'], { times: 3, told: ['limited down'] }), down(frame(OTHER), 'limited')],
    end: { ...NONE, limitedOut: 2 },
  },
  {
    name: 'a byte limit with a 2 s burst; a refused frame costs neither bucket',
    rules: { down: [1000, 100], burst: 2 },
    steps: [
      down('00*1500', 'pass'),
      down('00*600', 'limited', { told: ['limited down'] }), // 2,100 bytes do not fit 2,000
      down('00*500', 'pass'), // 2,000 do
      down('00', 'limited'),
      down('00*100', 'limited', { times: 1000 }), // the byte bucket refuses: the frame bucket must not pay
      down('00*10', [...times(100, 'pass'), 'limited'], { at: 1000, times: 101 }), // 1 s: 1,000 bytes as 100 frames
    ],
    end: { ...NONE, limitedOut: 1003 },
  },
  {
    name: 'a frame larger than the whole bucket passes only from a full bucket, leaving it in debt',
    rules: { down: [1000, 0], burst: 1 },
    steps: [
      down('00*65549', 'pass'), // a 64 KiB frame under a 1 kB/s limit is not refused forever
      down('00', 'limited', { at: 1000, told: ['limited down'] }), // 1 s later the debt is not paid yet
      down('00*1000', 'pass', { at: 65_549 }), // paid off at the rate
    ],
    end: { ...NONE, limitedOut: 1 },
  },
  {
    name: 'a clock that stands still or steps back adds nothing',
    rules: { up: [0, 10], burst: 1 },
    steps: [
      up(frame(MAC), [...times(10, 'pass'), 'limited'], { times: 11, told: [`bound ${MAC}`, 'limited up'] }),
      up(frame(MAC), 'limited', { at: -1000 }), // stepping back does not refill
      up(frame(MAC), 'limited', { at: 50 }), // and the bucket did not move its clock back either
      up(frame(MAC), 'pass', { at: 100 }),
    ],
    end: { ...BOUND, limitedIn: 3 },
  },
  {
    name: 'off: rates of 0 limit nothing',
    rules: { up: [0, 0], down: [0, 0], burst: 1 },
    steps: [up(frame(MAC, 1514), 'pass', { times: 10_000, told: [`bound ${MAC}`] }), down('00*1514', 'pass', { times: 10_000 })],
    end: BOUND,
  },
  // DHCP OFFERs and ACKs on their way to a client.
  {
    name: 'an OFFER or ACK from the DHCP server is told with the MAC and the address it grants',
    rules: GW,
    steps: [
      down(reply(5, '192.168.86.20'), 'pass', { told: [`dhcp ${GUEST} 192.168.86.20`] }),
      down(reply(2, '192.168.86.21'), 'pass', { told: [`dhcp ${GUEST} 192.168.86.21`] }), // an OFFER: a round trip sooner
      down(reply(5, '192.168.86.22', { options: `00 00 36 04 c0a85601 ${type(5)}` }), 'pass', { told: [`dhcp ${GUEST} 192.168.86.22`] }), // after pad options
      down(reply(5, '192.168.86.23', { ipOptions: '01010100' }), 'pass', { told: [`dhcp ${GUEST} 192.168.86.23`] }), // IPv4 header options
    ],
    end: NONE,
  },
  {
    name: 'a reply that grants nothing is not told',
    rules: GW,
    steps: [
      down(reply(6, '192.168.86.20'), 'pass'), // a NAK
      down(reply(5, '0.0.0.0'), 'pass'), // an ACK to an INFORM
      down(reply(5, '192.168.86.20', { sport: 1067 }), 'pass'), // not from port 67
      down(reply(5, '192.168.86.20', { op: 1 }), 'pass'), // a request, not a reply
      down(cut(reply(5, '192.168.86.20'), 4), 'pass'), // options cut before the type
      down('00*60', 'pass'),
      down(reply(5, '192.168.86.20', { from: '203.0.113.7' }), 'pass'), // from a server outside, through NAT
      down(reply(5, '192.168.86.1'), 'pass'), // granting the gateway's own address
      down(reply(5, '192.168.86.20', { fragment: '2000' }), 'pass'), // a fragment: not parsed
    ],
    end: NONE,
  },
  {
    name: 'without a DHCP server no reply is looked into',
    steps: [down(reply(5, '192.168.86.20'), 'pass')],
    end: NONE,
  },
  {
    name: 'a limited frame to the client is not looked into for a DHCP ACK',
    rules: { ...GW, down: [0, 1], burst: 1 },
    steps: [
      down(reply(5, '192.168.86.20'), 'pass', { told: [`dhcp ${GUEST} 192.168.86.20`] }),
      down(reply(5, '192.168.86.20'), 'limited', { told: ['limited down'] }),
    ],
    end: { ...NONE, limitedOut: 1 },
  },
];

/** A whole reply, for the test that cuts it at every length. */
export const ACK = reply(5, '192.168.86.20');
