/**
 * One client: its WebSocket, its TAP on the bridge, the pump between them and the guard that
 * judges its frames, keepalive and the one log line at each end of its life.
 */
import type WebSocket from 'ws';
import type { Logger } from '../log';
import type { Tap } from '../net/tap';
import { Pump } from './pump';
import { Guard, type GuardRules } from './guard';

export interface ClientInfo {
  /** A number the relay gives each client, for `wsnic status` and `wsnic disconnect`. */
  id: number;
  address: string;
  port: number;
  /** "ws" or "wss". */
  scheme: string;
  /** The handshake's Origin header ('' without one). */
  origin: string;
  /** The bridge its TAP is a port of (wsbr0, or a leaf past bridge_port_limit). */
  bridge: string;
  /** Milliseconds from the upgrade request to the TAP being up on the bridge. */
  tapMs?: number;
}

/** One client as `wsnic status` shows it. */
export interface ClientStatus {
  id: number;
  address: string;
  port: number;
  scheme: string;
  origin: string;
  tap: string;
  bridge: string;
  mac: string | undefined;
  ip: string | undefined;
  /** The hostname the client gave dnsmasq, if any (added by the control socket, from the lease file). */
  hostname?: string;
  /** Unix milliseconds. */
  since: number;
  /** Unix milliseconds of the last message or PONG from the client. */
  lastSeen: number;
  framesIn: number;
  bytesIn: number;
  framesOut: number;
  bytesOut: number;
  /** Frames dropped, by reason: spoofed (another MAC), limitedIn/limitedOut (rate limits), refused (by the TAP), stalls (times its TAP was not read: backpressure). */
  drops: { spoofed: number; limitedIn: number; limitedOut: number; refused: number; stalls: number };
}

/** WebSocket close codes wsnic sends. */
export const CLOSE = {
  goingAway: 1001,
  invalid: 1007,
  policy: 1008,
  tooBig: 1009,
  internal: 1011,
} as const;

/** The close status ws sends for each of its protocol errors (see ws/lib/receiver.js). */
function protocolErrorCode(code: string | undefined): number {
  if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return CLOSE.tooBig;
  if (code === 'WS_ERR_INVALID_UTF8') return CLOSE.invalid;
  return 1002; // protocol error
}

/** What the relay asks of a session: the guard's rules, and a word when the guard tells. */
export interface SessionHooks {
  rules: GuardRules;
  /** The client's MAC is bound (the relay looks for duplicates, and may close the client). */
  onBound?(s: Session, mac: string): void;
  /** An OFFER or ACK from the DHCP server on its way to this client. */
  onDhcpAck?(s: Session, mac: string, ip: string): void;
}

export class Session {
  readonly pump: Pump;
  readonly guard: Guard;
  private lastSeen = Date.now();
  private pinged = false;
  private closed = false;
  private reason = 'client closed';
  private sentCode: number | undefined;
  private readonly started = Date.now();

  constructor(
    private readonly ws: WebSocket,
    readonly tap: Tap,
    readonly client: ClientInfo,
    private readonly log: Logger,
    private readonly onClosed: (s: Session) => void,
    hooks: SessionHooks,
  ) {
    const onDhcpAck = hooks.onDhcpAck;
    this.guard = new Guard(hooks.rules, {
      bound: (mac) => {
        log.info('client MAC', { ...this.fields(), mac });
        hooks.onBound?.(this, mac);
      },
      limited: (direction) => log.info('client over its rate limit, excess dropped', { ...this.fields(), mac: this.guard.mac, direction }),
      ...(onDhcpAck ? { dhcpAck: (mac: string, ip: string) => onDhcpAck(this, mac, ip) } : {}),
    });
    this.pump = new Pump(ws, tap, {
      onBadFrame: (why) => this.close(CLOSE.invalid, why),
      onActivity: () => this.seen(),
      onText: (text) => log.debug('text message ignored', { ...this.fields(), bytes: text.length }),
      onTapError: (err) => this.close(CLOSE.internal, err.message),
    }, this.guard);
    ws.on('pong', () => this.seen());
    ws.on('error', (err: Error & { code?: string }) => {
      // A protocol error: ws has already sent the close frame with the status it names.
      this.sentCode = protocolErrorCode(err.code);
      this.reason = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? `frame too large (${err.message})` : err.message;
    });
    ws.on('close', (code: number, why: Buffer) => this.finish(this.sentCode ?? code, why.toString()));
    this.pump.start();
    log.info('client connected', { ...this.fields(), tap_ms: client.tapMs?.toFixed(2) });
  }

