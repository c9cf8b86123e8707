/** `wsnic setup` / `teardown`: idempotent, exact inverses, and NAT only when asked for. */
import t from 'tap';
import { join } from 'node:path';
import { relayNetwork, Topology, WSNIC, INTERNET } from './topology';

t.test('with enable_inet=0 a guest has the network but not the outside', async (t) => {
  const n = await relayNetwork(t.teardown.bind(t), { enable_inet: 0 });
  t.match(n.server.output(), /nat=off/);
  await n.outside();
  const c = n.topo.connect(n.guests[0]!, n.url(1), ['--tap', 'wsn0']);
  await c.waitFor(/connected url=/);
  n.topo.dhcp(n.guests[0]!, 'wsn0');
  t.match(n.topo.exec(n.guests[0]!, 'busybox', ['ping', '-c', '1', '-W', '2', '192.168.86.1']).stdout, /1 packets received/);
  const r = n.topo.httpGet(n.guests[0]!, `http://${INTERNET}:8080/`, 2000);
  t.not(r.code, 0, 'the outside is unreachable');
  t.equal(r.stdout, '');
  const rules = n.topo.exec(n.srv, 'nft', ['list', 'table', 'inet', 'wsnic']).stdout;
  t.match(rules, /jump from_clients/, 'the host is still protected');
  t.notMatch(rules, /masquerade|hook forward/, 'but nothing is NATed or forwarded');
  t.equal(n.topo.exec(n.srv, 'cat', ['/proc/sys/net/ipv4/ip_forward']).stdout.trim(), '0', 'forwarding untouched');

  // dnsmasq dies: wsnic run restarts it and leases go on.
  const pid = /dnsmasq started pid=(\d+)/.exec(n.server.output())![1]!;
  const mark = n.server.mark();
  process.kill(Number(pid), 'SIGKILL');
  await n.server.waitFor(/dnsmasq died, restarting/, 5000, mark);
  // The first restart comes after 1 s; the supervisor says when the new dnsmasq runs.
  const restarted = await n.server.waitFor(/dnsmasq restarted pid=\d+/, 10_000, mark);
  t.not(/pid=(\d+)/.exec(restarted)![1], pid, 'a new dnsmasq');
  const again = n.topo.dhcp(n.guests[0]!, 'wsn0');
  t.match(again.ip, /^192\.168\.86\./, 'a lease from the restarted dnsmasq');
});

t.test('setup twice gives the same state; teardown removes exactly what setup added', async (t) => {
  const topo = new Topology();
  t.teardown(() => topo.cleanup());
  const ns = topo.ns('srv');
  const other = topo.ns('other');
  topo.link(ns, 'uplink0', '198.18.0.1/24', other, 'eth0', '198.18.0.2/24');
  topo.exec(ns, 'ip', ['route', 'add', 'default', 'via', '198.18.0.2']);
  // Someone else's table must survive our setup and teardown.
  t.equal(topo.exec(ns, 'nft', ['add', 'table', 'ip', 'theirs']).code, 0);
  const args = ['--runtime-dir', join(topo.dir, 'run'), '-i', '-s', '10.77.0.0/16'];
  const state = (): string =>
    ['ip -d -o link show', 'ip -o addr show', 'nft list ruleset', 'cat /proc/sys/net/ipv4/ip_forward']
      .map((c) => topo.exec(ns, c.split(' ')[0]!, c.split(' ').slice(1)).stdout)
      .join('\n')
      .replace(/ (numrxqueues|gso_max|gro_max|tso_max|gso_ipv4|gro_ipv4)\S* \d+/g, '')
      .replace(/ \w+_timer\s+[\d.]+/g, '') // running timers, not state
      .replace(/ tentative/g, ''); // IPv6 DAD still running on a new link: not ours
  const before = state();

  const first = topo.exec(ns, process.execPath, [WSNIC, 'setup', ...args]);
  t.equal(first.code, 0, first.stderr);
  const once = state();
  t.match(once, /wsbr0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 .*state UP/, 'up, with carrier, MTU as configured');
  t.match(once, /inet 10\.77\.0\.1\/16 .*wsbr0/);
  t.match(once, /masquerade/);
  t.match(once, /stp_state 0 .*forward_delay 0|forward_delay 0 .*stp_state 0/);
  const second = topo.exec(ns, process.execPath, [WSNIC, 'setup', ...args]);
  t.equal(second.code, 0, second.stderr);
  t.equal(state(), once, 'a second setup changes nothing');

  const down = topo.exec(ns, process.execPath, [WSNIC, 'teardown', ...args]);
  t.equal(down.code, 0, down.stderr);
  t.equal(state(), before, 'teardown restores the state before setup (ip_forward included)');
  t.match(state(), /table ip theirs/, 'the other table is untouched');
});

t.test('the bridge keeps its MAC across restarts', async (t) => {
  const topo = new Topology();
  t.teardown(() => topo.cleanup());
  const ns = topo.ns('srv');
  const args = ['--runtime-dir', join(topo.dir, 'run')];
  const mac = (): string => /link\/ether (\S+)/.exec(topo.exec(ns, 'ip', ['link', 'show', 'wsbr0']).stdout)?.[1] ?? '';
  topo.exec(ns, process.execPath, [WSNIC, 'setup', ...args]);
  const first = mac();
  t.match(first, /^02:/, 'locally administered');
  topo.exec(ns, process.execPath, [WSNIC, 'teardown', ...args]);
  topo.exec(ns, process.execPath, [WSNIC, 'setup', ...args]);
  t.equal(mac(), first);
});

t.test('a missing tool is a clear error naming the Debian package', async (t) => {
  const topo = new Topology();
  t.teardown(() => topo.cleanup());
  const ns = topo.ns('srv');
  // Hide /usr/sbin (ip, nft, dnsmasq) in a private mount namespace, as on a machine without them.
  const r = topo.exec(ns, 'unshare', ['--mount', 'sh', '-c', `mount -t tmpfs none /usr/sbin && PATH=/usr/bin:/bin exec ${process.execPath} ${WSNIC} setup --runtime-dir ${join(topo.dir, 'run')}`]);
  t.equal(r.code, 1);
  // ip also lives in /usr/bin on Debian 12; nft and dnsmasq do not.
  t.match(r.stderr, /(ip|nft|dnsmasq) not found: install the Debian package (iproute2|nftables|dnsmasq-base) \(apt-get install /);
});
