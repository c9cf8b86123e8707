/**
 * Prometheus metrics (metrics_address): a registry of our own and an HTTP endpoint serving it at
 * /metrics. Nothing is counted on the hot path: each metric is read at scrape time from the
 * relay's own counters (Relay.totals(), stats, sessions), the lease file and the leaf bridges;
 * only the TAP setup histogram is fed as clients arrive (Relay.onTapReady).
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { closeSync, unlinkSync } from 'node:fs';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from '../log';
import { parseListen } from '../config/values';
import type { Totals } from '../relay/totals';
import { claimSocketPath } from './unixsocket';

/** What the metrics read from the relay (Relay has it all; tests pass a stand-in). */
export interface RelayView {
  readonly sessions: ReadonlySet<{ readonly client: { readonly scheme: string } }>;
  readonly stats: { readonly refused: ReadonlyMap<string, number>; readonly closed: ReadonlyMap<string, number> };
  readonly accepted: number;
  totals(): Totals;
  onTapReady: ((ms: number) => void) | undefined;
}

export interface MetricsSources {
  relay: RelayView;
  /** Leases in dnsmasq's lease file; absent without DHCP. */
  leases?: () => number;
  /** Whether dnsmasq runs (undefined: cannot be known now); absent without DHCP. */
  dnsmasqUp?: () => Promise<boolean | undefined>;
  /** Leaf bridges made past bridge_port_limit. */
  leafBridges?: () => number;
}

/** TAP setup takes ~20 ms, seconds when the kernel's RTNL lock is contended. */
const TAP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** How long one read of the relay's totals serves a scrape's metrics. */
export const TOTALS_FRESH_MS = 100;

/** A registry with wsnic's metrics and prom-client's process and Node.js metrics. */
export function createRegistry(src: MetricsSources): Registry {
  const registry = new Registry();
  const registers = [registry];
  const relay = src.relay;
  collectDefaultMetrics({ register: registry });

  // One walk of every session a scrape: frames, bytes and drops read the same totals (a scrape
  // takes milliseconds; the next one, seconds later, reads afresh).
  let snap: { at: number; totals: Totals } | undefined;
  const totals = (): Totals => {
    const now = performance.now(); // (monotonic: a wall clock stepped back must not freeze it)
    if (snap === undefined || now - snap.at > TOTALS_FRESH_MS) snap = { at: now, totals: relay.totals() };
    return snap.totals;
  };
  // Counters are set from the relay's totals at each scrape (prom-client counters only go up by inc()).
  const setCounter = (c: Counter<string>, values: [Record<string, string>, number][]): void => {
    c.reset();
    for (const [labels, v] of values) c.inc(labels, v);
  };
  new Gauge({
    name: 'wsnic_clients', help: 'Clients connected now, by transport.', labelNames: ['scheme'], registers,
    collect() {
      const by = { ws: 0, wss: 0 };
      for (const s of relay.sessions) by[s.client.scheme === 'wss' ? 'wss' : 'ws']++;
      this.set({ scheme: 'ws' }, by.ws);
      this.set({ scheme: 'wss' }, by.wss);
    },
  });
  new Counter({
    name: 'wsnic_connections_accepted_total', help: 'WebSocket handshakes that passed admission (a TAP was then made for each, or it was refused with 1011).', registers,
    collect() {
      setCounter(this, [[{}, relay.accepted]]);
    },
  });
  new Counter({
    name: 'wsnic_refused_total', help: 'Clients refused, by reason: the HTTP status of a refused handshake, or "1011 no TAP".', labelNames: ['reason'], registers,
    collect() {
      setCounter(this, [...relay.stats.refused].map(([reason, n]) => [{ reason }, n]));
    },
  });
  new Counter({
    name: 'wsnic_disconnects_total', help: 'Clients gone, by close code sent or received ("1006 abnormal": the connection just went; codes without a name: "other").', labelNames: ['reason'], registers,
    collect() {
      setCounter(this, [...relay.stats.closed].map(([reason, n]) => [{ reason }, n]));
    },
  });
  new Counter({
    name: 'wsnic_frames_total', help: 'Ethernet frames relayed: in = from clients to their TAPs, out = from TAPs to clients.', labelNames: ['direction'], registers,
    collect() {
      const t = totals();
      setCounter(this, [[{ direction: 'in' }, t.framesIn], [{ direction: 'out' }, t.framesOut]]);
    },
  });
  new Counter({
    name: 'wsnic_bytes_total', help: 'Bytes of Ethernet frames relayed: in = from clients, out = to clients.', labelNames: ['direction'], registers,
    collect() {
      const t = totals();
      setCounter(this, [[{ direction: 'in' }, t.bytesIn], [{ direction: 'out' }, t.bytesOut]]);
    },
  });
  new Counter({
    name: 'wsnic_dropped_frames_total',
    help: 'Frames dropped, by reason: spoofed (another source MAC or address), limited_in/limited_out (rate limits), refused (by the TAP), stalls (times a TAP was not read: backpressure).',
    labelNames: ['reason'], registers,
    collect() {
      const d = totals().drops;
      setCounter(this, [[{ reason: 'spoofed' }, d.spoofed], [{ reason: 'limited_in' }, d.limitedIn], [{ reason: 'limited_out' }, d.limitedOut],
        [{ reason: 'refused' }, d.refused], [{ reason: 'stalls' }, d.stalls]]);
    },
  });
  const tapSetup = new Histogram({
    name: 'wsnic_tap_setup_seconds', help: 'Time from a client\'s upgrade request to its TAP being up on the bridge.', buckets: TAP_BUCKETS, registers,
  });
  relay.onTapReady = (ms) => tapSetup.observe(ms / 1000);
  const gauge = (name: string, help: string, read: () => number | Promise<number>): void => {
    new Gauge({ name, help, registers, async collect() { this.set(await read()); } });
  };
  if (src.leases) gauge('wsnic_dhcp_leases', 'Leases in dnsmasq\'s lease file.', src.leases);
  const dnsmasqUp = src.dnsmasqUp;
  if (dnsmasqUp) {
    gauge('wsnic_dnsmasq_up', '1 while dnsmasq runs (wsnic run\'s child, or wsnic-dnsmasq.service under systemd), 0 when not, NaN when systemd cannot be asked.',
      async () => {
        const up = await dnsmasqUp();
        return up === undefined ? NaN : up ? 1 : 0;
      });
  }
  if (src.leafBridges) gauge('wsnic_leaf_bridges', 'Leaf bridges made for clients past bridge_port_limit.', src.leafBridges);
  return registry;
}

