/**
 * Egress rules (egress_allow, egress_deny): where clients may not (or may) go. Pure.
 *
 *   10.0.0.0/8        an address or CIDR
 *   tcp:25            a protocol and port (or range, tcp:6660-6669) to anywhere
 *   10.0.0.5:tcp:22   both
 *   host-networks     every IPv4 network on the host's own interfaces (resolved at setup)
 */
import { isIPv4 } from 'node:net';

export const HOST_NETWORKS = 'host-networks';

export interface EgressRule {
  /** Address or CIDR; undefined: any. */
  net?: string;
  proto?: 'tcp' | 'udp';
  /** "25" or "6660-6669". */
  ports?: string;
  /** host-networks: expanded to the host's networks by the applier. */
  hostNetworks?: true;
}

function isNet(s: string): boolean {
  const [addr, len, more] = s.split('/');
  return more === undefined && isIPv4(addr!) && (len === undefined || (/^\d{1,2}$/.test(len) && Number(len) <= 32));
}

function isPorts(s: string): boolean {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(s);
  if (!m) return false;
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  return lo >= 1 && hi <= 65535 && lo <= hi;
}

/** Parses one rule; undefined when it is not one (the caller says what is allowed). */
export function parseEgressRule(s: string): EgressRule | undefined {
  if (s === HOST_NETWORKS) return { hostNetworks: true };
  const parts = s.split(':');
  const [a, b, c] = parts;
  if (parts.length === 1) return isNet(a!) ? { net: a! } : undefined;
  const proto = (p: string | undefined): p is 'tcp' | 'udp' => p === 'tcp' || p === 'udp';
  if (parts.length === 2) return proto(a) && isPorts(b!) ? { proto: a, ports: b! } : undefined;
  if (parts.length === 3) return isNet(a!) && proto(b) && isPorts(c!) ? { net: a!, proto: b, ports: c! } : undefined;
  return undefined;
}

export const EGRESS_SYNTAX = 'an address or CIDR, tcp:PORT, udp:PORT, CIDR:tcp:PORT (ports may be ranges, 6660-6669) or host-networks';

/** The rules of a list, host-networks replaced by the host's networks (CIDRs). */
export function resolveEgress(list: readonly string[], hostNetworks: readonly string[]): EgressRule[] {
  return list.flatMap((s) => {
    const r = parseEgressRule(s);
    if (r === undefined) return [];
    return r.hostNetworks ? hostNetworks.map((net) => ({ net })) : [r];
  });
}
