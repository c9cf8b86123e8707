/**
 * The native path joins a client's consecutive TCP segments into one large segment for its TAP
 * (native/coalesce.c, a virtio-net header TAP), as the kernel's GRO does for a NIC: seen on the
 * real TAP with tcpdump (the kernel's own view of what the relay wrote), and end to end with a
 * bulk transfer both ways between a `wsnic connect` guest and the gateway, checked byte for byte.
 * A segment with a bad checksum is written alone, as it came: the receiving stack still judges it.
 */
import t from 'tap';
import { join } from 'node:path';
import { relayNetwork, ROOT, WSNIC } from './topology';

const WS = JSON.stringify(join(ROOT, 'node_modules', 'ws'));

/**
 * A client that sends TCP segments as raw frames: its first binds its MAC; then at each SIGUSR2 a
 * burst of 30 1,000-byte segments in one write, good ones first, then one in five with a bad checksum.
 */
const SENDER = (url: string): string => `
const W = require(${WS});
const ws = new W(${JSON.stringify(url)}, { perMessageDeflate: false });
const mac = Buffer.from('020000000099', 'hex');
function sum(b, acc = 0) { for (let i = 0; i + 1 < b.length; i += 2) acc += b.readUInt16BE(i); if (b.length & 1) acc += b[b.length - 1] << 8; while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16); return acc; }
function segment(seq, bad) {
  const f = Buffer.alloc(14 + 20 + 20 + 1000);
  Buffer.from('ffffffffffff', 'hex').copy(f, 0); mac.copy(f, 6); f.writeUInt16BE(0x0800, 12);
  const ip = f.subarray(14, 34);
  ip[0] = 0x45; ip.writeUInt16BE(1040, 2); ip.writeUInt16BE(seq & 0xffff, 4); ip.writeUInt16BE(0x4000, 6); ip[8] = 64; ip[9] = 6;
  Buffer.from([192, 168, 86, 99, 192, 168, 86, 1]).copy(ip, 12);
  ip.writeUInt16BE(~sum(ip) & 0xffff, 10);
  const th = f.subarray(34);
  th.writeUInt16BE(40000, 0); th.writeUInt16BE(9, 2); th.writeUInt32BE(seq, 4); th.writeUInt32BE(1, 8); th[12] = 0x50; th[13] = 0x10; th.writeUInt16BE(502, 14);
  for (let i = 0; i < 1000; i++) th[20 + i] = (seq + i) & 0xff;
  const pseudo = Buffer.concat([ip.subarray(12, 20), Buffer.from([0, 6]), Buffer.from([(th.length >> 8) & 0xff, th.length & 0xff])]);
  th.writeUInt16BE((~sum(th, sum(pseudo)) & 0xffff) ^ (bad ? 0x5555 : 0), 16);
  return f;
}
let seq = 1000000;
function burst(count, badEvery) {
  ws._socket.cork();
  for (let i = 0; i < count; i++) { ws.send(segment(seq, badEvery > 0 && i % badEvery === badEvery - 1)); seq += 1000; }
  ws._socket.uncork();
}
ws.on('open', () => ws.send(segment(1, false))); // binds the MAC; the relay admits it
let bursts = 0;
process.on('SIGUSR2', () => {
  if (bursts++ === 0) { burst(30, 0); console.log('good ' + (seq - 30000) + ' ' + seq); }
  else { burst(30, 5); console.log('mixed ' + (seq - 30000) + ' ' + seq); }
});
ws.on('close', (c, r) => console.log('closed ' + c + ' ' + r));
`;

/** A TCP sink and source on the gateway: SIZE bytes each way, their SHA-256 printed. */
const GATEWAY = `
const net = require('net'), crypto = require('crypto');
const SIZE = 8 << 20;
function data() { const b = Buffer.alloc(SIZE); let x = 12345; for (let i = 0; i < SIZE; i += 4) { x = (x * 1103515245 + 12345) >>> 0; b.writeUInt32LE(x, i); } return b; }
net.createServer((s) => {
  const h = crypto.createHash('sha256'); let n = 0;
  s.on('data', (d) => { h.update(d); n += d.length; if (n === SIZE) { console.log('received ' + n + ' ' + h.digest('hex')); s.end(data()); } });
}).listen(9000, '192.168.86.1', () => console.log('listening'));
`;

const GUEST = `
const net = require('net'), crypto = require('crypto');
const SIZE = 8 << 20;
function data() { const b = Buffer.alloc(SIZE); let x = 12345; for (let i = 0; i < SIZE; i += 4) { x = (x * 1103515245 + 12345) >>> 0; b.writeUInt32LE(x, i); } return b; }
const out = data();
console.log('sent ' + SIZE + ' ' + crypto.createHash('sha256').update(out).digest('hex'));
const h = crypto.createHash('sha256'); let n = 0;
const s = net.connect(9000, '192.168.86.1', () => s.write(out));
s.on('data', (d) => { h.update(d); n += d.length; });
s.on('end', () => { console.log('back ' + n + ' ' + h.digest('hex')); s.end(); });
`;

