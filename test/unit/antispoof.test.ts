/** The parts behind the bridge's anti-spoofing rules: spotting a DHCPACK, keeping the set. */
import t from 'tap';
import { dhcpAck, dhcpRequestChaddr } from '../../src/relay/dhcp';
import { element, LeasedSet } from '../../src/net/leasedset';
import { formatLine, type Logger } from '../../src/log';

/** A DHCP reply frame as dnsmasq sends it: Ethernet, IPv4, UDP 67 -> 68, BOOTP, options. */
function dhcpReply(type: number, yiaddr: number[], chaddr: number[], opts: { sport?: number; dport?: number; op?: number; pad?: boolean; src?: number[] } = {}): Buffer {
  const options = Buffer.from([...(opts.pad ? [0, 0] : []), 54, 4, 192, 168, 86, 1, 53, 1, type, 255]);
  const bootp = Buffer.alloc(236 + 4 + options.length);
  bootp[0] = opts.op ?? 2;
  bootp[1] = 1;
  bootp[2] = 6;
  Buffer.from(yiaddr).copy(bootp, 16);
  Buffer.from(chaddr).copy(bootp, 28);
  bootp.writeUInt32BE(0x63825363, 236);
  options.copy(bootp, 240);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(opts.sport ?? 67, 0);
  udp.writeUInt16BE(opts.dport ?? 68, 2);
  udp.writeUInt16BE(8 + bootp.length, 4);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip[9] = 17;
  ip.writeUInt16BE(20 + 8 + bootp.length, 2);
  Buffer.from(opts.src ?? [192, 168, 86, 1]).copy(ip, 12);
  const eth = Buffer.from('ffffffffffff0200000000010800', 'hex');
  return Buffer.concat([eth, ip, udp, bootp]);
}

const MAC = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
const GW = (192 << 24 >>> 0) + (168 << 16) + (86 << 8) + 1;

t.test('a DHCPOFFER or DHCPACK on its way to a client names the MAC and the address', async (t) => {
  t.same(dhcpAck(dhcpReply(5, [192, 168, 86, 20], MAC), GW), { mac: '52:54:00:12:34:56', ip: '192.168.86.20' });
  t.same(dhcpAck(dhcpReply(5, [192, 168, 86, 20], MAC, { pad: true }), GW), { mac: '52:54:00:12:34:56', ip: '192.168.86.20' }, 'after pad options');
  t.same(dhcpAck(dhcpReply(2, [192, 168, 86, 21], MAC), GW), { mac: '52:54:00:12:34:56', ip: '192.168.86.21' }, 'an OFFER counts too (a round trip sooner)');
  t.equal(dhcpAck(dhcpReply(6, [192, 168, 86, 20], MAC), GW), undefined, 'a NAK grants nothing');
  t.equal(dhcpAck(dhcpReply(5, [0, 0, 0, 0], MAC), GW), undefined, 'an ACK to an INFORM grants nothing');
  t.equal(dhcpAck(dhcpReply(5, [192, 168, 86, 20], MAC, { sport: 1067 }), GW), undefined, 'not from port 67');
  t.equal(dhcpAck(dhcpReply(5, [192, 168, 86, 20], MAC, { op: 1 }), GW), undefined, 'a request, not a reply');
  const full = dhcpReply(5, [192, 168, 86, 20], MAC);
  for (let n = 0; n < full.length; n += 7) dhcpAck(full.subarray(0, n), GW); // truncated: no throw
  t.equal(dhcpAck(full.subarray(0, full.length - 4), GW), undefined, 'options cut before the type');
  t.equal(dhcpAck(Buffer.alloc(60), GW), undefined);
  t.equal(dhcpAck(dhcpReply(5, [192, 168, 86, 20], MAC, { src: [203, 0, 113, 7] }), GW), undefined, 'a reply from a server outside (through NAT) grants nothing');
  t.equal(dhcpAck(dhcpReply(5, [192, 168, 86, 1], MAC), GW), undefined, 'nor does one granting the gateway\'s own address');
});

