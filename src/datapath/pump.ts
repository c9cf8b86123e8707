/**
 * The frame pump: one WebSocket and one TAP, both ways, with bounded memory. It moves frames;
 * which frames may move is the guard's call (guard.ts), asked once per frame.
 *
 *   WebSocket message -> guard.judgeUp -> tap.write(): one frame per write(). A frame the kernel
 *     refuses is dropped and counted. The TAP never makes a write wait: the tun driver takes or
 *     drops each frame at once (see test/e2e/tapwrite.test.ts). A client over its upload limit
 *     is not read for REST_MS.
 *   TAP frames -> guard.judgeDown -> ws.send(): one binary message per frame. Past HIGH_WATER
 *     bytes buffered towards a slow client the TAP stops being read (the kernel queue then
 *     drops, as Ethernet may); reading resumes below LOW_WATER.
 */
import type WebSocket from 'ws';
import type { Tap } from '../net/tap';
import { abi } from '../native';
import { UNGUARDED, Verdict, type Judge } from './guard';

// These numbers are the native path's too: defined once, in native/abi.h.
/** Largest frame: 65,535 MTU (v86 virtio) + 14-byte Ethernet header. */
export const MAX_FRAME = abi().maxMessage;
export const HIGH_WATER = abi().highWater;
export const LOW_WATER = abi().lowWater;
/**
 * A client over its upload limit is also not read for this long: its excess waits in the
 * kernel's socket buffer and TCP holds the sender back, so a flood costs the relay little more
 * CPU than the traffic it lets through (read and dropped, it would cost all of it).
 */
export const REST_MS = abi().restMs;
/** A client that does not answer our close frame within this long is cut off. */
export const LINGER_MS = abi().lingerMs;

/** The frames and bytes moved; what the guard dropped is in its own counters. */
export interface PumpCounters {
  framesIn: number; // client -> TAP
  bytesIn: number;
  framesOut: number; // TAP -> client
  bytesOut: number;
  /** Times the TAP stopped being read because the client was slow. */
  stalls: number;
  /** Frames the TAP refused (e.g. larger than the kernel takes). */
  dropped: number;
}

export interface PumpEvents {
  /** A frame the client sent that is not Ethernet: the session closes the client. */
  onBadFrame(reason: string): void;
  /** Any message from the client (for keepalive). */
  onActivity?(): void;
  /** A binary message (an Ethernet frame or not) from the client. */
  onFrame?(): void;
  /** A text message: v86 sends none, jor1k its pings; they are not frames. */
  onText?(text: Buffer): void;
  onTapError(err: Error): void;
}

export class Pump {
  readonly counters: PumpCounters = { framesIn: 0, bytesIn: 0, framesOut: 0, bytesOut: 0, stalls: 0, dropped: 0 };
  private resting = false;
  private tapPaused = false;
  private stopped = false;

  /** guard: judges each frame; the client side (`wsnic connect`) has none to speak of. */
  constructor(
    private readonly ws: WebSocket,
    private readonly tap: Tap,
    private readonly events: PumpEvents,
    private readonly guard: Judge = UNGUARDED,
  ) {}

  start(): void {
    this.ws.on('message', (data: Buffer, isBinary: boolean) => this.fromClient(data, isBinary));
    this.tap.start({
      onFrames: (frames) => this.toClient(frames),
      onError: (err) => this.events.onTapError(err),
    });
  }

  /** Stops moving frames; the owner closes the TAP and the socket. */
  stop(): void {
    this.stopped = true;
  }

  private fromClient(data: Buffer, isBinary: boolean): void {
    this.events.onActivity?.();
    if (this.stopped) return;
    if (!isBinary) {
      this.events.onText?.(data);
      return;
    }
    this.events.onFrame?.();
    const verdict = this.guard.judgeUp(data);
    // Stopped while judged: the client was refused as it bound (a duplicate MAC), and its
    // first frame must not reach the bridge.
    if (this.stopped) return;
    if (verdict !== Verdict.pass) {
      if (verdict === Verdict.runt) this.events.onBadFrame(`frame of ${data.length} bytes is shorter than an Ethernet header`);
      else if (verdict === Verdict.limited) this.rest();
      return;
    }
    this.counters.framesIn++;
    this.counters.bytesIn += data.length;
    try {
      this.tap.write(data);
    } catch {
      this.counters.dropped++; // the kernel refused this frame; Ethernet drops, so do we
    }
  }

  /** Stops reading the client for REST_MS (see there). */
  private rest(): void {
    if (this.resting) return;
    this.resting = true;
    this.ws.pause();
    setTimeout(() => {
      this.resting = false;
      if (!this.stopped) this.ws.resume();
    }, REST_MS);
  }

  private toClient(frames: Buffer[]): void {
    if (this.stopped || this.ws.readyState !== 1) return;
    // One batch, one writev: ws corks the socket around each frame; corked around the whole
    // batch too, the socket flushes once. Only the last frame sent needs the callback, so each
    // frame is held until the next one passes the guard (or the batch ends).
    const socket = (this.ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    socket?.cork();
    const guard = this.guard;
    const now = guard.now(); // one clock read for the batch
    let held: Buffer | undefined;
    for (const frame of frames) {
      if (guard.judgeDown(frame, now) !== Verdict.pass) continue;
      this.counters.framesOut++;
      this.counters.bytesOut += frame.length;
      if (held) this.ws.send(held, { binary: true });
      held = frame;
    }
    if (held) this.ws.send(held, { binary: true }, this.sent);
    socket?.uncork();
    if (held && !this.tapPaused && this.ws.bufferedAmount > HIGH_WATER) {
      this.tapPaused = true;
      this.counters.stalls++;
      this.tap.pause();
    }
  }

  private readonly sent = (): void => {
    if (this.tapPaused && !this.stopped && this.ws.bufferedAmount < LOW_WATER) {
      this.tapPaused = false;
      this.tap.resume();
    }
  };
}
