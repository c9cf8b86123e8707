/** The N-API addon (native/addon.c and the files it registers), typed. */
import { join } from 'node:path';

export interface TapPortHandle {
  /** One write(); throws what the kernel refused it with. */
  write(frame: Buffer): void;
  pause(): void;
  resume(): void;
  close(): void;
}

/** Absent or undefined: not exclusive, no bridge, the kernel's MTU, not isolated. */
export interface TapCreateOptions {
  /** Fail with EBUSY if the name exists (a persistent TAP of someone else's) rather than attach. */
  exclusive?: boolean | undefined;
  /** Enslave to this bridge before bringing the device up. */
  bridge?: string | undefined;
  mtu?: number | undefined;
  /** Bridge port isolation: this client reaches the gateway, not other clients. */
  isolated?: boolean | undefined;
  /**
   * IFF_VNET_HDR: every read and write starts with a virtio-net header. Only for a TAP the native
   * data path serves (it joins a stream's TCP segments, native/coalesce.c); JavaScript's reads
   * and writes (Pump) expect bare frames.
   */
  vnetHdr?: boolean | undefined;
}

/** A session of the native data path (native/plane_napi.c). */
export type PlaneHandle = { readonly __plane: unique symbol };

export interface PlaneSession {
  id: number;
  /** The client's socket (dup'ed: the caller then closes its own). */
  sock: number;
  /** The TAP's fd, used until the "ended" event. */
  tap: number;
  /** Bytes read from the client already. */
  head?: Buffer;
  /** Rate limits each way: bytes and frames a second (0: none). */
  up: [number, number];
  down: [number, number];
  /** Seconds of traffic at the full rate a bucket holds. */
  burst: number;
  /** The DHCP server's address as a number (0: no snooping). */
  dhcpServer: number;
  /** Judge IPv6 by the guard's IPv6 rules (client_ipv6; absent: false). */
  ipv6?: boolean;
  /** true: we are the server (the peer masks). */
  server: boolean;
  /** A session a relay handed over before a restart: what it owed the client (sent first). */
  owed?: Buffer;
  /** ... a fragmented message in progress, and its opcode (1 text, 2 binary). */
  frag?: Buffer;
  fragOpcode?: number;
  /** ... the MAC its first frame bound (admitted then: no "bound" event again). */
  mac?: Buffer;
  /** ... its counters, as planeStats gives them. */
  counts?: Float64Array;
  /** ... its guard's IPv6 claims, as planeTake gives them. */
  claims?: Buffer;
}

/** A client's guard rules as the addon takes them (see GuardRules in datapath/path.ts). */
export interface GuardOptions {
  /** Rate limits each way: bytes and frames a second (0: none). */
  up: [number, number];
  down: [number, number];
  /** Seconds of traffic at the full rate a bucket holds. */
  burst: number;
  /** The DHCP server's address as a number (0: no snooping). */
  dhcpServer: number;
  /** Judge IPv6 by the guard's IPv6 rules (client_ipv6; absent: false). */
  ipv6?: boolean;
  /** The clock the buckets start at (ms, CLOCK_MONOTONIC); absent: now. For the tests' vectors. */
  now?: number;
}

/**
 * One client's guard (native/guard.c through guard_napi.c), for the JavaScript path. A verdict
 * (Guard.verdicts names the numbers) comes ORed with what the frame tells: Guard.bound,
 * Guard.firstLimited, Guard.acked. now: the tests' clock (absent: the guard reads its own).
 */
export interface GuardHandle {
  /** A frame from the client: its verdict. */
  up(frame: Buffer, now?: number): number;
  /**
   * Frames to the client from frames[from] on, their verdicts into out[i]; stops after a frame
   * that tells something and returns the index after the last judged (go on from there).
   */
  down(frames: Buffer[], from: number, out: Uint8Array, now?: number): number;
  /** The bound MAC, once the first frame came. */
  mac(): string | undefined;
  /** The [mac, ip] of the last OFFER or ACK down() told. */
  ack(): [string, string];
  /** spoofed, limitedIn, limitedOut into out. */
  counts(out: Float64Array): void;
  /** The IPv6 addresses claimed by DAD (native/guard6.h), each "ADDRESS tentative|bound". */
  claims(): string[];
}

export interface GuardClass {
  new (options: GuardOptions): GuardHandle;
  /** Verdict names by number (native/guard.h). */
  readonly verdicts: readonly string[];
  /** The smallest frame judged at all (an Ethernet header): shorter is a runt. */
  readonly minFrame: number;
  /** The verdict's bits of what up() and down() return. */
  readonly verdictMask: number;
  readonly bound: number;
  readonly firstLimited: number;
  readonly acked: number;
}

/** What planeTake gives of a handed-over session (see PlaneSession for the names). */
export interface PlaneTaken {
  sock: number;
  tap: number;
  /** Bytes read from the client and not parsed yet (still masked): the next relay's head. */
  unread: Buffer;
  owed: Buffer;
  frag: Buffer;
  fragOpcode: number;
  /** Its guard's IPv6 claims: 17-byte records, the address then 1 tentative or 2 bound (native/guard6.h). */
  claims: Buffer;
}

