/**
 * `wsnic setup` / `wsnic teardown`: the bridge, the nftables ruleset, IPv4 forwarding and the
 * systemd-networkd drop-in (networkd-conf.ts), as one idempotent step and its exact inverse.
 * `wsnic run` and the systemd oneshot share it.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema';
import { bindsClientIp, deriveNetwork } from '../config/derive';
import type { Logger } from '../log';
import { defaultRouteInterface, hostNetworks, setIpForward, setupBridge, teardownBridge } from './bridge';
import { resolveEgress } from '../config/egress';
import { findTool, hasTool, linkExists, ToolError } from './tool';
import { existingLeaves, removeLeaf } from './leaves';
import { configForwards } from '../config/forward';
import { applyRuleset, removeRuleset, renderRuleset } from './nftables';
import { renderDnsmasqConf } from './dnsmasq-conf';
import { removeNetworkdDropin, writeNetworkdDropin } from './networkd-conf';
import { killStaleDnsmasq } from './dnsmasq-stale';
import { dnsmasqConfPath, leaseFile } from '../config/paths';

/** What setup changed that was not ours to begin with, so teardown can put it back. */
interface State {
  ipForwardWas?: '0' | '1';
}

const statePath = (c: Config): string => join(c.runtime_dir, 'state.json');
export const rulesetPath = (c: Config): string => join(c.runtime_dir, 'wsnic.nft');

function readState(c: Config): State {
  try {
    return JSON.parse(readFileSync(statePath(c), 'utf8')) as State;
  } catch {
    return {};
  }
}

/** The uplink for NAT: inet_iface, or the default route's interface; undefined when NAT is off. */
export function resolveUplink(c: Config): string | undefined {
  if (!c.enable_inet) return undefined;
  const uplink = c.inet_iface || defaultRouteInterface();
  if (!uplink) throw new ToolError('enable_inet is on but there is no default route: set inet_iface (-f) to the uplink interface');
  if (!linkExists(uplink)) throw new ToolError(`inet_iface ${uplink} does not exist`);
  if (uplink === c.bridge) throw new ToolError(`inet_iface ${uplink} is the wsnic bridge itself`);
  return uplink;
}

/** Checks every tool the configuration needs, so a missing one fails before anything changes. */
export function checkTools(c: Config): void {
  findTool('ip');
  findTool('nft');
  if (!c.disable_dhcp) findTool('dnsmasq');
}

/** Bridge, NAT and the dnsmasq configuration; returns the uplink NAT uses (if on). */
export function setup(c: Config, log: Logger): { uplink: string | undefined } {
  checkTools(c);
  const net = deriveNetwork(c);
  const uplink = resolveUplink(c);
  mkdirSync(c.runtime_dir, { recursive: true, mode: 0o755 });
  writeNetworkdDropin({ bridge: c.bridge, tapPrefix: c.tap_prefix }, log); // before the bridge exists
  setupBridge(c.bridge, net.bridgeAddress, net.prefix, c.mtu);

  const state = readState(c);
  const subnet = `${net.network}/${net.prefix}`;
  const hostNets = hostNetworks(subnet);
  const text = renderRuleset({
    bridge: c.bridge, bridgeAddress: net.bridgeAddress, subnet, uplink, tapPrefix: c.tap_prefix,
    bindClientIp: bindsClientIp(c), clientIpv6: c.client_ipv6,
    egressAllow: resolveEgress(c.egress_allow, hostNets), egressDeny: resolveEgress(c.egress_deny, hostNets),
    forwards: configForwards(c),
  });
  applyRuleset(text, rulesetPath(c));
  if (uplink !== undefined) {
    const was = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() === '1' ? '1' : '0';
    state.ipForwardWas ??= was;
    if (was === '0') setIpForward(true);
  } else {
    if (state.ipForwardWas === '0') setIpForward(false); // NAT was on at the last setup, not now
    delete state.ipForwardWas;
  }
  writeFileSync(statePath(c), `${JSON.stringify(state)}\n`);
  if (!c.disable_dhcp) {
    // Rendered here so that wsnic-dnsmasq.service (and `wsnic run`'s child) read the same file.
    const confDir = c.dnsmasq_conf_dir !== '' && existsSync(c.dnsmasq_conf_dir) ? c.dnsmasq_conf_dir : '';
    const conf = renderDnsmasqConf({ bridge: c.bridge, net, leaseTime: c.dhcp_lease_time, leaseFile: leaseFile(c), domain: c.dhcp_domain_name, confDir, mtu: c.mtu });
    writeFileSync(dnsmasqConfPath(c), conf);
  } else rmSync(dnsmasqConfPath(c), { force: true }); // wsnic-dnsmasq.service's condition
  log.info('bridge ready', { bridge: c.bridge, address: `${net.bridgeAddress}/${net.prefix}`, nat: uplink ?? 'off' });
  return { uplink };
}

export function teardown(c: Config, log: Logger): void {
  const state = readState(c);
  for (const leaf of existingLeaves(c.bridge)) removeLeaf(leaf); // left by a relay that crashed
  killStaleDnsmasq(dnsmasqConfPath(c), log); // and its dnsmasq child, if it was SIGKILLed
  teardownBridge(c.bridge);
  removeNetworkdDropin();
  if (hasTool('nft')) removeRuleset(); // both tables, whether loaded or not
  if (state.ipForwardWas === '0') setIpForward(false);
  rmSync(statePath(c), { force: true });
  rmSync(rulesetPath(c), { force: true });
  rmSync(dnsmasqConfPath(c), { force: true });
  log.info('bridge removed', { bridge: c.bridge });
}
