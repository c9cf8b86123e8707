/**
 * The bridge's client-port rules (table bridge wsnic) against a client that attacks with tools
 * wsnic did not write (busybox arping, udhcpd, ping, ip): a spoofed source address, an ARP claim
 * for the gateway and for another client, a rogue DHCP server, a changed MAC, a foreign
 * ethertype. Each is refused and counted; the well-behaved guest keeps its lease and latency.
 */
import t from 'tap';
import { chmodSync } from 'node:fs';
import { relayNetwork, INTERNET, ROOT, type Proc, type Topology } from './topology';
import { bridgeMac } from '../../src/net/bridge';
import { leasedElements } from './leasedset';
import { join } from 'node:path';

const TRICKS = join(ROOT, 'test', 'fixtures', 'dhcp_tricks.py');

/** Packets each counted rule of the client chain dropped, by comment. */
function drops(topo: Topology, ns: string): Record<string, number> {
  const r = topo.exec(ns, 'nft', ['-j', 'list', 'chain', 'bridge', 'wsnic', 'clients']);
  const out: Record<string, number> = {};
  for (const i of (JSON.parse(r.stdout) as { nftables: { rule?: { comment?: string; expr: { counter?: { packets: number } }[] } }[] }).nftables) {
    const c = i.rule?.expr.find((e) => e.counter)?.counter;
    if (i.rule?.comment && c) out[i.rule.comment] = c.packets;
  }
  return out;
}

/**
 * The median of `count` pings, in ms: other test files share this machine's two cores, and one
 * late reply is a scheduling hiccup, not latency (a mean of 10 let one such reply decide).
 */
function rtt(topo: Topology, ns: string, to: string, count = 20): number {
  const r = topo.exec(ns, 'busybox', ['ping', '-c', String(count), '-i', '0.1', '-W', '2', to]);
  const times = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
  if (times.length < count / 2) throw new Error(`ping ${to} from ${ns} failed: ${r.stdout}${r.stderr}`);
  return times[Math.floor(times.length / 2)]!;
}

/** Resolves once check() holds, polling it (a counter, a listing); rejects with what() after ms. */
async function until(check: () => boolean, ms: number, what: () => string): Promise<void> {
  for (const end = Date.now() + ms; !check(); await new Promise((r) => setTimeout(r, 100))) if (Date.now() > end) throw new Error(what());
}

