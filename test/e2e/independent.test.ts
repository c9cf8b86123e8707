/**
 * Done-when check of the relay issue: a WebSocket client nobody on the project wrote
 * (python3-websockets bridging a TAP) against `wsnic run` started as the README says (npm start),
 * gets a lease, pings the gateway and another guest, and reaches the outside through NAT.
 */
import t from 'tap';
import { join } from 'node:path';
import { ROOT, Topology, sh } from './topology';

t.test('an independent RFC 6455 client joins the network through `npm start`', async (t) => {
  const topo = new Topology();
  t.teardown(() => topo.cleanup());
  const srv = topo.ns('srv');
  const inet = topo.ns('inet');
  const g1 = topo.ns('g1');
  const g2 = topo.ns('g2');
  topo.link(srv, 'uplink0', '198.18.0.1/24', inet, 'eth0', '198.18.0.2/24');
  sh('ip', ['-n', srv, 'route', 'add', 'default', 'via', '198.18.0.2']);
  topo.link(srv, 'ctl1', '198.19.1.1/24', g1, 'ctl0', '198.19.1.2/24');
  topo.link(srv, 'ctl2', '198.19.2.1/24', g2, 'ctl0', '198.19.2.2/24');
  sh('mkdir', ['-p', join(topo.dir, 'dnsmasq.d')]);
  topo.file('dnsmasq.d/test.conf', 'no-resolv\n'); // no query leaves for the host's resolver

  const http = topo.spawn(inet, process.execPath, ['-e', "require('http').createServer((q, s) => s.end(q.socket.remoteAddress.replace('::ffff:', ''))).listen(8080, () => console.log('http ready'))"]);
  await http.waitFor(/http ready/);
  // README: `npm start` is `wsnic run`; options after `--`. Here: listen beyond loopback, NAT on.
  const server = topo.spawn(srv, 'npm', ['start', '--silent', '--', '-a', '0.0.0.0', '-i', '--runtime-dir', join(topo.dir, 'run'), '--dnsmasq-conf-dir', join(topo.dir, 'dnsmasq.d')]);
  await server.waitFor(/listening url=ws:\/\/0\.0\.0\.0:8086\//);

  // Debian's interpreter, which has python3-websockets (a python3 earlier in PATH may not).
  const py = topo.spawn(g1, '/usr/bin/python3', [join(ROOT, 'test', 'fixtures', 'rfc6455_tap.py'), 'ws://198.19.1.1:8086/', 'indep0']);
  await py.waitFor(/^connected/);
  const other = topo.connect(g2, 'ws://198.19.2.1:8086/', ['--tap', 'wsn0']);
  await other.waitFor(/connected url=/);

  const lease = topo.dhcp(g1, 'indep0');
  const peer = topo.dhcp(g2, 'wsn0');
  t.match(lease.ip, /^192\.168\.86\./, `lease in ${lease.ms} ms`);
  t.match(topo.exec(g1, 'busybox', ['ping', '-c', '2', '-W', '2', '192.168.86.1']).stdout, /2 packets received/, 'gateway');
  t.match(topo.exec(g1, 'busybox', ['ping', '-c', '2', '-W', '2', peer.ip]).stdout, /2 packets received/, 'the other guest');
  const r = topo.httpGet(g1, 'http://198.18.0.2:8080/');
  t.equal(r.stdout, '198.18.0.1', `the outside through NAT ${r.stderr}`);
});
