import t from 'tap';
import { deriveNetwork } from '../../src/config/derive';
import { renderDnsmasqConf } from '../../src/net/dnsmasq';
import { renderRuleset } from '../../src/net/nftables';
import { bridgeMac, holderNames } from '../../src/net/bridge';
import { formatLine } from '../../src/log';
import { formatMac } from '../../src/relay/pump';

t.test('with NAT off the ruleset only removes our own table', async (t) => {
  const text = renderRuleset({ bridge: 'wsbr0', subnet: '192.168.86.0/24', uplink: undefined });
  t.match(text, /^table inet wsnic\ndelete table inet wsnic\n/m);
  t.notMatch(text, /masquerade|chain|flush/);
});

t.test('with NAT on: masquerade out of the uplink, only answers come back, no flush of others', async (t) => {
  const text = renderRuleset({ bridge: 'wsbr0', subnet: '10.64.0.0/18', uplink: 'eth0' });
  t.match(text, /ip saddr 10\.64\.0\.0\/18 oifname "eth0" masquerade/);
  t.match(text, /iifname "eth0" oifname "wsbr0" ct state established,related accept\n\t\tiifname "eth0" oifname "wsbr0" drop/);
  t.match(text, /type nat hook postrouting priority srcnat/);
  t.notMatch(text, /flush ruleset|table ip |table inet (?!wsnic)/, 'touches no other table');
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

t.test('log lines are one event with fields; MACs print as colon hex', async (t) => {
  t.equal(formatLine('info', 'client connected', { client_address: '1.2.3.4', tap: 'wstap0', reason: 'has spaces', none: undefined }),
    'info: client connected client_address=1.2.3.4 tap=wstap0 reason="has spaces"');
  t.equal(formatMac(Buffer.from('ffffffffffff02aabbccddee0800', 'hex'), 6), '02:aa:bb:cc:dd:ee');
});

t.test('the shipped nftables reference is what setup renders for NAT out of eth0', async (t) => {
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { exampleRuleset } = await import('../../src/net/nftables');
  t.equal(readFileSync(join(__dirname, '..', '..', 'nftables', 'wsnic.nft'), 'utf8'), exampleRuleset(), 'nftables/wsnic.nft is generated (npm run gen)');
});
