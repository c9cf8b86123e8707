/**
 * A session's data path: what moves its frames between the WebSocket and the TAP, judged by a
 * guard. Two of them, one behaviour (the e2e tests run both):
 *
 *   JsPath (jspath.ts)         ws on Node's event loop, the Pump and the Guard: wss:// always
 *                              (Node owns TLS), ws:// with data_path = js
 *   NativePath (nativepath.ts) the addon's data-plane threads: ws:// by default
 *
 * The session keeps control (keepalive, closing, the log lines); the path tells it what happened,
 * never per frame.
 */

/** What a path tells its session. */
export interface PathEvents {
  /** The client's MAC, from its first frame; that frame waits for admit() (or a close). */
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
  /** Frames the TAP refused. */
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
  /** The MAC bound is fine: the first frame goes on, and reading resumes. */
  admit(): void;
  ping(): void;
  /** Sends a close frame; ended() follows (at once on the JS path). */
  close(code: number, reason: string): void;
}