t.test('consecutive segments are joined on the TAP; a bad checksum is not', async (t) => {
  const n = await relayNetwork(t.teardown.bind(t), {}, 1);
  const mark = n.server.mark();
  const client = n.topo.spawn(n.guests[0]!, process.execPath, ['-e', SENDER(n.url(1))]);
  const tap = /tap=(wstap\d+)/.exec(await n.server.waitFor(/client connected .*tap=wstap\d+/, 10_000, mark))![1]!;
  const dump = n.topo.spawn(n.srv, 'tcpdump', ['-i', tap, '-n', '-l', '-S', 'tcp and port 9']);
  await dump.waitFor(/listening on/);
  await n.server.waitFor(/client MAC /, 10_000, mark); // its first frame bound the MAC: admitted
  /** Has the sender burst, and waits (at most 5 s) for tcpdump to show the burst's last byte on the TAP. */
  const burst = async (name: string): Promise<[number, number]> => {
    process.kill(client.child.pid!, 'SIGUSR2');
    const range = new RegExp(`${name} (\\d+) (\\d+)`).exec(await client.waitFor(new RegExp(`${name} \\d+`)))!.slice(1).map(Number) as [number, number];
    await dump.waitFor(new RegExp(`seq \\d+:${range[1]},`), 5000).catch(() => undefined); // (the checks below say what is missing)
    return range;
  };
  // One after the other: the good burst is on the TAP before the mixed one is sent.
  const good = await burst('good');
  const mixed = await burst('mixed');
  dump.child.kill('SIGINT');
  await dump.exited;
  const seen = [...dump.output().matchAll(/seq (\d+):(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])] as [number, number]);
  t.comment(`${seen.length} packets on ${tap}: ${seen.map(([a, b]) => (b - a) / 1000).join(' ')} segments each`);
  const inside = (r: [number, number], [a, b]: [number, number]): boolean => a >= r[0] && b <= r[1];
  // Every byte arrived, in order, once: the captured ranges tile both bursts.
  const ranges = seen.filter((s) => inside(good, s) || inside(mixed, s));
  let at = good[0];
  for (const [a, b] of ranges) {
    if (at === good[1]) at = mixed[0];
    t.equal(a, at, `the next range starts at ${at}`);
    at = b;
  }
  t.equal(at, mixed[1], 'both bursts whole');
  const goodPackets = ranges.filter((s) => inside(good, s));
  t.ok(goodPackets.length < 30 && goodPackets.some(([a, b]) => b - a > 1000), `the 30 good segments were joined (${goodPackets.length} packets)`);
  for (let i = 4; i < 30; i += 5) {
    const bad = mixed[0] + i * 1000;
    t.ok(ranges.some(([a, b]) => a === bad && b === bad + 1000), `the segment with the bad checksum at ${bad} went alone`);
  }
  const stats = JSON.parse(n.topo.exec(n.srv, 'ip', ['-j', '-s', 'link', 'show', tap]).stdout) as { stats64: { rx: { packets: number } } }[];
  t.ok(stats[0]!.stats64.rx.packets < 61, `the TAP took ${stats[0]!.stats64.rx.packets} packets for 61 frames`);
  client.child.kill('SIGTERM');
});

t.test('a bulk transfer each way between a wsnic connect guest and the gateway arrives byte for byte', async (t) => {
  const n = await relayNetwork(t.teardown.bind(t), { egress_allow: '192.168.86.1:tcp:9000' }, 1);
  const control = /control socket path=(\S+)/.exec(await n.server.waitFor(/control socket path=/))![1]!;
  const [ip] = await n.joinAll();
  t.ok(ip, 'leased');
  const gw = n.topo.spawn(n.srv, process.execPath, ['-e', GATEWAY]);
  await gw.waitFor(/listening/);
  const guest = n.topo.spawn(n.guests[0]!, process.execPath, ['-e', GUEST]);
  const sent = /sent (\d+) (\w+)/.exec(await guest.waitFor(/sent \d+/))!;
  const received = /received (\d+) (\w+)/.exec(await gw.waitFor(/received \d+/, 60_000))!;
  t.equal(received[1], sent[1], 'the gateway received every byte');
  t.equal(received[2], sent[2], '... the same bytes (SHA-256)');
  const back = /back (\d+) (\w+)/.exec(await guest.waitFor(/back \d+/, 60_000))!;
  t.equal(back[1], sent[1], 'the guest received every byte back');
  t.equal(back[2], sent[2], '... the same bytes');
  const tap = /tap=(wstap\d+)/.exec(n.server.output())![1]!;
  type Stats = { stats64: { rx: { packets: number }; tx: { packets: number } } }[];
  const relay = (JSON.parse(n.topo.exec(n.srv, 'ip', ['-j', '-s', 'link', 'show', tap]).stdout) as Stats)[0]!.stats64;
  const mine = (JSON.parse(n.topo.exec(n.guests[0]!, 'ip', ['-j', '-s', 'link', 'show', 'wsn0']).stdout) as Stats)[0]!.stats64;
  const segments = Math.ceil((8 << 20) / 1448); // at least, at the guests' MSS
  // The TAPs' own counters: rx is what the relay (or wsnic connect) wrote, tx what it read.
  t.ok(relay.rx.packets < segments / 2, `the relay's TAP took ${relay.rx.packets} packets for 8 MiB (${segments} segments at least): joined`);
  t.ok(mine.rx.packets < segments / 2, `the guest's TAP (wsnic connect) took ${mine.rx.packets} packets for 8 MiB back: joined there too`);
  t.ok(relay.tx.packets < segments / 2, `the relay read ${relay.tx.packets} packets for 8 MiB back from its TAP: large segments, cut by the relay`);
  t.ok(mine.tx.packets < segments / 2, `wsnic connect read ${mine.tx.packets} packets for 8 MiB from its TAP: cut there too`);
  // What the relay counts is frames as the client sends and receives them (the status command's).
  const st = JSON.parse(n.topo.exec(n.srv, process.execPath, [WSNIC, 'status', '--json', '--control-socket', control]).stdout.trim().split('\n').find((l) => l.includes('"client"'))!) as { client: { framesIn: number; framesOut: number } };
  t.ok(st.client.framesOut >= segments, `the relay counts ${st.client.framesOut} frames to the client: the cut ones`);
  t.ok(st.client.framesIn >= segments, `... and ${st.client.framesIn} from it: before they were joined`);
});
