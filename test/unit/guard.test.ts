/** The per-client guard on its own: its states, a verdict per frame, its counters and events. */
import t from 'tap';
import { Guard, UNGUARDED, Verdict, type GuardEvents, type GuardRules } from '../../src/datapath/guard';
import { RateLimit } from '../../src/datapath/ratelimit';
import { dhcpFrame } from './frames';

const MAC = '02:aa:bb:cc:dd:01';
const OTHER = '02:aa:bb:cc:dd:02';
const GW = [192, 168, 86, 1];
const GW_INT = ((192 << 24) >>> 0) + (168 << 16) + (86 << 8) + 1;

const hex = (mac: string): string => mac.replaceAll(':', '');

/** An Ethernet frame from `src` to everyone: an ethertype and zeros, `size` bytes. */
function frame(src: string, size = 60): Buffer {
  const f = Buffer.alloc(size);
  f.write(`ffffffffffff${hex(src)}88b5`, 0, 'hex');
  return f;
}

/** A DHCP message in a frame from `src`: a request (68 -> 67) or a reply (67 -> 68) for `chaddr`. */
function dhcp(src: string, chaddr: string, o: { reply?: boolean; from?: number[]; yiaddr?: number[] } = {}): Buffer {
  return dhcpFrame({
    src, op: o.reply ? 2 : 1, chaddr, yiaddr: o.yiaddr ?? [0, 0, 0, 0], from: o.from ?? [0, 0, 0, 0],
    sport: o.reply ? 67 : 68, dport: o.reply ? 68 : 67, options: [53, 1, o.reply ? 5 : 1, 255], // ACK or DISCOVER
  });
}

/** A guard with these rules, and what its events said. */
function guarded(rules: GuardRules = {}): { guard: Guard; said: string[] } {
  const said: string[] = [];
  const events: GuardEvents = {
    bound: (mac) => said.push(`bound ${mac}`),
    dhcpAck: (mac, ip) => said.push(`dhcpAck ${mac} ${ip}`),
    limited: (direction) => said.push(`limited ${direction}`),
  };
  return { guard: new Guard(rules, events), said };
}

/** A clock the test moves by hand (milliseconds). */
function manualClock(): { now: () => number; advance(ms: number): void } {
  let ms = 1000;
  return { now: () => ms, advance: (d) => (ms += d) };
}

t.test('unbound until the client\'s first frame, which binds its source MAC once', async (t) => {
  const { guard, said } = guarded();
  t.equal(guard.state, 'unbound');
  t.equal(guard.mac, undefined);
  t.equal(guard.judgeDown(frame(OTHER), guard.now()), Verdict.pass, 'frames to the client bind nothing');
  t.equal(guard.state, 'unbound');
  t.equal(guard.judgeUp(frame(MAC)), Verdict.pass, 'the first frame passes');
  t.equal(guard.state, 'bound');
  t.equal(guard.mac, MAC);
  t.equal(guard.judgeUp(frame(MAC, 1514)), Verdict.pass, 'and so do its next');
  t.same(said, [`bound ${MAC}`], 'told once');
});

t.test('a frame shorter than an Ethernet header is a runt: not counted, and it binds nothing', async (t) => {
  const { guard, said } = guarded();
  t.equal(guard.judgeUp(Buffer.alloc(13)), Verdict.runt);
  t.equal(guard.judgeUp(Buffer.alloc(0)), Verdict.runt);
  t.equal(guard.state, 'unbound');
  t.equal(guard.judgeUp(frame(MAC, 14)), Verdict.pass, 'a bare header is Ethernet');
  t.same(guard.counters, { spoofed: 0, limitedIn: 0, limitedOut: 0 });
  t.same(said, [`bound ${MAC}`]);
});

t.test('bound: frames from another source MAC are dropped and counted as spoofed', async (t) => {
  const { guard, said } = guarded();
  guard.judgeUp(frame(MAC));
  t.equal(guard.judgeUp(frame(OTHER)), Verdict.otherMac);
  t.equal(guard.judgeUp(frame(OTHER)), Verdict.otherMac);
  t.equal(guard.judgeUp(frame(MAC)), Verdict.pass, 'the bound MAC still passes');
  t.equal(guard.mac, MAC, 'the binding does not move');
  t.equal(guard.counters.spoofed, 2);
  t.same(said, [`bound ${MAC}`]);
});

