/**
 * Egress policy with NAT on: a client reaches the Internet but not the host's own addresses
 * (bar DHCP, DNS and ping on the gateway), the host's networks, private ranges, link-local and
 * cloud metadata (169.254.169.254) or TCP port 25; egress_allow and egress_deny change that.
 * The "Internet", the host's LAN and the metadata address are namespaces of this test.
 */
import t from 'tap';
import { relayNetwork, sh, INTERNET, type RelayNetwork } from './topology';

const LAN = '10.55.0.2';
const METADATA = '169.254.169.254';

/** "open" if a TCP connection from ns to host:port succeeds within 1.5 s, else why not. */
function tcp(n: RelayNetwork, ns: string, host: string, port: number): string {
  const script = `const s = require('net').connect(${port}, ${JSON.stringify(host)}, () => { console.log('open'); process.exit(0); });
    s.setTimeout(1500, () => { console.log('timeout'); process.exit(0); }); s.on('error', (e) => { console.log(e.code); process.exit(0); });`;
  return n.topo.exec(ns, process.execPath, ['-e', script]).stdout.trim();
}

/** The usual network, plus a private LAN on the server's side and servers on ports 8080 and 25. */
async function network(teardown: (fn: () => Promise<void>) => void, conf: Record<string, string | number>): Promise<RelayNetwork> {
  const n = await relayNetwork(teardown, { enable_inet: 1, ...conf }, 1, (topo, srv, dropin) => {
    // The host's LAN: made before wsnic starts, so setup sees it among the host's networks.
    const lan = topo.ns('lan');
    topo.link(srv, 'lan0', '10.55.0.1/24', lan, 'eth0', `${LAN}/24`);
    sh('ip', ['-n', lan, 'route', 'add', 'default', 'via', '10.55.0.1']);
    topo.spawn(lan, process.execPath, ['-e', "require('http').createServer((q, s) => s.end('lan')).listen(8080)"]);
    return topo.wsnic(srv, { ws_address: '0.0.0.0', dnsmasq_conf_dir: dropin, enable_inet: 1, ...conf });
  });
  sh('ip', ['-n', n.inet, 'addr', 'add', `${METADATA}/32`, 'dev', 'lo']);
  await n.outside();
  await n.topo.spawn(n.inet, process.execPath, ['-e', "require('net').createServer((s) => s.end('220 smtp\\r\\n')).listen(25, () => console.log('smtp ready'))"]).waitFor(/smtp ready/);
  await n.joinAll();
  return n;
}

t.test('by default a client reaches the Internet, and neither the host, its networks, metadata nor port 25', async (t) => {
  const n = await network(t.teardown.bind(t), {});
  const g = n.guests[0]!;
  t.equal(tcp(n, g, INTERNET, 8080), 'open', 'the Internet');
  t.equal(n.topo.httpGet(g, `http://${INTERNET}:8080/`).stdout, '198.18.0.1', 'through NAT');
  t.match(n.topo.exec(g, 'busybox', ['ping', '-c', '1', '-W', '2', '192.168.86.1']).stdout, /1 packets received/, 'ping on the gateway');
  t.match(n.topo.exec(g, 'busybox', ['nslookup', 'www.example.test', '192.168.86.1']).stdout, new RegExp(INTERNET.replace(/\./g, '\\.')), 'DNS on the gateway');
  t.not(tcp(n, g, METADATA, 8080), 'open', 'not cloud metadata (169.254.0.0/16)');
  t.not(tcp(n, g, LAN, 8080), 'open', 'not the host\'s private LAN');
  t.not(tcp(n, g, '198.18.0.2', 8080), 'open', 'not a neighbour on the uplink\'s network (host-networks)');
  t.not(tcp(n, g, INTERNET, 25), 'open', 'not TCP port 25 anywhere');
  // The relay listens on 0.0.0.0: reachable from the guests' own links, not from the bridge.
  t.equal(tcp(n, g, '198.19.1.1', 8086), 'open', 'the relay, from where clients connect');
  for (const host of ['192.168.86.1', '198.18.0.1', '10.55.0.1']) t.not(tcp(n, g, host, 8086), 'open', `not the host itself at ${host}`);
  const rules = n.topo.exec(n.srv, 'nft', ['list', 'table', 'inet', 'wsnic']).stdout;
  t.match(rules, /ip daddr 10\.55\.0\.0\/24 counter packets [1-9]\d* bytes \d+ drop/, 'the LAN drop was counted');
  t.match(rules, /tcp dport 25 counter packets [1-9]/, 'port 25 drops were counted');
});

t.test('egress_allow and egress_deny change the policy', async (t) => {
  const n = await network(t.teardown.bind(t), {
    egress_allow: '10.55.0.0/24, tcp:25',
    egress_deny: `host-networks, 169.254.0.0/16, ${INTERNET}:tcp:8080`,
  });
  const g = n.guests[0]!;
  t.equal(tcp(n, g, LAN, 8080), 'open', 'the LAN, allowed');
  t.equal(tcp(n, g, INTERNET, 25), 'open', 'port 25, allowed');
  t.not(tcp(n, g, INTERNET, 8080), 'open', 'one Internet service, denied');
  t.not(tcp(n, g, METADATA, 8080), 'open', 'metadata still denied');
  t.equal(tcp(n, g, '10.55.0.1', 22), 'ECONNREFUSED', 'an allowed address on the host itself is open too (nothing listens: refused, not dropped)');
});
