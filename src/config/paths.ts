/** Files wsnic keeps in runtime_dir, shared by the verbs and the systemd units. */
import { join } from 'node:path';
import type { Config } from './schema';

export const dnsmasqConfPath = (c: Config): string => join(c.runtime_dir, 'dnsmasq.conf');
export const leaseFile = (c: Config): string => c.dhcp_lease_file || join(c.runtime_dir, 'dnsmasq.leases');
