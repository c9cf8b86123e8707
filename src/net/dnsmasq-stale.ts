/**
 * The dnsmasq child of a `wsnic run` that was killed with SIGKILL: where it is recorded, and how it
 * is found again (pid and start time) and stopped, so the next start can bind its ports.
 */
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from '../log';

/**
 * Where `wsnic run` records its dnsmasq child: "PID STARTTIME", next to the conf file (so in
 * runtime_dir). Written by us, not by dnsmasq's pid-file, which wsnic-dnsmasq.service must not
 * get: that unit runs the same command line, and only our own child may be killed as stale.
 */
export const childFile = (confFile: string): string => join(dirname(confFile), 'dnsmasq.child');

/**
 * Field 22 of /proc/PID/stat (clock ticks after boot): with the pid, a process's identity.
 * Undefined once it is gone, or a zombie (dead, waiting for its new parent to reap it).
 */
export function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

/** A pause without the event loop (teardown is synchronous); a few at most, at start or teardown. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Kills the dnsmasq a `wsnic run` left when it was killed with SIGKILL: the child outlives it (a
 * parent-death signal is cleared when dnsmasq drops privileges) and keeps ports 67 and 53 on the
 * bridge, so the next start would fail. Only that process: the recorded pid, the same start time,
 * and a dnsmasq command line with this conf file. SIGTERM, then SIGKILL after 2 s. Synchronous,
 * for `wsnic teardown` too. Returns the pid killed, if any.
 */
export function killStaleDnsmasq(confFile: string, log: Logger): number | undefined {
  const file = childFile(confFile);
  let pid: number;
  let started: string | undefined;
  try {
    const [p, s] = readFileSync(file, 'utf8').trim().split(' ');
    pid = Number(p);
    started = s;
  } catch {
    return undefined; // none recorded: the last run stopped cleanly, or never ran dnsmasq
  }
  rmSync(file, { force: true });
  if (!Number.isInteger(pid) || pid <= 1 || started === undefined || startTime(pid) !== started) return undefined;
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
  if (!/(^|\/)dnsmasq$/.test(argv[0] ?? '') || !argv.includes(`--conf-file=${confFile}`)) return undefined;
  // Waited for, so that its sockets are closed before a new dnsmasq binds the same ports.
  const exits = (signal: NodeJS.Signals, ms: number): boolean => {
    try {
      process.kill(pid, signal);
    } catch {
      return true; // ESRCH: it went by itself meanwhile
    }
    for (let waited = 0; waited < ms && startTime(pid) === started; waited += 50) sleepSync(50);
    return startTime(pid) !== started;
  };
  if (!exits('SIGTERM', 2000)) exits('SIGKILL', 1000);
  log.warning('stale dnsmasq killed', { pid, conf_file: confFile });
  return pid;
}
