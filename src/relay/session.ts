/**
 * One client: its WebSocket, its TAP on the bridge, the data path between them (path.ts: the
 * addon's threads, or ws and the Pump on the event loop), keepalive, closing, and the one log
 * line at each end of its life.
 */
import type WebSocket from 'ws';
import type { Logger } from '../log';
import type { Tap } from '../net/tap';
import { abi } from '../native';
import { JsPath } from '../datapath/jspath';
import type { Carried } from '../handover/state';
import { NativePath, type Detached, type Resume } from '../datapath/nativepath';
import type { DataPath, GuardRules, PathCounts, PathEvents } from '../datapath/path';

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
  /** Unix milliseconds of the last frame (binary message) from the client; `since` before the first. */
  lastFrame: number;
  /** Which data path moves its frames: native (the addon's threads) or js. */
  path: 'native' | 'js';
  framesIn: number;
  bytesIn: number;
  framesOut: number;
  bytesOut: number;
  /** Frames dropped, by reason: spoofed (another MAC), limitedIn/limitedOut (rate limits), refused (by the TAP), stalls (times its TAP was not read: backpressure). */
  drops: { spoofed: number; limitedIn: number; limitedOut: number; refused: number; stalls: number };
}

/** WebSocket close codes wsnic sends, by name: the native path's too (native/abi.h). */
export const CLOSE = abi().close;

/** Close codes by name (RFC 6455 7.4.1); a client may send any of 3000-4999 too. */
const CLOSE_NAMES: Record<number, string> = {
  1000: 'normal', 1001: 'going away', 1002: 'protocol error', 1003: 'unsupported data', 1005: 'no status',
  1006: 'abnormal', 1007: 'invalid data', 1008: 'policy', 1009: 'too big', 1010: 'extension', 1011: 'internal error',
  1012: 'service restart', 1013: 'try again later', 1014: 'bad gateway',
};

/**
 * A client's end as the relay counts it: the close code with its name, sent or received (1009
 * too big, 1007 invalid data: a protocol error; 1006: the connection just went). Codes without a
 * name are "other": a client cannot grow the set. Pure.
 */
export function endReason(code: number): string {
  const name = CLOSE_NAMES[code];
  return name === undefined ? 'other' : `${code} ${name}`;
}

/** What the relay asks of a session: the guard's rules, its data path, and a word when the guard tells. */
export interface SessionHooks {
  rules: GuardRules;
  /** The native data path (else the JS path; a session handed over takes the native one anyway). */
  native: boolean;
  /** The client's MAC is bound (the relay looks for duplicates, and may close the client). */
  onBound?(s: Session, mac: string): void;
  /** An OFFER or ACK from the DHCP server on its way to this client. */
  onDhcpAck?(s: Session, mac: string, ip: string): void;
}

export class Session {
  private readonly path: DataPath;
  /** The last-heard time when the last unanswered PING went out. */
  private pinged: number | undefined;
  /** close() was called, or the path ended. */
  private closing = false;
  private ended = false;
  private readonly started: number;
  /** Resolves once the client's TAP is gone (after it left). */
  readonly gone: Promise<void>;
  private tapGone!: () => void;

  constructor(
    ws: WebSocket | undefined,
    readonly tap: Tap,
    readonly client: ClientInfo,
    private readonly log: Logger,
    private readonly onClosed: (s: Session) => void,
    hooks: SessionHooks,
    /** A session the relay before a restart handed over: taken up where it was. */
    resumed?: { from: Resume; since: number; ip: string | undefined },
  ) {
    this.gone = new Promise((resolve) => (this.tapGone = resolve));
    this.started = resumed?.since ?? Date.now();
    this.ip = resumed?.ip;
    const onDhcpAck = hooks.onDhcpAck;
    const events: PathEvents = {
      bound: (mac) => {
        log.info('client MAC', { ...this.fields(), mac });
        hooks.onBound?.(this, mac);
        if (!this.closing) this.path.admit?.();
      },
      limited: (direction) => log.info('client over its rate limit, excess dropped', { ...this.fields(), mac: this.mac, direction }),
      text: (bytes) => log.debug('text message ignored', { ...this.fields(), bytes }),
      ended: (code, reason) => this.finish(code, reason),
      dhcpAck: (mac: string, ip: string) => {
        // The ACK seen on the wire names the address before dnsmasq's lease file does.
        if (mac === this.mac) this.learn(ip);
        onDhcpAck?.(this, mac, ip);
      },
    };
    if (resumed) {
      // (on the native path whatever data_path says now: its state is the plane's)
      this.path = new NativePath(resumed.from, tap, hooks.rules, events);
      log.info('client resumed', { ...this.fields(), mac: this.mac, since: new Date(this.started).toISOString() });
      return;
    }
    this.path = hooks.native ? new NativePath(ws!, tap, hooks.rules, events) : new JsPath(ws!, tap, hooks.rules, events);
    log.info('client connected', { ...this.fields(), tap_ms: client.tapMs?.toFixed(2), path: this.path.kind });
  }

