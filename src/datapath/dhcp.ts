/**
 * Spotting a DHCPOFFER or DHCPACK on its way to a client, so the client's address is allowed on
 * the bridge before the client uses it: dnsmasq's lease file may be written later, and an nft
 * update takes milliseconds, so the OFFER starts it a round trip before the ACK arrives. Pure;
 * the first test rejects almost every frame in three byte compares.
 */

export interface Ack {
  /** The client hardware address the ACK is for, "52:54:00:12:34:56". */
  mac: string;
  /** The address it offers or grants (yiaddr). */
  ip: string;
}

const ETH = 14;
const BOOTP_FIXED = 236; // op .. file, then the magic cookie
const COOKIE = 0x63825363;
const OPT_MESSAGE_TYPE = 53;
const DHCPOFFER = 2;
const DHCPACK = 5;

/**
 * The OFFER or ACK in an Ethernet frame (IPv4, UDP 67 -> 68, BOOTREPLY), if it is one and comes
 * from `server` (the gateway's address as a 32-bit number): a reply from anywhere else, say a
 * server outside that a client talks to through NAT from port 68, grants nothing.
 */
export function dhcpAck(f: Buffer, server: number): Ack | undefined {
  if (f.length < ETH + 20 + 8 + BOOTP_FIXED + 4 || f[12] !== 0x08 || f[13] !== 0x00 || f[ETH + 9] !== 17) return undefined;
  const ihl = (f[ETH]! & 0x0f) * 4;
  if (f[ETH]! >> 4 !== 4 || ihl < 20) return undefined;
  if ((f.readUInt16BE(ETH + 6) & 0x3fff) !== 0) return undefined; // a fragment: not parsed
  if (f.readUInt32BE(ETH + 12) !== server) return undefined;
  const udp = ETH + ihl;
  if (f.length < udp + 8 + BOOTP_FIXED + 4 || f.readUInt16BE(udp) !== 67 || f.readUInt16BE(udp + 2) !== 68) return undefined;
  const b = udp + 8;
  if (f[b] !== 2 || f[b + 1] !== 1 || f[b + 2] !== 6) return undefined; // BOOTREPLY, Ethernet
  if (f.readUInt32BE(b + BOOTP_FIXED) !== COOKIE) return undefined;
  const end = Math.min(f.length, udp + f.readUInt16BE(udp + 4));
  for (let o = b + BOOTP_FIXED + 4; o < end; ) {
    const code = f[o]!;
    if (code === 255) break;
    if (code === 0) {
      o++;
      continue;
    }
    if (o + 1 >= end) break;
    const len = f[o + 1]!;
    if (code === OPT_MESSAGE_TYPE && len === 1 && o + 2 < end) {
      if (f[o + 2] !== DHCPACK && f[o + 2] !== DHCPOFFER) return undefined;
      const ip = [...f.subarray(b + 16, b + 20)].join('.');
      if (ip === '0.0.0.0' || f.readUInt32BE(b + 16) === server) return undefined; // INFORM; never the gateway
      const mac = [...f.subarray(b + 28, b + 34)].map((x) => x.toString(16).padStart(2, '0')).join(':');
      return { mac, ip };
    }
    o += 2 + len;
  }
  return undefined;
}

/**
 * The client hardware address of a DHCP request (IPv4, UDP 68 -> 67, BOOTREQUEST) a client
 * sends, as 6 bytes of the frame; undefined for any other frame.
 */
export function dhcpRequestChaddr(f: Buffer): Buffer | undefined {
  if (f.length < ETH + 20 + 8 + 34 || f[12] !== 0x08 || f[13] !== 0x00 || f[ETH + 9] !== 17) return undefined;
  const ihl = (f[ETH]! & 0x0f) * 4;
  if (f[ETH]! >> 4 !== 4 || ihl < 20 || (f.readUInt16BE(ETH + 6) & 0x1fff) !== 0) return undefined;
  const udp = ETH + ihl;
  if (f.length < udp + 8 + 34 || f.readUInt16BE(udp) !== 68 || f.readUInt16BE(udp + 2) !== 67) return undefined;
  return f.subarray(udp + 8 + 28, udp + 8 + 34);
}
