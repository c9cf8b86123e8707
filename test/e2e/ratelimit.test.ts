/**
 * Per-client rate limits and duplicate MACs, with the real parts: iperf3 UDP floods through
 * `wsnic connect`, the relay's TAP counters read with `ip -s -j link`, busybox ping for latency.
 */
import t, { type Test } from 'tap';
import { relayNetwork, type Proc, type RelayNetwork } from './topology';

const UP_BYTES = 500_000;
const DOWN_FRAMES = 300;

/** A link's counters in a namespace, and when they were read (ms). */
function counters(n: RelayNetwork, ns: string, dev: string): { at: number; rxBytes: number; rxPackets: number } {
  const r = n.topo.exec(ns, 'ip', ['-s', '-j', 'link', 'show', 'dev', dev]);
  const rx = (JSON.parse(r.stdout) as { stats64: { rx: { bytes: number; packets: number } } }[])[0]!.stats64.rx;
  return { at: performance.now(), rxBytes: rx.bytes, rxPackets: rx.packets };
}

/**
 * Median RTT in ms of 20 pings to the gateway, every 0.1 s; all must come back. The median, not
 * the mean: other tests share this machine's two cores, and one late reply is not latency; 20,
 * not 10, so that a few late ones are not either.
 */
function pingRtt(t: Test, n: RelayNetwork, ns: string): number {
  const r = n.topo.exec(ns, 'busybox', ['ping', '-c', '20', '-i', '0.1', '-W', '2', '192.168.86.1']);
  t.match(r.stdout, /20 packets received/, 'every ping came back');
  const rtts = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((x, y) => x - y);
  return rtts.length === 0 ? NaN : (rtts[(rtts.length - 1) >> 1]! + rtts[rtts.length >> 1]!) / 2;
}

