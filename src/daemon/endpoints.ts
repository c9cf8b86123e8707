/**
 * The operator's endpoints of a serving relay: the control socket (`wsnic status`, `wsnic
 * disconnect`; ops/control.ts) with the relay's status block, and the Prometheus metrics
 * (ops/metrics.ts) when metrics_address is set or systemd passed a `metrics` socket.
 */
import type { Config } from '../config/schema';
import type { Logger } from '../log';
import type { Listening } from '../http/listeners';
import { countLeases, leaseHostnames } from '../net/leasefile';
import { ControlServer, type ForwardControl, type RelayStatus } from '../ops/control';
import { MetricsServer, createRegistry } from '../ops/metrics';
import type { Relay } from '../relay/registry';
import { controlSocketPath, leaseFile } from '../config/paths';
import { deriveNetwork } from '../config/derive';
import { hostPort } from '../config/values';
import { VERSION } from '../version';
import type { DnsmasqView } from './serve';

export interface EndpointsOptions {
  relay: Relay;
  listening: Listening;
  /** When serving started (Unix ms), for the uptime. */
  started: number;
  /** NAT's uplink, if on. */
  uplink: string | undefined;
  /** Who runs dnsmasq; undefined: disable_dhcp. */
  dnsmasq: DnsmasqView | undefined;
  /** The leaf bridges joined to the main one (net/leaves.ts). */
  leafBridges(): number;
  /** The port forwards (`wsnic forward`, and a line of `wsnic status`); undefined: NAT off. */
  forwards: ForwardControl | undefined;
  /** The `metrics` socket systemd passed, if any. */
  metricsFd: number | undefined;
}

/** Starts both: a control socket that cannot be made is warned about; metrics that cannot be, throw. */
export async function startEndpoints(c: Config, log: Logger, o: EndpointsOptions): Promise<{ stop(): void }> {
  const leases = (): number => (c.disable_dhcp ? 0 : countLeases(leaseFile(c)));
  const control = await ControlServer.start(controlSocketPath(c), o.relay, () => relayStatus(c, o, leases),
    () => (c.disable_dhcp ? new Map() : leaseHostnames(leaseFile(c))), o.forwards, log).catch((err: Error) => {
    log.warning('no control socket: wsnic status will not reach this relay', { path: controlSocketPath(c), reason: err.message });
    return undefined;
  });
  const dnsmasq = o.dnsmasq;
  const metrics = c.metrics_address === '' && o.metricsFd === undefined ? undefined : await MetricsServer.start(createRegistry({
    relay: o.relay,
    leafBridges: o.leafBridges,
    ...(c.disable_dhcp ? {} : { leases }),
    ...(dnsmasq ? { dnsmasqUp: async () => (await dnsmasq.state()).up } : {}),
  }), { address: c.metrics_address, fd: o.metricsFd }, log);
  return {
    stop() {
      control?.stop();
      metrics?.stop();
    },
  };
}

/** The relay's block of `wsnic status`. */
async function relayStatus(c: Config, o: EndpointsOptions, leases: () => number): Promise<RelayStatus> {
  const { relay, listening } = o;
  const where = (s: (typeof listening.servers)[number]): string => {
    const a = s.address();
    return typeof a === 'object' && a ? `${s === listening.tls ? 'wss' : 'ws'}://${hostPort(a.address, a.port)}/` : String(a);
  };
  return {
    version: VERSION,
    uptime_seconds: Math.round((Date.now() - o.started) / 1000),
    listening: listening.servers.map(where).join(' '),
    bridge: `${c.bridge} ${deriveNetwork(c).bridgeAddress}`,
    subnet: c.subnet,
    nat: o.uplink ? `on, out of ${o.uplink}` : 'off',
    dnsmasq: o.dnsmasq ? (await o.dnsmasq.state()).text : 'off (disable_dhcp)',
    leases: leases(),
    clients: relay.sessions.size,
    most_clients: relay.stats.mostClients,
    refused: Object.fromEntries(relay.stats.refused),
    closed: Object.fromEntries(relay.stats.closed),
    ...(o.forwards ? { forwards: o.forwards.forwardState() } : {}),
  };
}
