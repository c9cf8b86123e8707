/**
 * The hand-over on restart through systemd's file descriptor store (sd_notify FDSTORE=1). On a
 * stop that systemd runs as part of a restart (its job on our unit is a "restart": `systemctl
 * restart`, try-restart after a package upgrade), the ws:// sessions go into the store as three
 * fds named `wsnic-sessions`: both ends of a socketpair holding every session's TCP socket and
 * TAP in flight (SCM_RIGHTS), and a memfd with one state line a session (handover/state.ts).
 * Not three fds a session: systemd 252 compares each fd it stores with every one stored
 * (same_fd), measured 6.6 s for 1,002 sessions that way. systemd keeps the store while the unit
 * restarts (a job is pending) and passes it to the next relay with the listening sockets
 * (LISTEN_FDNAMES); the next relay takes the sessions up and removes the name from the store at
 * once, so that a crash later does not hand stale state on. On a plain stop nothing is stored
 * (the store would be dropped with the unit), and clients are closed as before.
 */
import { closeSync, fstatSync, readSync } from 'node:fs';
import type { Inherited } from '../systemd/activation';
import { getProperty, propertiesOf, withSystemBus } from '../systemd/bus';

const SYSTEMD = 'org.freedesktop.systemd1';
/** Larger than any states file (handover/state.ts): a bigger file is not read. */
const STATE_MAX = 256 * 1024 * 1024;

/** The name of the hand-over's fds in the store. */
export const STORE_NAME = 'wsnic-sessions';

/**
 * What the store gave back: the carrier socketpair's ends (the sessions' fds in flight, socket
 * and TAP a session, in order) and the states file (one line a session, in the same order).
 */
export interface Stored {
  sockets: number[];
  state?: number;
  /** fds of another kind (closed by closeStored). */
  other: number[];
}

/** Removes the hand-over's fds from `inherited` (the rest are listening sockets); none: undefined. */
export function takeStored(inherited: Inherited[]): Stored | undefined {
  let stored: Stored | undefined;
  for (let i = inherited.length - 1; i >= 0; i--) {
    const { name, fd } = inherited[i]!;
    if (name !== STORE_NAME) continue;
    inherited.splice(i, 1);
    stored ??= { sockets: [], other: [] };
    const kind = fdKind(fd);
    if (kind === 'socket') stored.sockets.push(fd);
    else if (kind === 'file' && stored.state === undefined) stored.state = fd;
    else if (kind !== 'closed') stored.other.push(fd);
  }
  return stored;
}

export function fdKind(fd: number): 'socket' | 'device' | 'file' | 'other' | 'closed' {
  try {
    const st = fstatSync(fd);
    return st.isSocket() ? 'socket' : st.isCharacterDevice() ? 'device' : st.isFile() ? 'file' : 'other';
  } catch {
    return 'closed';
  }
}

/** The states file's bytes (read from the start: the writer's offset is shared). */
export function readState(fd: number): Buffer {
  const size = fstatSync(fd).size;
  if (size > STATE_MAX) throw new Error(`states file of ${size} bytes, more than sessions write`);
  const buf = Buffer.alloc(size);
  let got = 0;
  while (got < size) {
    const n = readSync(fd, buf, got, size - got, got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/** Closes fds, whatever state they are in. */
export function closeAll(fds: (number | undefined)[]): void {
  for (const fd of fds) {
    if (fd === undefined) continue;
    try {
      closeSync(fd);
    } catch {
      // (closed already)
    }
  }
}

/**
 * systemd's job on the unit this process runs in, now ("restart", "stop", ...; undefined: none),
 * and how many fds its store holds at most. Over D-Bus (GetUnitByPID needs no privilege).
 */
export async function ownJob(pid = process.pid): Promise<{ unit: string; job: string | undefined; fdStoreMax: number }> {
  return withSystemBus(async (bus, call) => {
    const manager = (await call(bus.getProxyObject(SYSTEMD, '/org/freedesktop/systemd1'), 'systemd')).getInterface(`${SYSTEMD}.Manager`);
    const path = (await call(manager.GetUnitByPID(pid), 'GetUnitByPID')) as string;
    const prop = await propertiesOf(bus, call, SYSTEMD, path);
    const unit = String(await prop(`${SYSTEMD}.Unit`, 'Id'));
    const [jobId, jobPath] = (await prop(`${SYSTEMD}.Unit`, 'Job')) as [number, string];
    const job = jobId === 0 ? undefined : String(await getProperty(bus, call, SYSTEMD, jobPath, `${SYSTEMD}.Job`, 'JobType'));
    const fdStoreMax = Number(await prop(`${SYSTEMD}.Service`, 'FileDescriptorStoreMax'));
    return { unit, job, fdStoreMax };
  });
}

/** Job types during whose stop the sessions go to the store (the start follows). */
export const RESTART_JOBS = new Set(['restart', 'try-restart', 'reload-or-restart', 'reload-or-try-restart']);
