/** Port forward specs (the `forward` key) and their part of the ruleset. */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forwardSpec, parseForward } from '../../src/config/forward';
import { loadConfig } from '../../src/config/load';
import { renderRuleset } from '../../src/net/nftables';
import { resolveEgress } from '../../src/config/egress';
import { parseRequest } from '../../src/ops/control';
import { formatForwards } from '../../src/cli/forward';

t.test('forward specs parse as documented and nothing else does', async (t) => {
  t.same(parseForward('tcp:2222>52:54:00:12:34:56:22'), { proto: 'tcp', port: 2222, mac: '52:54:00:12:34:56', guestPort: 22 });
  t.same(parseForward('UDP:5353>52:54:00:AB:CD:EF:53'), { proto: 'udp', port: 5353, mac: '52:54:00:ab:cd:ef', guestPort: 53 });
  t.equal(forwardSpec(parseForward('TCP:80>52:54:00:AB:CD:EF:8080')!), 'tcp:80>52:54:00:ab:cd:ef:8080');
  for (const bad of ['tcp:2222', 'tcp:0>52:54:00:12:34:56:22', 'tcp:2222>52:54:00:12:34:56:70000', 'sctp:1>52:54:00:12:34:56:1',
    'tcp:22>52:54:00:12:34:22', 'tcp:22>01:00:5e:00:00:01:22', 'tcp:22>00:00:00:00:00:00:22', 'tcp:22>host:22']) t.notOk(parseForward(bad), bad);
});

t.test('a bad or doubled forward is a config error naming the key and where it came from', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wsnic-fwd-'));
  const none = join(dir, 'none.conf');
  const file = join(dir, 'wsnic.conf');
  writeFileSync(file, 'forward = tcp:2222>52:54:00:12:34:56:22, udp:53>nomac:53\n');
  t.throws(() => loadConfig({ file }), { message: new RegExp(`^${file} line 1: forward 'udp:53>nomac:53' is not a port forward \\(give tcp:PORT>MAC:PORT`) });
  t.throws(() => loadConfig({ defaultFile: none, env: { WSNIC_FORWARD: 'tcp:22>52:54:00:00:00:01:22,tcp:22>52:54:00:00:00:02:22' } }),
    { message: /^environment WSNIC_FORWARD: forward forwards tcp port 22 twice/ });
  const ok = loadConfig({ defaultFile: none, env: { WSNIC_FORWARD: 'tcp:22>52:54:00:00:00:01:22 udp:22>52:54:00:00:00:01:22' } });
  t.same(ok.config.forward, ['tcp:22>52:54:00:00:00:01:22', 'udp:22>52:54:00:00:00:01:22'], 'tcp and udp of one port are two forwards');
});

t.test('a forward of a port every client needs (the relay\'s, the gateway\'s DNS or DHCP) is a config error naming it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wsnic-fwd-'));
  const file = join(dir, 'wsnic.conf');
  const mac = '52:54:00:12:34:56';
  for (const [spec, what] of [[`tcp:8086>${mac}:80`, 'ws_port'], [`udp:53>${mac}:53`, 'DNS'], [`tcp:53>${mac}:53`, 'DNS'], [`udp:67>${mac}:67`, 'DHCP']]) {
    writeFileSync(file, `forward = ${spec}\n`);
    t.throws(() => loadConfig({ file }), { message: new RegExp(`^${file} line 1: forward '${spec}' takes \\w+ port \\d+, which is ${what}`) }, spec);
  }
  writeFileSync(file, `disable_dhcp = 1\nbind_client_ip = 0\nws_port = 8000\nforward = tcp:8086>${mac}:80, udp:53>${mac}:53, udp:8000>${mac}:80\n`);
  t.same(loadConfig({ file }).config.forward.length, 3, 'another ws_port, no dnsmasq, udp of the relay\'s tcp port: all free');
});

