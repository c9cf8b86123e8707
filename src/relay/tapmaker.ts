/**
 * Client TAPs for the session registry: made a few at a time, each with the next free name on a
 * bridge port; a name and a port are taken again only once that TAP is gone (release).
 */
import { PORT_MTU } from '../net/bridge';
import { Tap, TapNames } from '../net/tap';

/**
 * TAPs made at once. Accepted clients beyond it wait for a turn here rather than on the thread
 * pool, so that one that leaves meanwhile (its socket closed) costs no TAP made and removed.
 */
const TAPS_AT_ONCE = 4;

/** Which bridge a new client's TAP joins (the main one, or a leaf past its port limit). */
export interface BridgePorts {
  reserve(): Promise<string>;
  release(bridge: string): void;
  claim(bridge: string): void;
}

export class TapMaker {
  private readonly names: TapNames;
  /** TAPs being made now (at most TAPS_AT_ONCE), and the clients waiting for a turn, in order. */
  private making = 0;
  private readonly turns: (() => void)[] = [];

  constructor(private readonly ports: BridgePorts, tapPrefix: string, private readonly isolated: boolean) {
    this.names = new TapNames(tapPrefix);
  }

  /** Resolves when this client may have its TAP made (see TAPS_AT_ONCE); turnDone() after. */
  turn(): Promise<void> {
    if (this.making < TAPS_AT_ONCE) {
      this.making++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.turns.push(resolve));
  }

  turnDone(): void {
    const next = this.turns.shift();
    if (next) next();
    else this.making--;
  }

  /**
   * A bridge port and a TAP on it (with a virtio-net header for the native path); on failure,
   * nothing is kept and the error says which.
   */
  async open(native: boolean): Promise<{ tap: Tap; bridge: string }> {
    let bridge: string;
    try {
      bridge = await this.ports.reserve();
    } catch (err) {
      throw new Error(`no bridge port: ${(err as Error).message}`);
    }
    try {
      return { tap: await this.openTap(bridge, native), bridge };
    } catch (err) {
      this.ports.release(bridge);
      throw new Error(`cannot create TAP: ${(err as Error).message}`);
    }
  }

  /** A TAP's name and bridge port in use already (a session the relay before a restart handed over). */
  claim(tap: string, bridge: string): void {
    this.names.claim(tap);
    this.ports.claim(bridge);
  }

  /** The TAP is gone: its name and bridge port are free. */
  release(tap: string, bridge: string): void {
    this.names.release(tap);
    this.ports.release(bridge);
  }

  /** A TAP with the next free name; a name someone else holds (EBUSY) is skipped. */
  private async openTap(bridge: string, native: boolean): Promise<Tap> {
    for (let tries = 0; ; tries++) {
      const name = this.names.take();
      try {
        return await Tap.create(name, { bridge, mtu: PORT_MTU, isolated: this.isolated, exclusive: true, vnetHdr: native });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || tries >= 100) {
          this.names.release(name);
          throw err;
        }
      }
    }
  }
}
