/**
 * Serving, shared by `wsnic run` and `wsnic relay`: the parts wired together. The relay's
 * sessions (relay/registry.ts) behind the HTTP servers (http/listeners.ts) on sockets systemd passed
 * or their own, admission, the bridge's leased set, the lease file, sd_notify READY/STATUS/
 * WATCHDOG (systemd/status.ts), SIGHUP reload (http/reload.ts). Resolves `done` on SIGINT/SIGTERM.
 */
import type { Config } from '../config/schema';
import type { Logger } from '../log';
import { countLeases, leaseHostnames, watchLeases } from '../net/leasefile';
import { LeasedSet } from '../net/leasedset';
import { PortAllocator } from '../net/leaves';
import { startForkServer, stopForkServer } from '../net/forkserver';
import { Admission } from '../http/admission';
import { clientCapacity, closeServers, hostPort, openServers, readTls, warnIfOpen } from '../http/listeners';
import { ControlServer } from '../ops/control';
import { MetricsServer, createRegistry } from '../ops/metrics';
import { reload } from '../http/reload';
import { startPlane } from '../datapath/nativepath';
import { Relay } from '../relay/registry';
import { takeListenFds } from '../systemd/activation';
import { takeStored } from '../handover/fdstore';
import { adoptStored, handOverOnRestart, unpackStored } from '../handover/restart';
import { reportNetworkd } from '../systemd/networkd';
import { Notifier } from '../systemd/notify';
import { StatusReporter } from '../systemd/status';
import { controlSocketPath, leaseFile } from '../config/paths';
import { bindsClientIp, deriveNetwork } from '../config/derive';
import { VERSION } from '../cli/version';
import { unitView } from '../systemd/unit';

/** The unit that runs dnsmasq under systemd (systemd/wsnic-dnsmasq.service). */
export const DNSMASQ_UNIT = 'wsnic-dnsmasq.service';

export interface Serving {
  relay: Relay;
  /** Resolves with the signal (or internal error) that ends serving. */
  done: Promise<NodeJS.Signals | Error>;
  /** STOPPING=1, clients closed with 1001, sockets closed. */
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
  const net = deriveNetwork(c);
  const notifier = new Notifier(log);
  const inherited = takeListenFds();
  // Sessions the relay before a restart handed over (systemd's fd store): taken up below.
  const stored = unpackStored(takeStored(inherited), notifier, log);
  // A `metrics` socket systemd passed is the metrics endpoint's, not a WebSocket server's.
  const metricsSocket = inherited.find((s) => s.name === 'metrics');
  if (metricsSocket) inherited.splice(inherited.indexOf(metricsSocket), 1);
  const tls = c.wss_certificate ? readTls(c.wss_certificate, c.wss_private_key) : undefined;
  startForkServer(log); // before the first TAP: see forkserver.ts
  const ports = new PortAllocator(c.bridge, c.bridge_port_limit, log, c.isolate_clients);
  ports.sweep(new Set(stored.flatMap((u) => (u.state instanceof Error ? [] : [u.state.bridge]))));
  const capacity = clientCapacity();
  const admission = new Admission({
    allowedOrigins: c.allowed_origins, tokensFile: c.auth_tokens_file, maxClients: c.max_clients,
    maxPerIp: c.max_clients_per_ip, trustedProxies: c.trusted_proxies, capacity,
  });
  // Client addresses on the bridge: only as leased (the rules are in wsnic setup's ruleset).
  const leased = bindsClientIp(c) ? new LeasedSet(log) : undefined;
  leased?.reset(stored.length > 0);
  // (sessions handed over are the native path's whatever data_path says now)
  if (c.data_path !== 'js' || stored.length > 0) log.info('native data path', { threads: startPlane(c.data_threads) });
  const relay = new Relay({
    ports, tapPrefix: c.tap_prefix, pingInterval: c.ping_interval, idleTimeout: c.idle_timeout, isolateClients: c.isolate_clients,
    admission, log, leased, gateway: net.bridgeAddress, duplicateMac: c.duplicate_mac === 'refuse' ? 'refuse' : 'allow',
    dataPath: c.data_path === 'js' ? 'js' : 'native',
    rates: {
      up: { bytes: c.rate_up_bytes, frames: c.rate_up_frames, burst: c.rate_burst },
      down: { bytes: c.rate_down_bytes, frames: c.rate_down_frames, burst: c.rate_burst },
    },
  });
  // Before the listening sockets are read: the clients of the relay before a restart.
  leased?.pause();
  adoptStored(stored, relay, log);
  leased?.unpause();
  const listening = await openServers({
    inherited, address: c.ws_address, wsPort: c.ws_port, wssPort: c.wss_port, tls, version: VERSION,
    // Connections still in their handshake hold a descriptor too: bounded as well.
    http: { handshakeTimeout: c.handshake_timeout, maxConnections: capacity, log, onUpgrade: (...a) => relay.upgrade(...a) },
  });
  warnIfOpen(listening.servers, c.allowed_origins, log);
  const stopLeases = c.disable_dhcp ? () => undefined : watchLeases(leaseFile(c), (byMac) => relay.leases(byMac));

