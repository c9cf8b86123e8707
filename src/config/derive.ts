/** Values that follow from the configuration: addresses of the client network. Pure. */
import { intToIp, parseCidr } from './values';
import type { Config } from './schema';

export interface Network {
  /** The bridge's address: the subnet's first host (gateway, DHCP and DNS server). */
  bridgeAddress: string;
  prefix: number;
  netmask: string;
  network: string;
  broadcast: string;
  /** DHCP pool: every host after the bridge's. */
  poolStart: string;
  poolEnd: string;
  poolSize: number;
  /** DNS servers announced to clients. */
  nameservers: string[];
}

/**
 * Whether a client may send only from its leased address: the bridge rules (wsnic setup) and
 * the relay keeping their set must agree. Without DHCP there are no leases to bind to.
 */
export function bindsClientIp(c: Pick<Config, 'bind_client_ip' | 'disable_dhcp'>): boolean {
  return c.bind_client_ip && !c.disable_dhcp;
}

export function deriveNetwork(config: Pick<Config, 'subnet' | 'dhcp_nameserver'>): Network {
  const { network, prefix } = parseCidr(config.subnet);
  const size = 2 ** (32 - prefix);
  const bridgeAddress = intToIp(network + 1);
  return {
    bridgeAddress,
    prefix,
    netmask: intToIp(2 ** 32 - size),
    network: intToIp(network),
    broadcast: intToIp(network + size - 1),
    poolStart: intToIp(network + 2),
    poolEnd: intToIp(network + size - 2),
    poolSize: size - 3,
    nameservers: config.dhcp_nameserver.length > 0 ? config.dhcp_nameserver : [bridgeAddress],
  };
}
