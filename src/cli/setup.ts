/**
 * `wsnic setup`: the bridge, the nftables ruleset, IPv4 forwarding for NAT and the dnsmasq
 * configuration (net/setup.ts), then exit. wsnic-bridge.service's start; idempotent.
 */
import type { Config } from '../config/schema';
import type { Logger } from '../log';
import { setup } from '../net/setup';

export function setupVerb(c: Config, log: Logger): number {
  setup(c, log);
  return 0;
}
