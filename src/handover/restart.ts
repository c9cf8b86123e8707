/**
 * The hand-over on restart, both ends (see handover/fdstore.ts): a relay stopping for a restart
 * stores its ws:// sessions in systemd's fd store; the relay after it takes them up before it
 * reads its listening sockets. `wsnic run` (no systemd) does neither.
 */
import { readlinkSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import type { Logger } from '../log';
import { native } from '../native';
import { Tap } from '../net/tap';
import { decodeStates, encodeStates, type Carried } from './state';
import type { Relay } from '../relay/registry';
import { RESTART_JOBS, STORE_NAME, closeAll, fdKind, ownJob, readState, type Stored } from './fdstore';
import type { Notifier } from '../systemd/notify';
import { openFilesLimit } from '../fdlimit';

/** How long a stopping relay waits for systemd to confirm it has taken every session. */
const BARRIER_MS = 5000;
/** fds the next relay needs for itself (listening sockets, the journal, Node's own). */
const FD_MARGIN = 256;

/** The bridge an interface is a port of, if any. */
function bridgeOf(ifname: string): string | undefined {
  try {
    return basename(readlinkSync(`/sys/class/net/${ifname}/master`));
  } catch {
    return undefined;
  }
}

/** A stored session, unpacked: its state (or why it cannot be read) and its fds. */
export interface Unpacked {
  state: Carried | Error;
  sock: number | undefined;
  tap: number | undefined;
}

/**
 * The sessions the relay before a restart stored, out of the store (removed from it at once: a
 * crash from here on must not pass them on again). Fds without a state line are closed.
 */
export function unpackStored(stored: Stored | undefined, notifier: Notifier, log: Logger): Unpacked[] {
  if (stored === undefined) return [];
  notifier.unstore(STORE_NAME);
  const fds = stored.sockets.flatMap((fd) => native().carrierUnpack(fd));
  let states: (Carried | Error)[] = [];
  try {
    if (stored.state === undefined) throw new Error('no states file in the fd store');
    states = decodeStates(readState(stored.state));
  } catch (err) {
    log.warning('stored sessions unreadable, clients closed', { sessions: fds.length / 2, reason: (err as Error).message });
  }
  closeAll([...stored.sockets, stored.state, ...stored.other]);
  closeAll(fds.slice(2 * states.length));
  return states.map((state, i) => ({ state, sock: fds[2 * i], tap: fds[2 * i + 1] }));
}

/**
 * Takes up the stored sessions. One that cannot be (its state unreadable, an fd missing, its
 * TAP not the one named or on no bridge) is closed and logged; the others go on.
 */
export function adoptStored(sessions: Unpacked[], relay: Relay, log: Logger): void {
  if (sessions.length === 0) return;
  const t0 = Date.now();
  let resumed = 0;
  for (const [i, u] of sessions.entries()) {
    try {
      if (u.state instanceof Error) throw u.state;
      const c = u.state;
      if (u.sock === undefined || fdKind(u.sock) !== 'socket' || u.tap === undefined || fdKind(u.tap) !== 'device') {
        throw new Error('its socket and TAP are not in the store');
      }
      const tap = Tap.adopt(u.tap, c.tap);
      // Still a port of its bridge (not so after `systemctl restart wsnic-bridge`, which made a
      // new bridge): a client on no bridge would stay connected with no network.
      const master = bridgeOf(c.tap);
      if (master !== c.bridge) throw new Error(`TAP ${c.tap} is ${master ? `on ${master}` : 'on no bridge'}, not on ${c.bridge}`);
      relay.adopt(c, u.sock, tap);
      closeAll([u.sock]); // the plane has its own dup; the TAP is the session's
      resumed++;
    } catch (err) {
      log.warning('stored session not resumed, client closed', {
        session: i + 1, tap: u.state instanceof Error ? undefined : u.state.tap, reason: (err as Error).message,
      });
      closeAll([u.sock, u.tap]);
    }
  }
  log.info('sessions resumed after a restart', { resumed, failed: sessions.length - resumed, ms: Date.now() - t0 });
}

/**
 * A stop: if systemd runs it as part of a restart, the sessions go to its fd store and this
 * resolves true (the caller closes no client); otherwise false, and nothing has changed.
 */
export async function handOverOnRestart(relay: Relay, notifier: Notifier, log: Logger, enabled = true): Promise<boolean> {
  if (!notifier.available) return false;
  let own: Awaited<ReturnType<typeof ownJob>>;
  try {
    own = await ownJob();
  } catch (err) {
    log.warning('cannot ask systemd whether this stop is a restart: clients are closed', { reason: (err as Error).message });
    return false;
  }
  if (own.job === undefined || !RESTART_JOBS.has(own.job)) {
    log.info('not a restart: clients are closed', { job: own.job ?? 'none' });
    return false;
  }
  if (!enabled) {
    log.info('a restart, clients are closed (restart_handover = 0)', { job: own.job });
    return false;
  }
  if (own.fdStoreMax < 3) {
    log.warning('a restart, but no fd store (FileDescriptorStoreMax=): clients are closed', { unit: own.unit, job: own.job });
    return false;
  }
  const t0 = Date.now();
  const clients = relay.sessions.size;
  // What the next relay can open beside its own fds: two a session, and room to take them up.
  const room = Math.floor(((openFilesLimit() ?? Infinity) - FD_MARGIN) / 3);
  const { handed, leaving } = await relay.handOver(room);
  // All in one message: both ends of a socketpair holding the sessions' sockets and TAPs in
  // flight, and the states file (handover/fdstore.ts says why not three fds a session).
  const fds = handed.flatMap(({ detached: d }) => [d.sock, d.tap]);
  let stored = 0;
  let memfd: number | undefined;
  let ends: number[] = [];
  try {
    if (handed.length > 0) {
      memfd = native().memfdCreate(STORE_NAME);
      const bytes = encodeStates(handed.map((h) => h.carried));
      for (let off = 0; off < bytes.length; ) off += writeSync(memfd, bytes, off, bytes.length - off);
      ends = native().carrierPack(fds);
      notifier.store(STORE_NAME, [...ends, memfd]);
      stored = handed.length;
    }
  } catch (err) {
    log.warning('sessions not handed over, connections closed', { sessions: handed.length, reason: (err as Error).message });
  } finally {
    // systemd holds its own references from the send on (and the carrier the sessions'); ours go.
    closeAll([memfd, ...ends, ...fds]);
  }
  const confirmed = notifier.barrier(BARRIER_MS);
  log.info('sessions handed over for the restart', { job: own.job, clients, handed_over: stored, closed: clients - stored, ms: Date.now() - t0, confirmed });
  await leaving; // the others' TAPs (closed with 1012), within systemd's stop timeout
  return true;
}
