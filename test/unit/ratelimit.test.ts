import t from 'tap';
import { EventEmitter } from 'node:events';
import type WebSocket from 'ws';
import type { Tap } from '../../src/net/tap';
import { Pump } from '../../src/datapath/pump';
import { Guard } from '../../src/datapath/guard';
import { RateLimit, TokenBucket } from '../../src/datapath/ratelimit';

/** has(), then charge() if it said yes: how RateLimit spends a bucket. */
function take(bucket: TokenBucket, cost: number, now: number): boolean {
  if (!bucket.has(cost, now)) return false;
  bucket.charge(cost);
  return true;
}

/** A clock the test moves by hand (milliseconds). */
function manualClock(): { now: () => number; advance(ms: number): void } {
  let ms = 1000;
  return { now: () => ms, advance: (d) => (ms += d) };
}

t.test('off: both rates 0 make no limit at all (nothing on the hot path)', async (t) => {
  t.equal(RateLimit.create({ bytes: 0, frames: 0, burst: 1 }), undefined);
  t.ok(RateLimit.create({ bytes: 0, frames: 5, burst: 1 }));
});

t.test('a frame limit passes a full burst at once, then the rate, and drops the rest', async (t) => {
  const clock = manualClock();
  const limit = RateLimit.create({ bytes: 0, frames: 10, burst: 1 }, clock.now)!;
  let passed = 0;
  for (let i = 0; i < 50; i++) if (limit.allow(60)) passed++;
  t.equal(passed, 10, 'a new client gets one second of frames at once');
  clock.advance(100);
  t.ok(limit.allow(60), 'a tenth of a second later: one more');
  t.notOk(limit.allow(60), 'and only one');
  // A flood of 1,000 frames a second for 10 s gets 10 a second through.
  passed = 0;
  for (let ms = 0; ms < 10_000; ms++) {
    clock.advance(1);
    if (limit.allow(60)) passed++;
  }
  t.ok(passed >= 99 && passed <= 101, `${passed} of 10,000 frames passed in 10 s at 10/s`);
});

t.test('a byte limit with a 2 s burst; a refused frame costs neither bucket', async (t) => {
  const clock = manualClock();
  const limit = RateLimit.create({ bytes: 1000, frames: 100, burst: 2 }, clock.now)!;
  t.ok(limit.allow(1500));
  t.notOk(limit.allow(600), '2,100 bytes do not fit 2,000');
  t.ok(limit.allow(500), '2,000 do');
  t.notOk(limit.allow(1));
  // The byte bucket refuses 1,000 times; the frame bucket must not have paid for those.
  for (let i = 0; i < 1000; i++) limit.allow(100);
  clock.advance(1000);
  let passed = 0;
  while (limit.allow(10)) passed++;
  t.equal(passed, 100, 'after 1 s: 1,000 bytes as 100 frames, both buckets refilled as expected');
});

t.test('a frame larger than the whole bucket passes only from a full bucket, leaving it in debt', async (t) => {
  const clock = manualClock();
  const bucket = new TokenBucket(1000, 1, clock.now());
  t.ok(take(bucket, 65_549, clock.now()), 'a 64 KiB frame under a 1 kB/s limit is not refused forever');
  clock.advance(1000);
  t.notOk(take(bucket, 1, clock.now()), '1 s later the debt is not paid yet');
  clock.advance(64_549);
  t.ok(take(bucket, 1000, clock.now()), 'paid off at the rate');
});

t.test('a clock that stands still or steps back adds nothing', async (t) => {
  const bucket = new TokenBucket(10, 1, 5000);
  for (let i = 0; i < 10; i++) take(bucket, 1, 5000);
  t.notOk(take(bucket, 1, 5000));
  t.notOk(take(bucket, 1, 4000), 'stepping back does not refill');
  t.notOk(take(bucket, 1, 5050), 'and the bucket did not move its clock back either');
  t.ok(take(bucket, 1, 5100));
});

t.test('the pump drops down frames over the limit, counts them once logged, and keeps its send callback', async (t) => {
  const clock = manualClock();
  const sent: { length: number; cb: boolean }[] = [];
  const ws = Object.assign(new EventEmitter(), {
    readyState: 1,
    bufferedAmount: 0,
    send: (frame: Buffer, _o: unknown, cb?: () => void) => sent.push({ length: frame.length, cb: cb !== undefined }),
  }) as unknown as WebSocket;
  let onFrames: (frames: Buffer[]) => void = () => undefined;
  const tap = { start: (h: { onFrames: typeof onFrames }) => (onFrames = h.onFrames), write: () => true } as unknown as Tap;
  const limited: string[] = [];
  const guard = new Guard({ down: RateLimit.create({ bytes: 0, frames: 3, burst: 1 }, clock.now) }, { bound: () => undefined, limited: (d) => limited.push(d) });
  const pump = new Pump(ws, tap, { onBadFrame: () => undefined, onTapError: () => undefined }, guard);
  pump.start();
  onFrames([Buffer.alloc(100), Buffer.alloc(101), Buffer.alloc(102), Buffer.alloc(103), Buffer.alloc(104)]);
  t.same(sent, [{ length: 100, cb: false }, { length: 101, cb: false }, { length: 102, cb: true }], 'the last frame sent, not the last read, carries the callback');
  t.match(pump.counters, { framesOut: 3, bytesOut: 303 });
  t.equal(guard.counters.limitedOut, 2);
  onFrames([Buffer.alloc(60)]);
  t.equal(guard.counters.limitedOut, 3);
  t.same(limited, ['down'], 'logged once, not per frame');
});
