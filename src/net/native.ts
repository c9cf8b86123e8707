/** The N-API addon (native/wsnic.c), typed. */
import { join } from 'node:path';

export interface TapPortHandle {
  write(frame: Buffer): boolean;
  pause(): void;
  resume(): void;
  close(): void;
}

export interface Addon {
  /** exclusive: EBUSY if a device of that name exists (IFF_TUN_EXCL), instead of attaching. */
  tapOpen(pattern: string, exclusive?: boolean): { fd: number; name: string };
  /** A client's whole TAP (device, IPv6 off, MTU, bridge port, up) made on the thread pool. */
  tapCreate(pattern: string, opts: { exclusive?: boolean; bridge?: string; mtu?: number; isolated?: boolean }): Promise<{ fd: number; name: string }>;
  TapPort: new (
    fd: number,
    onFrames: (frames: Buffer[]) => void,
    onWritable: () => void,
    onError: (errno: number) => void,
  ) => TapPortHandle;
  linkUp(name: string): void;
  linkSetMtu(name: string, mtu: number): void;
  bridgeAddPort(bridge: string, port: string): void;
  bridgePortIsolate(port: string): void;
  linkIpv6Off(name: string): void;
  wsMask(source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number): void;
  wsUnmask(buffer: Buffer, mask: Buffer): void;
  /** One AF_UNIX datagram (sd_notify, the journal), with fds as SCM_RIGHTS. */
  sendDatagram(socketPath: string, payload: string | Buffer, fds?: number[]): boolean;
}

let addon: Addon | undefined;

export function native(): Addon {
  // dist/net/native.js -> native/build/Release/wsnic.node
  addon ??= require(join(__dirname, '..', '..', 'native', 'build', 'Release', 'wsnic.node')) as Addon;
  return addon;
}
