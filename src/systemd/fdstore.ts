/**
 * The hand-over on restart through systemd's file descriptor store (sd_notify FDSTORE=1). On a
 * stop that systemd runs as part of a restart (its job on our unit is a "restart": `systemctl
 * restart`, try-restart after a package upgrade), each ws:// session goes into the store as one
 * message of three fds named `wsnic-c<ID>`: its TCP socket, its TAP and a memfd with its state
 * (relay/handover.ts). systemd 252 keeps the store while the unit restarts (a job is pending) and
 * passes it to the next relay with the listening sockets (LISTEN_FDNAMES); the next relay tells
 * the three apart by type, takes the session up, and removes the name from the store at once, so
 * that a crash later does not hand stale state to the relay after it. On a plain stop nothing is
 * stored (the store would be dropped with the unit), and clients are closed as before.
 */
import { closeSync, fstatSync, readSync } from 'node:fs';
import type { Inherited } from './activation';
import { getProperty, withSystemBus } from './bus';

const STORE_NAME = /^wsnic-c(\d+)$/;
const SYSTEMD = 'org.freedesktop.systemd1';
/** Larger than any state a session writes (relay/handover.ts): a bigger file is not read. */
const STATE_MAX = 16 * 1024 * 1024;

export const storeName = (id: number): string => `wsnic-c${id}`;

/** A session's fds from the store; one missing means the session cannot be taken up. */
export interface StoredSession {
  name: string;
  sock?: number;
  tap?: number;
  state?: number;
  /** fds of a type a session does not have (closed by closeStored). */
  other: number[];
}

/** Removes the stored sessions' fds from `inherited` (the rest are listening sockets). */
export function takeStored(inherited: Inherited[]): StoredSession[] {
  const byName = new Map<string, StoredSession>();
  for (let i = inherited.length - 1; i >= 0; i--) {
    const { name, fd } = inherited[i]!;
    if (!STORE_NAME.test(name)) continue;
    inherited.splice(i, 1);
    let s = byName.get(name);
    if (!s) byName.set(name, (s = { name, other: [] }));
    let kind = 'other';
    try {
      const st = fstatSync(fd);
      kind = st.isSocket() ? 'sock' : st.isCharacterDevice() ? 'tap' : st.isFile() ? 'state' : 'other';
    } catch {
      // (not an fd after all: nothing to take, nothing to close)
      continue;
    }
    if (kind === 'other' || s[kind as 'sock' | 'tap' | 'state'] !== undefined) s.other.push(fd);
    else s[kind as 'sock' | 'tap' | 'state'] = fd;
  }
  return [...byName.values()].sort((a, b) => Number(STORE_NAME.exec(a.name)![1]) - Number(STORE_NAME.exec(b.name)![1]));
}

/** The state memfd's bytes (read from the start: the writer's offset is shared). */
export function readState(fd: number): Buffer {
  const size = fstatSync(fd).size;
  if (size > STATE_MAX) throw new Error(`state of ${size} bytes, more than a session writes`);
  const buf = Buffer.alloc(size);
  let got = 0;
  while (got < size) {
    const n = readSync(fd, buf, got, size - got, got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/** Closes what of a stored session is still ours. */
export function closeStored(s: StoredSession, keep: { sock?: boolean; tap?: boolean } = {}): void {
  const fds = [...s.other, s.state, keep.sock ? undefined : s.sock, keep.tap ? undefined : s.tap];
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
    const unit = String(await getProperty(bus, call, SYSTEMD, path, `${SYSTEMD}.Unit`, 'Id'));
    const [jobId, jobPath] = (await getProperty(bus, call, SYSTEMD, path, `${SYSTEMD}.Unit`, 'Job')) as [number, string];
    const job = jobId === 0 ? undefined : String(await getProperty(bus, call, SYSTEMD, jobPath, `${SYSTEMD}.Job`, 'JobType'));
    const fdStoreMax = Number(await getProperty(bus, call, SYSTEMD, path, `${SYSTEMD}.Service`, 'FileDescriptorStoreMax'));
    return { unit, job, fdStoreMax };
  });
}

/** Job types during whose stop the sessions go to the store (the start follows). */
export const RESTART_JOBS = new Set(['restart', 'try-restart', 'reload-or-restart', 'reload-or-try-restart']);
