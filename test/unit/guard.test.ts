/**
 * The guard itself (native/guard.c, through the addon's Guard: the code both data paths run)
 * against its vectors (guard-vectors.ts), plus what a table says less well: bad input to the
 * binding, and a reply cut at every length.
 */
import t from 'tap';
import { native, type GuardHandle } from '../../src/native';
import { verdicts } from '../../src/datapath/pump';
import { ACK, expand, VECTORS, type Count, type Step, type Vector } from './guard-vectors';
import { HIDDEN_RA, VECTORS6 } from './guard6-vectors';

const { Guard } = native();
/** The guard's clock at a vector's 0 (any number: only differences count). */
const ORIGIN = 1_000_000;

const ipToInt = (ip: string): number => ip.split('.').reduce((n, x) => n * 256 + Number(x), 0);
const within = (n: number, c: Count): boolean => (typeof c === 'number' ? n === c : n >= c[0] && n <= c[1]);

function make(v: Vector): GuardHandle {
  const r = v.rules ?? {};
  return new Guard({
    up: r.up ?? [0, 0], down: r.down ?? [0, 0], burst: r.burst ?? 1, dhcpServer: r.dhcpServer ? ipToInt(r.dhcpServer) : 0, ipv6: r.ipv6 ?? false, now: ORIGIN,
  });
}

/** One frame to the client, as a batch of one: its verdict. */
function down(g: GuardHandle, frame: Buffer, now?: number): number {
  const out = new Uint8Array(1);
  if (g.down([frame], 0, out, now) !== 1) throw new Error('a batch of one was not judged whole');
  return out[0]!;
}

/** Judges one step's frames: each verdict's name, and what they told. */
function run(g: GuardHandle, s: Step, at: number): { names: string[]; told: string[] } {
  const frame = Buffer.from(expand(s.frame), 'hex');
  const names: string[] = [];
  const told: string[] = [];
  for (let i = 0; i < (s.times ?? 1); i++) {
    const r = s.dir === 'up' ? g.up(frame, ORIGIN + at + i * (s.every ?? 0)) : down(g, frame, ORIGIN + at + i * (s.every ?? 0));
    names.push(Guard.verdicts[r & Guard.verdictMask]!);
    if (r & Guard.bound) told.push(`bound ${g.mac()}`);
    if (r & Guard.firstLimited) told.push(`limited ${s.dir}`);
    if (r & Guard.acked) told.push(`dhcp ${g.ack().join(' ')}`);
  }
  return { names, told };
}

for (const v of [...VECTORS, ...VECTORS6]) {
  t.test(v.name, async (t) => {
    const g = make(v);
    let at = 0;
    v.steps.forEach((s, i) => {
      at = s.at ?? at;
      const { names, told } = run(g, s, at);
      const what = `step ${i + 1} (${s.dir}, ${expand(s.frame).length / 2} bytes${s.times ? ` x${s.times}` : ''})`;
      if (typeof s.verdict === 'string') t.same(names, Array(names.length).fill(s.verdict), `${what}: ${s.verdict}`);
      else if (Array.isArray(s.verdict)) t.same(names, s.verdict, `${what}: ${s.verdict.join(' ')}`);
      else {
        const passed = names.filter((n) => n === 'pass').length;
        t.ok(within(passed, s.verdict.passed), `${what}: ${passed} passed, ${JSON.stringify(s.verdict.passed)} expected`);
      }
      t.same(told, s.told ?? [], `${what} told ${JSON.stringify(s.told ?? [])}`);
      if (s.every) at += (s.times! - 1) * s.every;
    });
    const c = new Float64Array(3);
    g.counts(c);
    t.equal(g.mac() ?? null, v.end.mac, 'the MAC at the end');
    t.equal(c[0], v.end.spoofed, 'spoofed');
    t.ok(within(c[1]!, v.end.limitedIn), `limitedIn ${c[1]}, ${JSON.stringify(v.end.limitedIn)} expected`);
    t.equal(c[2], v.end.limitedOut, 'limitedOut');
    t.same(g.claims(), v.end.claims ?? [], 'the IPv6 addresses claimed');
  });
}

t.test('a DHCP ACK cut at any length grants nothing before its message type, and reads nothing past the frame', async (t) => {
  const full = Buffer.from(expand(ACK), 'hex');
  const g = new Guard({ up: [0, 0], down: [0, 0], burst: 1, dhcpServer: ipToInt('192.168.86.1') });
  const told: number[] = [];
  // A copy of each length: the guard sees exactly those bytes (ASan's run would catch a read past).
  for (let n = 0; n <= full.length; n++) if (down(g, Buffer.from(full.subarray(0, n))) & Guard.acked) told.push(full.length - n);
  t.same(told, [1, 0], 'told only whole, or without its end option (which the guard does not need)');
});