function quietLog(lines: string[]): Logger {
  const log = (level: 'debug' | 'info' | 'warning' | 'error') => (msg: string, f?: Record<string, string | number | boolean | undefined>) => lines.push(formatLine(level, msg, f));
  return { debug: log('debug'), info: log('info'), warning: log('warning'), error: log('error'), setLevel: () => undefined };
}

t.test('the client hardware address of a DHCP request, and nothing from other frames', async (t) => {
  const req = dhcpReply(1, [0, 0, 0, 0], MAC, { sport: 68, dport: 67, op: 1, src: [0, 0, 0, 0] });
  t.same([...dhcpRequestChaddr(req)!], MAC);
  t.equal(dhcpRequestChaddr(dhcpReply(5, [192, 168, 86, 20], MAC)), undefined, 'a reply is no request');
  t.equal(dhcpRequestChaddr(req.subarray(0, 60)), undefined, 'too short');
});

/** How many elements an nft script adds to the set. */
const elements = (script: string | undefined): number => (script ?? '').split('"wstap').length - 1;

t.test('the set follows clients and leases, one nft at a time, and rewrites itself after a failure', async (t) => {
  const scripts: string[] = [];
  let failures = 0;
  const lines: string[] = [];
  const set = new LeasedSet(quietLog(lines), async (s) => {
    scripts.push(s);
    await new Promise((r) => setTimeout(r, 5));
    return failures-- > 0 ? 'Error: Could not process rule' : undefined;
  }, { rewriteMs: 60_000, retryMs: 20 });
  t.teardown(() => set.stop());
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 40));
  set.bind('wstap0', '52:54:00:00:00:01');
  await settle();
  t.same(scripts, [], 'no lease yet: nothing to allow');
  set.leases(new Map([['52:54:00:00:00:01', '192.168.86.10']]));
  set.bind('wstap1', '52:54:00:00:00:02');
  set.acked('wstap1', '52:54:00:00:00:02', '192.168.86.11');
  set.acked('wstap1', '52:54:00:00:00:99', '192.168.86.99'); // an ACK for some other MAC
  await settle();
  t.equal(scripts.join(''), `add element bridge wsnic leased { ${element('wstap0', '52:54:00:00:00:01', '192.168.86.10')} }\nadd element bridge wsnic leased { ${element('wstap1', '52:54:00:00:00:02', '192.168.86.11')} }\n`, 'changes while nft runs go in one more run');
  scripts.length = 0;
  set.unbind('wstap0');
  await settle();
  t.same(scripts, [`delete element bridge wsnic leased { ${element('wstap0', '52:54:00:00:00:01', '192.168.86.10')} }\n`]);
  scripts.length = 0;
  failures = 1;
  set.bind('wstap2', '52:54:00:00:00:01');
  await settle();
  t.match(scripts.at(-1), /^flush set bridge wsnic leased\nadd element/, 'after a failure: flushed and rewritten');
  t.equal(elements(scripts.at(-1)), 2, 'the rewrite holds both clients');
  failures = 3;
  scripts.length = 0;
  set.unbind('wstap2');
  await new Promise((r) => setTimeout(r, 300)); // retries after 20, 40, 80 ms
  t.equal(scripts.length, 4, 'failed runs are retried with a growing pause, not given up');
  t.match(scripts.at(-1), /^flush set bridge wsnic leased\n/);
  t.equal(elements(scripts.at(-1)), 1, 'the rewrite holds the one client left');
  t.match(lines.join('\n'), /client address set updated again after_failures=3/);
});

t.test('the whole set is rewritten now and then (a reloaded ruleset empties it behind our back)', async (t) => {
  const scripts: string[] = [];
  const set = new LeasedSet(quietLog([]), async (s) => {
    scripts.push(s);
    return undefined;
  }, { rewriteMs: 30, retryMs: 20 });
  t.teardown(() => set.stop());
  set.bind('wstap0', '52:54:00:00:00:01');
  set.leases(new Map([['52:54:00:00:00:01', '192.168.86.10']]));
  await new Promise((r) => setTimeout(r, 100));
  t.ok(scripts.filter((s) => s.startsWith('flush set bridge wsnic leased\nadd element')).length >= 2, 'flushed and filled again, each time');
});
