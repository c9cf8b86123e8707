/**
 * isolate_clients: clients reach the gateway, DHCP/DNS and the outside, not each other, also
 * across leaf bridges (port limit 1 here puts each of three guests on its own bridge).
 */
import t from 'tap';
import { relayNetwork, INTERNET } from './topology';

t.test('with isolate_clients a client reaches the gateway and the outside but no other client', async (t) => {
  const n = await relayNetwork(t.teardown.bind(t), { enable_inet: 1, isolate_clients: 1, bridge_port_limit: 2 }, 4);
  await n.outside();
  const ips = await n.joinAll(); // DHCP works through isolation
  const ping = (from: number, to: string): boolean => /1 packets received/.test(n.topo.exec(n.guests[from - 1]!, 'busybox', ['ping', '-c', '1', '-W', '1', to]).stdout);
  t.ok(ping(1, '192.168.86.1'), 'main-bridge client reaches the gateway');
  t.ok(ping(4, '192.168.86.1'), 'leaf client reaches the gateway');
  t.notOk(ping(1, ips[1]!), 'two clients on the main bridge do not reach each other');
  t.notOk(ping(1, ips[2]!), 'main to leaf: no');
  t.notOk(ping(3, ips[3]!), 'two clients on one leaf: no');
  t.notOk(ping(4, ips[0]!), 'leaf to main: no');
  t.equal(n.topo.httpGet(n.guests[3]!, `http://${INTERNET}:8080/`).stdout, '198.18.0.1', 'the outside through NAT');
  t.match(n.topo.exec(n.guests[0]!, 'busybox', ['nslookup', 'www.example.test', '192.168.86.1']).stdout, new RegExp(INTERNET.replace(/\./g, '\\.')), 'DNS on the bridge');
});