t.test('a router advertisement behind extension headers, cut at any length, never passes', async (t) => {
  const full = Buffer.from(expand(HIDDEN_RA), 'hex');
  const g = new Guard({ up: [0, 0], down: [0, 0], burst: 1, dhcpServer: 0, ipv6: true });
  const passed: number[] = [];
  // A copy of each length: the guard sees exactly those bytes (the fuzz harness runs it under ASan).
  for (let n = 0; n <= full.length; n++) if ((g.up(Buffer.from(full.subarray(0, n))) & Guard.verdictMask) === verdicts().pass) passed.push(n);
  t.same(passed, [], 'no length passed');
  t.same(Guard.verdicts[g.up(full) & Guard.verdictMask], 'v6Router', 'whole, it is a router advertisement');
});

t.test('a batch to the client stops after each frame that tells something, so each ACK is read', async (t) => {
  const g = new Guard({ up: [0, 0], down: [0, 1], burst: 3, dhcpServer: ipToInt('192.168.86.1'), now: ORIGIN });
  const ack = Buffer.from(expand(ACK), 'hex');
  const other = Buffer.from(ack);
  other.writeUInt32BE(ipToInt('192.168.86.21'), 14 + 20 + 8 + 16); // yiaddr
  const frames = [Buffer.alloc(60), ack, other, Buffer.alloc(60), Buffer.alloc(60)];
  const out = new Uint8Array(frames.length);
  t.equal(g.down(frames, 0, out, ORIGIN), 2, 'stopped after the first ACK');
  t.same(g.ack(), ['52:54:00:12:34:56', '192.168.86.20']);
  t.equal(g.down(frames, 2, out, ORIGIN), 3, 'and after the second');
  t.same(g.ack(), ['52:54:00:12:34:56', '192.168.86.21']);
  t.equal(g.down(frames, 3, out, ORIGIN), 4, 'and after the first frame over the limit (3 frames of burst)');
  t.equal(g.down(frames, 4, out, ORIGIN), 5, 'then to the end');
  const v = (name: string): number => Guard.verdicts.indexOf(name);
  t.same([...out], [v('pass'), v('pass') | Guard.acked, v('pass') | Guard.acked, v('limited') | Guard.firstLimited, v('limited')]);
});

t.test('the binding refuses what is not a guard\'s input, with a message naming it', async (t) => {
  const ok = { up: [0, 0] as [number, number], down: [0, 0] as [number, number], burst: 1, dhcpServer: 0 };
  t.throws(() => new Guard({ ...ok, up: [-1, 0] }), /Guard: up must be \[bytes\/s, frames\/s\]/);
  t.throws(() => new Guard({ ...ok, down: [1] as unknown as [number, number] }), /Guard: down must be/);
  t.throws(() => new Guard({ ...ok, burst: 0 }), /Guard: burst must be seconds/);
  t.throws(() => new Guard({ ...ok, dhcpServer: 2 ** 32 }), /Guard: dhcpServer must be an IPv4 address/);
  t.throws(() => new Guard({ ...ok, ipv6: 1 as unknown as boolean }), /Guard: ipv6 must be true or false/);
  t.throws(() => new Guard(undefined as unknown as typeof ok), /Guard: takes a rules object/);
  const g = new Guard(ok);
  t.throws(() => g.up('frame' as unknown as Buffer), /Guard: the frame must be a Buffer/);
  t.throws(() => g.down([Buffer.alloc(60)], 0, new Uint8Array(1), 'now' as unknown as number), /Guard: now must be a number/);
  t.throws(() => g.down(Buffer.alloc(60) as unknown as Buffer[], 0, new Uint8Array(1)), /Guard: down takes an array of frames/);
  t.throws(() => g.down([Buffer.alloc(60)], 1, new Uint8Array(1)), /Guard: down's from must be an index of the frames/);
  t.throws(() => g.down([Buffer.alloc(60), Buffer.alloc(60)], 0, new Uint8Array(1)), /Guard: down's out must be a Uint8Array as long as the frames/);
  t.throws(() => g.down(['frame' as unknown as Buffer], 0, new Uint8Array(1)), /Guard: a frame must be a Buffer/);
  t.throws(() => g.up(Buffer.alloc(60), NaN), /Guard: now must be a number/);
  t.throws(() => g.counts(new Float64Array(2)), /Guard: counts takes a Float64Array\(3\)/);
  t.equal(g.up(Buffer.alloc(0)), verdicts().runt, 'an empty frame is a runt');
});

t.test('the verdicts the pump knows by name are the ones guard.h numbers', async (t) => {
  t.same(Guard.verdicts, ['pass', 'runt', 'otherMac', 'dhcpOtherMac', 'limited', 'v6Router', 'v6DhcpServer', 'v6Source', 'v6ForgedNa', 'v6Full', 'v6Malformed']);
  t.equal(verdicts().limited, Guard.verdicts.indexOf('limited'));
  t.equal(Guard.minFrame, 14, 'an Ethernet header');
  t.equal(Guard.verdictMask & (Guard.bound | Guard.firstLimited | Guard.acked), 0, 'what a frame tells is above the verdict\'s bits');
});