t.test('a client that floods past its rate limit loses the excess, counted, and another client keeps its latency', async (t) => {
  // Guest 1 pings the gateway, guest 2 floods, guest 3 serves iperf3 (the gateway itself
  // accepts only DHCP, DNS and ping from clients).
  const n = await relayNetwork(t.teardown.bind(t), { rate_up_bytes: UP_BYTES, rate_up_frames: 5000, rate_down_frames: DOWN_FRAMES, rate_burst: 1 }, 3);
  const [g1, g2, g3] = n.guests as [string, string, string];
  const join = async (i: number): Promise<{ c: Proc; tap: string; ip: string }> => {
    const mark = n.server.mark();
    const c = n.topo.connect(n.guests[i - 1]!, n.url(i), ['--tap', 'wsn0']);
    await c.waitFor(/connected url=/);
    const tap = /tap=(\S+)/.exec(await n.server.waitFor(new RegExp(`client connected client_address=198\\.19\\.${i}\\.2 `), 20_000, mark))![1]!;
    return { c, tap, ip: n.topo.dhcp(n.guests[i - 1]!, 'wsn0').ip };
  };
  const { c: c1 } = await join(1);
  const { c: c2, tap: tap2 } = await join(2);
  const { ip: server } = await join(3);

  let port = 5201;
  /** Floods with iperf3 (ARGS), measures `dev` in `ns` while guest 1 pings; returns per second. */
  const flood = async (t: Test, args: string[], ns: string, dev: string, direction: 'up' | 'down'): Promise<{ bytes: number; packets: number; ping: number; idle: number }> => {
    // Idle again just before, under the same load from other test files as the flood will see.
    const idleNow = pingRtt(t, n, g1);
    const mark = n.server.mark();
    // iperf3 3.12 waits forever for the reply to its UDP "connect" datagram, and on a
    // rate-limited path one datagram may be lost: a try that does not start within 5 s is
    // killed and the flood tried again, each try with a one-off server of its own.
    for (let attempt = 1; ; attempt++) {
      const srv = n.topo.spawn(g3, 'stdbuf', ['-oL', 'iperf3', '-s', '-1', '-p', String(++port)]); // line-buffered through the pipe
      await srv.waitFor(/Server listening/);
      const client = n.topo.spawn(g2, 'stdbuf', ['-oL', 'iperf3', '-c', server, '-p', String(port), '-u', '-t', '5', ...args]);
      const started = await client.waitFor(/local .* connected to/, 5000).then(() => true, (err: Error) => {
        if (attempt === 3) throw err;
        t.comment(`iperf3 did not start (try ${attempt}), trying again`);
        return false;
      });
      if (started) return { ...(await measure(t, client, ns, dev, direction, mark)), idle: idleNow };
      client.child.kill('SIGKILL');
      srv.child.kill('SIGKILL');
      await Promise.all([client.exited, srv.exited]);
    }
  };
  const measure = async (t: Test, client: Proc, ns: string, dev: string, direction: 'up' | 'down', mark: number): Promise<{ bytes: number; packets: number; ping: number }> => {
    // Past the first burst: the relay logs the first frame it drops (the bucket is empty then).
    await n.server.waitFor(new RegExp(`client over its rate limit, excess dropped client_address=198\\.19\\.2\\.2 .*direction=${direction}`), 5000, mark);
    const a = counters(n, ns, dev);
    const ping = pingRtt(t, n, g1);
    const b = counters(n, ns, dev);
    t.equal(client.child.exitCode, null, 'the flood lasted the whole measurement');
    await client.exited;
    const s = (b.at - a.at) / 1000;
    return { bytes: (b.rxBytes - a.rxBytes) / s, packets: (b.rxPackets - a.rxPackets) / s, ping };
  };

  t.test('up: a UDP flood of 2.5 MB/s is cut to rate_up_bytes at the relay\'s TAP', async (t) => {
    const m = await flood(t, ['-b', '20M'], n.srv, tap2, 'up'); // the relay's writes are the TAP's rx
    t.comment(`up: ${(m.bytes / 1000).toFixed(0)} kB/s through (limit ${UP_BYTES / 1000} kB/s); guest 1 ping ${m.idle} ms idle, ${m.ping} ms during`);
    t.ok(m.bytes <= 2 * UP_BYTES, `${m.bytes.toFixed(0)} B/s <= 2 x the limit`);
    t.ok(m.bytes >= 0.3 * UP_BYTES, 'the flood did get its share through');
    t.ok(m.ping <= 2 * m.idle + 1, `guest 1 ping ${m.ping} ms <= 2 x ${m.idle} ms idle + 1 ms`);
  });

  t.test('after its flood, the flooding client\'s own path clears', async (t) => {
    const since = performance.now();
    let rtt = Infinity;
    while (rtt >= 50 && performance.now() - since < 30_000) {
      const r = n.topo.exec(g2, 'busybox', ['ping', '-c', '1', '-W', '1', '192.168.86.1']);
      rtt = Number(/time=([\d.]+) ms/.exec(r.stdout)?.[1] ?? Infinity);
    }
    t.ok(rtt < 50, `guest 2 pings the gateway within 50 ms again (${rtt} ms), ${((performance.now() - since) / 1000).toFixed(1)} s after its flood`);
  });

  t.test('down: a flood of small datagrams to a client is cut to rate_down_frames', async (t) => {
    const m = await flood(t, ['-R', '-l', '64', '-b', '1M'], g2, 'wsn0', 'down'); // what wsnic connect wrote to its TAP
    t.comment(`down: ${m.packets.toFixed(0)} frames/s through (limit ${DOWN_FRAMES}); guest 1 ping ${m.idle} ms idle, ${m.ping} ms during`);
    t.ok(m.packets <= 2 * DOWN_FRAMES, `${m.packets.toFixed(0)} frames/s <= 2 x the limit`);
    t.ok(m.packets >= 0.3 * DOWN_FRAMES, 'the flood did get its share through');
    t.ok(m.ping <= 2 * m.idle + 1, `guest 1 ping ${m.ping} ms <= 2 x ${m.idle} ms idle + 1 ms`);
  });

  t.test('the drops are counted in the disconnect line; the quiet client dropped nothing', async (t) => {
    const mark = n.server.mark();
    c2.child.kill('SIGTERM');
    c1.child.kill('SIGTERM');
    const line2 = await n.server.waitFor(/client disconnected client_address=198\.19\.2\.2 /, 10_000, mark);
    const line1 = await n.server.waitFor(/client disconnected client_address=198\.19\.1\.2 /, 10_000, mark);
    const field = (line: string, k: string): number => Number(new RegExp(` ${k}=(\\d+)`).exec(line)?.[1]);
    t.comment(`flooding client: limited_in=${field(line2, 'limited_in')} limited_out=${field(line2, 'limited_out')}`);
    t.ok(field(line2, 'limited_in') > 0, 'frames from the flooding client were dropped');
    t.ok(field(line2, 'limited_out') > 0, 'frames to it too');
    t.equal(field(line1, 'limited_in'), 0);
    t.equal(field(line1, 'limited_out'), 0);
    t.match(n.server.output(), /client over its rate limit, excess dropped client_address=198\.19\.2\.2 .*direction=up/);
  });
});

