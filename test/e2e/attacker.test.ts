/**
 * An independent attacker (test/fixtures/attacker.py on Debian's python3-websockets, not wsnic's
 * code) tries every admission control and a flood against one relay, while a well-behaved guest
 * on the same relay keeps its lease and its latency.
 */
import t from 'tap';
import { join } from 'node:path';
import { relayNetwork, ROOT, type RelayNetwork } from './topology';

const ATTACKER = join(ROOT, 'test', 'fixtures', 'attacker.py');

function attack(n: RelayNetwork, args: string[], ns = n.guests[1]!): Record<string, unknown> {
  // Debian's interpreter, which has python3-websockets (a python3 earlier in PATH may not).
  const r = n.topo.exec(ns, '/usr/bin/python3', [ATTACKER, ...args], 30_000);
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new Error(`attacker ${args[0]} printed nothing: ${r.stdout} ${r.stderr}`);
  return JSON.parse(line) as Record<string, unknown>;
}

/**
 * Median RTT of 20 pings, in ms: a median, so one scheduling hiccup on 2 shared cores is not it,
 * of 20 (not 10) so that a few of them (other test files run beside this one) are not either.
 */
function rtt(n: RelayNetwork, count = 20): number {
  const r = n.topo.exec(n.guests[0]!, 'busybox', ['ping', '-c', String(count), '-i', '0.1', '-W', '2', '192.168.86.1']);
  const times = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
  if (times.length < count / 2) throw new Error(`the good guest lost its pings: ${r.stdout}`);
  return times[Math.floor(times.length / 2)]!;
}

t.test('an independent attacker is refused at every control; the good guest keeps lease and latency', async (t) => {
  const n = await relayNetwork(t.teardown.bind(t), {}, 2, (topo, srv, dropin) => {
    const tokens = topo.file('tokens', 'good-token\nold-token\n');
    return topo.wsnic(srv, {
      ws_address: '0.0.0.0', dnsmasq_conf_dir: dropin, enable_inet: 1,
      allowed_origins: 'https://emu.example.org', auth_tokens_file: tokens,
      max_clients: 3, max_clients_per_ip: 2, handshake_timeout: 2,
      rate_up_bytes: 300_000, rate_up_frames: 300,
    });
  });
  const good = n.topo.connect(n.guests[0]!, `${n.url(1)}?token=good-token`, ['--tap', 'wsn0']);
  await good.waitFor(/connected url=/);
  const lease = n.topo.dhcp(n.guests[0]!, 'wsn0').ip;
  const idle = rtt(n);
  const url = n.url(2);
  const taps = (): string[] => n.topo.exec(n.srv, 'ip', ['-o', 'link']).stdout.match(/ wstap\d+/g) ?? [];
  const tapsBefore = taps().length;

  t.equal(attack(n, ['status', `${url}?token=good-token`, 'https://evil.example']).status, 403, 'a foreign Origin: 403');
  t.equal(attack(n, ['status', url]).status, 401, 'no token: 401');
  t.equal(attack(n, ['status', `${url}?token=guess`]).status, 401, 'a wrong token: 401');
  t.equal(attack(n, ['status', url, '', 'guess']).status, 401, 'a wrong token as a protocol: 401');
  n.topo.file('tokens', 'good-token\n');
  const mark = n.server.mark();
  n.server.child.kill('SIGHUP');
  await n.server.waitFor(/tokens reloaded/, 5000, mark);
  t.equal(attack(n, ['status', `${url}?token=old-token`]).status, 401, 'an expired token (removed, SIGHUP): 401');
  t.equal(taps().length, tapsBefore, 'no TAP for any of them');

  // Three at once from one address: two pass, the third gets 429.
  const held = attack(n, ['hold', `${url}?token=good-token`, '3', '0']).statuses as number[];
  t.same(held, [101, 101, 429], 'the (N+1)th from one address: 429');
  const slow = attack(n, ['slowloris', '198.19.2.1', '8086']).closed_after_ms as number;
  t.ok(slow >= 1900 && slow < 3500, `a slow-loris handshake cut after ${slow} ms (handshake_timeout 2 s)`);

  // The flood: the rate limit drops the excess and counts it; the good guest hardly notices.
  const flooded = n.server.mark();
  const flooding = n.topo.spawn(n.guests[1]!, '/usr/bin/python3', [ATTACKER, 'flood', `${url}?token=good-token`, '5']);
  // Measured once the flood is past its burst: the relay says when it starts dropping.
  const limited = await n.server.waitFor(/client over its rate limit, excess dropped client_address=198\.19\.2\.2 .*direction=up/, 10_000, flooded);
  const floodPort = /client_port=(\d+)/.exec(limited)![1]!;
  const during = rtt(n);
  t.equal(flooding.child.exitCode, null, 'the flood was still on while the good guest pinged');
  await flooding.exited;
  const sent = (JSON.parse(flooding.output().split('\n').find((l) => l.startsWith('{'))!) as { sent: number }).sent;
  // Its session's line (the earlier clients' lines come once their TAPs are gone, maybe later).
  const gone = await n.server.waitFor(new RegExp(`client disconnected client_address=198\\.19\\.2\\.2 client_port=${floodPort} `), 30_000, flooded);
  t.match(gone, / limited_in=[1-9]\d* /, `the flood of ${sent} frames was cut: ${/limited_in=\d+/.exec(gone)?.[0]}`);

  // The total limit (3): the good guest and two held from the attacker's address; one more
  // from another address (the server's own loopback) is one too many.
  const two = n.topo.spawn(n.guests[1]!, '/usr/bin/python3', [ATTACKER, 'hold', `${url}?token=good-token`, '2', '4']);
  await two.waitFor(/"statuses"/);
  t.match(two.output(), /"statuses": \[101, 101\]/);
  t.equal(attack(n, ['status', 'ws://127.0.0.1:8086/?token=good-token'], n.srv).status, 503, 'the (N+1)th overall: 503');
  await two.exited;

  t.equal(n.topo.dhcp(n.guests[0]!, 'wsn0').ip, lease, 'the good guest keeps its lease');
  const after = rtt(n);
  t.comment(`good guest ping median: ${idle} ms idle, ${during} ms during the flood, ${after} ms after`);
  t.ok(during <= 2 * idle + 1, `latency during the flood within 2x idle (+1 ms slack): ${idle} -> ${during} ms`);
  t.ok(after <= 2 * idle + 1, `and after: ${after} ms`);
});
