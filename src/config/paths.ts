/** Files wsnic keeps in runtime_dir, shared by the verbs and the systemd units. */
import { basename, dirname, join } from 'node:path';
import type { Config } from './schema';

export const dnsmasqConfPath = (c: Config): string => join(c.runtime_dir, 'dnsmasq.conf');
export const leaseFile = (c: Config): string => c.dhcp_lease_file || join(c.runtime_dir, 'dnsmasq.leases');
/**
 * The relay's control socket: beside runtime_dir, not in it (/run/wsnic-relay for /run/wsnic):
 * under systemd the relay's user cannot write wsnic-bridge.service's directory, and has one of
 * its own (wsnic.service's RuntimeDirectory=wsnic-relay).
 */
export const controlSocketPath = (c: Config): string =>
  c.control_socket || join(dirname(c.runtime_dir), `${basename(c.runtime_dir)}-relay`, 'control.sock');