t.test('the ruleset: forwards from any local address, refused with no guest, past the egress policy, hairpin', async (t) => {
  const base = {
    bridge: 'wsbr0', bridgeAddress: '192.168.86.1', subnet: '192.168.86.0/24', tapPrefix: 'wstap', bindClientIp: true, clientIpv6: false,
    egressAllow: [], egressDeny: resolveEgress(['host-networks'], ['203.0.113.0/24']),
    forwards: ['tcp:2222>52:54:00:12:34:56:22', 'udp:5353>52:54:00:12:34:56:53'].map((s) => parseForward(s)!),
  };
  const text = renderRuleset({ ...base, uplink: 'eth0' });
  t.match(text, /map fwd4 \{\n\t\ttype inet_proto \. inet_service : ipv4_addr \. inet_service\n/);
  t.match(text, /set fwdports \{\n\t\ttype inet_proto \. inet_service\n\t\telements = \{ tcp \. 2222, udp \. 5353 \}\n/);
  t.match(text, /type nat hook prerouting priority dstnat; policy accept;\n.*\n\t\tmeta l4proto \{ tcp, udp \} fib daddr type local dnat ip to meta l4proto \. th dport map @fwd4\n/);
  t.match(text, /type nat hook output priority -100; policy accept;\n(.*\n){2}\t\tip daddr != 127\.0\.0\.0\/8 meta l4proto \{ tcp, udp \} fib daddr type local dnat ip to/);
  const input = text.split('chain input {')[1]!.split('\n\t}')[0]!;
  t.match(input, /ct state new meta l4proto tcp meta l4proto \. th dport @fwdports counter reject with tcp reset[^\n]*\n\t\tct state new meta l4proto udp meta l4proto \. th dport @fwdports counter reject with icmpx type port-unreachable[^\n]*\n\t\tiifname "wsbr0" jump from_clients/,
    'refused before anything else of the input chain sees it');
  const forward = text.split('chain forward {')[1]!.split('\n\t}')[0]!;
  t.match(forward, /^\n\t\ttype filter[^\n]*\n(\t\t#[^\n]*\n)+\t\tct status dnat ct direction original oifname "wsbr0" counter accept[^\n]*\n\t\tct status dnat ct direction reply iifname "wsbr0" counter accept/,
    'forwarded connections and their replies first, before the egress policy');
  // Another table's DNAT (Docker's published ports) to another interface is no port forward of
  // ours: a guest's connection to it must meet the egress policy, not skip it.
  for (const line of forward.split('\n').filter((l) => /ct status dnat/.test(l))) {
    t.match(line, /(oifname|iifname) "wsbr0"/, `bound to the bridge: ${line.trim()}`);
  }
  t.match(text, /ct status dnat ip saddr 192\.168\.86\.0\/24 oifname "wsbr0" masquerade/);
  const off = renderRuleset({ ...base, uplink: undefined });
  t.notMatch(off, /fwd4|fwdports|dnat/, 'NAT off: no forwards');
  t.notMatch(renderRuleset({ ...base, uplink: 'eth0', forwards: [] }), /elements/, 'no forwards: an empty set, the map still there for the relay');
});

t.test('wsnic forward: the control request and the listing', async (t) => {
  t.same(parseRequest('{"cmd":"forward","op":"list"}'), { cmd: 'forward', op: 'list' });
  t.same(parseRequest('{"cmd":"forward","op":"add","spec":"tcp:22>52:54:00:00:00:01:22"}'),
    { cmd: 'forward', op: 'add', spec: { proto: 'tcp', port: 22, mac: '52:54:00:00:00:01', guestPort: 22 } });
  t.throws(() => parseRequest('{"cmd":"forward","op":"add","spec":"tcp:22"}'), /forward add needs spec: tcp:PORT>MAC:PORT/);
  t.throws(() => parseRequest('{"cmd":"forward","op":"remove"}'), /forward remove needs spec/);
  t.throws(() => parseRequest('{"cmd":"forward","op":"flush"}'), /forward needs op: list, add or remove/);
  t.equal(formatForwards({}), 'no port forwards\n');
  t.equal(formatForwards({ 'tcp:22>52:54:00:00:00:01:22': '-> 192.168.86.5:22', 'udp:5353>52:54:00:00:00:01:53': '(guest absent) (runtime)' }),
    'tcp:22>52:54:00:00:00:01:22    -> 192.168.86.5:22\nudp:5353>52:54:00:00:00:01:53  (guest absent) (runtime)\n');
});
