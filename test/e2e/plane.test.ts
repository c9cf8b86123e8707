/**
 * The native data path runs off Node's event loop: with the relay's loop blocked for 2 s (SIGUSR2
 * to a relay that test/tools/block-loop.js was preloaded into), an established ws:// session's
 * pings keep coming back on time. The same run on the JavaScript path (data_path = js) shows the stall the hook makes,
 * so the check can fail.
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { relayNetwork, ROOT } from './topology';

/** Pings the gateway every 20 ms for 4 s; once ten replies came, the relay's loop is blocked for 2 s. */
async function pingThroughBlock(t: Test, dataPath: 'native' | 'js'): Promise<{ received: number; maxMs: number; line: string }> {
  // (the node processes the test starts: the relay, and the guest's `wsnic connect`, never signalled)
  process.env.NODE_OPTIONS = `--require ${JSON.stringify(join(ROOT, 'test', 'tools', 'block-loop.js'))}`;
  const n = await relayNetwork(t.teardown.bind(t), { data_path: dataPath }, 1);
  await n.joinAll();
  const line = await n.server.waitFor(/client connected .*path=/);
  const ping = n.topo.spawn(n.guests[0]!, 'busybox', ['ping', '-i', '0.02', '-c', '200', '-W', '5', '192.168.86.1']);
  await ping.waitFor(/seq=9 /, 10_000); // frames flow before the block
  const mark = n.server.mark();
  process.kill(n.server.child.pid!, 'SIGUSR2');
  await n.server.waitFor(/test: event loop blocked/, 5000, mark);
  await n.server.waitFor(/test: event loop free/, 10_000, mark);
  await ping.exited;
  const times = [...ping.output().matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  return { received: times.length, maxMs: Math.max(...times), line };
}

t.test('native path: frames of an established session flow while the event loop is blocked for 2 s', async (t) => {
  const r = await pingThroughBlock(t, 'native');
  t.match(r.line, /path=native/, 'the session is on the native path');
  t.equal(r.received, 200, 'every ping came back');
  t.ok(r.maxMs < 200, `no ping waited for the loop (slowest ${r.maxMs} ms)`);
});

t.test('js path (the contrast): the same block stalls its frames', async (t) => {
  const r = await pingThroughBlock(t, 'js');
  t.match(r.line, /path=js/, 'the session is on the JavaScript path');
  t.ok(r.maxMs >= 1000, `a ping waited for the loop (slowest ${r.maxMs} ms)`);
});
