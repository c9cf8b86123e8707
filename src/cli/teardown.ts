/**
 * `wsnic teardown`: removes what `wsnic setup` made (net/setup.ts), and what a relay that crashed
 * left (leaf bridges, its dnsmasq child). wsnic-bridge.service's stop.
 */
import type { Config } from '../config/schema';
import type { Logger } from '../log';
import { teardown } from '../net/setup';

export function teardownVerb(c: Config, log: Logger): number {
  teardown(c, log);
  return 0;
}
