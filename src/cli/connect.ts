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
import { MAX_FRAME, Pump } from '../relay/pump';

export const CONNECT_OPTIONS: ExtraOption[] = [
  { long: '--tap', meta: 'NAME', doc: 'connect: TAP name or pattern (default wsnic%d).' },
  { long: '--mtu', meta: 'BYTES', doc: 'connect: MTU of the TAP (up to 65535).' },
  { long: '--ca', meta: 'FILE', doc: 'connect: trust this PEM certificate for wss:// (e.g. a self-signed one).' },
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
  const tap = Tap.open(args.extras.get('--tap') ?? 'wsnic%d', { mtu });
  log.info('TAP ready', { tap: tap.name, url });

  let stopping = false;
  let socket: WebSocket | undefined;
  let delay = 1000;
  const open = (): void => {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: MAX_FRAME, ...(ca ? { ca } : {}) });
    socket = ws;
    const pump = new Pump(ws, tap, {
      onBadFrame: (why) => log.warning('bad frame from server', { reason: why }),
      onTapError: (err) => log.error('TAP error', { reason: err.message }),
    });
    ws.on('open', () => {
      delay = 1000;
      log.info('connected', { url, tap: tap.name });
      pump.start();
    });
    ws.on('error', (err) => log.warning('connection error', { url, reason: err.message }));
    ws.on('close', (code, why) => {
      pump.stop();
      tap.pause(); // frames while disconnected are dropped by the kernel queue
      if (stopping) return;
      log.info('disconnected, reconnecting', { url, code, reason: why.toString(), in_ms: delay });
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 30_000);
    });
  };
  open();

  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  stopping = true;
  socket?.close(1001, 'client shutting down');
  await tap.close();
  return 0;
}