const MAC = '02:00:5e:86:00:01';

/** Joins guest i with its TAP's MAC set to MAC; IPv6 off, so no frame leaves before that. */
async function joinWithMac(n: RelayNetwork, i: number): Promise<ReturnType<RelayNetwork['topo']['connect']>> {
  const ns = n.guests[i - 1]!;
  n.topo.exec(ns, 'sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  const c = n.topo.connect(ns, n.url(i), ['--tap', 'wsn0']);
  await c.waitFor(/connected url=/);
  const r = n.topo.exec(ns, 'ip', ['link', 'set', 'wsn0', 'address', MAC]);
  if (r.code !== 0) throw new Error(`cannot set the MAC: ${r.stderr}`);
  return c;
}

/** One frame from guest i: an ARP request for the gateway (from an address it then drops). */
function oneFrame(n: RelayNetwork, i: number): void {
  const ns = n.guests[i - 1]!;
  n.topo.exec(ns, 'ip', ['addr', 'add', '192.168.86.250/24', 'dev', 'wsn0']);
  n.topo.exec(ns, 'busybox', ['arping', '-c', '1', '-w', '1', '-I', 'wsn0', '192.168.86.1']);
  n.topo.exec(ns, 'ip', ['addr', 'flush', 'dev', 'wsn0']);
}

const gatewayPings = (n: RelayNetwork, i: number): string => n.topo.exec(n.guests[i - 1]!, 'busybox', ['ping', '-c', '3', '-W', '2', '192.168.86.1']).stdout;

t.test('two clients with one MAC: warned about by default', async (t) => {
  const n = await relayNetwork(t.teardown.bind(t), {}, 2);
  await joinWithMac(n, 1);
  n.topo.dhcp(n.guests[0]!, 'wsn0');
  await joinWithMac(n, 2);
  oneFrame(n, 2);
  const warning = await n.server.waitFor(/duplicate MAC/, 5000);
  t.match(warning, new RegExp(`^warning: duplicate MAC, both clients kept client_address=198\\.19\\.2\\.2 .*tap=wstap1 .*mac=${MAC} other_tap=wstap0`));
  // The copy cannot use the first one's address: the lease belongs to the MAC's first holder.
  const ip = n.topo.exec(n.guests[0]!, 'ip', ['-4', '-o', 'addr', 'show', 'wsn0']).stdout.match(/inet (\S+)/)![1]!;
  n.topo.exec(n.guests[1]!, 'ip', ['addr', 'add', ip, 'dev', 'wsn0']);
  n.topo.exec(n.guests[1]!, 'ip', ['route', 'add', 'default', 'via', '192.168.86.1']);
  t.match(gatewayPings(n, 2), /0 packets received/, 'the second gets nowhere from the first one\'s address');
  t.match(gatewayPings(n, 1), /3 packets received/, 'the first keeps it');
});

t.test('with duplicate_mac = refuse the second client is closed with 1008; the first keeps working, and the MAC is free once it leaves', async (t) => {
  const n = await relayNetwork(t.teardown.bind(t), { duplicate_mac: 'refuse' }, 2);
  const c1 = await joinWithMac(n, 1);
  n.topo.dhcp(n.guests[0]!, 'wsn0');
  const c2 = await joinWithMac(n, 2);
  const refusedAt = c2.mark();
  oneFrame(n, 2);
  const closed = await c2.waitFor(/disconnected, reconnecting/, 5000, refusedAt);
  t.match(closed, new RegExp(`code=1008 reason="MAC ${MAC} is in use by another client"`));
  t.match(await n.server.waitFor(/duplicate MAC/, 5000), new RegExp(`warning: duplicate MAC, client refused client_address=198\\.19\\.2\\.2 .*mac=${MAC} other_tap=wstap0`));
  t.match(gatewayPings(n, 1), /3 packets received/, 'the first client still reaches the gateway');

  await c2.waitFor(/connected url=/, 10_000, c2.output().indexOf(closed, refusedAt)); // its reconnection, silent so far
  const left = n.server.mark();
  c1.child.kill('SIGTERM');
  await n.server.waitFor(/client disconnected client_address=198\.19\.1\.2 /, 10_000, left);
  n.topo.dhcp(n.guests[1]!, 'wsn0');
  t.match(gatewayPings(n, 2), /3 packets received/, 'the MAC was released: the second client binds it now');
});
