/**
 * Port forwards: `tcp:2222>52:54:00:12:34:56:22` sends connections to port 2222 of any of the
 * host's addresses to port 22 of the guest with that MAC, wherever its lease and TAP are. Keyed
 * by MAC because the relay binds MACs; a hostname is whatever a guest claims. Pure.
 */

export interface Forward {
  proto: 'tcp' | 'udp';
  /** The host's port. */
  port: number;
  /** The guest's MAC, lower case. */
  mac: string;
  /** The guest's port. */
  guestPort: number;
}

export const FORWARD_SYNTAX = 'tcp:PORT>MAC:PORT or udp:PORT>MAC:PORT (e.g. tcp:2222>52:54:00:12:34:56:22)';

const SPEC = /^(tcp|udp):(\d{1,5})>((?:[0-9a-f]{2}:){5}[0-9a-f]{2}):(\d{1,5})$/;

/** The forward a spec names, or undefined when it is not one. */
export function parseForward(spec: string): Forward | undefined {
  const m = SPEC.exec(spec.trim().toLowerCase());
  if (!m) return undefined;
  const port = Number(m[2]);
  const guestPort = Number(m[4]);
  const mac = m[3]!;
  if (port < 1 || port > 65535 || guestPort < 1 || guestPort > 65535) return undefined;
  // A group (multicast) MAC, or none at all, is no guest.
  if ((parseInt(mac.slice(0, 2), 16) & 1) === 1 || mac === '00:00:00:00:00:00') return undefined;
  return { proto: m[1] as 'tcp' | 'udp', port, mac, guestPort };
}

/** The spec of a forward, as written in wsnic.conf. */
export function forwardSpec(f: Forward): string {
  return `${f.proto}:${f.port}>${f.mac}:${f.guestPort}`;
}

/** Two forwards of the same host port cannot both hold: the first such spec repeated, if any. */
export function clashingForward(list: readonly Forward[]): Forward | undefined {
  const seen = new Set<string>();
  for (const f of list) {
    const k = `${f.proto}:${f.port}`;
    if (seen.has(k)) return f;
    seen.add(k);
  }
  return undefined;
}

/** The configured forwards (the loader has checked each spec). */
export function configForwards(c: { forward: readonly string[] }): Forward[] {
  return c.forward.map((s) => parseForward(s)!);
}

/**
 * What a forward's host port already is, if anything every client needs: the relay's own port,
 * or the gateway's DNS and DHCP (dnsmasq). A forward of it refuses it on every host address while
 * its guest is absent (the input chain's fwdports rule) and hands it to that guest while present.
 */
export function reservedPort(f: Forward, c: { ws_port: number; wss_port: number; wss_certificate: string; disable_dhcp: boolean }): string | undefined {
  if (f.proto === 'tcp' && f.port === c.ws_port) return 'ws_port, the relay\'s own';
  if (f.proto === 'tcp' && f.port === c.wss_port && c.wss_certificate !== '') return 'wss_port, the relay\'s own';
  if (!c.disable_dhcp && f.port === 53) return 'DNS, the gateway\'s for every client';
  if (!c.disable_dhcp && f.proto === 'udp' && f.port === 67) return 'DHCP, the gateway\'s for every client';
  return undefined;
}
