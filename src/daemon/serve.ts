/**
 * Serving, shared by `wsnic run` and `wsnic relay`: the composition root, in the order the parts
 * start. What systemd passed (listening sockets, the sessions a restart handed over, a metrics
 * socket); the relay's sessions (relay/registry.ts) with admission, bridge ports and the leased
 * set; the HTTP servers (http/listeners.ts); the operator's endpoints (daemon/endpoints.ts);
 * sd_notify READY/STATUS/WATCHDOG (systemd/status.ts) and SIGHUP reload (http/reload.ts).
 * Resolves `done` on SIGINT/SIGTERM; stop() is daemon/stop.ts.
 */
import type { Config } from '../config/schema';
import type { Logger } from '../log';
import { watchLeases } from '../net/leasefile';
import { LeasedSet } from '../net/leasedset';
import { configForwards, reservedPort } from '../config/forward';
import { PortAllocator } from '../net/leaves';
import { startForkServer } from '../net/forkserver';
import { Admission } from '../http/admission';
import { clientCapacity, openServers, readTls, warnIfOpen, type Listening } from '../http/listeners';
import { reload } from '../http/reload';
import { startPlane } from '../datapath/nativepath';
import { Relay } from '../relay/registry';
import { takeListenFds } from '../systemd/activation';
import { takeStored } from '../handover/fdstore';
import { adoptStored, unpackStored, type Unpacked } from '../handover/restart';
import { reportNetworkd } from '../systemd/networkd';
import { Notifier } from '../systemd/notify';
import { StatusReporter } from '../systemd/status';
import { leaseFile } from '../config/paths';
import { bindsClientIp, deriveNetwork } from '../config/derive';
import { VERSION } from '../version';
import { unitView } from '../systemd/unit';
import { startEndpoints } from './endpoints';
import { stopServing } from './stop';

/** The unit that runs dnsmasq under systemd (systemd/wsnic-dnsmasq.service). */
export const DNSMASQ_UNIT = 'wsnic-dnsmasq.service';

export interface Serving {
  relay: Relay;
  /** Resolves with the signal (or internal error) that ends serving. */
  done: Promise<NodeJS.Signals | Error>;
  /** STOPPING=1, clients closed with 1001 (or handed over on a restart), sockets closed. */
  stop(): Promise<void>;
}

/**
 * Whether dnsmasq runs, for `wsnic status` and the metrics: the child `wsnic run` supervises, or
 * under systemd wsnic-dnsmasq.service (systemd/unit.ts's unitView). up: undefined when unknown.
 */
export interface DnsmasqView {
  state(): Promise<{ up: boolean | undefined; text: string }>;
}

/** uplink: NAT's, if on; dnsmasq: who runs it (absent: wsnic-dnsmasq.service, asked over D-Bus). */
export async function serve(c: Config, log: Logger, opts: { uplink?: string | undefined; dnsmasq?: DnsmasqView } = {}): Promise<Serving> {
  const started = Date.now();
  const notifier = new Notifier(log);
  const passed = fromSystemd(notifier, log);
  const tls = c.wss_certificate ? readTls(c.wss_certificate, c.wss_private_key) : undefined;
  startForkServer(log); // before the first TAP: see forkserver.ts
  const { relay, ports, admission, leased, capacity } = startRelay(c, log, passed.stored);
  const listening = await openServers({
    inherited: passed.listening, address: c.ws_address, wsPort: c.ws_port, wssPort: c.wss_port, tls, version: VERSION,
    // Connections still in their handshake hold a descriptor too: bounded as well.
    http: { handshakeTimeout: c.handshake_timeout, maxConnections: capacity, log, onUpgrade: (...a) => relay.upgrade(...a) },
  });
  warnIfOpen(listening.servers, c.allowed_origins, log);
  const stopLeases = c.disable_dhcp ? () => undefined : watchLeases(leaseFile(c), (byMac) => relay.leases(byMac));
  const endpoints = await startEndpoints(c, log, {
    relay, listening, started, uplink: opts.uplink, metricsFd: passed.metricsFd, leafBridges: () => ports.leafCount,
    dnsmasq: c.disable_dhcp ? undefined : opts.dnsmasq ?? unitView(DNSMASQ_UNIT),
    forwards: leased && c.enable_inet ? leased : undefined,
  });
  const status = await reportStatus(c, log, notifier, relay, opts.uplink);
  reloadOnSighup(c, log, notifier, status, admission, listening);
  return {
    relay,
    done: ended(),
    stop: () => stopServing({ notifier, status, endpoints, stopLeases, leased, servers: listening.servers, relay, ports, handover: c.restart_handover, log }),
  };
}

