/**
 * The guard's IPv6 rules (native/guard6.c) with `client_ipv6 = 1`, against three `wsnic connect`
 * guests whose kernels do the IPv6 (their TAPs make no address of their own: each is added here,
 * and the kernel runs DAD for it): a rogue router advertisement, a source address never claimed
 * or another guest's, and a DAD conflict. The IPv4 twin is antispoof.test.ts.
 */
import t from 'tap';
import { relayNetwork, type Topology } from './topology';

const PY = '/usr/bin/python3';

/** A counter of a namespace's /proc/net/snmp6 (its own per network namespace). */
function snmp6(topo: Topology, ns: string, key: string): number {
  const m = new RegExp(`^${key}\\s+(\\d+)$`, 'm').exec(topo.exec(ns, 'cat', ['/proc/net/snmp6']).stdout);
  if (!m) throw new Error(`no ${key} in ${ns}'s /proc/net/snmp6`);
  return Number(m[1]);
}

/** The flags `ip` shows for an address of wsn0 ("" when none; "tentative", "dadfailed"). */
function flags(topo: Topology, ns: string, a: string): string {
  const line = topo.exec(ns, 'ip', ['-6', '-o', 'addr', 'show', 'dev', 'wsn0']).stdout.split('\n').find((l) => l.includes(` ${a}/`));
  if (!line) throw new Error(`${ns} has no ${a}: ${topo.exec(ns, 'ip', ['-6', 'addr']).stdout}`);
  return /\/64 scope \S+ ([^\\]*)/.exec(line)?.[1]?.trim() ?? '';
}

/** Adds a and waits for its DAD to end (a Linux guest probes, then waits a second): its flags then. */
async function add(topo: Topology, ns: string, a: string): Promise<string> {
  topo.exec(ns, 'ip', ['-6', 'addr', 'add', `${a}/64`, 'dev', 'wsn0']);
  for (const end = Date.now() + 10_000; flags(topo, ns, a).includes('tentative') && !flags(topo, ns, a).includes('dadfailed'); ) {
    if (Date.now() > end) throw new Error(`${ns}'s ${a} still tentative`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return flags(topo, ns, a);
}

/** Echo requests `to` got while `from` pinged it twice from src; and the replies `from` got. */
function pinged(topo: Topology, from: string, to: string, src: string, dst: string): { got: number; answered: number } {
  const before = snmp6(topo, to, 'Icmp6InEchos');
  const r = topo.exec(from, 'busybox', ['ping6', '-c', '2', '-W', '1', '-I', src, dst]);
  return { got: snmp6(topo, to, 'Icmp6InEchos') - before, answered: Number(/(\d+) packets received/.exec(r.stdout)?.[1] ?? -1) };
}

/** A router advertisement for 2001:db8:1::/64 from ns to all nodes, sent by the guest's kernel (raw ICMPv6). */
const RA = `import socket
i = socket.if_nametoindex('wsn0')
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, i)
prefix = bytes([3, 4, 64, 0xc0]) + (86400).to_bytes(4, 'big') * 2 + bytes(4) + bytes.fromhex('20010db8000000010000000000000000')
s.sendto(bytes([134, 0, 0, 0, 64, 0, 0x07, 0x08]) + bytes(8) + prefix, ('ff02::1', 0, 0, i))`;

t.test('IPv6 between guests: no rogue router, no address not its own, a DAD conflict binds nothing', async (t) => {
  const n = await relayNetwork(t.teardown.bind(t), { client_ipv6: 1 }, 3);
  await n.joinAll([], 3);
  const { topo } = n;
  const [g1, g2, g3] = n.guests as [string, string, string];
  t.equal(await add(topo, g1, 'fd00::1'), '', 'the first guest holds fd00::1');
  t.equal(await add(topo, g2, 'fd00::2'), '', 'the second fd00::2');
  t.equal(await add(topo, g3, 'fd00::3'), '', 'the third fd00::3');
  t.same(pinged(topo, g2, g3, 'fd00::2', 'fd00::3'), { got: 2, answered: 2 }, 'claimed addresses talk');

  await t.test('an address never claimed, or another guest\'s, gets nothing through', async (t) => {
    for (const spoof of ['fd00::99', 'fd00::1']) {
      topo.exec(g2, 'ip', ['-6', 'addr', 'add', `${spoof}/64`, 'dev', 'wsn0', 'nodad']);
      t.same(pinged(topo, g2, g3, spoof, 'fd00::3'), { got: 0, answered: 0 }, `nothing from ${spoof} reached the third guest`);
      topo.exec(g2, 'ip', ['-6', 'addr', 'del', `${spoof}/64`, 'dev', 'wsn0']);
    }
  });

  await t.test('a rogue router advertisement reaches no other guest', async (t) => {
    t.equal(await add(topo, g2, 'fe80::2'), '', 'the attacker\'s link-local address (claimed by DAD)');
    const [sent, seen1, seen3] = [snmp6(topo, g2, 'Icmp6OutRouterAdvertisements'), snmp6(topo, g1, 'Icmp6InRouterAdvertisements'), snmp6(topo, g3, 'Icmp6InRouterAdvertisements')];
    const r = topo.exec(g2, PY, ['-c', RA]);
    t.equal(r.code, 0, r.stderr);
    t.equal(snmp6(topo, g2, 'Icmp6OutRouterAdvertisements'), sent + 1, 'the attacker\'s kernel sent it');
    await new Promise((r) => setTimeout(r, 500));
    t.same([snmp6(topo, g1, 'Icmp6InRouterAdvertisements'), snmp6(topo, g3, 'Icmp6InRouterAdvertisements')], [seen1, seen3], 'no other guest got it');
    t.equal(topo.exec(g3, 'ip', ['-6', 'route', 'show', 'default']).stdout.trim(), '', 'and none has a default route from it');
  });

  await t.test('a DAD conflict: the second guest\'s address ends dadfailed, nothing bound for it', async (t) => {
    t.match(await add(topo, g3, 'fd00::1'), /dadfailed/, 'the first guest defended fd00::1');
    topo.exec(g3, 'ip', ['-6', 'addr', 'del', 'fd00::1/64', 'dev', 'wsn0']);
    topo.exec(g3, 'ip', ['-6', 'addr', 'add', 'fd00::1/64', 'dev', 'wsn0', 'nodad']);
    t.same(pinged(topo, g3, g2, 'fd00::1', 'fd00::2'), { got: 0, answered: 0 }, 'sending from it anyway gets nothing through');
    t.same(pinged(topo, g1, g2, 'fd00::1', 'fd00::2'), { got: 2, answered: 2 }, 'the holder still talks from it');
  });

  const mark = n.server.mark();
  n.server.child.kill('SIGTERM');
  const ends = await Promise.all(['wstap0', 'wstap1', 'wstap2'].map((tap) => n.server.waitFor(new RegExp(`client disconnected .*tap=${tap} `), 10_000, mark)));
  t.match(ends[0], / spoofed=0 /, 'the holder: nothing dropped');
  t.match(ends[1], / spoofed=[1-9]\d* /, 'the attacker\'s frames counted as spoofed');
  t.match(ends[2], / spoofed=[1-9]\d* /, 'and the third guest\'s from the address it lost');
});
