/**
 * What a ws:// session carries across a restart (src/handover/fdstore.ts keeps it in systemd's
 * fd store, beside the sessions' sockets and TAPs): who the client is, its MAC and address, its
 * counters, its guard's IPv6 claims, and the native plane's bytes in flight (read and not parsed yet, owed and not sent,
 * a fragmented message). One line a session, in one memfd for all:
 *
 *   wsnic-session 1 {JSON}
 *
 * Buffers are base64 in the JSON. A reader that does not know the version, or finds a field
 * missing or out of range, refuses that line with the reason: that client is closed, the
 * others go on.
 */
import { isIPv4 } from 'node:net';
import { abi } from '../native';
import type { PathCounts } from '../datapath/path';

export const STATE_MAGIC = 'wsnic-session';
export const STATE_VERSION = 1;

/** At most: what a plane may owe a client (native/abi.h's OWED_MAX; it holds at most 768 KiB unread). */
const MAX_BYTES = abi().owedMax;
/** A guard's IPv6 claims: at most claimsMax records (native/guard6.h; planeAdd checks each). */
const { claimBytes: CLAIM_BYTES, claimsMax: CLAIMS_MAX } = abi();

export interface Carried {
  id: number;
  address: string;
  port: number;
  origin: string;
  /** The bridge its TAP is a port of. */
  bridge: string;
  /** The TAP's name (checked against the fd's on taking it up). */
  tap: string;
  /** Undefined: no frame yet (the first one binds it, as for a new client). */
  mac: string | undefined;
  ip: string | undefined;
  /** Unix ms it connected. */
  since: number;
  counts: PathCounts;
  unread: Buffer;
  owed: Buffer;
  frag: Buffer;
  fragOpcode: number;
  /** The IPv6 addresses its guard holds (native/guard6.h's records); absent (a state from before them): none. */
  claims?: Buffer | undefined;
}

const COUNTS: (keyof PathCounts)[] = [
  'framesIn', 'bytesIn', 'framesOut', 'bytesOut', 'refused', 'stalls', 'spoofed', 'limitedIn', 'limitedOut', 'lastSeen', 'lastFrame',
];

export function encodeState(c: Carried): Buffer {
  const json = JSON.stringify({
    ...c,
    unread: c.unread.toString('base64'),
    owed: c.owed.toString('base64'),
    frag: c.frag.toString('base64'),
    claims: c.claims?.toString('base64'),
  });
  return Buffer.from(`${STATE_MAGIC} ${STATE_VERSION} ${json}`);
}

/** Every session's line, in order. */
export function encodeStates(cs: Carried[]): Buffer {
  return Buffer.concat(cs.flatMap((c) => [encodeState(c), Buffer.from('\n')]));
}

/** The lines of a states file, each decoded (or why not). */
export function decodeStates(bytes: Buffer): (Carried | Error)[] {
  const out: (Carried | Error)[] = [];
  for (let at = 0; at < bytes.length; ) {
    const nl = bytes.indexOf(10, at);
    const end = nl < 0 ? bytes.length : nl;
    out.push(decodeState(bytes.subarray(at, end)));
    at = end + 1;
  }
  return out;
}

/** The state in bytes, or an Error saying what is wrong with it. */
export function decodeState(bytes: Buffer): Carried | Error {
  const m = new RegExp(`^${STATE_MAGIC} (\\d+) `).exec(bytes.subarray(0, 40).toString('latin1'));
  if (!m) return new Error(`not a session state (${bytes.length} bytes, no "${STATE_MAGIC}" at its start)`);
  if (Number(m[1]) !== STATE_VERSION) return new Error(`session state version ${m[1]}, this relay reads ${STATE_VERSION}`);
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(bytes.subarray(m[0].length).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    return new Error(`session state is not JSON: ${(err as Error).message}`);
  }
  if (typeof o !== 'object' || o === null) return new Error('session state is not an object');
  const wrong = (field: string): Error => new Error(`session state: bad ${field}`);
  const int = (k: string, min: number, max: number): boolean => Number.isSafeInteger(o[k]) && (o[k] as number) >= min && (o[k] as number) <= max;
  const str = (k: string, re: RegExp): boolean => typeof o[k] === 'string' && re.test(o[k] as string);
  if (!int('id', 1, 2 ** 32 - 1)) return wrong('id');
  if (!str('address', /^[0-9a-fA-F.:]{2,45}$/)) return wrong('address');
  if (!int('port', 0, 65535)) return wrong('port');
  if (typeof o.origin !== 'string' || o.origin.length > 4096) return wrong('origin');
  if (!str('bridge', /^[^\s/]{1,15}$/)) return wrong('bridge');
  if (!str('tap', /^[^\s/]{1,15}$/)) return wrong('tap');
  if (o.mac !== undefined && !str('mac', /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/)) return wrong('mac');
  if (o.ip !== undefined && !(typeof o.ip === 'string' && isIPv4(o.ip))) return wrong('ip');
  if (!int('since', 0, 8.64e15)) return wrong('since'); // (a Date's range)
  if (!int('fragOpcode', 0, 2)) return wrong('fragOpcode');
  const counts = o.counts as Record<string, unknown> | undefined;
  if (typeof counts !== 'object' || counts === null) return wrong('counts');
  for (const k of COUNTS) if (!Number.isSafeInteger(counts[k]) || (counts[k] as number) < 0) return wrong(`counts.${k}`);
  const buffers: Record<string, Buffer> = {};
  for (const k of ['unread', 'owed', 'frag', ...(o.claims === undefined ? [] : ['claims'])]) {
    if (typeof o[k] !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(o[k] as string)) return wrong(k);
    buffers[k] = Buffer.from(o[k] as string, 'base64');
    if (buffers[k]!.length > MAX_BYTES) return wrong(k);
  }
  if (buffers.frag!.length > 0 && o.fragOpcode === 0) return wrong('frag'); // (an open message may have no byte yet)
  const claims = buffers.claims;
  if (claims && (claims.length % CLAIM_BYTES !== 0 || claims.length > CLAIMS_MAX * CLAIM_BYTES)) return wrong('claims');
  return {
    id: o.id as number, address: o.address as string, port: o.port as number, origin: o.origin, bridge: o.bridge as string,
    tap: o.tap as string, mac: o.mac as string | undefined, ip: o.ip as string | undefined, since: o.since as number,
    counts: Object.fromEntries(COUNTS.map((k) => [k, counts[k]])) as unknown as PathCounts,
    unread: buffers.unread!, owed: buffers.owed!, frag: buffers.frag!, fragOpcode: o.fragOpcode as number,
    ...(claims ? { claims } : {}),
  };
}
