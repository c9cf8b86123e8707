/**
 * The hand-over on restart, both ends (see systemd/fdstore.ts): a relay stopping for a restart
 * stores its ws:// sessions in systemd's fd store; the relay after it takes them up before it
 * reads its listening sockets. `wsnic run` (no systemd) does neither.
 */
import { closeSync, readFileSync, readlinkSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import type { Logger } from '../log';
import { native } from '../native';
import { Tap } from '../net/tap';
import { decodeState, encodeState } from '../relay/handover';
import type { Relay } from '../relay/server';
import { RESTART_JOBS, closeStored, ownJob, readState, storeName, type StoredSession } from '../systemd/fdstore';
import type { Notifier } from '../systemd/notify';

/** How long a stopping relay waits for systemd to confirm it has taken every session. */
const BARRIER_MS = 5000;
/** fds the next relay needs for itself (listening sockets, the journal, Node's own). */
const FD_MARGIN = 256;

/** The soft RLIMIT_NOFILE (the next relay gets the same from the unit). */
function openFilesLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m?.[1] === undefined || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

/** The bridge an interface is a port of, if any. */
function bridgeOf(ifname: string): string | undefined {
  try {
    return basename(readlinkSync(`/sys/class/net/${ifname}/master`));
  } catch {
    return undefined;
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // (closed already)
  }
}

/**
 * Takes up the sessions the relay before a restart stored. One that cannot be (its state
 * unreadable, an fd missing, its TAP not the one named) is closed and logged; the others go on.
 */
export function adoptStored(stored: StoredSession[], relay: Relay, notifier: Notifier, log: Logger): void {
  if (stored.length === 0) return;
  const t0 = Date.now();
  let resumed = 0;
  let failed = 0;
  for (const s of stored) {
    notifier.unstore(s.name); // at once: a crash from here on must not pass this state on again
    try {
      const missing = (['sock', 'tap', 'state'] as const).filter((k) => s[k] === undefined);
      if (missing.length > 0) throw new Error(`incomplete in the fd store (no ${missing.join(', no ')})`);
      const c = decodeState(readState(s.state!));
      if (c instanceof Error) throw c;
      const tap = Tap.adopt(s.tap!, c.tap);
      // Still a port of its bridge (not so after `systemctl restart wsnic-bridge`, which made a
      // new bridge): a client on no bridge would stay connected with no network.
      const master = bridgeOf(c.tap);
      if (master !== c.bridge) throw new Error(`TAP ${c.tap} is ${master ? `on ${master}` : 'on no bridge'}, not on ${c.bridge}`);
      relay.adopt(c, s.sock!, tap);
      closeStored(s, { tap: true }); // the plane has its own dup of the socket; the TAP is the session's
      resumed++;
    } catch (err) {
      failed++;
      log.warning('stored session not resumed, client closed', { name: s.name, reason: (err as Error).message });
      closeStored(s);
    }
  }
  log.info('sessions resumed after a restart', { resumed, failed, ms: Date.now() - t0 });
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
  // Three fds a session: what the store takes, and what the next relay can open beside its own.
  const room = Math.floor(Math.min(own.fdStoreMax, openFilesLimit() - FD_MARGIN) / 3);
  const { handed, leaving } = await relay.handOver(room);
  let stored = 0;
  for (const { detached: d, carried: c } of handed) {
    let memfd: number | undefined;
    try {
      memfd = native().memfdCreate(`wsnic-state ${c.tap}`);
      const bytes = encodeState(c);
      for (let off = 0; off < bytes.length; ) off += writeSync(memfd, bytes, off, bytes.length - off);
      notifier.store(storeName(c.id), [d.sock, d.tap, memfd]);
      stored++;
    } catch (err) {
      log.warning('session not handed over, connection closed', { tap: c.tap, client_address: c.address, reason: (err as Error).message });
    } finally {
      // systemd holds its own references from the send on; ours go (a failed one's with them).
      for (const fd of [memfd, d.sock, d.tap]) if (fd !== undefined) closeQuietly(fd);
    }
  }
  const confirmed = notifier.barrier(BARRIER_MS);
  log.info('sessions handed over for the restart', { job: own.job, clients, handed_over: stored, closed: clients - stored, ms: Date.now() - t0, confirmed });
  await leaving; // the others' TAPs (closed with 1012), within systemd's stop timeout
  return true;
}
