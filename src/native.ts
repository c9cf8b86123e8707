/** The N-API addon (native/wsnic.c), typed. */
import { join } from 'node:path';

export interface TapPortHandle {
  /** One write(); throws what the kernel refused it with. */
  write(frame: Buffer): void;
  pause(): void;
  resume(): void;
  close(): void;
}

/** Absent or undefined: not exclusive, no bridge, the kernel's MTU, not isolated. */
export interface TapCreateOptions {
  /** Fail with EBUSY if the name exists (a persistent TAP of someone else's) rather than attach. */
  exclusive?: boolean | undefined;
  /** Enslave to this bridge before bringing the device up. */
  bridge?: string | undefined;
  mtu?: number | undefined;
  /** Bridge port isolation: this client reaches the gateway, not other clients. */
  isolated?: boolean | undefined;
}

export interface Addon {
  /**
   * A client's whole TAP: the device (exclusive: EBUSY if the name exists, IFF_TUN_EXCL), IPv6
   * off, MTU, bridge port (isolated), up. tapCreate on the thread pool, tapOpen on this thread.
   */
  tapCreate(pattern: string, opts: TapCreateOptions): Promise<{ fd: number; name: string }>;
  tapOpen(pattern: string, opts: TapCreateOptions): { fd: number; name: string };
  TapPort: new (
    fd: number,
    onFrames: (frames: Buffer[]) => void,
    onError: (errno: number) => void,
  ) => TapPortHandle;
  wsMask(source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number): void;
  wsUnmask(buffer: Buffer, mask: Buffer): void;
  /** One AF_UNIX datagram (sd_notify, the journal), with fds as SCM_RIGHTS. */
  sendDatagram(socketPath: string, payload: string | Buffer, fds?: number[]): boolean;
}

let addon: Addon | undefined;

export function native(): Addon {
  // dist/native.js -> native/build/Release/wsnic.node
  // Copied into a plain object: the addon's own properties are read-only, and a test wraps one
  // to see that ws's receiver calls it (test/unit/ws-internals.test.ts).
  if (!addon) {
    const loaded = require(join(__dirname, '..', 'native', 'build', 'Release', 'wsnic.node')) as Record<string, unknown>;
    addon = Object.fromEntries(Object.getOwnPropertyNames(loaded).map((k) => [k, loaded[k]])) as unknown as Addon;
  }
  return addon;
}
