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
