/**
 * The bridge every client TAP joins: fixed MAC, gateway address, STP off, no forward delay,
 * a permanent carrier (a held veth port), IPv6 off. Idempotent; teardown removes what this adds.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { ipJson, linkExists, run, ToolError } from './tool';
import { intToIp, ipToInt } from '../config/values';

/**
 * A locally administered unicast MAC derived from the bridge name, so the gateway's MAC stays
 * the same across restarts (a bridge otherwise takes its lowest port's MAC, which changes as
 * clients come and go).
 */
export function bridgeMac(bridge: string): string {
  const h = createHash('sha256').update(`wsnic bridge ${bridge}`).digest();
  const bytes = [0x02, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** The veth pair that keeps the bridge's carrier up while no client is connected. */
export function holderNames(bridge: string): [string, string] {
  const base = bridge.slice(0, 10);
  return [`${base}-hold`, `${base}-peer`];
}

interface IpAddr {
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

/**
 * Client ports take the largest frames a TAP can (its maximum MTU is 65,521: 65,535-byte frames);
 * senders size their frames, so a 1500-MTU guest is unaffected.
 */
export const PORT_MTU = 65521;

/**
 * Keeps the host's IPv6 chatter (router solicitations, MLD) off the bridge and its holder. Where
 * /proc/sys is read-only (a container without --privileged), the link gets no IPv6 address
 * instead (addrgenmode none, over rtnetlink): set before it goes up, it never sends any.
 */
function disableIpv6(name: string): void {
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '1');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return; // IPv6 off kernel-wide
    if (code !== 'EROFS' && code !== 'EACCES') throw err;
    run('ip', ['link', 'set', 'dev', name, 'addrgenmode', 'none']);
  }
}

export function setupBridge(bridge: string, address: string, prefix: number, mtu: number): void {
  if (!linkExists(bridge)) run('ip', ['link', 'add', 'name', bridge, 'type', 'bridge']);
  run('ip', ['link', 'set', 'dev', bridge, 'address', bridgeMac(bridge), 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
  disableIpv6(bridge);

  // Exactly one IPv4 address: ours (a changed subnet replaces the old one).
  const want = `${address}/${prefix}`;
  const [info] = ipJson<IpAddr[]>(['-4', 'addr', 'show', 'dev', bridge]);
  for (const a of info?.addr_info ?? []) {
    if (a.family === 'inet' && `${a.local}/${a.prefixlen}` !== want) run('ip', ['addr', 'del', `${a.local}/${a.prefixlen}`, 'dev', bridge]);
  }
  run('ip', ['addr', 'replace', want, 'dev', bridge]);

  const [hold, peer] = holderNames(bridge);
  if (!linkExists(hold)) run('ip', ['link', 'add', 'name', hold, 'type', 'veth', 'peer', 'name', peer]);
  disableIpv6(hold);
  disableIpv6(peer);
  run('ip', ['link', 'set', 'dev', hold, 'mtu', String(PORT_MTU), 'master', bridge, 'up']);
  // The peer only keeps the carrier up: NOARP, or the kernel answers ARP for the bridge's address
  // on it too (the weak host model), and a client may cache the peer's MAC as its gateway's.
  run('ip', ['link', 'set', 'dev', peer, 'arp', 'off', 'up']);
  // After the ports: a bridge follows its smallest port's MTU until one is set by hand (and
  // setting the value it already has does not count), so set it last.
  run('ip', ['link', 'set', 'dev', bridge, 'mtu', String(mtu), 'up']);
  waitForCarrier(bridge);
}

/** Waits (up to 3 s) until the bridge has carrier, so the first client's first frames pass. */
function waitForCarrier(bridge: string): void {
  const deadline = Date.now() + 3000;
  for (;;) {
    let carrier = '0';
    try {
      carrier = readFileSync(`/sys/class/net/${bridge}/carrier`, 'utf8').trim();
    } catch {
      /* not readable yet */
    }
    if (carrier === '1') return;
    if (Date.now() > deadline) throw new ToolError(`bridge ${bridge} has no carrier 3 s after setup`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20); // a short synchronous sleep
  }
}

/** Removes the bridge and its holder port; client TAPs go with the processes holding them. */
export function teardownBridge(bridge: string): void {
  const [hold] = holderNames(bridge);
  if (linkExists(hold)) run('ip', ['link', 'del', 'dev', hold]);
  if (linkExists(bridge)) run('ip', ['link', 'del', 'dev', bridge]);
}

interface Link {
  ifname: string;
  operstate: string;
  flags: string[];
}

/** True when the bridge exists and is up (checked before READY and in tests). */
export function bridgeIsUp(bridge: string): boolean {
  if (!linkExists(bridge)) return false;
  const [link] = ipJson<Link[]>(['link', 'show', 'dev', bridge]);
  return link?.flags.includes('UP') ?? false;
}

/** The interface of the default route, for NAT when inet_iface is empty. */
export function defaultRouteInterface(): string | undefined {
  const routes = ipJson<{ dev?: string }[]>(['-4', 'route', 'show', 'default']);
  return routes.find((r) => r.dev)?.dev;
}

/**
 * The IPv4 networks on the host's interfaces (host-networks in egress rules), but the client
 * network's own: its bridge, leaves and holder carry only the subnet, which is skipped.
 */
export function hostNetworks(clientSubnet: string): string[] {
  const addrs = ipJson<{ addr_info?: { local?: string; prefixlen?: number; scope?: string }[] }[]>(['-4', 'addr', 'show']);
  const nets = new Set<string>();
  for (const link of addrs) {
    for (const a of link.addr_info ?? []) {
      if (a.local === undefined || a.prefixlen === undefined || a.scope === 'host') continue;
      const size = 2 ** (32 - a.prefixlen);
      const n = ipToInt(a.local);
      nets.add(`${intToIp(n - (n % size))}/${a.prefixlen}`);
    }
  }
  nets.delete(clientSubnet);
  return [...nets];
}

export function setIpForward(on: boolean): void {
  try {
    writeFileSync('/proc/sys/net/ipv4/ip_forward', on ? '1' : '0');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EROFS' && code !== 'EACCES') throw err;
    throw new ToolError(`cannot turn IPv4 forwarding ${on ? 'on' : 'off'} for NAT: /proc/sys is read-only (a container): start it with --sysctl net.ipv4.ip_forward=${on ? 1 : 0}`);
  }
}
