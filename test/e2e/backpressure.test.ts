/**
 * A client that stops reading while another floods it: the relay stops reading that client's
 * TAP instead of buffering, its memory stays bounded, and other clients keep working.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, relayNetwork } from './topology';

const rssKiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

t.test('a slow consumer under a flood gets backpressure; relay memory stays bounded', async (t) => {
  // bind_client_ip=0: the flood is raw frames between two clients that hold no lease.
  const n = await relayNetwork(t.teardown.bind(t), { bind_client_ip: 0 }, 2);
  const good = n.topo.connect(n.guests[0]!, n.url(1), ['--tap', 'wsn0']);
  await good.waitFor(/connected url=/);
  n.topo.dhcp(n.guests[0]!, 'wsn0');
  const pid = n.server.child.pid!;
  const idle = n.topo.exec(n.guests[0]!, 'busybox', ['ping', '-c', '5', '-i', '0.2', '-W', '2', '192.168.86.1']);
  t.match(idle.stdout, /5 packets received/);

  const base = rssKiB(pid);
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, rssKiB(pid))), 100);
  const flood = n.topo.spawn(n.guests[1]!, process.execPath, [join(ROOT, 'test', 'fixtures', 'flood.js'), n.url(2), '4']);
  await flood.waitFor(/"flooding"/);
  const during = n.topo.exec(n.guests[0]!, 'busybox', ['ping', '-c', '5', '-i', '0.2', '-W', '2', '192.168.86.1']);
  const done = await flood.waitFor(/"done"/, 20_000);
  clearInterval(sampler);
  const slowGone = await n.server.waitFor(/client disconnected .*mac=02:aa:aa:aa:aa:01/, 10_000);

  const sentBytes = (JSON.parse(done) as { bytes: number }).bytes;
  const stalls = Number(/stalls=(\d+)/.exec(slowGone)![1]);
  const avg = (s: string): string => /min\/avg\/max = [\d.]+\/([\d.]+)/.exec(s)?.[1] ?? '?';
  t.comment(`flood: ${(sentBytes / 1e6).toFixed(0)} MB offered in 4 s; relay RSS ${base} KiB before, ${peak} KiB peak; ` +
    `stalls ${stalls}; good guest ping avg ${avg(idle.stdout)} ms idle, ${avg(during.stdout)} ms during`);
  t.ok(sentBytes > 64 * 1024 * 1024, 'the flood offered more than the bound would allow to buffer');
  t.ok(stalls >= 1, 'the slow client\'s TAP was paused');
  t.ok(peak - base < 64 * 1024, `relay RSS grew by ${peak - base} KiB (< 64 MiB) while ${(sentBytes / 1e6).toFixed(0)} MB were offered`);
  t.match(during.stdout, /5 packets received/, 'the good guest kept its network during the flood');
});
