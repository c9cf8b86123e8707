/**
 * The JavaScript data path (see path.ts): ws on Node's event loop, the Pump moving frames and
 * the Guard judging them. wss:// always takes it (Node owns TLS); ws:// with data_path = js.
 */
import type WebSocket from 'ws';
import type { Tap } from '../net/tap';
import { Guard, type GuardRules } from './guard';
import type { DataPath, PathCounts, PathEvents } from './path';
import { LINGER_MS, Pump } from './pump';

/** The close status ws sends for each of its protocol errors (see ws/lib/receiver.js). */
function protocolErrorCode(code: string | undefined): number {
  if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return 1009;
  if (code === 'WS_ERR_INVALID_UTF8') return 1007;
  return 1002; // protocol error
}

export class JsPath implements DataPath {
  readonly kind = 'js';
  private readonly pump: Pump;
  private readonly guard: Guard;
  private lastSeen = Date.now();
  private lastFrame = Date.now();
  private ended = false;
  /** A protocol error ws found: the status it sent and why, for the close that follows. */
  private error: { code: number; reason: string } | undefined;

  constructor(private readonly ws: WebSocket, tap: Tap, rules: GuardRules, private readonly events: PathEvents) {
    const onDhcpAck = events.dhcpAck;
    this.guard = new Guard(rules, {
      bound: (mac) => events.bound(mac),
      limited: (direction) => events.limited(direction),
      ...(onDhcpAck ? { dhcpAck: (mac: string, ip: string) => onDhcpAck(mac, ip) } : {}),
    });
    this.pump = new Pump(ws, tap, {
      onBadFrame: (why) => this.close(1007, why),
      onActivity: () => (this.lastSeen = Date.now()),
      onFrame: () => (this.lastFrame = this.lastSeen),
      onText: (text) => events.text(text.length),
      onTapError: (err) => this.close(1011, err.message),
    }, this.guard);
    ws.on('pong', () => (this.lastSeen = Date.now()));
    ws.on('error', (err: Error & { code?: string }) => {
      // A protocol error: ws has already sent the close frame with the status it names.
      const reason = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? `frame too large (${err.message})` : err.message;
      this.error = { code: protocolErrorCode(err.code), reason };
    });
    ws.on('close', (code: number, why: Buffer) => this.end(this.error?.code ?? code, this.error?.reason ?? why.toString()));
    this.pump.start();
  }

  get mac(): string | undefined {
    return this.guard.mac;
  }

  counts(): PathCounts {
    const c = this.pump.counters;
    const g = this.guard.counters;
    return {
      framesIn: c.framesIn, bytesIn: c.bytesIn, framesOut: c.framesOut, bytesOut: c.bytesOut, refused: c.dropped, stalls: c.stalls,
      spoofed: g.spoofed, limitedIn: g.limitedIn, limitedOut: g.limitedOut, lastSeen: this.lastSeen, lastFrame: this.lastFrame,
    };
  }

  /** Nothing waits: the guard's bound event came inside judgeUp, which goes on unless closed. */
  admit(): void {}

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
