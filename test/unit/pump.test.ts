/**
 * The JavaScript data path's pump with the guard it asks (native/guard.c through the addon), on a
 * stand-in WebSocket and TAP: what it writes and sends, what it drops, and what it tells.
 */
import t from 'tap';
import { EventEmitter } from 'node:events';
import type WebSocket from 'ws';
import type { Tap } from '../../src/net/tap';
import { JsPath } from '../../src/datapath/jspath';
import type { GuardRules, PathEvents } from '../../src/datapath/path';
import { UNGUARDED, verdicts } from '../../src/datapath/pump';

const OFF = { bytes: 0, frames: 0, burst: 1 };

/** A frame from `mac` ("02aabbccdd01"), `size` bytes. */
const frame = (mac: string, size = 60): Buffer => Buffer.concat([Buffer.from(`ffffffffffff${mac}88b5`, 'hex'), Buffer.alloc(size - 14)]);

/** A JsPath on a stand-in socket and TAP: what it sent, wrote and told, and how to feed it. */
function path(rules: GuardRules, on: Partial<PathEvents> = {}) {
  const sent: { length: number; cb: boolean }[] = [];
  const written: number[] = [];
  const said: string[] = [];
  const closes: number[] = [];
  const ws = Object.assign(new EventEmitter(), {
    readyState: 1,
    bufferedAmount: 0,
    send: (f: Buffer, _o: unknown, cb?: () => void) => sent.push({ length: f.length, cb: cb !== undefined }),
    close: (code: number) => closes.push(code),
    pause: () => undefined,
    resume: () => undefined,
    terminate: () => undefined,
  }) as unknown as WebSocket;
  let onFrames: (frames: Buffer[]) => void = () => undefined;
  const tap = { start: (h: { onFrames: typeof onFrames }) => (onFrames = h.onFrames), write: (f: Buffer) => written.push(f.length) } as unknown as Tap;
  const p = new JsPath(ws, tap, rules, {
    bound: (mac) => said.push(`bound ${mac}`),
    limited: (d) => said.push(`limited ${d}`),
    dhcpAck: (mac, ip) => said.push(`dhcp ${mac} ${ip}`),
    text: () => undefined,
    ended: (code, why) => said.push(`ended ${code} ${why}`),
    ...on,
  });
  return { p, sent, written, said, closes, fromClient: (f: Buffer) => ws.emit('message', f, true), toClient: (fs: Buffer[]) => onFrames(fs) };
}

t.test('the pump drops down frames over the limit, counts them, tells once, and keeps its send callback', async (t) => {
  // 3 frames of burst at 1 a second: the test's few milliseconds refill nothing.
  const x = path({ up: { ...OFF, burst: 3 }, down: { bytes: 0, frames: 1, burst: 3 } });
  x.toClient([100, 101, 102, 103, 104].map((n) => Buffer.alloc(n)));
  t.same(x.sent, [{ length: 100, cb: false }, { length: 101, cb: false }, { length: 102, cb: true }], 'the last frame sent, not the last read, carries the callback');
  t.match(x.p.counts(), { framesOut: 3, bytesOut: 303, limitedOut: 2 });
  x.toClient([Buffer.alloc(60)]);
  t.equal(x.p.counts().limitedOut, 3);
  t.same(x.said, ['limited down'], 'told once, not per frame');
});

t.test('up: the first frame binds the MAC and goes on; another MAC is counted, a runt closes the client (1007)', async (t) => {
  const x = path({ up: OFF, down: OFF });
  x.fromClient(frame('02aabbccdd01'));
  t.equal(x.p.mac, '02:aa:bb:cc:dd:01');
  x.fromClient(frame('02aabbccdd02'));
  x.fromClient(frame('02aabbccdd01', 1514));
  t.same(x.written, [60, 1514], 'the frames from the bound MAC reached the TAP');
  t.match(x.p.counts(), { framesIn: 2, bytesIn: 1574, spoofed: 1 });
  x.fromClient(Buffer.alloc(13));
  t.same(x.closes, [1007]);
  t.same(x.said, ['bound 02:aa:bb:cc:dd:01', 'ended 1007 frame of 13 bytes is shorter than an Ethernet header']);
});

t.test('a client closed as its first frame binds it (a duplicate MAC refused) sends that frame nowhere', async (t) => {
  let close = (): void => undefined;
  const x = path({ up: OFF, down: OFF }, { bound: () => close() });
  close = () => x.p.close(1008, 'duplicate MAC');
  x.fromClient(frame('02aabbccdd01'));
  t.same(x.written, []);
  t.same(x.closes, [1008]);
});

t.test('a DHCP ACK from the server on its way to the client is told', async (t) => {
  const x = path({ up: OFF, down: OFF, dhcpServer: (192 * 2 ** 24) + (168 << 16) + (86 << 8) + 1 });
  const ack = Buffer.alloc(14 + 20 + 8 + 236 + 4 + 4);
  ack.write('ffffffffffff02000000000108004500', 0, 'hex');
  ack[14 + 9] = 17; // UDP
  ack.write('c0a85601', 14 + 12, 'hex');
  ack.write('004300440108', 34, 'hex'); // 67 -> 68, length
  ack.write('020106', 42, 'hex'); // BOOTREPLY, Ethernet
  ack.write('c0a85614', 42 + 16, 'hex'); // yiaddr 192.168.86.20
  ack.write('525400123456', 42 + 28, 'hex'); // chaddr
  ack.write('63825363350105ff', 42 + 236, 'hex'); // cookie, ACK, end
  x.toClient([ack]);
  t.same(x.said, ['dhcp 52:54:00:12:34:56 192.168.86.20']);
  t.equal(x.sent.length, 1);
});

t.test('the client side\'s judge refuses only runts', async (t) => {
  const v = verdicts();
  t.equal(UNGUARDED.judgeUp(Buffer.alloc(13)), v.runt);
  t.equal(UNGUARDED.judgeUp(frame('02aabbccdd01')), v.pass);
  t.equal(UNGUARDED.judgeUp(frame('02aabbccdd02')), v.pass, 'any source MAC');
  const out = new Uint8Array(3).fill(255);
  UNGUARDED.judgeDown([frame('02aabbccdd02'), Buffer.alloc(1)], out);
  t.same([...out], [v.pass, v.pass, 255], 'every frame of a batch down, and no more');
});
