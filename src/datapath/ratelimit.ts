/**
 * Per-client rate limits: token buckets, refilled lazily from a monotonic clock when a frame
 * asks (no timer per client). A frame over the limit is dropped by the caller, never queued:
 * a queue would only move the excess into the relay's memory.
 */
import { performance } from 'node:perf_hooks';

/** Milliseconds from a monotonic clock; injected by the tests. */
export type Clock = () => number;

export const monotonic: Clock = () => performance.now();

/** One bucket: `rate` tokens a second, holding at most `rate * burst` (burst in seconds). */
export class TokenBucket {
  private readonly perMs: number;
  private readonly capacity: number;
  private tokens: number;
  private last: number;

  constructor(rate: number, burst: number, now: number) {
    this.perMs = rate / 1000;
    this.capacity = rate * burst;
    this.tokens = this.capacity; // a new client may burst at once (DHCP, ARP, the first TCP window)
    this.last = now;
  }

  /**
   * Whether `cost` tokens are there now. A cost larger than the whole bucket (a 64 KiB frame
   * under a small byte limit) is there when the bucket is full: charged, it leaves the bucket in
   * debt, so such frames are not refused forever yet still average out to the rate.
   */
  has(cost: number, now: number): boolean {
    if (now > this.last) {
      this.tokens = Math.min(this.capacity, this.tokens + (now - this.last) * this.perMs);
      this.last = now;
    }
    return this.tokens >= cost || this.tokens >= this.capacity;
  }

  /** Spends `cost` tokens (after has() said yes). */
  charge(cost: number): void {
    this.tokens -= cost;
  }
}

export interface Limits {
  /** Bytes per second; 0: no byte limit. */
  bytes: number;
  /** Frames per second; 0: no frame limit. */
  frames: number;
  /** Seconds of traffic at the full rate a bucket holds (how long a burst may be). */
  burst: number;
}

/** One direction of one client: a byte bucket and a frame bucket; a frame must fit both. */
export class RateLimit {
  private readonly bytes: TokenBucket | undefined;
  private readonly frames: TokenBucket | undefined;

  private constructor(limits: Limits, private readonly clock: Clock) {
    const now = clock();
    if (limits.bytes > 0) this.bytes = new TokenBucket(limits.bytes, limits.burst, now);
    if (limits.frames > 0) this.frames = new TokenBucket(limits.frames, limits.burst, now);
  }

  /** A limit, or undefined when both rates are 0 (off: the hot path then checks nothing). */
  static create(limits: Limits, clock: Clock = monotonic): RateLimit | undefined {
    return limits.bytes > 0 || limits.frames > 0 ? new RateLimit(limits, clock) : undefined;
  }

  /** Whether a frame of `size` bytes may pass now; if so it is charged to both buckets. */
  allow(size: number, now = this.clock()): boolean {
    // Both checked before either is charged: a refused frame costs nothing.
    if (this.frames && !this.frames.has(1, now)) return false;
    if (this.bytes && !this.bytes.has(size, now)) return false;
    this.frames?.charge(1);
    this.bytes?.charge(size);
    return true;
  }

  /** The clock, read once for a batch of frames. */
  now(): number {
    return this.clock();
  }
}
