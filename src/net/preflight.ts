/**
 * What `wsnic run` needs from the system before it changes anything: the TUN/TAP device and
 * CAP_NET_ADMIN. All that is missing goes into one line that says what to add; in a container,
 * the `docker run` flags.
 */
import { existsSync, readFileSync } from 'node:fs';
import { ToolError } from './tool';

const CAP_NET_ADMIN = 12;

/** Whether CapEff in a /proc/PID/status text has the capability; true when it cannot tell. */
export function hasCapability(status: string, bit: number): boolean {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  if (hex === undefined) return true; // let the first ip command say what failed
  const word = parseInt(hex.slice(-8 * (1 + Math.floor(bit / 32))).slice(0, 8), 16);
  return ((word >>> bit % 32) & 1) === 1;
}

/** The one-line complaint about what is missing, or undefined when nothing is. Pure. */
export function missingMessage(opts: { tun: boolean; netAdmin: boolean; inContainer: boolean }): string | undefined {
  if (opts.tun && opts.netAdmin) return undefined;
  const what = [opts.netAdmin ? '' : 'CAP_NET_ADMIN', opts.tun ? '' : '/dev/net/tun'].filter(Boolean).join(' and ');
  if (opts.inContainer) {
    const flags = [opts.netAdmin ? '' : '--cap-add=NET_ADMIN', opts.tun ? '' : '--device /dev/net/tun:/dev/net/tun'].filter(Boolean).join(' ');
    return `this container has no ${what}: start it with ${flags}`;
  }
  const todo = [opts.netAdmin ? '' : 'run wsnic as root (or with CAP_NET_ADMIN)', opts.tun ? '' : 'load the tun module (modprobe tun)'].filter(Boolean).join(' and ');
  return `no ${what}: ${todo}`;
}

/** Throws a ToolError naming what is missing (see missingMessage). */
export function preflight(inContainer: boolean): void {
  const message = missingMessage({
    tun: existsSync('/dev/net/tun'),
    netAdmin: hasCapability(readFileSync('/proc/self/status', 'utf8'), CAP_NET_ADMIN),
    inContainer,
  });
  if (message !== undefined) throw new ToolError(message);
}