export class MetricsServer {
  private constructor(private readonly server: http.Server, private readonly path: string | undefined) {}

  /**
   * Serves the registry at /metrics on `address` (HOST:PORT or a Unix socket path) or, given,
   * on a socket systemd passed (named `metrics`). Rejects with what failed and where.
   */
  static async start(registry: Registry, where: { address: string; fd?: number | undefined }, log: Logger): Promise<MetricsServer> {
    const server = http.createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      } else if (path !== '/metrics') {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: metrics are at /metrics\n');
      } else {
        registry.metrics().then(
          (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
          (err: Error) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${err.message}\n`),
        );
      }
    });
    server.headersTimeout = 10_000;
    server.requestTimeout = 10_000;
    const at = where.fd !== undefined ? { fd: where.fd } : parseListen(where.address);
    let unlink: string | undefined;
    if ('path' in at) {
      await claimSocketPath(at.path, 'metrics socket');
      unlink = at.path;
    }
    const what = 'fd' in at ? `the inherited socket (fd ${at.fd})` : 'path' in at ? at.path : where.address;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        if ('fd' in at) closeSync(at.fd);
        reject(new Error(`cannot serve metrics on ${what}: ${err.code ?? err.message}`));
      });
      server.listen(at, () => resolve());
    });
    if ('fd' in at) log.info('metrics on an inherited socket', { name: 'metrics', fd: at.fd, path: '/metrics' });
    else if ('path' in at) log.info('metrics', { socket: at.path, path: '/metrics' });
    else log.info('metrics', { url: `http://${where.address}/metrics` });
    return new MetricsServer(server, unlink);
  }

  /** Stops listening (a scrape under way completes) and removes its Unix socket. */
  stop(): void {
    this.server.close();
    this.server.closeIdleConnections();
    if (this.path !== undefined) {
      try {
        unlinkSync(this.path);
      } catch {
        /* gone already */
      }
    }
  }
}