t.test('a client cannot spoof addresses, claim the gateway or serve DHCP; the good guest is untouched', async (t) => {
  // log_level debug: dnsmasq's lines (which DISCOVERs it got) are in the relay's output.
  const n = await relayNetwork(t.teardown.bind(t), { enable_inet: 1, log_level: 'debug' }, 3);
  await n.outside();
  const [good, bad, late] = n.guests as [string, string, string];
  const [goodIp, badIp] = await n.joinAll([], 2);
  const { topo, srv } = n;
  const gw = '192.168.86.1';
  const gwMac = bridgeMac('wsbr0');
  const goodMac = /link\/ether (\S+)/.exec(topo.exec(good, 'ip', ['link', 'show', 'wsn0']).stdout)![1]!;
  const idle = rtt(topo, good, gw);
  t.equal(topo.httpGet(good, `http://${INTERNET}:8080/`).stdout, '198.18.0.1', 'the good guest reaches the outside');
  t.match(topo.exec(bad, 'busybox', ['ping', '-c', '1', '-W', '2', gw]).stdout, /1 packets received/, 'the attacker too, from its own address');
  const before = drops(topo, srv);
  let lateClient: Proc | undefined;

  await t.test('a spoofed source address gets nothing through, even from another client\'s address', async (t) => {
    for (const spoof of [goodIp!, '192.168.86.250']) {
      topo.exec(bad, 'ip', ['addr', 'add', `${spoof}/32`, 'dev', 'wsn0']);
      const r = topo.exec(bad, 'busybox', ['ping', '-c', '2', '-W', '1', '-I', spoof, gw]);
      t.match(r.stdout, /0 packets received/, `no answer to ${spoof}`);
      topo.exec(bad, 'ip', ['addr', 'del', `${spoof}/32`, 'dev', 'wsn0']);
    }
    t.ok(drops(topo, srv)['IPv4 not from the lease']! > before['IPv4 not from the lease']!, 'dropped on the bridge and counted');
    const neigh = topo.exec(srv, 'ip', ['neigh', 'show', goodIp!, 'dev', 'wsbr0']).stdout;
    t.match(neigh, new RegExp(`lladdr ${goodMac}`), 'the gateway still has the good guest\'s MAC for its address');
  });

  await t.test('a gratuitous ARP claiming the gateway or another client poisons nobody', async (t) => {
    const arp0 = drops(topo, srv)['ARP not from the lease']!;
    // The good guest and the host both know the truth first.
    rtt(topo, good, gw, 1);
    topo.exec(bad, 'busybox', ['ping', '-c', '1', '-W', '1', goodIp!]);
    for (const claim of [gw, goodIp!]) {
      // arping sends from an address of the interface: the attacker takes it first.
      topo.exec(bad, 'ip', ['addr', 'add', `${claim}/32`, 'dev', 'wsn0']);
      const r = topo.exec(bad, 'busybox', ['arping', '-U', '-c', '3', '-w', '2', '-I', 'wsn0', '-s', claim, claim]);
      t.equal(r.code, 0, `arping -U -s ${claim} sent (${r.stdout.trim()} ${r.stderr.trim()})`);
      topo.exec(bad, 'ip', ['addr', 'del', `${claim}/32`, 'dev', 'wsn0']);
    }
    t.ok(drops(topo, srv)['ARP not from the lease']! >= arp0 + 6, 'each announcement dropped and counted');
    t.match(topo.exec(good, 'ip', ['neigh', 'show', gw, 'dev', 'wsn0']).stdout, new RegExp(`lladdr ${gwMac}`), 'the good guest still sends to the real gateway');
    t.match(topo.exec(srv, 'ip', ['neigh', 'show', goodIp!, 'dev', 'wsbr0']).stdout, new RegExp(`lladdr ${goodMac}`), 'the gateway still sends to the good guest');
    t.match(topo.exec(good, 'busybox', ['ping', '-c', '2', '-W', '2', gw]).stdout, /2 packets received/);
  });

  await t.test('a rogue DHCP server in a client reaches nobody', async (t) => {
    const conf = topo.file('udhcpd.conf', ['start 10.66.0.10', 'end 10.66.0.20', 'max_leases 10', 'interface wsn0', 'option router 10.66.0.1',
      'option subnet 255.255.255.0', `lease_file ${topo.dir}/rogue.leases`, `pidfile ${topo.dir}/rogue.pid`, ''].join('\n'));
    chmodSync(conf, 0o644);
    topo.file('rogue.leases', '');
    const rogue = topo.spawn(bad, 'busybox', ['udhcpd', '-f', conf]);
    t.match(await rogue.waitFor(/udhcpd: started/, 5000), /started/, 'udhcpd runs');
    const dhcp0 = drops(topo, srv)['DHCP server in a client']!;
    // A newcomer asks three times; every answer it takes is dnsmasq's.
    lateClient = topo.connect(late, n.url(3), ['--tap', 'wsn0']);
    await lateClient.waitFor(/connected url=/);
    for (let i = 0; i < 3; i++) {
      const lease = topo.dhcp(late, 'wsn0');
      t.match(lease.ip, /^192\.168\.86\./, `lease ${i + 1} from dnsmasq (${lease.ip})`);
      t.equal(lease.router, gw);
    }
    // udhcpd ARP-checks an address (up to 2 s) before it offers it: wait for the offers.
    await until(() => drops(topo, srv)['DHCP server in a client']! > dhcp0, 10_000, () => 'the rogue offers were never counted');
    t.ok(drops(topo, srv)['DHCP server in a client']! > dhcp0, 'the rogue offers were dropped and counted');
    t.equal(rogue.child.exitCode, null, `udhcpd kept running (and offering): ${rogue.output()}`);
    t.match(topo.exec(late, 'ip', ['-4', 'addr', 'show', 'wsn0']).stdout, /inet 192\.168\.86\./, 'and the newcomer has dnsmasq\'s address still');
    rogue.child.kill('SIGTERM'); // done: the attacker's own DHCP requests below go to dnsmasq only
    await rogue.exited;
  });

  await t.test('a DHCP reply from a server outside, through NAT, grants no address', async (t) => {
    await topo.spawn(n.inet, '/usr/bin/python3', [TRICKS, 'outside-server', INTERNET]).waitFor(/ready/);
    const r = topo.exec(bad, '/usr/bin/python3', [TRICKS, 'ask-outside', badIp!, INTERNET]);
    t.equal(r.stdout.trim(), 'reply', `the fake ACK for the gateway's address reached the client ${r.stdout} ${r.stderr}`);
    // The relay saw the fake ACK on its way down; had it counted, its nft run would be queued
    // now. A change after it (the newcomer leaves) is applied in that run or a later one, with
    // the whole set as the relay wants it: once it shows, the fake ACK's effect would too.
    const lateTap = /tap=(\S+)/.exec((await n.server.waitFor(/client connected client_address=198\.19\.3\.2 /, 1000)))![1]!;
    t.ok(leasedElements(topo, srv).some(([tap]) => tap === lateTap), 'the newcomer is in the set');
    lateClient!.child.kill('SIGTERM');
    await until(() => !leasedElements(topo, srv).some(([tap]) => tap === lateTap), 10_000, () => `${lateTap} never left the set`);
    t.notOk(leasedElements(topo, srv).some(([, , ip]) => ip === gw), 'but the set does not give it the gateway\'s address');
    const arp0 = drops(topo, srv)['ARP not from the lease']!;
    topo.exec(bad, 'ip', ['addr', 'add', `${gw}/32`, 'dev', 'wsn0']);
    topo.exec(bad, 'busybox', ['arping', '-U', '-c', '2', '-w', '2', '-I', 'wsn0', '-s', gw, gw]);
    topo.exec(bad, 'ip', ['addr', 'del', `${gw}/32`, 'dev', 'wsn0']);
    t.ok(drops(topo, srv)['ARP not from the lease']! >= arp0 + 2, 'its claim of the gateway is still dropped');
  });

  await t.test('a DHCP request naming another client\'s MAC never reaches dnsmasq', async (t) => {
    t.match(n.server.output(), /DHCPDISCOVER\(wsbr0\)/, 'dnsmasq logs the DISCOVERs it gets (the check below can fail)');
    const mark = n.server.mark();
    t.equal(topo.exec(bad, '/usr/bin/python3', [TRICKS, 'discover-as', 'wsn0', goodMac]).stdout.trim(), 'sent');
    // Then a DISCOVER of its own, on the same path (relay, TAP, bridge, dnsmasq's socket): once
    // dnsmasq has logged that one, it would have logged the forged one before it.
    const badMac = /link\/ether (\S+)/.exec(topo.exec(bad, 'ip', ['link', 'show', 'wsn0']).stdout)![1]!;
    t.equal(topo.dhcp(bad, 'wsn0').ip, badIp, 'the attacker\'s own request is served');
    await n.server.waitFor(new RegExp(`DHCPDISCOVER\\(wsbr0\\) (\\S+ )?${badMac}`), 5000, mark);
    t.notMatch(n.server.output().slice(mark), new RegExp(`DHCPDISCOVER\\(wsbr0\\) (\\S+ )?${goodMac}`), 'no DISCOVER for the good guest\'s MAC');
  });

  await t.test('a changed MAC or a foreign ethertype does not pass', async (t) => {
    const eth0 = drops(topo, srv)['ethertype']!;
    // An IPv6 and an experimental-ethertype broadcast, sent raw (a packet socket).
    const raw = `import socket; s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('wsn0', 0)); mac = open('/sys/class/net/wsn0/address').read().strip().replace(':', '')
for et in ('86dd', '88b5'): s.send(bytes.fromhex('ffffffffffff' + mac + et) + bytes(46))`;
    const sent = topo.exec(bad, '/usr/bin/python3', ['-c', raw]);
    t.equal(sent.code, 0, sent.stderr);
    t.ok(drops(topo, srv)['ethertype']! >= eth0 + 2, 'IPv6 (client_ipv6=0) and 0x88b5 dropped at the client port and counted');
    topo.exec(bad, 'ip', ['link', 'set', 'wsn0', 'address', '02:66:66:66:66:66']);
    const r = topo.exec(bad, 'busybox', ['ping', '-c', '2', '-W', '1', gw]);
    t.match(r.stdout, /0 packets received/, 'a new MAC mid-connection gets nothing through');
  });

  t.equal(topo.dhcp(good, 'wsn0').ip, goodIp, 'the good guest keeps its lease');
  const after = rtt(topo, good, gw);
  t.comment(`good guest's ping to the gateway (median of 20): ${idle} ms before, ${after} ms after the attacks`);
  t.ok(after <= 2 * idle + 1, `latency kept (${idle} -> ${after} ms)`);
  t.equal(topo.httpGet(good, `http://${INTERNET}:8080/`).stdout, '198.18.0.1', 'and the outside');
  const mark = n.server.mark();
  n.server.child.kill('SIGTERM');
  const badEnd = await n.server.waitFor(/client disconnected .*tap=wstap1 /, 10_000, mark);
  t.match(badEnd, / spoofed=[1-9]\d* /, 'the relay counted the changed MAC\'s frames as spoofed');
});
