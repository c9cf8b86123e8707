import t from 'tap';
import http from 'node:http';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/log';
import { MetricsServer, TOTALS_FRESH_MS, createRegistry, type RelayView } from '../../src/ops/metrics';
import { parseListen } from '../../src/config/values';
import type { Totals } from '../../src/relay/totals';

const quiet = createLogger('error', () => {});

/** A relay as the metrics see it: two ws clients and one wss, some traffic, two refusals. */
function relayStub(): RelayView & { totalsNow: Totals; totalsRead: number; sessions: Set<{ client: { scheme: string } }> } {
  const s = (scheme: string): { client: { scheme: string } } => ({ client: { scheme } });
  const totalsNow: Totals = { bytesIn: 1500, bytesOut: 3000, framesIn: 10, framesOut: 20, drops: { spoofed: 1, limitedIn: 2, limitedOut: 3, refused: 4, stalls: 5 } };
  const stub = {
    sessions: new Set([s('ws'), s('ws'), s('wss')]),
    stats: { refused: new Map([['429 Too Many Requests', 2], ['1011 no TAP', 1]]), closed: new Map([['1000 normal', 4], ['1009 too big', 1]]) },
    accepted: 7,
    totalsNow,
    totalsRead: 0,
    // A copy, as Relay.totals() makes one each call.
    totals: (): Totals => {
      stub.totalsRead++;
      return { ...stub.totalsNow, drops: { ...stub.totalsNow.drops } };
    },
    onTapReady: undefined,
  };
  return stub;
}

function get(socketPath: string, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath, path }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    }).on('error', reject);
  });
}

t.test('the registry: clients by scheme, refusals by reason, traffic and drops from the relay\'s own counters', async (t) => {
  const relay = relayStub();
  const registry = createRegistry({ relay, leases: () => 3, dnsmasqUp: () => Promise.resolve(true), leafBridges: () => 0 });
  relay.onTapReady!(20);
  relay.onTapReady!(1500);
  const text = await registry.metrics();
  t.equal(relay.totalsRead, 1, 'one walk of the sessions for frames, bytes and drops');
  for (const line of [
    'wsnic_clients{scheme="ws"} 2',
    'wsnic_clients{scheme="wss"} 1',
    'wsnic_connections_accepted_total 7',
    'wsnic_refused_total{reason="429 Too Many Requests"} 2',
    'wsnic_refused_total{reason="1011 no TAP"} 1',
    'wsnic_disconnects_total{reason="1000 normal"} 4',
    'wsnic_disconnects_total{reason="1009 too big"} 1',
    'wsnic_frames_total{direction="in"} 10',
    'wsnic_frames_total{direction="out"} 20',
    'wsnic_bytes_total{direction="in"} 1500',
    'wsnic_bytes_total{direction="out"} 3000',
    'wsnic_dropped_frames_total{reason="spoofed"} 1',
    'wsnic_dropped_frames_total{reason="limited_in"} 2',
    'wsnic_dropped_frames_total{reason="limited_out"} 3',
    'wsnic_dropped_frames_total{reason="refused"} 4',
    'wsnic_dropped_frames_total{reason="stalls"} 5',
    'wsnic_tap_setup_seconds_bucket{le="0.025"} 1',
    'wsnic_tap_setup_seconds_bucket{le="2.5"} 2',
    'wsnic_tap_setup_seconds_count 2',
    'wsnic_dhcp_leases 3',
    'wsnic_dnsmasq_up 1',
    'wsnic_leaf_bridges 0',
    '# TYPE wsnic_bytes_total counter',
  ]) t.ok(text.split('\n').includes(line), line);
  t.match(text, /^nodejs_eventloop_lag_seconds \d/m, 'Node.js default metrics');
  t.match(text, /^process_resident_memory_bytes \d/m, 'process metrics');

  // Counters follow the relay (clients leaving add to its totals of departed clients).
  relay.totalsNow.bytesIn = 9000;
  relay.sessions.clear();
  await new Promise((r) => setTimeout(r, TOTALS_FRESH_MS + 20)); // the next scrape
  const later = await registry.metrics();
  t.equal(relay.totalsRead, 2, 'read afresh by the next scrape');
  t.match(later, /^wsnic_bytes_total\{direction="in"\} 9000$/m);
  t.match(later, /^wsnic_clients\{scheme="ws"\} 0$/m);
});

t.test('dnsmasq: up 1, down 0, not known (systemd could not be asked) NaN', async (t) => {
  for (const [up, line] of [[true, 'wsnic_dnsmasq_up 1'], [false, 'wsnic_dnsmasq_up 0'], [undefined, 'wsnic_dnsmasq_up Nan']] as const) {
    const text = await createRegistry({ relay: relayStub(), dnsmasqUp: () => Promise.resolve(up) }).metrics();
    t.ok(text.split('\n').includes(line), `${String(up)}: ${line}`);
  }
});

t.test('what is not known is not exported: no DHCP, no dnsmasq of ours', async (t) => {
  const text = await createRegistry({ relay: relayStub() }).metrics();
  t.notMatch(text, /wsnic_dhcp_leases|wsnic_dnsmasq_up|wsnic_leaf_bridges/);
});

t.test('the endpoint serves /metrics in the text format on a Unix socket, 404 elsewhere, and removes its socket', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wsnic-metrics-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'metrics.sock');
  const server = await MetricsServer.start(createRegistry({ relay: relayStub() }), { address: path }, quiet);
  const ok = await get(path, '/metrics');
  t.equal(ok.status, 200);
  t.match(ok.type, /^text\/plain; version=0\.0\.4/);
  t.match(ok.body, /^wsnic_clients\{scheme="wss"\} 1$/m);
  t.equal((await get(path, '/')).status, 404);
  t.equal((await get(path, '/metrics/x')).status, 404);
  server.stop();
  t.notOk(existsSync(path), 'socket removed');
});

t.test('metrics_address: ADDRESS:PORT or an absolute socket path', async (t) => {
  t.same(parseListen('127.0.0.1:9586'), { host: '127.0.0.1', port: 9586 });
  t.same(parseListen('[::1]:9586'), { host: '::1', port: 9586 });
  t.same(parseListen('/run/wsnic/metrics.sock'), { path: '/run/wsnic/metrics.sock' });
  for (const bad of ['9586', 'localhost:9586', '127.0.0.1:0', '127.0.0.1:70000', '::1:9586', 'metrics.sock']) {
    t.throws(() => parseListen(bad), /is not ADDRESS:PORT or an absolute socket path/, bad);
  }
});