/**
 * What systemd passed: listening sockets (wsnic.socket), the sessions the relay before a restart
 * stored (taken out of the fd store at once), and a socket named `metrics` (the metrics
 * endpoint's, not a WebSocket server's).
 */
function fromSystemd(notifier: Notifier, log: Logger): { listening: { name: string; fd: number }[]; stored: Unpacked[]; metricsFd: number | undefined } {
  const inherited = takeListenFds();
  const stored = unpackStored(takeStored(inherited), notifier, log);
  const metrics = inherited.find((s) => s.name === 'metrics');
  if (metrics) inherited.splice(inherited.indexOf(metrics), 1);
  return { listening: inherited, stored, metricsFd: metrics?.fd };
}

/** The session registry and what it needs, with the stored sessions taken up before any new client. */
function startRelay(c: Config, log: Logger, stored: Unpacked[]): { relay: Relay; ports: PortAllocator; admission: Admission; leased: LeasedSet | undefined; capacity: number } {
  const ports = new PortAllocator(c.bridge, c.bridge_port_limit, log, c.isolate_clients);
  ports.sweep(new Set(stored.flatMap((u) => (u.state instanceof Error ? [] : [u.state.bridge]))));
  const capacity = clientCapacity();
  const admission = new Admission({
    allowedOrigins: c.allowed_origins, tokensFile: c.auth_tokens_file, maxClients: c.max_clients,
    maxPerIp: c.max_clients_per_ip, trustedProxies: c.trusted_proxies, capacity,
  });
  // Client addresses on the bridge: only as leased (the rules are in wsnic setup's ruleset).
  // Port forwards follow their guests through the same knowledge (the map is in the NAT rules).
  const forwards = c.enable_inet ? configForwards(c) : undefined;
  if (!c.enable_inet && c.forward.length > 0) log.warning('port forwards off: they need enable_inet', { forward: c.forward.join(',') });
  const leased = bindsClientIp(c) || forwards !== undefined
    ? new LeasedSet(log, undefined, undefined, undefined, { enforce: bindsClientIp(c), forwards, reserved: (f) => reservedPort(f, c) })
    : undefined;
  leased?.reset(stored.length > 0);
  // (sessions handed over are the native path's whatever data_path says now)
  if (c.data_path !== 'js' || stored.length > 0) log.info('native data path', { threads: startPlane(c.data_threads) });
  const relay = new Relay({
    ports, tapPrefix: c.tap_prefix, pingInterval: c.ping_interval, idleTimeout: c.idle_timeout, isolateClients: c.isolate_clients,
    admission, log, leased, gateway: deriveNetwork(c).bridgeAddress, duplicateMac: c.duplicate_mac === 'refuse' ? 'refuse' : 'allow',
    dataPath: c.data_path === 'js' ? 'js' : 'native', ipv6: c.client_ipv6,
    rates: {
      up: { bytes: c.rate_up_bytes, frames: c.rate_up_frames, burst: c.rate_burst },
      down: { bytes: c.rate_down_bytes, frames: c.rate_down_frames, burst: c.rate_burst },
    },
  });
  // Before the listening sockets are read: the clients of the relay before a restart.
  leased?.pause();
  adoptStored(stored, relay, log);
  leased?.unpause();
  return { relay, ports, admission, leased, capacity };
}

/** sd_notify: READY with the first STATUS (clients, rates, networkd's problems), then the watchdog. */
async function reportStatus(c: Config, log: Logger, notifier: Notifier, relay: Relay, uplink: string | undefined): Promise<StatusReporter> {
  const problems = await reportNetworkd([c.bridge, ...(uplink ? [uplink] : [])], c.bridge, log);
  const status = new StatusReporter(notifier, () => ({ clients: relay.sessions.size, ...relay.totals() }), problems);
  status.start();
  notifier.startWatchdog();
  relay.onClientCountChange = () => status.update();
  return status;
}

/** SIGHUP (`systemctl reload`): tokens and certificate read again, RELOADING=1 then READY=1. */
function reloadOnSighup(c: Config, log: Logger, notifier: Notifier, status: StatusReporter, admission: Admission, listening: Listening): void {
  process.on('SIGHUP', () => {
    notifier.reloading();
    reload({ admission, tokensFile: c.auth_tokens_file, tls: listening.tls, certificate: c.wss_certificate, privateKey: c.wss_private_key, log });
    notifier.ready(status.text());
  });
}

/** What ends serving: SIGINT, SIGTERM, or a bug (the caller undoes, then exits: no TAP or bridge left behind). */
function ended(): Promise<NodeJS.Signals | Error> {
  return new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    process.once('uncaughtException', resolve);
    process.once('unhandledRejection', (reason) => resolve(reason instanceof Error ? reason : new Error(String(reason))));
  });
}