t.test('a DHCP request must name the client\'s own MAC', async (t) => {
  const { guard } = guarded();
  t.equal(guard.judgeUp(dhcp(MAC, MAC)), Verdict.pass, 'a DISCOVER for itself, the first frame, binds and passes');
  t.equal(guard.judgeUp(dhcp(MAC, OTHER)), Verdict.dhcpOtherMac, 'one naming another client is dropped');
  t.equal(guard.counters.spoofed, 1, 'and counted as spoofed');
  const first = guarded();
  t.equal(first.guard.judgeUp(dhcp(MAC, OTHER)), Verdict.dhcpOtherMac, 'also when it is the first frame');
  t.equal(first.guard.state, 'bound', 'which binds the source MAC all the same');
  t.equal(first.guard.mac, MAC);
  t.equal(guard.judgeUp(dhcp(MAC, OTHER, { reply: true, from: GW })), Verdict.pass, 'a reply is no request (a DHCP server in a client is the bridge\'s rule)');
});

t.test('up: a burst passes, then the limit drops and counts the excess, told once; the clock refills it', async (t) => {
  const clock = manualClock();
  const { guard, said } = guarded({ up: RateLimit.create({ bytes: 0, frames: 3, burst: 1 }, clock.now) });
  const verdicts = Array.from({ length: 5 }, () => guard.judgeUp(frame(MAC)));
  t.same(verdicts, [Verdict.pass, Verdict.pass, Verdict.pass, Verdict.limited, Verdict.limited]);
  t.equal(guard.judgeUp(frame(OTHER)), Verdict.otherMac, 'a spoofed frame is judged by its MAC first');
  t.same(guard.counters, { spoofed: 1, limitedIn: 2, limitedOut: 0 });
  clock.advance(334);
  t.equal(guard.judgeUp(frame(MAC)), Verdict.pass, 'a third of a second later: one more');
  t.equal(guard.judgeUp(frame(MAC)), Verdict.limited);
  t.same(said, [`bound ${MAC}`, 'limited up'], 'the limit told once, not per frame');
});

t.test('down: the limit reads the clock once per batch, drops and counts the excess', async (t) => {
  const clock = manualClock();
  const { guard, said } = guarded({ down: RateLimit.create({ bytes: 0, frames: 2, burst: 1 }, clock.now) });
  const now = guard.now();
  t.equal(now, clock.now());
  t.same([0, 1, 2].map(() => guard.judgeDown(frame(OTHER), now)), [Verdict.pass, Verdict.pass, Verdict.limited]);
  t.same(guard.counters, { spoofed: 0, limitedIn: 0, limitedOut: 1 });
  t.same(said, ['limited down']);
  t.equal(guarded().guard.now(), undefined, 'no limit: no clock');
});

t.test('down: an OFFER or ACK from the DHCP server is told; from anyone else, or without a server, it is not', async (t) => {
  const { guard, said } = guarded({ dhcpServer: GW_INT });
  t.equal(guard.judgeDown(dhcp(OTHER, MAC, { reply: true, from: GW, yiaddr: [192, 168, 86, 20] }), undefined), Verdict.pass);
  t.equal(guard.judgeDown(dhcp(OTHER, MAC, { reply: true, from: [203, 0, 113, 7], yiaddr: [192, 168, 86, 21] }), undefined), Verdict.pass);
  t.same(said, [`dhcpAck ${MAC} 192.168.86.20`]);
  const none = guarded();
  none.guard.judgeDown(dhcp(OTHER, MAC, { reply: true, from: GW, yiaddr: [192, 168, 86, 20] }), undefined);
  t.same(none.said, []);
});

t.test('a limited frame to the client is not looked into for a DHCP ACK', async (t) => {
  const clock = manualClock();
  const { guard, said } = guarded({ dhcpServer: GW_INT, down: RateLimit.create({ bytes: 0, frames: 1, burst: 1 }, clock.now) });
  const ack = dhcp(OTHER, MAC, { reply: true, from: GW, yiaddr: [192, 168, 86, 20] });
  t.equal(guard.judgeDown(ack, guard.now()), Verdict.pass);
  t.equal(guard.judgeDown(ack, guard.now()), Verdict.limited);
  t.same(said, [`dhcpAck ${MAC} 192.168.86.20`, 'limited down'], 'told for the frame that passed only');
});

t.test('the client side\'s judge refuses only runts', async (t) => {
  t.equal(UNGUARDED.judgeUp(Buffer.alloc(13)), Verdict.runt);
  t.equal(UNGUARDED.judgeUp(frame(MAC)), Verdict.pass);
  t.equal(UNGUARDED.judgeUp(frame(OTHER)), Verdict.pass, 'any source MAC');
  t.equal(UNGUARDED.judgeDown(frame(OTHER), UNGUARDED.now()), Verdict.pass);
});
