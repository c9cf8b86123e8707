/**
 * Serving, shared by `wsnic run` and `wsnic relay`: the relay on inherited sockets (systemd) or
 * on sockets of its own, sd_notify READY/STATUS/WATCHDOG, SIGHUP reload, lease-watching for
 * the logs, networkd's view of the links. Resolves when SIGINT/SIGTERM asks to stop.
 */
import { closeSync, readFileSync } from 'node:fs';
import type { Server as HttpsServer } from 'node:https';
import type { Server } from 'node:http';
import type { Config } from '../config/schema';
import type { Logger } from '../log';
import { watchLeases } from '../net/leasefile';
import { LeasedSet } from '../net/leasedset';
import { PortAllocator } from '../net/leaves';
import { startForkServer, stopForkServer } from '../net/forkserver';
import { Admission } from '../relay/admission';
import { createServer, listen, readTls, Relay } from '../relay/server';
import { takeListenFds } from '../systemd/activation';
import { problems, queryNetworkd } from '../systemd/networkd';
import { Notifier } from '../systemd/notify';
import { leaseFile } from '../config/paths';
import { bindsClientIp, deriveNetwork } from '../config/derive';
import { VERSION } from './version';

const STATUS_EVERY_MS = 5000;

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function rate(bytes: number, ms: number): string {
  const perSec = (bytes * 1000) / ms;
  if (perSec >= 1e6) return `${(perSec / 1e6).toFixed(1)} MB/s`;
  if (perSec >= 1e3) return `${(perSec / 1e3).toFixed(1)} kB/s`;
  return `${Math.round(perSec)} B/s`;
}

/**
 * How many clients fit under the open-file limit: a socket and a TAP each, and some room for
 * the listening sockets, dnsmasq's pipes, D-Bus and the journal.
 */
function clientCapacity(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m && m[1] !== 'unlimited' ? Math.max(1, Math.floor((Number(m[1]) - 64) / 2)) : 0;
  } catch {
    return 0;
  }
}

export interface Serving {
  relay: Relay;
  /** Resolves with the signal (or internal error) that ends serving. */
  done: Promise<NodeJS.Signals | Error>;
  /** STOPPING=1, clients closed with 1001, sockets closed. */
  stop(): Promise<void>;
}

