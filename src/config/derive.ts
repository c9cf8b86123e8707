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
