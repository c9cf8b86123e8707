/**
 * The JavaScript data path (see path.ts): ws on Node's event loop, the Pump moving frames and
 * the client's guard (native/guard.c, the native path's own) judging them: one addon call a
 * frame from the client, one a batch to it. wss:// always takes it (Node owns TLS); ws:// with
 * data_path = js.
 */
import type WebSocket from 'ws';
import { abi, native, type GuardHandle } from '../native';
import type { Tap } from '../net/tap';
import { guardOptions, type DataPath, type GuardRules, type PathCounts, type PathEvents } from './path';
import { LINGER_MS, Pump, type Judge } from './pump';

/** The close codes, as native/abi.h names them (the native path sends the same). */
const CLOSE = abi().close;

/** The close status ws sends for each of its protocol errors (see ws/lib/receiver.js). */
function protocolErrorCode(code: string | undefined): number {
  if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return CLOSE.tooBig;
  if (code === 'WS_ERR_INVALID_UTF8') return CLOSE.invalid;
  return CLOSE.protocol;
}

export class JsPath implements DataPath {
  readonly kind = 'js';
  /** The client's MAC, once its first frame bound it. */
  mac: string | undefined;
  private readonly pump: Pump;
  private readonly guard: GuardHandle;
  /** The guard's counters (spoofed, limitedIn, limitedOut), read into here by counts(). */
  private readonly guardCounts = new Float64Array(3);
  private lastSeen = Date.now();
  private lastFrame = Date.now();
  private ended = false;
  /** A protocol error ws found: the status it sent and why, for the close that follows. */
  private error: { code: number; reason: string } | undefined;

  constructor(private readonly ws: WebSocket, tap: Tap, rules: GuardRules, private readonly events: PathEvents) {
    const { Guard } = native();
    const guard = (this.guard = new Guard(guardOptions(rules)));
    // What the guard tells besides a verdict rides in the bits above it: rare, so one test a frame.
    const mask = Guard.verdictMask;
    const judge: Judge = {
      judgeUp: (frame) => {
        const r = guard.up(frame);
        if (r > mask) this.told(r, 'up');
        return r & mask;
      },
      judgeDown: (frames, out) => {
        // The guard stops after a frame that tells something: told here, then on from the next.
        for (let i = 0; i < frames.length; ) {
          i = guard.down(frames, i, out);
          const r = out[i - 1]!;
          if (r <= mask) continue;
          out[i - 1] = r & mask;
          this.told(r, 'down');
        }
      },
    };
    this.pump = new Pump(ws, tap, {
      onBadFrame: (why) => this.close(CLOSE.invalid, why),
      onActivity: () => (this.lastSeen = Date.now()),
      onFrame: () => (this.lastFrame = this.lastSeen),
      onText: (text) => events.text(text.length),
      onTapError: (err) => this.close(CLOSE.internal, err.message),
    }, judge);
    ws.on('pong', () => (this.lastSeen = Date.now()));
    ws.on('error', (err: Error & { code?: string }) => {
      // A protocol error: ws has already sent the close frame with the status it names.
      const reason = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? `frame too large (${err.message})` : err.message;
      this.error = { code: protocolErrorCode(err.code), reason };
    });
    ws.on('close', (code: number, why: Buffer) => this.end(this.error?.code ?? code, this.error?.reason ?? why.toString()));
    this.pump.start();
  }

  /** What a judged frame told: the client bound, the first frame over a limit, a DHCP OFFER or ACK. */
  private told(r: number, direction: 'up' | 'down'): void {
    const { Guard } = native();
    if (r & Guard.bound) {
      const mac = this.guard.mac()!;
      this.mac = mac;
      this.events.bound(mac); // the session may close the client here: the pump then drops this frame
    }
    if (r & Guard.firstLimited) this.events.limited(direction);
    if (r & Guard.acked) {
      const [mac, ip] = this.guard.ack();
      this.events.dhcpAck?.(mac, ip);
    }
  }

  counts(): PathCounts {
    const c = this.pump.counters;
    const g = this.guardCounts;
    this.guard.counts(g);
    return {
      framesIn: c.framesIn, bytesIn: c.bytesIn, framesOut: c.framesOut, bytesOut: c.bytesOut, refused: c.refused, stalls: c.stalls,
      spoofed: g[0]!, limitedIn: g[1]!, limitedOut: g[2]!, lastSeen: this.lastSeen, lastFrame: this.lastFrame,
    };
  }

  ping(): void {
    this.ws.ping();
  }

  close(code: number, reason: string): void {
    if (this.ended) return;
    this.end(code, reason);
    this.ws.resume(); // resting over its upload limit: the close handshake needs the answer read
    this.ws.close(code, reason.slice(0, 120));
    // A client that does not answer the close handshake is cut off.
    setTimeout(() => this.ws.terminate(), LINGER_MS).unref();
  }

  private end(code: number, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.pump.stop();
    this.events.ended(code, reason);
  }
}
