/**
 * The guard itself (native/guard.c, through the addon's Guard: the code both data paths run)
 * against its vectors (guard-vectors.ts), plus what a table says less well: bad input to the
 * binding, and a reply cut at every length.
 */
import t from 'tap';
import { native, type GuardHandle } from '../../src/native';
import { verdicts } from '../../src/datapath/pump';
import { ACK, expand, VECTORS, type Count, type Step, type Vector } from './guard-vectors';

const { Guard } = native();
/** The guard's clock at a vector's 0 (any number: only differences count). */
const ORIGIN = 1_000_000;

const ipToInt = (ip: string): number => ip.split('.').reduce((n, x) => n * 256 + Number(x), 0);
const within = (n: number, c: Count): boolean => (typeof c === 'number' ? n === c : n >= c[0] && n <= c[1]);

function make(v: Vector): GuardHandle {
  const r = v.rules ?? {};
  return new Guard({
    up: r.up ?? [0, 0], down: r.down ?? [0, 0], burst: r.burst ?? 1, dhcpServer: r.dhcpServer ? ipToInt(r.dhcpServer) : 0, now: ORIGIN,
  });
}

/** Judges one step's frames: each verdict's name, and what they told. */
function run(g: GuardHandle, s: Step, at: number): { names: string[]; told: string[] } {
  const frame = Buffer.from(expand(s.frame), 'hex');
  const names: string[] = [];
  const told: string[] = [];
  for (let i = 0; i < (s.times ?? 1); i++) {
    const r = s.dir === 'up' ? g.up(frame, ORIGIN + at + i * (s.every ?? 0)) : g.down(frame, ORIGIN + at + i * (s.every ?? 0));
    names.push(Guard.verdicts[r & Guard.verdictMask]!);
    if (r & Guard.bound) told.push(`bound ${g.mac()}`);
    if (r & Guard.firstLimited) told.push(`limited ${s.dir}`);
    if (r & Guard.acked) told.push(`dhcp ${g.ack().join(' ')}`);
  }
  return { names, told };
}

for (const v of VECTORS) {
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
  });
}

t.test('a DHCP ACK cut at any length grants nothing before its message type, and reads nothing past the frame', async (t) => {
  const full = Buffer.from(expand(ACK), 'hex');
  const g = new Guard({ up: [0, 0], down: [0, 0], burst: 1, dhcpServer: ipToInt('192.168.86.1') });
  const told: number[] = [];
  // A copy of each length: the guard sees exactly those bytes (ASan's run would catch a read past).
  for (let n = 0; n <= full.length; n++) if (g.down(Buffer.from(full.subarray(0, n))) & Guard.acked) told.push(full.length - n);
  t.same(told, [1, 0], 'told only whole, or without its end option (which the guard does not need)');
});

t.test('the binding refuses what is not a guard\'s input, with a message naming it', async (t) => {
  const ok = { up: [0, 0] as [number, number], down: [0, 0] as [number, number], burst: 1, dhcpServer: 0 };
  t.throws(() => new Guard({ ...ok, up: [-1, 0] }), /Guard: up must be \[bytes\/s, frames\/s\]/);
  t.throws(() => new Guard({ ...ok, down: [1] as unknown as [number, number] }), /Guard: down must be/);
  t.throws(() => new Guard({ ...ok, burst: 0 }), /Guard: burst must be seconds/);
  t.throws(() => new Guard({ ...ok, dhcpServer: 2 ** 32 }), /Guard: dhcpServer must be an IPv4 address/);
  t.throws(() => new Guard(undefined as unknown as typeof ok), /Guard: takes a rules object/);
  const g = new Guard(ok);
  t.throws(() => g.up('frame' as unknown as Buffer), /Guard: the frame must be a Buffer/);
  t.throws(() => g.down(Buffer.alloc(60), 'now' as unknown as number), /Guard: now must be a number/);
  t.throws(() => g.counts(new Float64Array(2)), /Guard: counts takes a Float64Array\(3\)/);
  t.equal(g.up(Buffer.alloc(0)), verdicts().runt, 'an empty frame is a runt');
});

t.test('the verdicts the pump knows by name are the ones guard.h numbers', async (t) => {
  t.same(Guard.verdicts, ['pass', 'runt', 'otherMac', 'dhcpOtherMac', 'limited']);
  t.equal(verdicts().limited, Guard.verdicts.indexOf('limited'));
  t.equal(Guard.minFrame, 14, 'an Ethernet header');
  t.equal(Guard.verdictMask & (Guard.bound | Guard.firstLimited | Guard.acked), 0, 'what a frame tells is above the verdict\'s bits');
});
