/**
 * One ABI: what TypeScript and C share is defined once, in native/abi.h, and the addon exports it
 * at load (addon.abi). These tests fail when the two sides disagree: a TypeScript number that is
 * not the addon's, a stats index or option name read differently on each side, an event or close
 * code one side does not know. The plane runs on loopback sockets here (no TAP, no root).
 */
import t, { type Test } from 'tap';
import { closeSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { abi, PLANE_EVENTS } from '../../src/native';
import { HIGH_WATER, LINGER_MS, LOW_WATER, MAX_FRAME, REST_MS } from '../../src/datapath/pump';
import { NativePath, startPlane, type Resume } from '../../src/datapath/nativepath';
import type { PathCounts, PathEvents } from '../../src/datapath/path';
import { CLOSE } from '../../src/relay/session';
import { decodeState, encodeState, type Carried } from '../../src/handover/state';
import type { Tap } from '../../src/net/tap';

t.test("TypeScript's numbers are the addon's", async (t) => {
  const a = abi();
  t.same([MAX_FRAME, HIGH_WATER, LOW_WATER, REST_MS, LINGER_MS], [a.maxMessage, a.highWater, a.lowWater, a.restMs, a.lingerMs]);
  t.same([a.claimsMax, a.claimBytes], [8, 17], 'IPv6 claims: 8 a client, 16 address bytes and a state each');
  t.same([a.maxMessage, a.highWater, a.lowWater, a.restMs, a.lingerMs, a.owedMax], [65549, 1048576, 262144, 20, 2000, 4194304],
    'and they are what wsnic has always used');
  t.ok(a.lowWater < a.highWater && a.owedMax >= a.highWater, 'in the order the data paths need');
  t.same(Object.keys(a).sort(), ['claimBytes', 'claimsMax', 'close', 'events', 'highWater', 'lingerMs', 'lowWater', 'maxMessage', 'owedMax', 'restMs', 'stats'], 'the addon exports what the Abi type names, nothing else');
  t.same(a.events, PLANE_EVENTS, 'the plane tells the events TypeScript handles, by the same names');
  t.same(CLOSE, a.close, 'the close codes TypeScript sends are the native path\'s');
  t.same([CLOSE.normal, CLOSE.goingAway, CLOSE.invalid, CLOSE.tooBig, CLOSE.internal, CLOSE.serviceRestart], [1000, 1001, 1007, 1009, 1011, 1012]);
  t.throws(() => { (a as { maxMessage: number }).maxMessage = 1; }, 'read-only: no module can change it for the others');
});

t.test('a hand-over carries at most what a plane may owe a client', async (t) => {
  const c = (owed: number): Carried => ({
    id: 1, address: '198.51.100.7', port: 40123, origin: '', bridge: 'wsbr0', tap: 'wstap0', mac: undefined, ip: undefined, since: 0,
    counts: { framesIn: 0, bytesIn: 0, framesOut: 0, bytesOut: 0, refused: 0, stalls: 0, spoofed: 0, limitedIn: 0, limitedOut: 0, lastSeen: 0, lastFrame: 0 },
    unread: Buffer.alloc(0), owed: Buffer.alloc(owed), frag: Buffer.alloc(0), fragOpcode: 0,
  });
  t.notOk(decodeState(encodeState(c(abi().owedMax))) instanceof Error, 'owedMax bytes owed: taken');
  t.match(decodeState(encodeState(c(abi().owedMax + 1))), /owed/, 'one more: refused');
});

/** Two loopback connections: their server ends stand for a client's socket and its TAP. */
async function sockets(t: Test): Promise<{ client: Socket; sock: Socket; tapPeer: Socket; tap: Socket }> {
  const accepted: Socket[] = [];
  const server: Server = createServer((s) => accepted.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const dial = (): Promise<Socket> => new Promise((r) => { const c = connect(port, '127.0.0.1', () => r(c)); });
  const client = await dial();
  const tapPeer = await dial();
  while (accepted.length < 2) await new Promise((r) => setImmediate(r));
  server.close();
  const [sock, tap] = accepted as [Socket, Socket];
  tap.pause();
  t.teardown(() => [client, sock, tapPeer, tap].forEach((s) => s.destroy()));
  return { client, sock, tapPeer, tap };
}

const fd = (s: Socket): number => (s as unknown as { _handle: { fd: number } })._handle.fd;
const noEvents = (ended: (code: number) => void = () => {}): PathEvents => ({ bound() {}, limited() {}, text() {}, ended });
const within = <T>(ms: number, p: Promise<T>): Promise<T | 'timeout'> =>
  Promise.race([p, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms))]);

