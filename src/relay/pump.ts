/**
 * The frame pump: one WebSocket and one TAP, both ways, with bounded memory.
 *
 *   WebSocket message -> tap.write(): one frame per write(), from the client's first source MAC
 *     only (others are dropped and counted), within the client's rate limit (the excess is
 *     dropped and counted, see ratelimit.ts). If the TAP would block, the frame
 *     waits (one frame only) and the socket is paused until the TAP is writable again.
 *   TAP frames -> ws.send(): one binary message per frame, within the client's rate limit
 *     (the excess is dropped and counted). Past HIGH_WATER bytes buffered
 *     towards a slow client the TAP stops being read (the kernel queue then drops, as Ethernet
 *     may); reading resumes below LOW_WATER.
 */
import type WebSocket from 'ws';
import type { Tap } from '../net/tap';
import type { RateLimit } from './ratelimit';
import { dhcpAck, dhcpRequestChaddr, type Ack } from './dhcp';

/** Largest frame: 65,535 MTU (v86 virtio) + 14-byte Ethernet header. */
export const MAX_FRAME = 65549;
/** Smallest frame: an Ethernet header. */
export const MIN_FRAME = 14;
export const HIGH_WATER = 1024 * 1024;
export const LOW_WATER = 256 * 1024;
/**
 * A client over its upload limit is also not read for this long: its excess waits in the
 * kernel's socket buffer and TCP holds the sender back, so a flood costs the relay little more
 * CPU than the traffic it lets through (read and dropped, it would cost all of it).
 */
export const REST_MS = 20;

export interface PumpCounters {
  framesIn: number; // client -> TAP
  bytesIn: number;
  framesOut: number; // TAP -> client
  bytesOut: number;
  /** Times the TAP stopped being read because the client was slow. */
  stalls: number;
  /** Frames the TAP refused (e.g. larger than the kernel takes). */
  dropped: number;
  /** Frames dropped for a source MAC other than the client's first. */
  spoofed: number;
  /** Frames from the client dropped over its rate limit ("up"). */
  limitedIn: number;
  /** Frames to the client dropped over its rate limit ("down"). */
  limitedOut: number;
}

/** Rate limits of one client, each way; undefined: none. */
export interface PumpLimits {
  up?: RateLimit | undefined;
  down?: RateLimit | undefined;
}

export interface PumpEvents {
  /** The first source MAC seen from the client; the session may stop the pump here. */
  onFirstMac?(mac: string): void;
  /** The first frame dropped over a rate limit, each way (to log it once, not per frame). */
  onLimited?(direction: 'up' | 'down'): void;
  /** A DHCPACK on its way to the client (for the bridge's table of leased addresses). */
  onDhcpAck?(ack: Ack): void;
  /** A frame the client sent that is not Ethernet: the session closes the client. */
  onBadFrame(reason: string): void;
  /** Any message from the client (for keepalive). */
  onActivity?(): void;
  /** A text message: v86 sends none, jor1k its pings; they are not frames. */
  onText?(text: Buffer): void;
  onTapError(err: Error): void;
}

