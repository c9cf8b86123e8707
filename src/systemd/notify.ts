/**
 * sd_notify through the addon: READY, STATUS, WATCHDOG, RELOADING, STOPPING, the fd store
 * (FDSTORE, FDSTOREREMOVE) and BARRIER. Without
 * NOTIFY_SOCKET (not under systemd) every call is a no-op.
 */
import type { Logger } from '../log';
import { native } from '../native';

export class Notifier {
  private readonly socket: string | undefined;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(private readonly log: Logger, private readonly env: NodeJS.ProcessEnv = process.env) {
    this.socket = env.NOTIFY_SOCKET;
    delete env.NOTIFY_SOCKET; // not for children
  }

  send(state: string): void {
    if (!this.socket) return;
    try {
      native().sendDatagram(this.socket, state);
    } catch (err) {
      this.log.warning('sd_notify failed', { state: state.split('\n')[0], reason: (err as Error).message });
    }
  }

  /** Under systemd (a notify socket). */
  get available(): boolean {
    return this.socket !== undefined && this.socket !== '';
  }

  /** FDSTORE=1: fds into systemd's store under one name (see handover/fdstore.ts). Throws on failure. */
  store(name: string, fds: number[]): void {
    if (!this.socket) throw new Error('not under systemd');
    native().sendDatagram(this.socket, `FDSTORE=1\nFDNAME=${name}`, fds);
  }

  /** FDSTOREREMOVE=1: systemd closes and forgets the fds stored under the name. */
  unstore(name: string): void {
    this.send(`FDSTOREREMOVE=1\nFDNAME=${name}`);
  }

  /** BARRIER=1: true once systemd has handled every message sent before (within timeoutMs). */
  barrier(timeoutMs: number): boolean {
    if (!this.socket) return true;
    try {
      return native().notifyBarrier(this.socket, timeoutMs);
    } catch (err) {
      this.log.warning('sd_notify barrier failed', { reason: (err as Error).message });
      return false;
    }
  }

  ready(status: string): void {
    this.send(`READY=1\nSTATUS=${status}`);
  }

  status(text: string): void {
    this.send(`STATUS=${text}`);
  }

  reloading(): void {
    this.send('RELOADING=1');
  }

  stopping(): void {
    clearInterval(this.watchdog);
    this.send('STOPPING=1');
  }

  /** WATCHDOG=1 at half of WATCHDOG_USEC, when systemd asks for it (and asks us). */
  startWatchdog(): void {
    const usec = Number(this.env.WATCHDOG_USEC ?? '0');
    const pid = this.env.WATCHDOG_PID;
    delete this.env.WATCHDOG_USEC;
    delete this.env.WATCHDOG_PID;
    if (!this.socket || !(usec > 0) || (pid !== undefined && Number(pid) !== process.pid)) return;
    const every = Math.max(100, Math.floor(usec / 2000));
    this.watchdog = setInterval(() => this.send('WATCHDOG=1'), every);
    this.watchdog.unref();
    this.log.debug('watchdog on', { interval_ms: every });
  }
}
