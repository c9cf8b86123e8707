/**
 * The .deb runs on Debian 12's own nodejs (18.20), while development uses Node 20: the built
 * relay (JS, ws, the N-API addon) must serve a guest under both. Here under 18.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, WSNIC, relayNetwork } from './topology';

t.test('wsnic run on Debian 12\'s nodejs 18 serves a guest', async (t) => {
  const node18 = execFileSync(join(ROOT, 'test', 'tools', 'debian-node18.sh'), { encoding: 'utf8' }).trim().split('\n').pop()!;
  t.match(execFileSync(node18, ['--version'], { encoding: 'utf8' }), /^v18\./);
  const n = await relayNetwork(t.teardown.bind(t), {}, 1, (topo, srv, dropin) => {
    const conf = topo.file('node18.conf', `ws_address = 0.0.0.0\nruntime_dir = ${join(topo.dir, 'run')}\ndnsmasq_conf_dir = ${dropin}\n`);
    return topo.spawn(srv, node18, [WSNIC, 'run', '-c', conf]);
  });
  const c = n.topo.connect(n.guests[0]!, n.url(1), ['--tap', 'wsn0']);
  await c.waitFor(/connected url=/);
  const lease = n.topo.dhcp(n.guests[0]!, 'wsn0');
  t.match(lease.ip, /^192\.168\.86\./);
  t.match(n.topo.exec(n.guests[0]!, 'busybox', ['ping', '-c', '2', '-W', '2', '192.168.86.1']).stdout, /2 packets received/);
  n.server.child.kill('SIGTERM');
  t.equal(await n.server.exited, 0, 'clean exit under node 18');
  t.match(n.server.output(), /bridge removed/);
});
