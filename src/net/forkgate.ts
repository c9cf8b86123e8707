/**
 * Keeps TAP closes and child processes apart. A child starts as a fork: a copy of every fd the
 * relay holds, TAPs included, until its exec closes them. A TAP the relay closes in that window
 * is removed by the child's exec instead (its copy is the last), and removing a device waits
 * for the kernel's RTNL lock and an RCU barrier; libuv's spawn() waits for the exec, so the
 * relay's event loop waited with it. Measured with three relays churning TAPs side by side:
 * the main thread sat in spawn() for 3 to 12 s while the child (`nft`, `ip`) was in
 * tun_chr_close -> netdev_run_todo -> rcu_barrier, and every client's frames waited too.
 *
 * So a spawn waits until no TAP close is in flight (they run on libuv's thread pool), and
 * closes asked for meanwhile wait until the spawn is done; spawn() is synchronous up to the
 * child's exec, after which the child holds no copy. Only closes wait, never the event loop.
 */
import { close } from 'node:fs';

let closesInFlight = 0;
let spawnsWaiting = 0;
let drained: (() => void)[] = [];
let held: (() => void)[] = [];

/** Closes a TAP's fd on the thread pool, not while a child is being started. */
export function closeTapFd(fd: number, done: () => void): void {
  const go = (): void => {
    closesInFlight++;
    close(fd, () => {
      closesInFlight--;
      if (closesInFlight === 0) {
        const waiting = drained;
        drained = [];
        for (const w of waiting) w();
      }
      done();
    });
  };
  if (spawnsWaiting > 0) held.push(go);
  else go();
}

/** Runs `start` (which spawns a child) once no TAP close is in flight; returns what it returns. */
export async function whileNoTapCloses<T>(start: () => T): Promise<T> {
  spawnsWaiting++;
  try {
    if (closesInFlight > 0) await new Promise<void>((r) => drained.push(r));
    return start();
  } finally {
    if (--spawnsWaiting === 0) {
      const waiting = held;
      held = [];
      for (const go of waiting) go();
    }
  }
}
