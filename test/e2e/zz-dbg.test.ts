import t from 'tap';
import { join } from 'node:path';
import { relayNetwork, ROOT } from './topology';
t.test('dbg', async (t) => {
  const n = await relayNetwork(t.teardown.bind(t), { ping_interval: 1, idle_timeout: 3 }, 2);
  const good = n.topo.connect(n.guests[0]!, n.url(1), ['--tap', 'wsn0', '-v']);
  await good.waitFor(/connected url=/);
  await n.server.waitFor(/client connected .*tap=wstap0/);
  n.topo.dhcp(n.guests[0]!, 'wsn0');
  const probe = n.topo.spawn(n.guests[1]!, process.execPath, [join(ROOT, 'test/fixtures/probe.js'), 'silent', n.url(2), '8']);
  for (let i = 0; i < 12; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    console.log(i, n.topo.exec(n.guests[0]!, 'busybox', ['ping', '-c', '1', '-W', '1', '192.168.86.1']).stdout.includes('1 packets received'));
  }
  await probe.exited;
  console.log('SERVER:', n.server.output().split('\n').filter((l) => /client|DBG/.test(l)).slice(-40).join('\n'));
});
