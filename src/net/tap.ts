/**
 * A TAP device held by this process: created from a name pattern, read on Node's event loop
 * by the addon, written one frame per write(). Closing the fd removes the device.
 */
import { close, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { native, type TapCreateOptions, type TapPortHandle } from '../native';

export interface TapHandlers {
  /** Frames read in one wakeup (at most 64). */
  onFrames(frames: Buffer[]): void;
  onError(err: Error): void;
}

/** What the addon makes of a TAP (see TapCreateOptions). */
export type TapOptions = TapCreateOptions;

export class Tap {
  private port: TapPortHandle | undefined;
  private handlers: TapHandlers | undefined;
  private closing: Promise<void> | undefined;

  /** fd: the device's; the native data path reads and writes it while it serves the client. */
  private constructor(readonly name: string, readonly fd: number) {}

  /**
   * Creates PREFIX%d (or an exact name), IPv6 off, optionally on a bridge, up. Needs only
   * CAP_NET_ADMIN: IPv6 goes off over rtnetlink, not /proc/sys (read-only in the sandbox).
   */
  static open(pattern: string, opts: TapOptions = {}): Tap {
    const { fd, name } = native().tapOpen(pattern, opts);
    return new Tap(name, fd);
  }

  /**
   * Tap.open's work on libuv's thread pool, for the relay: every step waits for the kernel's
   * RTNL lock, which any interface change on the host holds, so on the event loop one busy
   * moment elsewhere would stall every client. Rejects with the step that failed and its errno.
   */
  static async create(pattern: string, opts: TapOptions = {}): Promise<Tap> {
    const { fd, name } = await native().tapCreate(pattern, opts);
    return new Tap(name, fd);
  }

  /**
   * A TAP another process made and passed on (the relay before a restart, through systemd's fd
   * store): its fd is attached to `name`, as the kernel's fdinfo says, or this throws.
   */
  static adopt(fd: number, name: string): Tap {
    let info: string;
    try {
      info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    } catch (err) {
      throw new Error(`fd ${fd}: ${(err as Error).message}`);
    }
    const iff = /^iff:\s*(\S+)$/m.exec(info)?.[1];
    if (iff !== name) throw new Error(`fd ${fd} is ${iff === undefined ? 'not a TAP' : `the TAP ${iff}`}, not ${name}`);
    return new Tap(name, fd);
  }

  /** Starts (or resumes) reading, handing frames to these handlers from now on. */
  start(h: TapHandlers): void {
    if (this.closing) return;
    this.handlers = h;
    if (this.port) {
      this.port.resume();
      return;
    }
    this.port = new (native().TapPort)(
      this.fd,
      (frames) => this.handlers?.onFrames(frames),
      (errno) => this.handlers?.onError(new Error(`TAP ${this.name}: read failed (${osErrorName(errno)})`)),
    );
  }

  /**
   * One frame, one write(). The tun driver never makes a write wait: it takes the frame (and
   * drops it further on if a queue is full) or refuses it with an error, thrown here (e.g.
   * EINVAL for a frame larger than the MTU). Before start() nothing is written.
   */
  write(frame: Buffer): void {
    this.port?.write(frame);
  }

  pause(): void {
    this.port?.pause();
  }

  resume(): void {
    this.port?.resume();
  }

  /**
   * Stops reading and closes the fd on libuv's thread pool: the kernel removes the device then,
   * which waits for an RCU grace period (~20 ms measured), so it must not run on the event loop.
   * Resolves when the device is gone.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.port?.close();
    this.closing = new Promise((resolve) => close(this.fd, () => resolve()));
    return this.closing;
  }
}

/**
 * Names for client TAPs: PREFIX0, PREFIX1, ..., the lowest free number first. Chosen here, not
 * by the kernel's PREFIX%d, which scans every interface per TAP: measured 1.66 ms per TAP with
 * 8,000 present, against 0.56 ms for an explicit name.
 */
export class TapNames {
  private readonly free: number[] = [];
  private next = 0;

  constructor(private readonly prefix: string) {}

  take(): string {
    // The lowest released number first keeps names short and reused, like the kernel's.
    if (this.free.length > 0) {
      this.free.sort((a, b) => b - a);
      return `${this.prefix}${this.free.pop()!}`;
    }
    return `${this.prefix}${this.next++}`;
  }

  /** A name in use already (a TAP handed over by the relay before a restart). */
  claim(name: string): void {
    const n = Number(name.slice(this.prefix.length));
    if (!name.startsWith(this.prefix) || !Number.isInteger(n) || n < 0) return;
    const i = this.free.indexOf(n);
    if (i >= 0) this.free.splice(i, 1);
    else if (n >= this.next) {
      for (let k = this.next; k < n; k++) this.free.push(k);
      this.next = n + 1;
    }
  }

  release(name: string): void {
    const n = Number(name.slice(this.prefix.length));
    if (name.startsWith(this.prefix) && Number.isInteger(n)) this.free.push(n);
  }
}

/** "EPERM" for 1, and so on. */
function osErrorName(errno: number): string {
  const entry = Object.entries(constants.errno).find(([, n]) => n === errno);
  return entry ? entry[0] : `errno ${errno}`;
}
