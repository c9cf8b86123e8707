/** Parses one raw string for a schema entry; a failure says what is allowed. Pure. */
import { isIPv4, isIPv6 } from 'node:net';
import type { Entry } from './schema';
import { EGRESS_SYNTAX, parseEgressRule } from './egress';
import { clashingForward, FORWARD_SYNTAX, forwardSpec, parseForward, type Forward } from './forward';

export class ValueError extends Error {}

const TRUE = ['1', 'yes', 'true', 't', 'on', 'y'];
const FALSE = ['0', 'no', 'false', 'f', 'off', 'n'];
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const DOMAIN = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** The items of a list value: separated by commas, semicolons or blanks. */
function items(v: string): string[] {
  return v === '' ? [] : v.split(/[\s,;]+/).filter((s) => s !== '');
}

/** Where a server listens: HOST:PORT ([V6]:PORT) or an absolute Unix socket path. Pure. */
export function parseListen(v: string): { host: string; port: number } | { path: string } {
  if (v.startsWith('/')) return { path: v };
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(v);
  const host = m?.[1] ?? m?.[2] ?? '';
  const port = Number(m?.[3]);
  if (!m || (m[1] !== undefined ? !isIPv6(host) : !isIPv4(host)) || port < 1 || port > 65535) {
    throw new ValueError(`'${v}' is not ADDRESS:PORT or an absolute socket path (e.g. 127.0.0.1:9586, [::1]:9586, /run/wsnic/metrics.sock)`);
  }
  return { host, port };
}

/** host:port, an IPv6 host in brackets (what parseListen reads). Pure. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function parseValue(e: Entry, raw: string): unknown {
  const v = raw.trim();
  switch (e.kind) {
    case 'bool': {
      const l = v.toLowerCase();
      if (TRUE.includes(l)) return true;
      if (FALSE.includes(l)) return false;
      throw new ValueError(`'${v}' is not a boolean (use 1/0, yes/no, true/false, on/off)`);
    }
    case 'int':
    case 'port': {
      const min = e.kind === 'port' ? 1 : e.min ?? 0;
      const max = e.kind === 'port' ? 65535 : e.max ?? Number.MAX_SAFE_INTEGER;
      if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
        throw new ValueError(`'${v}' is not ${e.kind === 'port' ? 'a port' : 'a whole number'} from ${min} to ${max}`);
      }
      return Number(v);
    }
    case 'address':
      if (!isIPv4(v) && !isIPv6(v)) throw new ValueError(`'${v}' is not an IPv4 or IPv6 address (e.g. 127.0.0.1, 0.0.0.0, ::)`);
      return v;
    case 'listen':
      if (v !== '') parseListen(v);
      return v;
    case 'cidr':
      parseCidr(v);
      return v;
    case 'ifname':
      if (v === '' && e.default === '') return v;
      if (!IFNAME.test(v)) throw new ValueError(`'${v}' is not an interface name (1 to 15 of A-Z a-z 0-9 _ . -)`);
      return v;
    case 'prefix':
      if (!/^[A-Za-z0-9_.-]{1,11}$/.test(v)) {
        throw new ValueError(`'${v}' is not a TAP name prefix (1 to 11 of A-Z a-z 0-9 _ . -, leaving room for the number)`);
      }
      return v;
    case 'ipv4list': {
      const list = items(v);
      const bad = list.find((s) => !isIPv4(s));
      if (bad !== undefined) throw new ValueError(`'${bad}' is not an IPv4 address (give a comma-separated list)`);
      return list;
    }
    case 'list':
      return v === '' ? [] : v.split(/[\s,]+/).filter((s) => s !== '');
    case 'netlist': {
      const list = items(v);
      const bad = list.find((s) => {
        const [addr, len] = s.split('/');
        if (isIPv4(addr!)) return len !== undefined && !(/^\d+$/.test(len) && Number(len) <= 32);
        if (isIPv6(addr!)) return len !== undefined && !(/^\d+$/.test(len) && Number(len) <= 128);
        return true;
      });
      if (bad !== undefined) throw new ValueError(`'${bad}' is not an address or CIDR (give a comma-separated list)`);
      return list;
    }
    case 'egress': {
      const list = items(v);
      const bad = list.find((s) => parseEgressRule(s) === undefined);
      if (bad !== undefined) throw new ValueError(`'${bad}' is not an egress rule (give ${EGRESS_SYNTAX}, comma-separated)`);
      return list;
    }
    case 'forward': {
      const list = items(v);
      const bad = list.find((s) => parseForward(s) === undefined);
      if (bad !== undefined) throw new ValueError(`'${bad}' is not a port forward (give ${FORWARD_SYNTAX}, comma-separated)`);
      const clash = clashingForward(list.map((s) => parseForward(s) as Forward));
      if (clash !== undefined) throw new ValueError(`forwards ${clash.proto} port ${clash.port} twice ('${forwardSpec(clash)}')`);
      return list;
    }
    case 'domain':
      if (v !== '' && !DOMAIN.test(v)) throw new ValueError(`'${v}' is not a domain name (labels of letters, digits and -)`);
      return v;
    case 'level': {
      const l = v.toLowerCase();
      if (!['debug', 'info', 'warning', 'error'].includes(l)) throw new ValueError(`'${v}' is not debug, info, warning or error`);
      return l;
    }
    case 'path':
      if (v !== '' && !v.startsWith('/')) throw new ValueError(`'${v}' is not an absolute path`);
      return v;
    case 'choice':
      if (!e.choices?.includes(v)) throw new ValueError(`'${v}' is not one of ${e.choices?.join(', ')}`);
      return v;
    case 'string':
      return v;
  }
}

export interface Cidr {
  network: number;
  prefix: number;
}

export function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** An IPv4 prefix with at least two hosts (the bridge and one client) and no host bits set. */
export function parseCidr(v: string): Cidr {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(v);
  if (!m || !isIPv4(m[1]!) || Number(m[2]) > 32) throw new ValueError(`'${v}' is not an IPv4 CIDR prefix (e.g. 192.168.86.0/24)`);
  const prefix = Number(m[2]);
  if (prefix > 30) throw new ValueError(`'${v}' is too small: a /${prefix} has no room for the bridge and a client (use /30 or wider)`);
  if (prefix < 8) throw new ValueError(`'${v}' is too wide: use a prefix of /8 or longer`);
  const size = 2 ** (32 - prefix);
  const addr = ipToInt(m[1]!);
  const network = addr - (addr % size);
  if (network !== addr) throw new ValueError(`'${v}' has host bits set; the network is ${intToIp(network)}/${prefix}`);
  return { network, prefix };
}
