/**
 * Past the per-bridge port limit TAPs go to leaf bridges joined to wsbr0: one L2 segment with
 * the same DHCP, DNS and NAT, and nothing left behind. The limit is lowered to 2 here (1,000 by
 * default, under the kernel's 1,023 ports per bridge) so that five guests need two leaves.
 */
import t from 'tap';
import { relayNetwork, INTERNET } from './topology';

t.test('clients beyond a bridge\'s port limit land on leaf bridges and reach everyone', async (t) => {
  const n = await relayNetwork(t.teardown.bind(t), { enable_inet: 1, bridge_port_limit: 2 }, 5);
  await n.outside();
  const leases = await n.joinAll(); // one after another: the order of ports, so of bridges, is known
  t.equal(new Set(leases).size, 5, `five leases: ${leases.join(' ')}`);
  const masterOf = (tap: string): string => /master (\S+)/.exec(n.topo.exec(n.srv, 'ip', ['-o', 'link', 'show', 'dev', tap]).stdout)?.[1] ?? '';
  t.same(['wstap0', 'wstap1', 'wstap2', 'wstap3', 'wstap4'].map(masterOf), ['wsbr0', 'wsbr0', 'wsbr0l1', 'wsbr0l1', 'wsbr0l2']);
  t.equal(masterOf('wsbr0l1a'), 'wsbr0', 'each leaf hangs off the main bridge');
  t.match(n.server.output(), /leaf bridge added bridge=wsbr0l2 joined_to=wsbr0/);

  const last = n.guests[4]!;
  t.match(n.topo.exec(last, 'busybox', ['ping', '-c', '2', '-W', '2', '192.168.86.1']).stdout, /2 packets received/, 'a leaf guest reaches the gateway');
  t.match(n.topo.exec(last, 'busybox', ['ping', '-c', '2', '-W', '2', leases[0]!]).stdout, /2 packets received/, 'and a guest on the main bridge');
  t.match(n.topo.exec(n.guests[2]!, 'busybox', ['ping', '-c', '2', '-W', '2', leases[4]!]).stdout, /2 packets received/, 'leaf to leaf');
  const out = n.topo.httpGet(last, `http://${INTERNET}:8080/`);
  t.equal(out.stdout, '198.18.0.1', `and the outside, through NAT: ${out.stderr}`);

  n.server.child.kill('SIGTERM');
  t.equal(await n.server.exited, 0);
  t.notMatch(n.topo.exec(n.srv, 'ip', ['-o', 'link']).stdout, /wsbr0|wstap/, 'no bridge, leaf, veth or TAP left');
});

t.test('a leaf that cannot be made refuses only the client that needed it, touches no link it did not make, and is made once it can be', async (t) => {
  const n = await relayNetwork(t.teardown.bind(t), { bridge_port_limit: 1 }, 2);
  const [g1, g2] = n.guests as [string, string];
  // Someone else's link holds the first leaf's name (a veth: the start-up sweep removes only bridges).
  t.equal(n.topo.exec(n.srv, 'ip', ['link', 'add', 'wsbr0l1', 'type', 'veth', 'peer', 'name', 'foreign0']).code, 0);
  await n.joinAll([], 1);
  const lease1 = n.topo.dhcp(g1, 'wsn0').ip;

  const mark = n.server.mark();
  const c2 = n.topo.connect(g2, n.url(2), ['--tap', 'wsn0']);
  const refused = await n.server.waitFor(/client refused client_address=198\.19\.2\.2 /, 10_000, mark);
  t.match(refused, /reason="no bridge port: ip -batch - failed: .*File exists/, 'refused with the step that failed');
  t.match(await c2.waitFor(/disconnected, reconnecting/, 10_000), /code=1011 reason="no bridge port: /, 'the client is told why');
  t.match(n.topo.exec(n.srv, 'ip', ['-d', '-o', 'link', 'show', 'dev', 'wsbr0l1']).stdout, /veth/, 'the foreign link is untouched');
  t.notMatch(n.topo.exec(n.srv, 'ip', ['-o', 'link']).stdout, /wsbr0l1a/, 'no half-made leaf is left');
  t.match(n.topo.exec(g1, 'busybox', ['ping', '-c', '2', '-W', '2', '192.168.86.1']).stdout, /2 packets received/, `the first client (${lease1}) is unaffected`);

  n.topo.exec(n.srv, 'ip', ['link', 'del', 'wsbr0l1']);
  const joined = n.server.mark();
  await n.server.waitFor(/client connected client_address=198\.19\.2\.2 /, 20_000, joined); // wsnic connect retries by itself
  t.match(n.server.output().slice(joined), /leaf bridge added bridge=wsbr0l1 joined_to=wsbr0/);
  const lease2 = n.topo.dhcp(g2, 'wsn0').ip;
  t.match(n.topo.exec(g2, 'busybox', ['ping', '-c', '2', '-W', '2', lease1]).stdout, /2 packets received/, `then the leaf's client (${lease2}) reaches the first`);
});