  const where = (s: (typeof listening.servers)[number]): string => {
    const a = s.address();
    return typeof a === 'object' && a ? `${s === listening.tls ? 'wss' : 'ws'}://${hostPort(a.address, a.port)}/` : String(a);
  };
  const dnsmasq = c.disable_dhcp ? undefined : opts.dnsmasq ?? unitView(DNSMASQ_UNIT);
  const control = await ControlServer.start(controlSocketPath(c), relay, async () => ({
    version: VERSION,
    uptime_seconds: Math.round((Date.now() - started) / 1000),
    listening: listening.servers.map(where).join(' '),
    bridge: `${c.bridge} ${net.bridgeAddress}`,
    subnet: c.subnet,
    nat: opts.uplink ? `on, out of ${opts.uplink}` : 'off',
    dnsmasq: dnsmasq ? (await dnsmasq.state()).text : 'off (disable_dhcp)',
    leases: c.disable_dhcp ? 0 : countLeases(leaseFile(c)),
    clients: relay.sessions.size,
    most_clients: relay.stats.mostClients,
    refused: Object.fromEntries(relay.stats.refused),
    closed: Object.fromEntries(relay.stats.closed),
  }), () => (c.disable_dhcp ? new Map() : leaseHostnames(leaseFile(c))), log).catch((err: Error) => {
    log.warning('no control socket: wsnic status will not reach this relay', { path: controlSocketPath(c), reason: err.message });
    return undefined;
  });

  // Prometheus metrics, when metrics_address is set or systemd passed a `metrics` socket.
  const metrics = c.metrics_address === '' && !metricsSocket ? undefined : await MetricsServer.start(createRegistry({
    relay,
    leafBridges: () => ports.leafCount,
    ...(c.disable_dhcp ? {} : { leases: () => countLeases(leaseFile(c)) }),
    ...(dnsmasq ? { dnsmasqUp: async () => (await dnsmasq.state()).up } : {}),
  }), { address: c.metrics_address, fd: metricsSocket?.fd }, log);

  const problems = await reportNetworkd([c.bridge, ...(opts.uplink ? [opts.uplink] : [])], c.bridge, log);
  const status = new StatusReporter(notifier, () => ({ clients: relay.sessions.size, ...relay.totals() }), problems);
  status.start();
  notifier.startWatchdog();
  relay.onClientCountChange = () => status.update();
  process.on('SIGHUP', () => {
    notifier.reloading();
    reload({ admission, tokensFile: c.auth_tokens_file, tls: listening.tls, certificate: c.wss_certificate, privateKey: c.wss_private_key, log });
    notifier.ready(status.text());
  });
  if (process.env.WSNIC_TEST_HOOKS === '1') {
    // For the tests only: SIGUSR2 blocks the event loop for 2 s (established native sessions
    // must not notice: test/e2e/plane.test.ts).
    process.on('SIGUSR2', () => {
      log.info('test hook: event loop blocked', { ms: 2000 });
      const until = Date.now() + 2000;
      while (Date.now() < until);
      log.info('test hook: event loop free');
    });
  }

  const done = new Promise<NodeJS.Signals | Error>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    // A bug must not leave clients' TAPs or the bridge behind: the caller undoes, then exits.
    process.once('uncaughtException', resolve);
    process.once('unhandledRejection', (reason) => resolve(reason instanceof Error ? reason : new Error(String(reason))));
  });

  return {
    relay,
    done,
    async stop() {
      // What stopping waits for (the planes' events, D-Bus) holds no reference on the event
      // loop: without this, Node would exit mid-way, a hand-over half done.
      const hold = setInterval(() => {}, 1000);
      try {
        await stopAll();
      } finally {
        clearInterval(hold);
      }
    },
  };

  async function stopAll(): Promise<void> {
    notifier.stopping();
    status.stop();
    control?.stop();
    metrics?.stop();
    stopLeases();
    leased?.stop();
    const closed = closeServers(listening.servers); // no new connection from here on
    // A restart (systemd's job on us): ws:// sessions go to the fd store, the rest get 1012.
    const handedOver = await handOverOnRestart(relay, notifier, log, c.restart_handover);
    if (!handedOver) await relay.close();
    await closed;
    ports.close(handedOver); // the clients' TAPs are gone (or the next relay's): their leaves can go too
    stopForkServer();
  }
}

