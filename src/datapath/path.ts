/**
 * A session's data path: what moves its frames between the WebSocket and the TAP, judged by the
 * guard (native/guard.c, one per client, the same code on both). Two of them, one behaviour (the
 * e2e tests run both):
 *
 *   JsPath (jspath.ts)         ws on Node's event loop and the Pump, asking the guard through the
 *                              addon: wss:// always (Node owns TLS), ws:// with data_path = js
 *   NativePath (nativepath.ts) the addon's data-plane threads: ws:// by default
 *
 * The session keeps control (keepalive, closing, the log lines); the path tells it what happened,
 * never per frame.
 */
import type { GuardOptions } from '../native';

/** One direction's rate limit of one client (token buckets: native/guard.c). */
export interface Limits {
  /** Bytes per second; 0: no byte limit. */
  bytes: number;
  /** Frames per second; 0: no frame limit. */
  frames: number;
  /** Seconds of traffic at the full rate a bucket holds (how long a burst may be). */
  burst: number;
}

/** What a client's guard checks besides the MAC. */
export interface GuardRules {
  /** Client -> network. */
  up: Limits;
  /** Network -> client. */
  down: Limits;
  /** The DHCP server's address (the gateway, as a 32-bit number): its OFFERs and ACKs are told. */
  dhcpServer?: number | undefined;
  /** Clients may speak IPv6 (client_ipv6): the guard judges it (native/guard6.h); off, the bridge drops it. */
  ipv6?: boolean | undefined;
}

/** The rules as the addon takes them: one burst both ways (the configuration has one, rate_burst). */
export function guardOptions(rules: GuardRules): GuardOptions {
  if (rules.up.burst !== rules.down.burst) throw new Error(`a guard has one burst: up ${rules.up.burst} s, down ${rules.down.burst} s`);
  return {
    up: [rules.up.bytes, rules.up.frames], down: [rules.down.bytes, rules.down.frames], burst: rules.up.burst, dhcpServer: rules.dhcpServer ?? 0,
    ipv6: rules.ipv6 ?? false,
  };
}

/** What a path tells its session. */
export interface PathEvents {
  /**
   * The client's MAC, from its first frame. On the native path that frame waits for admit() (or
   * a close); on the JS path this is told while the frame is judged, and a close here drops it.
   */
  bound(mac: string): void;
  /** An OFFER or ACK from the DHCP server granting `ip` to `mac`, on its way to the client. */
  dhcpAck?(mac: string, ip: string): void;
  /** The first frame dropped over a rate limit, each way. */
  limited(direction: 'up' | 'down'): void;
  /** A text message (v86 sends none, jor1k its pings): not a frame; told at least once. */
  text(bytes: number): void;
  /**
   * The path stopped relaying (either side closed, or a protocol error): the TAP is the
   * session's again, to close. `code` is the close status sent or received.
   */
  ended(code: number, reason: string): void;
}

/** A client's counters, in status order. */
export interface PathCounts {
  framesIn: number; // client -> TAP
  bytesIn: number;
  framesOut: number; // TAP -> client
  bytesOut: number;
  /** Frames the TAP refused (e.g. larger than the kernel takes). Logged as `dropped` when the client leaves. */
  refused: number;
  /** Times the TAP stopped being read because the client was slow. */
  stalls: number;
  spoofed: number;
  limitedIn: number;
  limitedOut: number;
  /** Unix ms of the last message or PONG from the client. */
  lastSeen: number;
  /** Unix ms of the last Ethernet frame from the client (its first second if none yet). */
  lastFrame: number;
}

export interface DataPath {
  readonly kind: 'native' | 'js';
  /** The bound MAC, once the first frame came. */
  readonly mac: string | undefined;
  counts(): PathCounts;
  /** The MAC bound is fine: the first frame goes on, and reading resumes (the native path's hold). */
  admit?(): void;
  ping(): void;
  /** Sends a close frame; ended() follows (at once on the JS path). */
  close(code: number, reason: string): void;
}