export async function serve(c: Config, log: Logger, opts: { uplink?: string | undefined } = {}): Promise<Serving> {
  const notifier = new Notifier(log);
  const inherited = takeListenFds();
  const tls = c.wss_certificate ? readTls(c.wss_certificate, c.wss_private_key) : undefined;
  startForkServer(log); // before the first TAP: see forkserver.ts
  const ports = new PortAllocator(c.bridge, c.bridge_port_limit, log, c.isolate_clients);
  ports.sweep();
  const capacity = clientCapacity();
  const admission = new Admission({
    allowedOrigins: c.allowed_origins,
    tokensFile: c.auth_tokens_file,
    maxClients: c.max_clients,
    maxPerIp: c.max_clients_per_ip,
    trustedProxies: c.trusted_proxies,
    capacity,
  });
  // Client addresses on the bridge: only as leased (the rules are in wsnic setup's ruleset).
  const leased = bindsClientIp(c) ? new LeasedSet(log) : undefined;
  leased?.reset();
  const relay = new Relay({ ports, tapPrefix: c.tap_prefix, pingInterval: c.ping_interval, idleTimeout: c.idle_timeout, handshakeTimeout: c.handshake_timeout, isolateClients: c.isolate_clients, admission, log,
    rates: {
      up: { bytes: c.rate_up_bytes, frames: c.rate_up_frames, burst: c.rate_burst },
      down: { bytes: c.rate_down_bytes, frames: c.rate_down_frames, burst: c.rate_burst },
    },
    duplicateMac: c.duplicate_mac === 'refuse' ? 'refuse' : 'allow',
    leased,
    gateway: deriveNetwork(c).bridgeAddress,
  });
  const servers: Server[] = [];
  let tlsServer: HttpsServer | undefined;

  const attach = (secure: boolean): Server => {
    const server = createServer(secure ? tls : undefined);
    // Connections still in their handshake hold a descriptor too: bounded as well.
    if (capacity > 0) server.maxConnections = capacity;
    relay.attach(server, secure);
    servers.push(server);
    if (secure) tlsServer = server as HttpsServer;
    return server;
  };

  if (inherited.length > 0) {
    for (const { name, fd } of inherited) {
      if (name === 'ws' || (name === 'wss' && tls)) {
        await new Promise<void>((resolve, reject) => attach(name === 'wss').listen({ fd }, resolve).once('error', reject));
        log.info('listening on an inherited socket', { name, fd, version: VERSION });
      } else {
        const why = name === 'wss' ? 'no wss_certificate is configured' : 'unknown socket name';
        log.warning('inherited socket not used, closed', { name, fd, reason: why });
        closeSync(fd);
      }
    }
  } else {
    await listen(attach(false), c.ws_address, c.ws_port, 'ws://');
    log.info('listening', { url: `ws://${hostPort(c.ws_address, c.ws_port)}/`, version: VERSION });
    if (tls) {
      await listen(attach(true), c.ws_address, c.wss_port, 'wss://');
      log.info('listening', { url: `wss://${hostPort(c.ws_address, c.wss_port)}/`, version: VERSION });
    }
  }

  // Anyone who can reach a public address can use the relay unless Origins are limited.
  for (const server of servers) {
    const a = server.address();
    const host = typeof a === 'object' && a ? a.address : '';
    if (c.allowed_origins.length === 0 && !/^(127\.|::1$|::ffff:127\.)/.test(host)) {
      log.warning('no allowed_origins: any web page may use this relay', { address: host, port: typeof a === 'object' && a ? a.port : undefined });
    }
  }

  const stopLeases = c.disable_dhcp ? () => undefined : watchLeases(leaseFile(c), (byMac) => relay.leases(byMac));

  // networkd's view, once at start: logged, and problems kept in STATUS.
  let warnings: string[] = [];
  const report = await queryNetworkd([c.bridge, ...(opts.uplink ? [opts.uplink] : [])]);
  if (!report.available) log.info('systemd-networkd not consulted', { reason: report.reason });
  else {
    for (const l of report.links) log.info('networkd link state', { link: l.name, operational: l.operational, administrative: l.administrative });
    warnings = problems(report, c.bridge);
    for (const w of warnings) log.warning(w);
  }

  // "3 clients, 1.2 MB/s in, 0.9 MB/s out": rates over the last tick, the count always current.
  let last = { at: Date.now(), ...relay.totals() };
  let rates = '0 B/s in, 0 B/s out';
  const statusText = (): string => {
    const n = relay.sessions.size;
    const text = `${n} client${n === 1 ? '' : 's'}, ${rates}`;
    return warnings.length > 0 ? `${text}; ${warnings.join('; ')}` : text;
  };
  notifier.ready(statusText());
  notifier.startWatchdog();
  const statusTimer = setInterval(() => {
    const now = { at: Date.now(), ...relay.totals() };
    const ms = Math.max(1, now.at - last.at);
    rates = `${rate(now.bytesIn - last.bytesIn, ms)} in, ${rate(now.bytesOut - last.bytesOut, ms)} out`;
    last = now;
    notifier.status(statusText());
  }, STATUS_EVERY_MS);
  statusTimer.unref();
  relay.onClientCountChange = () => notifier.status(statusText()); // at once, not at the next tick

  process.on('SIGHUP', () => {
    notifier.reloading();
    if (admission.requiresToken) {
      try {
        log.info('tokens reloaded', { file: c.auth_tokens_file, tokens: admission.reload() });
      } catch (err) {
        log.error('tokens reload failed, keeping the old ones', { reason: (err as Error).message });
      }
    }
    if (tlsServer && c.wss_certificate) {
      try {
        tlsServer.setSecureContext(readTls(c.wss_certificate, c.wss_private_key));
        log.info('certificate reloaded', { file: c.wss_certificate });
      } catch (err) {
        log.error('certificate reload failed, keeping the old one', { reason: (err as Error).message });
      }
    } else log.info('reload: nothing to reload (no wss_certificate)');
    notifier.ready(statusText());
  });

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
      notifier.stopping();
      clearInterval(statusTimer);
      stopLeases();
      leased?.stop();
      await relay.close();
      ports.close(); // the clients' TAPs are gone: their leaves can go too
      stopForkServer();
    },
  };
}
