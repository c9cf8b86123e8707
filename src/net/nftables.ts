/**
 * The nftables ruleset: rendered from the configuration by a pure function, applied with
 * `nft -f`. wsnic owns two tables, `inet wsnic` (host protection, egress policy, NAT) and
 * `bridge wsnic` (what may enter the bridge from a client's port), and never touches anyone
 * else's.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { resolveEgress, type EgressRule } from '../config/egress';
import { entry } from '../config/schema';
import { parseValue } from '../config/values';
import { run } from './tool';
import { LEAF_GROUP } from './leaves';
import type { Forward } from '../config/forward';
import { forwardChains, FORWARD_GUARD } from './forwardrules';

export const TABLE = 'inet wsnic';
export const BRIDGE_TABLE = 'bridge wsnic';
/** The set of `tap . MAC . IPv4` a client may send from, kept current by the relay. */
export const LEASED_SET = 'leased';

export interface RulesetInput {
  bridge: string;
  /** The gateway: DHCP, DNS and ping are what clients may reach on the host. */
  bridgeAddress: string;
  /** The client subnet, e.g. 192.168.86.0/24. */
  subnet: string;
  /** NAT on: the uplink interface to masquerade out of. Off: undefined (no forwarding rules). */
  uplink: string | undefined;
  tapPrefix: string;
  /** ARP and IPv4 from a client must match its lease (the set `leased`). */
  bindClientIp: boolean;
  clientIpv6: boolean;
  /** Resolved rules: host-networks already expanded to the host's networks. */
  egressAllow: readonly EgressRule[];
  egressDeny: readonly EgressRule[];
  /** Port forwards (with NAT on): their ports, refused while the guest is absent. */
  forwards: readonly Forward[];
}

/** `ip daddr 10.0.0.0/8 tcp dport 25`: the match part of an egress rule. */
export function egressMatch(r: EgressRule): string {
  const parts: string[] = [];
  if (r.net !== undefined) parts.push(`ip daddr ${r.net}`);
  if (r.proto !== undefined) parts.push(`${r.proto} dport ${r.ports}`);
  return parts.join(' ');
}

const comment = (text: string): string => `comment ${JSON.stringify(text)}`;

function bridgeTable(r: RulesetInput): string[] {
  const types = r.clientIpv6 ? '{ ip, arp, ip6 }' : '{ ip, arp }';
  const bind = r.bindClientIp
    ? [
        '\t\t# Before its lease a client may ask for one (renewals come from the leased address); an',
        '\t\t# ARP probe (RFC 5227) comes from 0.0.0.0.',
        '\t\tether type ip ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept',
        '\t\tether type arp arp saddr ip 0.0.0.0 accept',
        '\t\t# Otherwise a client sends from its own tap, MAC and leased address, or not at all:',
        '\t\t# no ARP claiming the gateway or another client, no spoofed source address.',
        `\t\tether type arp iifname . arp saddr ether . arp saddr ip != @${LEASED_SET} counter drop ${comment('ARP not from the lease')}`,
        `\t\tether type ip iifname . ether saddr . ip saddr != @${LEASED_SET} counter drop ${comment('IPv4 not from the lease')}`,
      ]
    : ['\t\t# bind_client_ip=0: any source address.'];
  return [
    `table ${BRIDGE_TABLE} {`,
    `\tset ${LEASED_SET} {`,
    '\t\ttype ifname . ether_addr . ipv4_addr',
    `\t\t${comment('tap . MAC . address leased by dnsmasq, kept by the relay')}`,
    '\t}',
    '',
    '\tchain clients {',
    '\t\ttype filter hook prerouting priority filter; policy accept;',
    '\t\t# Frames entering a bridge (wsbr0 or a leaf) from a client\'s TAP; all else passes.',
    `\t\tiifname != ${JSON.stringify(`${r.tapPrefix}*`)} accept`,
    `\t\tether type != ${types} counter drop ${comment('ethertype')}`,
    `\t\tether type ip udp sport 67 counter drop ${comment('DHCP server in a client')}`,
    ...bind,
    '\t}',
    '}',
  ];
}

