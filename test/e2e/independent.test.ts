/**
 * A WebSocket client nobody on the project wrote
 * (python3-websockets bridging a TAP) against `wsnic run` started as the README says (npm start),
 * gets a lease, pings the gateway and another guest, and reaches the outside through NAT.
 */
import t from 'tap';
import { join } from 'node:path';
import { ROOT, relayNetwork, INTERNET } from './topology';

t.test('an independent RFC 6455 client joins the network through `npm start`', async (t) => {
  // README: `npm start` is `wsnic run`; options after `--`. Here: listen beyond loopback, NAT on.
  const n = await relayNetwork(t.teardown.bind(t), {}, 2, (topo, srv, dropin) =>
    topo.spawn(srv, 'npm', ['start', '--silent', '--', '-a', '0.0.0.0', '-i', '--runtime-dir', join(topo.dir, 'run'), '--dnsmasq-conf-dir', dropin]));
  const [g1, g2] = n.guests as [string, string];
  await n.outside();

  // Debian's interpreter, which has python3-websockets (a python3 earlier in PATH may not).
  const py = n.topo.spawn(g1, '/usr/bin/python3', [join(ROOT, 'test', 'fixtures', 'rfc6455_tap.py'), n.url(1), 'indep0']);
  await py.waitFor(/^connected/);
  const other = n.topo.connect(g2, n.url(2), ['--tap', 'wsn0']);
  await other.waitFor(/connected url=/);

  const lease = n.topo.dhcp(g1, 'indep0');
  const peer = n.topo.dhcp(g2, 'wsn0');
  t.match(lease.ip, /^192\.168\.86\./, `lease in ${lease.ms} ms`);
  t.match(n.topo.exec(g1, 'busybox', ['ping', '-c', '2', '-W', '2', '192.168.86.1']).stdout, /2 packets received/, 'gateway');
  t.match(n.topo.exec(g1, 'busybox', ['ping', '-c', '2', '-W', '2', peer.ip]).stdout, /2 packets received/, 'the other guest');
  const r = n.topo.httpGet(g1, `http://${INTERNET}:8080/`);
  t.equal(r.stdout, '198.18.0.1', `the outside through NAT ${r.stderr}`);
});
