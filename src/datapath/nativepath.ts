/**
 * The native data path (see path.ts, native/plane.h, native/session.h): after the handshake,
 * admission and the TAP, a ws:// client's socket and TAP go to the addon's data-plane threads
 * with the bytes Node had read already; from then on its frames never touch the event loop. The
 * session keeps control through commands (admit, ping, close) and hears back through events.
 */
import { availableParallelism } from 'node:os';
import type { Socket } from 'node:net';
import type WebSocket from 'ws';
import { abi, native, type PlaneEventType, type PlaneHandle, type PlaneTaken } from '../native';
import type { Tap } from '../net/tap';
import { guardOptions, type DataPath, type GuardRules, type PathCounts, type PathEvents } from './path';

/** The client side's (`wsnic connect`): it judges nothing. */
const NO_RULES: GuardRules = { up: { bytes: 0, frames: 0, burst: 1 }, down: { bytes: 0, frames: 0, burst: 1 } };

/** Where each counter is in planeStats's array: native/abi.h's stats layout, by name. */
const STAT = Object.fromEntries(abi().stats.map((name, i) => [name, i])) as Record<keyof PathCounts, number>;

/** Counters in the stats layout, for planeAdd (what the TypeScript side does not count: 0). */
function statsOf(c: PathCounts): Float64Array {
  const out = new Float64Array(abi().stats.length);
  for (const [name, i] of Object.entries(STAT)) out[i] = (c as unknown as Record<string, number | undefined>)[name] ?? 0;
  return out;
}

/** The paths the plane serves, by the id it reports events with. */
const live = new Map<number, NativePath>();
let lastId = 0;
let threads = 0;

/** Starts the data-plane threads (once a process; 0: one per CPU core). Returns how many run. */
export function startPlane(count: number): number {
  if (threads > 0) return threads;
  const n = count > 0 ? count : Math.min(64, availableParallelism());
  native().planeStart(n, (id, type, code, text, mac, ip) => live.get(id)?.event(type, code, text, mac, ip));
  threads = n;
  return threads;
}

/**
 * A session as a relay handed it over before a restart (handover/restart.ts), to take up again: the
 * socket (an fd the plane dups; the caller closes its own), what the plane had not parsed or
 * not sent, and its MAC and counters.
 */
export interface Resume {
  sock: number;
  unread: Buffer;
  owed: Buffer;
  frag: Buffer;
  fragOpcode: number;
  /** Undefined: not bound yet. */
  mac: string | undefined;
  counts: PathCounts;
  /** The IPv6 addresses its guard holds (PlaneTaken's claims); absent: none. */
  claims?: Buffer | undefined;
}

/** What a session handed over leaves: its fds, still open, and its state (see Resume). */
export type Detached = PlaneTaken & { counts: PathCounts };

/** What ws and Node hold of a socket that the hand-over reads. */
interface Internals {
  _socket?: Socket & { _handle?: { fd?: number } | null };
  _receiver?: { _bufferedBytes?: number };
}

export class NativePath implements DataPath {
  readonly kind = 'native';
  mac: string | undefined;
  private readonly id = ++lastId;
  private readonly handle: PlaneHandle;
  private readonly stats = new Float64Array(abi().stats.length);
  /** The counts when the plane let go (its handle is released then). */
  private final: PathCounts | undefined;
  /** Waiting for the plane to let go of the session for a hand-over (see detach). */
  private detaching: ((d: Detached | undefined) => void) | undefined;