  /**
   * A restart: the session stops here and goes to the next relay. Resolves with its socket and
   * TAP (open: they go to systemd's fd store) and what the next relay needs, or undefined if it
   * cannot go (the TypeScript path, closing, its first frame not admitted yet): close it then.
   */
  async handOver(waitMs: number): Promise<{ detached: Detached; carried: Carried } | undefined> {
    if (this.closing || !(this.path instanceof NativePath)) return undefined;
    const d = await this.path.detach(waitMs);
    if (d === undefined || this.ended) return undefined;
    this.ended = this.closing = true; // its TAP stays open: the next relay's now
    const c = this.client;
    return {
      detached: d,
      carried: {
        id: c.id, address: c.address, port: c.port, origin: c.origin, bridge: c.bridge, tap: this.tap.name,
        mac: this.mac, ip: this.ip, since: this.started, counts: d.counts,
        unread: d.unread, owed: d.owed, frag: d.frag, fragOpcode: d.fragOpcode, claims: d.claims,
      },
    };
  }

  /** The address dnsmasq leased to this client's MAC, once known. */
  ip: string | undefined;

  /** The client's MAC, from its first frame. */
  get mac(): string | undefined {
    return this.path.mac;
  }

  /** Frames and bytes each way, drops by reason, last heard. */
  counts(): PathCounts {
    return this.path.counts();
  }

  /** What `wsnic status` shows of this client. */
  status(): ClientStatus {
    const c = this.path.counts();
    return {
      id: this.client.id, address: this.client.address, port: this.client.port, scheme: this.client.scheme, origin: this.client.origin,
      tap: this.tap.name, bridge: this.client.bridge, mac: this.mac, ip: this.ip, since: this.started, lastSeen: c.lastSeen,
      lastFrame: Math.max(c.lastFrame, this.started), path: this.path.kind,
      framesIn: c.framesIn, bytesIn: c.bytesIn, framesOut: c.framesOut, bytesOut: c.bytesOut,
      drops: { spoofed: c.spoofed, limitedIn: c.limitedIn, limitedOut: c.limitedOut, refused: c.refused, stalls: c.stalls },
    };
  }

  fields(): Record<string, string | number | undefined> {
    return { client_address: this.client.address, client_port: this.client.port, tap: this.tap.name, scheme: this.client.scheme, ip: this.ip };
  }

  /** Learns the client's address from the lease table (logged once, then in every line). */
  leased(byMac: Map<string, string>): void {
    const mac = this.mac;
    const ip = mac === undefined ? undefined : byMac.get(mac);
    if (ip !== undefined) this.learn(ip);
  }

  private learn(ip: string): void {
    if (ip === this.ip || this.ended) return;
    this.ip = ip;
    this.log.info('client leased', { ...this.fields(), mac: this.mac });
  }

  /** Keepalive, called about once a second: PING a silent client, close a dead one. */
  tick(now: number, pingMs: number, idleMs: number): void {
    if (this.closing) return;
    const lastSeen = this.path.counts().lastSeen;
    // Heard from since the last PING (its PONG, say): the next silence earns a PING again.
    if (this.pinged !== undefined && lastSeen > this.pinged) this.pinged = undefined;
    const silent = now - lastSeen;
    if (silent >= idleMs) this.close(CLOSE.goingAway, `idle for ${Math.round(silent / 1000)} s`);
    else if (silent >= pingMs && this.pinged === undefined) {
      this.pinged = lastSeen;
      this.path.ping();
    }
  }

  /** Closes the client with a code and reason; the TAP goes as soon as the path lets go of it. */
  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.reason = reason;
    this.path.close(code, reason);
  }

  /** Why the relay closed the client, if it did. */
  private reason: string | undefined;

  /** Once ended: its close code, as endReason() names it (for the relay's counts). */
  end: string | undefined;

  private finish(code: number, why: string): void {
    if (this.ended) return;
    this.ended = true;
    this.closing = true;
    this.end = endReason(code);
    void this.tap.close().then(() => {
      this.logEnd(code, why);
      this.tapGone();
    });
    this.onClosed(this);
  }

  /** The one line at the end of a client's life, once its TAP is gone. */
  private logEnd(code: number, why: string): void {
    const c = this.path.counts();
    this.log.info('client disconnected', {
      ...this.fields(),
      mac: this.mac,
      code,
      reason: this.reason ?? (why || 'client closed'),
      seconds: Math.round((Date.now() - this.started) / 1000),
      frames_in: c.framesIn,
      frames_out: c.framesOut,
      bytes_in: c.bytesIn,
      bytes_out: c.bytesOut,
      dropped: c.refused, // (frames the TAP refused: the log has called them dropped from the start)
      spoofed: c.spoofed,
      limited_in: c.limitedIn,
      limited_out: c.limitedOut,
      stalls: c.stalls,
    });
  }
}