export function formatMac(frame: Buffer, offset: number): string {
  return [...frame.subarray(offset, offset + 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export class Pump {
  readonly counters: PumpCounters = { framesIn: 0, bytesIn: 0, framesOut: 0, bytesOut: 0, stalls: 0, dropped: 0, spoofed: 0, limitedIn: 0, limitedOut: 0 };
  private pending: Buffer | undefined;
  private resting = false;
  private tapPaused = false;
  private firstMac: string | undefined;
  /** The first source MAC's bytes: the only source MAC this client may send from. */
  private boundMac: Buffer | undefined;
  private stopped = false;

  /**
   * bindMac: only the first source MAC passes (the relay's side, facing a client). The client's
   * side (`wsnic connect`) gets frames from every host on the bridge and binds nothing.
   */
  constructor(
    private readonly ws: WebSocket,
    private readonly tap: Tap,
    private readonly events: PumpEvents,
    private readonly bindMac = false,
    private readonly limits: PumpLimits = {},
    /** The DHCP server's address (the gateway, as a number): OFFERs and ACKs from it are told. */
    private readonly dhcpServer?: number,
  ) {}

  start(): void {
    this.ws.on('message', (data: Buffer, isBinary: boolean) => this.fromClient(data, isBinary));
    this.tap.start({
      onFrames: (frames) => this.toClient(frames),
      onWritable: () => this.tapWritable(),
      onError: (err) => this.events.onTapError(err),
    });
  }

  /** Stops moving frames; the owner closes the TAP and the socket. */
  stop(): void {
    this.stopped = true;
    this.pending = undefined;
  }

  get mac(): string | undefined {
    return this.firstMac;
  }

  private fromClient(data: Buffer, isBinary: boolean): void {
    this.events.onActivity?.();
    if (this.stopped) return;
    if (!isBinary) {
      this.events.onText?.(data);
      return;
    }
    if (data.length < MIN_FRAME) {
      this.events.onBadFrame(`frame of ${data.length} bytes is shorter than an Ethernet header`);
      return;
    }
    if (this.boundMac === undefined) {
      this.boundMac = Buffer.from(data.subarray(6, 12));
      this.firstMac = formatMac(data, 6);
      this.events.onFirstMac?.(this.firstMac);
      if (this.stopped) return; // refused (a duplicate MAC): the frame must not reach the bridge
    } else if (this.bindMac && data.compare(this.boundMac, 0, 6, 6, 12) !== 0) {
      this.counters.spoofed++; // one MAC per client: a guest does not change MAC mid-connection
      return;
    }
    if (this.bindMac && data[23] === 17) {
      // DHCP for another MAC would make dnsmasq offer (or release) that client's address.
      const chaddr = dhcpRequestChaddr(data);
      if (chaddr !== undefined && chaddr.compare(this.boundMac) !== 0) {
        this.counters.spoofed++;
        return;
      }
    }
    if (this.limits.up && !this.limits.up.allow(data.length)) {
      if (this.counters.limitedIn++ === 0) this.events.onLimited?.('up');
      this.rest();
      return;
    }
    if (this.pending !== undefined) {
      // ws still hands over what it parsed before pause(): kept, it would pass the waiting frame.
      this.counters.dropped++;
      return;
    }
    this.counters.framesIn++;
    this.counters.bytesIn += data.length;
    let written: boolean;
    try {
      written = this.tap.write(data);
    } catch {
      this.counters.dropped++; // the kernel refused this frame; Ethernet drops, so do we
      return;
    }
    if (!written) {
      this.pending = data;
      this.ws.pause();
    }
  }

  /** Stops reading the client for REST_MS (see there). */
  private rest(): void {
    if (this.resting) return;
    this.resting = true;
    this.ws.pause();
    setTimeout(() => {
      this.resting = false;
      if (!this.stopped && this.pending === undefined) this.ws.resume();
    }, REST_MS);
  }

  private tapWritable(): void {
    if (this.stopped || this.pending === undefined) return;
    let written = true;
    try {
      written = this.tap.write(this.pending);
    } catch {
      this.counters.dropped++;
    }
    if (written) {
      this.pending = undefined;
      if (!this.resting) this.ws.resume();
    }
  }

  private toClient(frames: Buffer[]): void {
    if (this.stopped || this.ws.readyState !== 1) return;
    // One batch, one writev: ws corks the socket around each frame; corked around the whole
    // batch too, the socket flushes once. Only the last frame sent needs the callback, so each
    // frame is held until the next one passes the rate limit (or the batch ends).
    const socket = (this.ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    socket?.cork();
    const limit = this.limits.down;
    const now = limit?.now(); // one clock read for the batch
    let held: Buffer | undefined;
    for (const frame of frames) {
      if (limit && !limit.allow(frame.length, now)) {
        if (this.counters.limitedOut++ === 0) this.events.onLimited?.('down');
        continue;
      }
      this.counters.framesOut++;
      this.counters.bytesOut += frame.length;
      if (frame[23] === 17 && this.dhcpServer !== undefined && this.events.onDhcpAck) { // UDP over IPv4 (or chance)
        const ack = dhcpAck(frame, this.dhcpServer);
        if (ack) this.events.onDhcpAck(ack);
      }
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
