/**
 * Prometheus metrics against a live relay: a real Prometheus (Debian's, started by this test in
 * the relay's namespace, its data in the test's directory) scrapes metrics_address every second;
 * the test asks Prometheus, not the endpoint, and sees clients come and go and a refusal counted.
 */
import t from 'tap';
import { endReason } from '../../src/relay/session';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { relayNetwork, ROOT } from './topology';

const PROBE = join(ROOT, 'test', 'fixtures', 'probe.js');
const METRICS = '127.0.0.1:9586';
const PROMETHEUS = '127.0.0.1:9090';

const skip = spawnSync('prometheus', ['--version']).status === 0 ? false : 'no prometheus: install Debian\'s (packaging/install-deps.sh --test) to run the metrics test';
if (skip) console.error(`# SKIPPING the metrics test: ${skip}`);

t.test('Prometheus scraping the relay sees clients come and go, a refusal, traffic and TAP setup times', { skip }, async (t) => {
  const n = await relayNetwork(t.teardown.bind(t), { metrics_address: METRICS, max_clients_per_ip: 1 }, 2);
  const { topo, srv } = n;
  await n.server.waitFor(/metrics url=http:\/\/127\.0\.0\.1:9586\/metrics/);

  const config = topo.file('prometheus.yml', [
    'global:',
    '  scrape_interval: 1s',
    '  evaluation_interval: 1s',
    'scrape_configs:',
    '  - job_name: wsnic',
    '    static_configs:',
    `      - targets: ['${METRICS}']`,
    '',
  ].join('\n'));
  const prometheus = topo.spawn(srv, 'prometheus', [
    `--config.file=${config}`, `--storage.tsdb.path=${join(topo.dir, 'prometheus')}`, `--web.listen-address=${PROMETHEUS}`,
  ]);
  await prometheus.waitFor(/Server is ready to receive web requests/, 60_000);

  /** The value of an instant query with one result (undefined: no result yet). */
  const query = (q: string): number | undefined => {
    const r = topo.httpGet(srv, `http://${PROMETHEUS}/api/v1/query?query=${encodeURIComponent(q)}`);
    if (r.code !== 0) return undefined;
    const body = JSON.parse(r.stdout) as { data?: { result?: { value: [number, string] }[] } };
    const v = body.data?.result?.[0]?.value[1];
    return v === undefined ? undefined : Number(v);
  };
  /**
   * Polls the query until it answers `ok` (Prometheus scrapes every second) or ms have passed;
   * returns the last answer either way, for the test's assertion to judge.
   */
  const settled = async (q: string, ok: (v: number | undefined) => boolean, ms = 30_000): Promise<number | undefined> => {
    const deadline = Date.now() + ms;
    let v = query(q);
    while (!ok(v) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      v = query(q);
    }
    if (!ok(v)) t.comment(`${q} is ${v} after ${ms} ms; Prometheus said:\n${prometheus.output().slice(-2000)}`);
    return v;
  };

  t.equal(await settled('up{job="wsnic"}', (v) => v === 1), 1, 'the relay is scraped');
  t.equal(await settled('sum(wsnic_clients)', (v) => v === 0), 0, 'no clients at first');

  const ips = await n.joinAll();
  t.equal(await settled('sum(wsnic_clients)', (v) => v === 2), 2, 'two guests joined: 2 clients');
  t.equal(query('wsnic_clients{scheme="ws"}'), 2, 'both over ws://');
  t.equal(query('wsnic_connections_accepted_total'), 2);
  t.equal(await settled('wsnic_tap_setup_seconds_count', (v) => v === 2), 2, 'a TAP setup time for each');
  t.ok((query('wsnic_tap_setup_seconds_sum') ?? 0) > 0);
  t.equal(await settled('wsnic_dhcp_leases', (v) => v === 2), 2, `the lease file holds their leases (${ips.join(', ')})`);
  t.equal(query('wsnic_dnsmasq_up'), 1, 'dnsmasq up (wsnic run supervises it)');
  t.ok((await settled('wsnic_frames_total{direction="in"}', (v) => (v ?? 0) > 0) ?? 0) > 0, 'their DHCP frames counted');
  t.ok((query('wsnic_bytes_total{direction="out"}') ?? 0) > 0, 'bytes to clients counted');
  t.equal(query('wsnic_dropped_frames_total{reason="spoofed"}'), 0);
  t.ok((query('nodejs_eventloop_lag_seconds') ?? -1) >= 0, 'event-loop lag exported');

  // max_clients_per_ip = 1: a second handshake from guest 1's address is refused.
  const probe = topo.exec(n.guests[0]!, process.execPath, [PROBE, 'handshake', n.url(1)]);
  t.match(probe.stdout, /"status":429/, 'a second handshake from the same address gets 429');
  t.equal(await settled('wsnic_refused_total{reason="429 Too Many Requests"}', (v) => v === 1), 1, 'the refusal is counted by reason');

  // Guest 1 leaves: its `wsnic connect` is killed.
  const mark = n.server.mark();
  for (const pid of spawnSync('ip', ['netns', 'pids', n.guests[0]!], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGTERM');
  const gone = await n.server.waitFor(/client disconnected client_address=198\.19\.1\.2 .*/, 20_000, mark);
  t.equal(await settled('sum(wsnic_clients)', (v) => v === 1), 1, 'one left: 1 client');
  // Counted by its close code, as the relay's log line gives it.
  const code = Number(/ code=(\d+)/.exec(gone)?.[1]);
  t.equal(query(`wsnic_disconnects_total{reason="${endReason(code)}"}`), 1, `its end counted as "${endReason(code)}"`);
  t.equal(query('sum(wsnic_disconnects_total)'), 1, 'and nothing else');
  t.equal(query('wsnic_connections_accepted_total'), 2, 'no new client meanwhile');
  t.ok((query('wsnic_frames_total{direction="in"}') ?? 0) > 0, 'the departed client\'s frames still counted');
});

t.test('a metrics_address the relay cannot use stops it at start, with what is wrong, and nothing left behind', async (t) => {
  // A file, not a socket, at the path: refused, never removed.
  const file = `/tmp/wsnic-metrics-file-${process.pid}`;
  writeFileSync(file, 'precious\n');
  t.teardown(() => rmSync(file, { force: true }));
  const n = await relayNetwork(t.teardown.bind(t), { metrics_address: file }, 1);
  const line = await n.server.waitFor(/metrics socket/, 20_000);
  t.match(line, new RegExp(`metrics socket ${file} exists and is not a socket: not removed`));
  const code = await Promise.race([n.server.exited, new Promise((r) => setTimeout(() => r('still running after 20 s'), 20_000).unref())]);
  t.ok(typeof code === 'number' && code !== 0, `the relay exits with an error, not left running (${String(code)})`);
  t.equal(readFileSync(file, 'utf8'), 'precious\n', 'the file is untouched');
  t.notMatch(n.topo.exec(n.srv, 'ip', ['-o', 'link']).stdout, /wsbr0|wstap/, 'no bridge or TAP left');
});