  /** The address dnsmasq leased to this client's MAC, once known. */
  ip: string | undefined;

  /** What `wsnic status` shows of this client. */
  status(): ClientStatus {
    const c = this.pump.counters;
    const g = this.guard.counters;
    return {
      id: this.client.id, address: this.client.address, port: this.client.port, scheme: this.client.scheme, origin: this.client.origin,
      tap: this.tap.name, bridge: this.client.bridge, mac: this.guard.mac, ip: this.ip, since: this.started, lastSeen: this.lastSeen,
      framesIn: c.framesIn, bytesIn: c.bytesIn, framesOut: c.framesOut, bytesOut: c.bytesOut,
      drops: { spoofed: g.spoofed, limitedIn: g.limitedIn, limitedOut: g.limitedOut, refused: c.dropped, stalls: c.stalls },
    };
  }

  fields(): Record<string, string | number | undefined> {
    return { client_address: this.client.address, client_port: this.client.port, tap: this.tap.name, scheme: this.client.scheme, ip: this.ip };
  }

  /** Learns the client's address from the lease table (logged once, then in every line). */
  leased(byMac: Map<string, string>): void {
    const mac = this.guard.mac;
    const ip = mac === undefined ? undefined : byMac.get(mac);
    if (ip === undefined || ip === this.ip || this.closed) return;
    this.ip = ip;
    this.log.info('client leased', { ...this.fields(), mac });
  }

  private seen(): void {
    this.lastSeen = Date.now();
    this.pinged = false;
  }

  /** Keepalive, called about once a second: PING a silent client, close a dead one. */
  tick(now: number, pingMs: number, idleMs: number): void {
    const silent = now - this.lastSeen;
    if (silent >= idleMs) this.close(CLOSE.goingAway, `idle for ${Math.round(silent / 1000)} s`);
    else if (silent >= pingMs && !this.pinged) {
      this.pinged = true;
      this.ws.ping();
    }
  }

  /** Closes the client with a code and reason; the TAP goes at once. */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.reason = reason;
    this.finish(code, reason);
    this.ws.resume(); // resting over its upload limit: the close handshake needs the answer read
    this.ws.close(code, reason.slice(0, 120));
    // A client that does not answer the close handshake is cut off.
    setTimeout(() => this.ws.terminate(), 2000).unref();
  }

  /** Resolves once the client's TAP is gone (after it left). */
  gone: Promise<void> | undefined;

  private finish(code: number, why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.pump.stop();
    this.gone = this.tap.close().then(() => this.logEnd(code, why));
    this.onClosed(this);
  }

  /** The one line at the end of a client's life, once its TAP is gone. */
  private logEnd(code: number, why: string): void {
    const c = this.pump.counters;
    const g = this.guard.counters;
    this.log.info('client disconnected', {
      ...this.fields(),
      mac: this.guard.mac,
      code,
      reason: this.reason === 'client closed' && why ? why : this.reason,
      seconds: Math.round((Date.now() - this.started) / 1000),
      frames_in: c.framesIn,
      frames_out: c.framesOut,
      bytes_in: c.bytesIn,
      bytes_out: c.bytesOut,
      dropped: c.dropped,
      spoofed: g.spoofed,
      limited_in: g.limitedIn,
      limited_out: g.limitedOut,
      stalls: c.stalls,
    });
  }
}
