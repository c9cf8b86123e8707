/**
 * `wsnic connect URL`: the client side. A TAP on this host (or in this namespace) relayed to a
 * wsnic server, so Linux joins the network as a v86 guest would. Reconnects with backoff; the
 * TAP stays across reconnects so a DHCP client on it keeps its lease.
 */
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { ConfigError } from '../config/load';
import type { ExtraOption, ParsedArgs } from '../config/flags';
import { parseValue } from '../config/values';
import type { Logger } from '../log';
import { Tap } from '../net/tap';
import { NativePath, startPlane } from '../datapath/nativepath';
import { MAX_FRAME, Pump } from '../datapath/pump';
import { atMost } from '../deadline';
import { abi } from '../native';

export const CONNECT_OPTIONS: ExtraOption[] = [
  { long: '--tap', meta: 'NAME', doc: 'connect: TAP name or pattern (default wsnic%d).' },
  { long: '--mtu', meta: 'BYTES', doc: 'connect: MTU of the TAP (up to 65535).' },
  { long: '--ca', meta: 'FILE', doc: 'connect: trust this PEM certificate for wss:// (e.g. a self-signed one).' },
  { long: '--js-path', doc: 'connect: relay ws:// frames on the event loop, not on the native data path.' },
];

export async function connect(args: ParsedArgs, log: Logger): Promise<number> {
  const level = args.flags.find((f) => f.key === 'log_level');
  if (level) log.setLevel(level.raw as 'debug' | 'warning');
  const url = args.positionals[0];
  if (!url || !/^wss?:\/\//.test(url)) throw new ConfigError('connect needs a ws:// or wss:// URL');
  const mtuRaw = args.extras.get('--mtu');
  const mtu = mtuRaw === undefined ? undefined : (parseValue({ key: 'mtu', kind: 'int', default: '', doc: '', min: 68, max: 65535 }, mtuRaw) as number);
  const caFile = args.extras.get('--ca');
  const ca = caFile ? readFileSync(caFile) : undefined;
  // ws:// goes to the native data path (one thread): it masks and moves frames off the event
  // loop, and joins TCP segments for the TAP (a virtio-net header). wss:// stays with ws (Node
  // owns TLS), as does --js-path.
  const onNative = url.startsWith('ws://') && !args.extras.has('--js-path');
  const tap = Tap.open(args.extras.get('--tap') ?? 'wsnic%d', { mtu, vnetHdr: onNative });
  log.info('TAP ready', { tap: tap.name, url });

  if (onNative) startPlane(1);
  let stopping = false;
  let socket: WebSocket | undefined;
  /** The native session, while connected on that path; `ended` resolves when it let go of the TAP. */
  let session: { path: NativePath; ended: Promise<void> } | undefined;
  let delay = 1000;
  let retry: NodeJS.Timeout | undefined;
  const lost = (code: number, why: string): void => {
    if (stopping) return;
    log.info('disconnected, reconnecting', { url, code, reason: why, in_ms: delay });
    retry = setTimeout(open, delay);
    delay = Math.min(delay * 2, 30_000);
  };
  const open = (): void => {
    if (stopping) return;
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: MAX_FRAME, ...(ca ? { ca } : {}) });
    socket = ws;
    const pump = onNative ? undefined : new Pump(ws, tap, {
      onBadFrame: (why) => log.warning('bad frame from server', { reason: why }),
      onTapError: (err) => log.error('TAP error', { reason: err.message }),
    });
    ws.on('open', () => {
      if (stopping) {
        ws.terminate();
        return;
      }
      delay = 1000;
      log.info('connected', { url, tap: tap.name, path: onNative ? 'native' : 'js' });
      if (pump) {
        pump.start();
        return;
      }
      let ended!: () => void;
      const done = new Promise<void>((resolve) => (ended = resolve));
      // From here ws hears nothing more of this connection: the plane reports its end.
      session = {
        ended: done,
        path: new NativePath(ws, tap, undefined, {
          bound: () => undefined, limited: () => undefined, text: () => undefined,
          ended: (code, why) => {
            session = undefined;
            ended();
            lost(code, why || 'connection lost');
          },
        }),
      };
    });
    ws.on('error', (err) => log.warning('connection error', { url, reason: err.message }));
    ws.on('close', (code, why) => {
      pump?.stop();
      if (pump) tap.pause(); // frames while disconnected are dropped by the kernel queue
      lost(code, why.toString());
    });
  };
  open();
  // The native path's threads do not keep Node's loop alive (nor does a socket Node let go of).
  const alive = setInterval(() => undefined, 1 << 30);

  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  stopping = true;
  clearTimeout(retry);
  if (session) {
    // The plane lets go of the TAP before it is closed (its fd number could be reused).
    session.path.close(abi().close.goingAway, 'client shutting down');
    await atMost(2000, session.ended); // (`alive` holds the loop meanwhile)
  } else socket?.close(abi().close.goingAway, 'client shutting down');
  await tap.close();
  clearInterval(alive);
  return 0;
}
