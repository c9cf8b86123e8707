/**
 * The whole path with the real parts: `wsnic run` in a server namespace (bridge, nftables,
 * dnsmasq), two guest namespaces joined with `wsnic connect`, busybox udhcpc for leases, and an
 * "internet" namespace behind the server's uplink.
 */
import t from 'tap';
import { relayNetwork, type Topology, INTERNET } from './topology';

t.test('two guests on a relay with NAT: lease, ping, DNS, the outside, jumbo frames, clean teardown', async (t) => {
  const n = await relayNetwork(t.teardown.bind(t), { enable_inet: 1, dhcp_domain_name: 'wsnic.test', mtu: 65521 }, 2);
  const { topo, srv, server } = n;
  const [g1, g2] = n.guests as [string, string];
  t.match(server.output(), /bridge ready bridge=wsbr0 address=192\.168\.86\.1\/24 nat=uplink0/, 'NAT goes out of the default route interface');
  const forwardBefore = '0'; // a new namespace starts with forwarding off
  await n.outside();

  const c1 = topo.connect(g1, n.url(1), ['--tap', 'wsn0', '--mtu', '65521']);
  const c2 = topo.connect(g2, n.url(2), ['--tap', 'wsn0', '--mtu', '65521']);
  await c1.waitFor(/connected url=/);
  await c2.waitFor(/connected url=/);

  const lease = (ns: string): ReturnType<Topology['dhcp']> => {
    try {
      return topo.dhcp(ns, 'wsn0');
    } catch (err) {
      throw new Error(`${(err as Error).message}\nserver:\n${server.output()}`);
    }
  };
  const l1 = lease(g1);
  const l2 = lease(g2);
  t.comment(`time to lease: ${l1.ms} ms and ${l2.ms} ms`);
  t.test('each guest gets a lease from the pool with the bridge as router and DNS', async (t) => {
    for (const l of [l1, l2]) {
      t.match(l.ip, /^192\.168\.86\.(\d+)$/);
      t.not(l.ip, '192.168.86.1');
      t.equal(l.mask, '24');
      t.equal(l.router, '192.168.86.1');
      t.equal(l.dns, '192.168.86.1');
      t.equal(l.domain, 'wsnic.test');
    }
    t.not(l1.ip, l2.ip, 'two guests, two addresses');
  });

  t.test('a guest pings the gateway and the other guest', async (t) => {
    const gw = topo.exec(g1, 'busybox', ['ping', '-c', '3', '-W', '2', '192.168.86.1']);
    t.match(gw.stdout, /3 packets received/, gw.stdout + gw.stderr);
    const peer = topo.exec(g1, 'busybox', ['ping', '-c', '3', '-W', '2', l2.ip]);
    t.match(peer.stdout, /3 packets received/, peer.stdout + peer.stderr);
  });

  t.test('a name resolves through dnsmasq on the bridge', async (t) => {
    const r = topo.exec(g1, 'busybox', ['nslookup', 'www.example.test', '192.168.86.1']);
    t.match(r.stdout, new RegExp(`Address:\\s+${INTERNET.replace(/\./g, '\\.')}`), r.stdout + r.stderr);
  });

  t.test('a guest reaches the outside through NAT, seen as the uplink address', async (t) => {
    const r = topo.httpGet(g1, `http://${INTERNET}:8080/`);
    t.equal(r.stdout, '198.18.0.1', r.stderr);
    t.equal(topo.exec(srv, 'cat', ['/proc/sys/net/ipv4/ip_forward']).stdout.trim(), '1', 'forwarding on while NAT is');
    const rules = topo.exec(srv, 'nft', ['list', 'table', 'inet', 'wsnic']);
    t.match(rules.stdout, /masquerade/);
  });

  t.test('a 60,000-byte frame passes both ways (MTU 65521, the TAP maximum)', async (t) => {
    // 59,972 bytes of ICMP payload + 28 bytes of headers = a 60,000-byte IP packet, 60,014-byte frame,
    // not IP fragments: both guests' TAPs took connect's --mtu (a flag of the mtu key once took it).
    for (const g of [g1, g2]) t.equal((JSON.parse(topo.exec(g, 'ip', ['-j', 'link', 'show', 'wsn0']).stdout) as { mtu: number }[])[0]!.mtu, 65521, `${g}'s TAP MTU`);
    const peer = topo.exec(g1, 'busybox', ['ping', '-c', '2', '-W', '3', '-s', '59972', l2.ip]);
    t.match(peer.stdout, /2 packets received/, peer.stdout + peer.stderr);
    t.match(peer.stdout, /59980 bytes from/, 'the reply is as large (busybox counts ICMP header + payload)');
    const gw = topo.exec(g2, 'busybox', ['ping', '-c', '2', '-W', '3', '-s', '59972', '192.168.86.1']);
    t.match(gw.stdout, /2 packets received/, gw.stdout + gw.stderr);
  });

  t.test('an abrupt disconnect removes only that client\'s TAP', async (t) => {
    // waitFor, not a look at output(): the subtests before ran synchronously, so the server's
    // latest output may not have been read yet.
    const tapOf = async (addr: string): Promise<string> =>
      /tap=(\S+)/.exec(await server.waitFor(new RegExp(`client connected client_address=${addr.replace(/\./g, '\\.')} `)))![1]!;
    const [tap1, tap2] = [await tapOf('198.19.1.2'), await tapOf('198.19.2.2')];
    const before = topo.exec(srv, 'ip', ['-o', 'link', 'show', 'master', 'wsbr0']).stdout;
    t.match(before, new RegExp(`${tap1}:`));
    t.match(before, new RegExp(`${tap2}:`));
    c2.child.kill('SIGKILL');
    await server.waitFor(new RegExp(`client disconnected .*tap=${tap2} `));
    const after = topo.exec(srv, 'ip', ['-o', 'link', 'show']).stdout;
    t.notMatch(after, new RegExp(`${tap2}:`), 'its TAP is gone');
    t.match(after, new RegExp(`${tap1}:`), 'the other TAP stays');
    const gw = topo.exec(g1, 'busybox', ['ping', '-c', '2', '-W', '2', '192.168.86.1']);
    t.match(gw.stdout, /2 packets received/, 'the other guest still works');
  });

  t.test('SIGTERM tears down everything wsnic made, and nothing else', async (t) => {
    server.child.kill('SIGTERM');
    t.equal(await server.exited, 0, server.output());
    t.match(server.output(), /client disconnected .*code=1001/);
    const links = topo.exec(srv, 'ip', ['-o', 'link', 'show']).stdout;
    t.notMatch(links, /wsbr0|wstap/, 'no bridge, holder or TAP left');
    t.match(links, /uplink0/, 'interfaces wsnic did not make are still there');
    t.equal(topo.exec(srv, 'nft', ['list', 'table', 'inet', 'wsnic']).code, 1, 'no nftables table left');
    t.equal(topo.exec(srv, 'cat', ['/proc/sys/net/ipv4/ip_forward']).stdout.trim(), forwardBefore, 'ip_forward as before');
    const pids = topo.exec(srv, 'ip', ['netns', 'pids', srv]).stdout.trim().split('\n').filter(Boolean);
    const names = pids.map((p) => topo.exec(srv, 'cat', [`/proc/${p}/comm`]).stdout.trim());
    t.notOk(names.includes('dnsmasq'), `no dnsmasq left (${names.join(',')})`);
  });
});