  /**
   * Takes the connection from ws (or, resume: a session a relay handed over). Throws (and
   * changes nothing) if it cannot: no fd (a TLS socket), or ws has read from the peer already.
   * rules: the server side's (the relay); none: the client side (`wsnic connect`: it masks, and
   * judges nothing).
   */
  constructor(from: WebSocket | Resume, tap: Tap, rules: GuardRules | undefined, private readonly events: PathEvents) {
    const limits = { tap: tap.fd, server: rules !== undefined, ...guardOptions(rules ?? NO_RULES) };
    if ('sock' in from) {
      this.handle = native().planeAdd({
        id: this.id, sock: from.sock, head: from.unread, owed: from.owed, frag: from.frag, fragOpcode: from.fragOpcode,
        ...(from.mac === undefined ? {} : { mac: Buffer.from(from.mac.replace(/:/g, ''), 'hex') }),
        counts: statsOf(from.counts),
        ...(from.claims === undefined ? {} : { claims: from.claims }),
        ...limits,
      });
      this.mac = from.mac;
      live.set(this.id, this);
      return;
    }
    const inner = from as unknown as Internals;
    const socket = inner._socket;
    const fd = socket?._handle?.fd;
    if (!socket || typeof fd !== 'number' || fd < 0) throw new Error('the socket has no file descriptor');
    if ((inner._receiver?._bufferedBytes ?? 0) > 0) throw new Error('ws has read from the client already');
    // ws listens no more (a read below would hand it the bytes); what Node read goes along.
    socket.removeAllListeners();
    socket.on('error', () => {});
    const head: Buffer[] = [];
    for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null; ) head.push(chunk);
    this.handle = native().planeAdd({ id: this.id, sock: fd, head: Buffer.concat(head), ...limits });
    live.set(this.id, this);
    // Node's fd goes (the plane holds its own dup): no FIN, the connection lives on.
    socket.destroy();
  }

  /**
   * Hand-over (a restart): the plane lets go of the session, sending what the socket takes now.
   * Resolves with its open fds and state, or undefined if it was not handed over (closing, its
   * first frame waiting for admit, or the connection failed): the caller closes it.
   */
  detach(waitMs: number): Promise<Detached | undefined> {
    if (this.final) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      // A plane that does not answer in time: not handed over (its fds go when we exit).
      const timer = setTimeout(() => this.detached(undefined), waitMs);
      this.detaching = (d) => {
        clearTimeout(timer);
        resolve(d);
      };
      native().planeDetach(this.handle);
    });
  }

  event(type: PlaneEventType, code: number, text: string | undefined, mac: string | undefined, ip: string | undefined): void {
    switch (type) {
      case 'bound':
        this.mac = mac;
        this.events.bound(mac!);
        break;
      case 'dhcp':
        this.events.dhcpAck?.(mac!, ip!);
        break;
      case 'limited':
        this.events.limited(text === 'down' ? 'down' : 'up');
        break;
      case 'text':
        this.events.text(code);
        break;
      case 'ended':
        this.events.ended(code, text ?? '');
        break;
      case 'closed':
        this.final = this.counts();
        live.delete(this.id);
        native().planeRelease(this.handle);
        this.detached(undefined);
        break;
      case 'detached': {
        if (code !== 1) {
          this.detached(undefined);
          break;
        }
        const taken = native().planeTake(this.handle);
        this.final = this.counts();
        live.delete(this.id);
        native().planeRelease(this.handle);
        this.detached({ ...taken, counts: this.final });
        break;
      }
    }
  }

  private detached(d: Detached | undefined): void {
    const resolve = this.detaching;
    this.detaching = undefined;
    resolve?.(d);
  }

  counts(): PathCounts {
    if (this.final) return this.final;
    const s = this.stats;
    native().planeStats(this.handle, s);
    return {
      framesIn: s[STAT.framesIn]!, bytesIn: s[STAT.bytesIn]!, framesOut: s[STAT.framesOut]!, bytesOut: s[STAT.bytesOut]!,
      refused: s[STAT.refused]!, stalls: s[STAT.stalls]!, spoofed: s[STAT.spoofed]!, limitedIn: s[STAT.limitedIn]!,
      limitedOut: s[STAT.limitedOut]!, lastSeen: s[STAT.lastSeen]!, lastFrame: s[STAT.lastFrame]!,
    };
  }

  admit(): void {
    native().planeAdmit(this.handle);
  }

  ping(): void {
    native().planePing(this.handle);
  }

  close(code: number, reason: string): void {
    native().planeClose(this.handle, code, reason);
  }
}