function inetTable(r: RulesetInput): string[] {
  const br = JSON.stringify(r.bridge);
  const allowHost = r.egressAllow.filter((e) => e.net !== undefined);
  const lines = [
    `table ${TABLE} {`,
    '\tchain input {',
    '\t\ttype filter hook input priority filter; policy accept;',
    ...(r.uplink === undefined ? [] : FORWARD_GUARD),
    `\t\tiifname ${br} jump from_clients`,
    '\t}',
    '',
    '\tchain from_clients {',
    '\t\t# Of the host, clients reach DHCP, DNS and ping on the gateway (and egress_allow\'s',
    '\t\t# addresses); its other addresses and services are not theirs.',
    '\t\tudp dport 67 accept',
    `\t\tip daddr ${r.bridgeAddress} meta l4proto { tcp, udp } th dport 53 accept`,
    `\t\tip daddr ${r.bridgeAddress} icmp type echo-request accept`,
    ...allowHost.map((e) => `\t\t${egressMatch(e)} accept`),
    '\t\tct state established,related accept',
    `\t\tcounter drop ${comment('host address')}`,
    '\t}',
    '',
    '\tchain leaves {',
    '\t\ttype filter hook prerouting priority raw; policy accept;',
    '\t\t# Frames that leaf bridges (this group) forward pass these hooks too when br_netfilter',
    '\t\t# is loaded; tracked there, a connection would get its NAT (none) before the uplink.',
    `\t\tiifgroup ${LEAF_GROUP} notrack`,
    '\t}',
  ];
  if (r.uplink === undefined) return [...lines, '\t# enable_inet=0: no NAT and no forwarding rules.', '}'];
  const up = JSON.stringify(r.uplink);
  return [
    ...lines,
    '',
    '\tchain forward {',
    '\t\ttype filter hook forward priority filter; policy accept;',
    '\t\t# Port forwards into the bridge and their replies, whatever the egress policy says. Bound',
    '\t\t# to the bridge: a guest reaching another table\'s DNAT (a container\'s published port on a',
    '\t\t# host address) goes elsewhere, and meets the egress policy below.',
    `\t\tct status dnat ct direction original oifname ${br} counter accept ${comment('port forward')}`,
    `\t\tct status dnat ct direction reply iifname ${br} counter accept ${comment('port forward reply')}`,
    '\t\t# Bridged between clients (seen here with br_netfilter): isolation is the bridge\'s job.',
    `\t\tiifname ${br} oifname ${br} accept`,
    `\t\tiifname ${br} jump egress`,
    '\t\t# The outside may only answer.',
    `\t\toifname ${br} ct state established,related accept`,
    `\t\toifname ${br} drop`,
    '\t}',
    '',
    '\tchain egress {',
    ...r.egressAllow.map((e) => `\t\t${egressMatch(e)} accept`),
    ...r.egressDeny.map((e) => `\t\t${egressMatch(e)} counter drop ${comment('egress_deny')}`),
    `\t\toifname ${up} ip saddr ${r.subnet} accept`,
    `\t\tcounter drop ${comment('not the uplink')}`,
    '\t}',
    '',
    '\tchain postrouting {',
    '\t\ttype nat hook postrouting priority srcnat; policy accept;',
    `\t\tip saddr ${r.subnet} oifname ${up} masquerade`,
    '\t\t# Hairpin: a guest reaching another through a forward gets its replies through the host.',
    `\t\tct status dnat ip saddr ${r.subnet} oifname ${br} masquerade`,
    '\t}',
    ...forwardChains(r.forwards),
    '}',
  ];
}

/**
 * The whole file. It first creates and deletes each table so that loading it twice gives the
 * same state (nft 1.0.6 has no `destroy`), then declares them.
 */
export function renderRuleset(r: RulesetInput): string {
  return [
    '# Generated by wsnic from wsnic.conf; edits are lost at the next `wsnic setup`.',
    '# Replaces tables inet wsnic and bridge wsnic atomically and touches no other table.',
    `table ${TABLE}`,
    `delete table ${TABLE}`,
    `table ${BRIDGE_TABLE}`,
    `delete table ${BRIDGE_TABLE}`,
    '',
    ...inetTable(r),
    '',
    ...bridgeTable(r),
    '',
  ].join('\n');
}

/**
 * The shipped reference (nftables/wsnic.nft): the defaults with NAT out of eth0, whose network
 * is 203.0.113.0/24. The live file, rendered from wsnic.conf, is /run/wsnic/wsnic.nft.
 */
export function exampleRuleset(): string {
  const defaults = (key: string): string[] => parseValue(entry(key)!, entry(key)!.default) as string[];
  const egressAllow = resolveEgress(defaults('egress_allow'), ['203.0.113.0/24']);
  const egressDeny = resolveEgress(defaults('egress_deny'), ['203.0.113.0/24']);
  return renderRuleset({
    bridge: 'wsbr0', bridgeAddress: '192.168.86.1', subnet: '192.168.86.0/24', uplink: 'eth0', tapPrefix: 'wstap',
    bindClientIp: true, clientIpv6: false, egressAllow, egressDeny, forwards: [],
  }).replace(
    '# Generated by wsnic from wsnic.conf; edits are lost at the next `wsnic setup`.',
    '# Reference: what `wsnic setup` renders for the defaults with enable_inet=1 and inet_iface=eth0\n' +
      '# on 203.0.113.0/24. The live ruleset is /run/wsnic/wsnic.nft, rendered from wsnic.conf.',
  );
}

/** Writes the ruleset file and loads it. */
export function applyRuleset(text: string, path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  run('nft', ['-f', path]);
}

/** Removes wsnic's tables, if present. */
export function removeRuleset(): void {
  run('nft', ['-f', '-'], `table ${TABLE}\ndelete table ${TABLE}\ntable ${BRIDGE_TABLE}\ndelete table ${BRIDGE_TABLE}\n`);
}
