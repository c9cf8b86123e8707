/**
 * The frame pump: one WebSocket and one TAP, both ways, with bounded memory. It moves frames;
 * which frames may move is its judge's call, asked once per frame: a client's guard
 * (native/guard.c, through jspath.ts) on the relay, UNGUARDED on the client side.
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
import { abi, native } from '../native';
import type { Tap } from '../net/tap';
import type { PathCounts } from './path';

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

/** What the pump asks of a judge: a verdict per frame, as the guard numbers them (verdicts()). */
export interface Judge {
  judgeUp(frame: Buffer): number;
  /** A batch of frames to the client (one TAP read's): frames[i]'s verdict into verdicts[i]. */
  judgeDown(frames: Buffer[], verdicts: Uint8Array): void;
}

/** The guard's verdicts by name. */
export interface Verdicts {
  pass: number;
  /** Shorter than an Ethernet header: not Ethernet, the client is closed (1007). */
  runt: number;
  /** From a source MAC other than the bound one (counted: spoofed). */
  otherMac: number;
  /** A DHCP request naming another client's MAC (counted: spoofed). */
  dhcpOtherMac: number;
  /** Over the client's rate limit (counted: limitedIn up, limitedOut down). */
  limited: number;
}

let known: Verdicts | undefined;

/** The verdicts as native/guard.h numbers them (the addon names them; read once). */
export function verdicts(): Verdicts {
  if (known) return known;
  const names = native().Guard.verdicts;
  const number = (name: keyof Verdicts): number => {
    const i = names.indexOf(name);
    if (i < 0) throw new Error(`the addon's guard has no verdict '${name}' (it has ${names.join(', ')}): rebuild the addon`);
    return i;
  };
  return (known = { pass: number('pass'), runt: number('runt'), otherMac: number('otherMac'), dhcpOtherMac: number('dhcpOtherMac'), limited: number('limited') });
}

/**
 * The client side's judge (`wsnic connect`): frames from every host on the bridge come down its
 * socket, so it binds no MAC and limits nothing; only a frame that is not Ethernet is refused.
 */
export const UNGUARDED: Judge = {
  judgeUp: (frame) => (frame.length < native().Guard.minFrame ? verdicts().runt : verdicts().pass),
  judgeDown: (frames, out) => out.fill(verdicts().pass, 0, frames.length),
};

/** The frames and bytes moved, stalls, frames the TAP refused (path.ts); what the guard dropped is in its own counters. */
export type PumpCounters = Pick<PathCounts, 'framesIn' | 'bytesIn' | 'framesOut' | 'bytesOut' | 'stalls' | 'refused'>;

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
  readonly counters: PumpCounters = { framesIn: 0, bytesIn: 0, framesOut: 0, bytesOut: 0, stalls: 0, refused: 0 };
  private readonly verdict = verdicts();
  /** The verdicts of a batch to the client (grown to the largest batch). */
  private down = new Uint8Array(64);
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
    const v = this.verdict;
    if (verdict !== v.pass) {
      if (verdict === v.runt) this.events.onBadFrame(`frame of ${data.length} bytes is shorter than an Ethernet header`);
      else if (verdict === v.limited) this.rest();
      return;
    }
    this.counters.framesIn++;
    this.counters.bytesIn += data.length;
    try {
      this.tap.write(data);
    } catch {
      this.counters.refused++; // the kernel refused this frame; Ethernet drops, so do we
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
    if (this.down.length < frames.length) this.down = new Uint8Array(frames.length);
    const down = this.down;
    this.guard.judgeDown(frames, down);
    const pass = this.verdict.pass;
    let held: Buffer | undefined;
    for (let i = 0; i < frames.length; i++) {
      if (down[i] !== pass) continue;
      const frame = frames[i]!;
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
