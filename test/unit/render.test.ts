import t from 'tap';
import { deriveNetwork } from '../../src/config/derive';
import { renderDnsmasqConf } from '../../src/net/dnsmasq-conf';
import { renderRuleset } from '../../src/net/nftables';
import { parseEgressRule, resolveEgress } from '../../src/config/egress';
import { bridgeMac, holderNames } from '../../src/net/bridge';
import { formatLine } from '../../src/log';

const base = {
  bridge: 'wsbr0', bridgeAddress: '192.168.86.1', subnet: '192.168.86.0/24', tapPrefix: 'wstap', bindClientIp: true, clientIpv6: false,
  egressAllow: [], egressDeny: resolveEgress(['host-networks', '10.0.0.0/8', '169.254.0.0/16', 'tcp:25'], ['203.0.113.0/24']),
  forwards: [],
};

t.test('with NAT off: the host is protected and client ports filtered, but nothing forwarded or NATed', async (t) => {
  const text = renderRuleset({ ...base, uplink: undefined });
  t.match(text, /^table inet wsnic\ndelete table inet wsnic\ntable bridge wsnic\ndelete table bridge wsnic\n/m);
  t.notMatch(text, /masquerade|hook forward|flush/);
  t.match(text, /iifname "wsbr0" jump from_clients/);
  t.match(text, /iifname != "wstap\*" accept/);
});

t.test('with NAT on: masquerade out of the uplink, egress rules in order, only answers come back', async (t) => {
  const text = renderRuleset({ ...base, subnet: '10.64.0.0/18', uplink: 'eth0', egressAllow: resolveEgress(['10.1.0.0/16', '10.0.0.5:tcp:22', 'udp:53'], []) });
  t.match(text, /ip saddr 10\.64\.0\.0\/18 oifname "eth0" masquerade/);
  t.match(text, /oifname "wsbr0" ct state established,related accept\n\t\toifname "wsbr0" drop/);
  t.match(text, /chain egress \{\n\t\tip daddr 10\.1\.0\.0\/16 accept\n\t\tip daddr 10\.0\.0\.5 tcp dport 22 accept\n\t\tudp dport 53 accept\n\t\tip daddr 203\.0\.113\.0\/24 counter drop/);
  t.match(text, /tcp dport 25 counter drop comment "egress_deny"\n\t\toifname "eth0" ip saddr 10\.64\.0\.0\/18 accept\n\t\tcounter drop/);
  // Allow rules with an address open the host's own addresses too; port-only ones do not.
  const fromClients = text.split('chain from_clients {')[1]!.split('\n\t}')[0]!;
  t.match(fromClients, /ip daddr 10\.1\.0\.0\/16 accept\n\t\tip daddr 10\.0\.0\.5 tcp dport 22 accept/);
  t.notMatch(fromClients, /udp dport 53 accept/);
  t.match(text, /type nat hook postrouting priority srcnat/);
  t.notMatch(text, /flush ruleset|table ip |table inet (?!wsnic)|table bridge (?!wsnic)/, 'touches no other table');
});

t.test('client ports: no DHCP server, only IPv4 and ARP, and only from the lease unless told otherwise', async (t) => {
  const text = renderRuleset({ ...base, uplink: undefined });
  t.match(text, /ether type != \{ ip, arp \} counter drop/);
  t.match(text, /udp sport 67 counter drop/);
  t.match(text, /iifname \. ether saddr \. ip saddr != @leased counter drop/);
  t.match(text, /iifname \. arp saddr ether \. arp saddr ip != @leased counter drop/);
  const open = renderRuleset({ ...base, uplink: undefined, bindClientIp: false, clientIpv6: true });
  t.match(open, /ether type != \{ ip, arp, ip6 \}/);
  t.notMatch(open, /!= @leased/);
});

t.test('egress rules parse as documented and nothing else does', async (t) => {
  for (const ok of ['10.0.0.0/8', '1.2.3.4', 'tcp:25', 'udp:6660-6669', '10.0.0.5:tcp:22', 'host-networks']) t.ok(parseEgressRule(ok), ok);
  for (const bad of ['10.0.0.0/33', 'tcp', 'tcp:0', 'tcp:70000', 'udp:9-1', 'icmp:1', '10.0.0.0/8:tcp', 'fe80::/10', 'host', '1.2.3.4:tcp:22:1']) t.notOk(parseEgressRule(bad), bad);
  t.same(resolveEgress(['host-networks', 'tcp:25'], ['198.18.0.0/24', '10.9.0.0/16']), [{ net: '198.18.0.0/24' }, { net: '10.9.0.0/16' }, { proto: 'tcp', ports: '25' }]);
});

t.test('dnsmasq serves the bridge only, leases the pool at once, and announces router and DNS', async (t) => {
  const net = deriveNetwork({ subnet: '192.168.86.0/24', dhcp_nameserver: [] });
  const text = renderDnsmasqConf({ bridge: 'wsbr0', net, leaseTime: 3600, leaseFile: '/run/wsnic/l', domain: '', confDir: '', mtu: 1500 });
  for (const line of ['interface=wsbr0', 'except-interface=lo', 'bind-dynamic', 'no-ping', 'dhcp-range=192.168.86.2,192.168.86.254,255.255.255.0,3600',
    'dhcp-option=option:router,192.168.86.1', 'dhcp-option=option:dns-server,192.168.86.1', 'dhcp-leasefile=/run/wsnic/l', 'dhcp-option=option:mtu,1500']) {
    t.ok(text.split('\n').includes(line), line);
  }
  t.notMatch(text, /domain=|conf-dir=/, 'no domain or drop-ins unless configured');
  const full = renderDnsmasqConf({ bridge: 'br1', net: deriveNetwork({ subnet: '10.0.0.0/30', dhcp_nameserver: ['9.9.9.9', '1.1.1.1'] }), leaseTime: 120, leaseFile: '/l', domain: 'emu.test', confDir: '/etc/wsnic/dnsmasq.d', mtu: 9000 });
  t.match(full, /^dhcp-range=10\.0\.0\.2,10\.0\.0\.2,255\.255\.255\.252,120$/m);
  t.match(full, /^dhcp-option=option:dns-server,9\.9\.9\.9,1\.1\.1\.1$/m);
  t.match(full, /^domain=emu\.test$/m);
  t.match(full, /^conf-dir=\/etc\/wsnic\/dnsmasq\.d,\*\.conf$/m);
});

t.test('the bridge MAC is fixed, locally administered and unicast; holder names fit IFNAMSIZ', async (t) => {
  t.equal(bridgeMac('wsbr0'), bridgeMac('wsbr0'));
  t.not(bridgeMac('wsbr0'), bridgeMac('wsbr1'));
  t.match(bridgeMac('wsbr0'), /^02(:[0-9a-f]{2}){5}$/);
  for (const n of holderNames('a-fifteen-char1')) t.ok(n.length <= 15, n);
});

t.test('log lines are one event with fields', async (t) => {
  t.equal(formatLine('info', 'client connected', { client_address: '1.2.3.4', tap: 'wstap0', reason: 'has spaces', none: undefined }),
    'info: client connected client_address=1.2.3.4 tap=wstap0 reason="has spaces"');
});

t.test('the shipped nftables reference is what setup renders for NAT out of eth0', async (t) => {
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { exampleRuleset } = await import('../../src/net/nftables');
  t.equal(readFileSync(join(__dirname, '..', '..', 'nftables', 'wsnic.nft'), 'utf8'), exampleRuleset(), 'nftables/wsnic.nft is generated (npm run gen)');
});