/**
 * What the plane tells, by the names native/abi.h gives them (test/unit/abi.test.ts checks that
 * this list is the addon's): bound (mac), dhcp (mac, ip), limited (text up|down), text (code:
 * bytes), ended (code, text), closed, detached (code 1: handed over).
 */
export const PLANE_EVENTS = ['bound', 'dhcp', 'limited', 'text', 'ended', 'closed', 'detached'] as const;
export type PlaneEventType = (typeof PLANE_EVENTS)[number];
export type PlaneEvent = (id: number, type: PlaneEventType, code: number, text: string | undefined, mac: string | undefined, ip: string | undefined) => void;

/** What TypeScript and C share, defined once in native/abi.h and exported by the addon at load. */
export interface Abi {
  /** Largest message a client may send (65,535 MTU + 14-byte Ethernet header). */
  readonly maxMessage: number;
  /** Bytes owed to a slow client past which its TAP is not read, and below which it is again. */
  readonly highWater: number;
  readonly lowWater: number;
  /** How long a client over its upload limit is not read (ms). */
  readonly restMs: number;
  /** How long a closing client has to finish the close handshake (ms). */
  readonly lingerMs: number;
  /** The most a plane may owe a client, so the most a hand-over carries of it (bytes). */
  readonly owedMax: number;
  /** The most IPv6 addresses a client's guard holds by DAD, and the bytes of each a hand-over carries. */
  readonly claimsMax: number;
  readonly claimBytes: number;
  /** The WebSocket close codes wsnic sends or tells (RFC 6455 7.4.1), by name. */
  readonly close: {
    readonly normal: number; readonly goingAway: number; readonly protocol: number; readonly noStatus: number;
    readonly abnormal: number; readonly invalid: number; readonly policy: number; readonly tooBig: number;
    readonly internal: number; readonly serviceRestart: number;
  };
  /** The stats layout: the counters' names in planeStats's (and planeAdd's counts') order. */
  readonly stats: readonly string[];
  /** The event types a plane tells onEvent, by name. */
  readonly events: readonly string[];
}

export interface Addon {
  abi: Abi;
  /**
   * A client's whole TAP: the device (exclusive: EBUSY if the name exists, IFF_TUN_EXCL), IPv6
   * off, MTU, bridge port (isolated), up. tapCreate on the thread pool, tapOpen on this thread.
   */
  tapCreate(pattern: string, opts: TapCreateOptions): Promise<{ fd: number; name: string }>;
  tapOpen(pattern: string, opts: TapCreateOptions): { fd: number; name: string };
  TapPort: new (
    fd: number,
    onFrames: (frames: Buffer[]) => void,
    onError: (errno: number) => void,
  ) => TapPortHandle;
  wsMask(source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number): void;
  wsUnmask(buffer: Buffer, mask: Buffer): void;
  Guard: GuardClass;
  planeStart(threads: number, onEvent: PlaneEvent): void;
  planeAdd(session: PlaneSession): PlaneHandle;
  planeAdmit(h: PlaneHandle): void;
  planePing(h: PlaneHandle): void;
  planeClose(h: PlaneHandle, code: number, reason: string): void;
  /** Lets go of the session's memory (after "closed"); later calls on h do nothing. */
  planeRelease(h: PlaneHandle): void;
  /** Counters into out: see NativePath.counts. */
  planeStats(h: PlaneHandle, out: Float64Array): void;
  /** Hand-over: the plane lets go of the session; a "detached" event follows (code 1, or 0: not handed over). */
  planeDetach(h: PlaneHandle): void;
  /** After "detached" with code 1: its fds (open) and state. */
  planeTake(h: PlaneHandle): PlaneTaken;
  /** One AF_UNIX datagram (sd_notify, the journal), with fds as SCM_RIGHTS. */
  sendDatagram(socketPath: string, payload: string | Buffer, fds?: number[]): boolean;
  /** sd_notify BARRIER=1: true once systemd has handled every message sent before, within timeoutMs. */
  notifyBarrier(socketPath: string, timeoutMs: number): boolean;
  /** An anonymous file in memory (memfd_create, close-on-exec). */
  memfdCreate(name: string): number;
  /** FD_CLOEXEC on an fd (systemd passes its fds without). */
  setCloexec(fd: number): void;
  /** A socketpair [a, b] holding these fds in flight, in order (both ends to be kept open). */
  carrierPack(fds: number[]): [number, number];
  /** The fds in flight towards fd, in order (close-on-exec). */
  carrierUnpack(fd: number): number[];
}

let addon: Addon | undefined;

/** What TypeScript and C share (native/abi.h). */
export function abi(): Abi {
  return native().abi;
}

export function native(): Addon {
  // dist/native.js -> native/build/Release/wsnic.node
  // Copied into a plain object: the addon's own properties are read-only, and a test wraps one
  // to see that ws's receiver calls it (test/unit/ws-internals.test.ts).
  if (!addon) {
    // WSNIC_ADDON: another build of it (the sanitizer run's: test/tools/asan-addon.sh).
    const path = process.env.WSNIC_ADDON || join(__dirname, '..', 'native', 'build', 'Release', 'wsnic.node');
    const loaded = require(path) as Record<string, unknown>;
    addon = Object.fromEntries(Object.getOwnPropertyNames(loaded).map((k) => [k, loaded[k]])) as unknown as Addon;
  }
  return addon;
}
