/** Frames the unit tests feed the relay's parsers: a DHCP message, built field by field. */

/** A MAC as "02:aa:..." or six bytes. */
type Mac = string | number[];

const bytes = (mac: Mac): Buffer => (typeof mac === 'string' ? Buffer.from(mac.replaceAll(':', ''), 'hex') : Buffer.from(mac));

export interface DhcpFields {
  /** The frame's source MAC. */
  src: Mac;
  /** BOOTP op: 1 request, 2 reply. */
  op: number;
  chaddr: Mac;
  yiaddr?: number[];
  /** The IPv4 source address. */
  from: number[];
  sport: number;
  dport: number;
  /** DHCP options after the magic cookie, as bytes (end with 255). */
  options: number[];
}

/** Ethernet (to everyone) + IPv4 + UDP + BOOTP with the DHCP magic cookie and `options`. */
export function dhcpFrame(f: DhcpFields): Buffer {
  const options = Buffer.from(f.options);
  const bootp = Buffer.alloc(236 + 4 + options.length);
  bootp[0] = f.op;
  bootp[1] = 1;
  bootp[2] = 6;
  Buffer.from(f.yiaddr ?? [0, 0, 0, 0]).copy(bootp, 16);
  bytes(f.chaddr).copy(bootp, 28);
  bootp.writeUInt32BE(0x63825363, 236);
  options.copy(bootp, 240);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(f.sport, 0);
  udp.writeUInt16BE(f.dport, 2);
  udp.writeUInt16BE(8 + bootp.length, 4);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip[9] = 17;
  ip.writeUInt16BE(20 + 8 + bootp.length, 2);
  Buffer.from(f.from).copy(ip, 12);
  const eth = Buffer.concat([Buffer.from('ffffffffffff', 'hex'), bytes(f.src), Buffer.from('0800', 'hex')]);
  return Buffer.concat([eth, ip, udp, bootp]);
}