t.test("a session's counters and hand-over state go through the plane and come back as they went", async (t) => {
  startPlane(1);
  const { client, sock, tap } = await sockets(t);
  // Every counter its own value: an index read differently by the two sides would swap two.
  const names: (keyof PathCounts)[] = ['framesIn', 'bytesIn', 'framesOut', 'bytesOut', 'refused', 'stalls', 'spoofed', 'limitedIn', 'limitedOut', 'lastSeen', 'lastFrame'];
  const counts = Object.fromEntries(names.map((k, i) => [k, 1_700_000_000_000 + 101 * (i + 1)])) as unknown as PathCounts;
  t.same(names.filter((k) => !abi().stats.includes(k)), [], "every counter TypeScript reads is in the addon's stats layout");
  const resume: Resume = {
    sock: fd(sock), mac: '52:54:00:12:34:56', counts,
    unread: Buffer.from([0x80, 0x7e, 0x01]), // the message's last fragment, its header cut short: stays unread
    owed: Buffer.from('owed to the client'), frag: Buffer.from('half a message'), fragOpcode: 2,
    // IPv6 claims (native/guard6.h): fd00::10 bound, fd00::11 tentative
    claims: Buffer.from(`fd00${'0'.repeat(26)}10 02 fd00${'0'.repeat(26)}11 01`.replaceAll(' ', ''), 'hex'),
  };
  const bad = (claims: Buffer): unknown => new NativePath({ ...resume, claims }, { fd: fd(tap) } as unknown as Tap, undefined, noEvents());
  t.throws(() => bad(resume.claims!.subarray(1)), /planeAdd: claims are not/, 'claims cut short');
  t.throws(() => bad(Buffer.concat([resume.claims!.subarray(0, 16), Buffer.from([3])])), /planeAdd: claims are not/, 'a state no claim has');
  t.throws(() => bad(Buffer.alloc(17 * 9, 1)), /planeAdd: claims are not/, 'more than claimsMax');
  const got: Buffer[] = [];
  client.on('data', (b) => got.push(b));
  const path = new NativePath(resume, { fd: fd(tap) } as unknown as Tap, undefined, noEvents());
  sock.destroy(); // the plane holds its own dup
  const detached = await path.detach(5000);
  t.ok(detached, 'handed over');
  if (!detached) return;
  t.teardown(() => closeSync(detached.sock));
  t.same(detached.counts, counts, 'the counters, each in its place');
  t.same([detached.unread, detached.frag, detached.fragOpcode, detached.tap], [resume.unread, resume.frag, 2, fd(tap)], 'unread bytes, the open message, the TAP');
  t.same(detached.claims, resume.claims, 'the IPv6 claims, bound and tentative');
  t.equal(detached.owed.length, 0, 'owed nothing: what it owed went to the client first');
  while (Buffer.concat(got).length < resume.owed.length) await within(1000, new Promise((r) => client.once('data', r)));
  t.equal(Buffer.concat(got).toString(), 'owed to the client');
});

t.test('the close code the plane tells for a runt frame is the one TypeScript names', async (t) => {
  startPlane(1);
  const { client, sock, tap } = await sockets(t);
  const none = { bytes: 0, frames: 0, burst: 1 };
  let told: (code: number) => void = () => {};
  const ended = new Promise<number>((r) => { told = r; });
  const resume: Resume = {
    sock: fd(sock), mac: undefined, unread: Buffer.alloc(0), owed: Buffer.alloc(0), frag: Buffer.alloc(0), fragOpcode: 0,
    counts: { framesIn: 0, bytesIn: 0, framesOut: 0, bytesOut: 0, refused: 0, stalls: 0, spoofed: 0, limitedIn: 0, limitedOut: 0, lastSeen: 0, lastFrame: 0 },
  };
  const path = new NativePath(resume, { fd: fd(tap) } as unknown as Tap, { up: none, down: none }, noEvents(told));
  sock.destroy();
  client.write(Buffer.from([0x82, 0x83, 1, 2, 3, 4, 0xaa, 0xbb, 0xcc])); // binary, masked, 3 bytes
  t.equal(await within(5000, ended), CLOSE.invalid, 'shorter than an Ethernet header: invalid data');
  t.equal(path.counts().framesIn, 0, 'and nothing reached the TAP');
});
