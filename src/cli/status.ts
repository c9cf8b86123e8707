/**
 * `wsnic status [CLIENT] [--json]`: a request on the relay's control socket (ops/control.ts),
 * printed like `wg show` (or as the JSON lines the relay sends). CLIENT is an id, a leased IP, a
 * MAC or a TAP name.
 */
import type { ExtraOption, ParsedArgs } from '../config/flags';
import { ConfigError } from '../config/load';
import type { Config } from '../config/schema';
import { controlSocketPath } from '../config/paths';
import type { ClientStatus } from '../relay/session';
import { request } from '../ops/control-client';
import { hostPort } from '../config/values';

/** The options of `status` and of `disconnect` (cli/disconnect.ts): both verbs take both. */
export const STATUS_OPTIONS: ExtraOption[] = [
  { long: '--json', doc: 'status: JSON lines ({"relay":...}, {"client":...} each, {"end":...}) instead of text.' },
  { long: '--reason', meta: 'TEXT', doc: 'disconnect: the close reason the client is sent (and the log says).' },
];

function bytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

function ago(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  return `${(s / 3600).toFixed(1)} h ago`;
}

/** The relay's block, `wg show` style. Pure. */
export function formatRelay(r: Record<string, unknown>): string {
  const lines = ['relay:'];
  for (const [k, v] of Object.entries(r)) {
    const text = typeof v === 'object' && v !== null ? Object.entries(v).map(([a, b]) => `${a} ${String(b)}`).join(', ') || 'none' : String(v);
    lines.push(`  ${k.replace(/_/g, ' ')}: ${text}`);
  }
  return lines.join('\n');
}

/** One client's block. Pure. */
export function formatClient(c: ClientStatus, now: number): string {
  const d = c.drops;
  return [
    `client ${c.id}:`,
    `  remote: ${hostPort(c.address, c.port)} (${c.scheme}, ${c.path} path)${c.origin ? `, origin ${c.origin}` : ''}`,
    `  tap: ${c.tap} on ${c.bridge}`,
    `  mac: ${c.mac ?? '(no frame yet)'}`,
    `  ip: ${c.ip ?? '(no lease)'}${c.hostname ? ` (${c.hostname})` : ''}`,
    `  connected: ${new Date(c.since).toISOString()} (${ago(c.since, now)}), last heard ${ago(c.lastSeen, now)}, last frame ${ago(c.lastFrame, now)}`,
    `  transfer: ${c.framesIn} frames (${bytes(c.bytesIn)}) received, ${c.framesOut} frames (${bytes(c.bytesOut)}) sent`,
    `  dropped: spoofed ${d.spoofed}, rate limit in ${d.limitedIn}, rate limit out ${d.limitedOut}, refused by TAP ${d.refused}, backpressure stalls ${d.stalls}`,
  ].join('\n');
}

export async function status(c: Config, args: ParsedArgs): Promise<number> {
  if (args.positionals.length > 1) throw new ConfigError(`status takes at most one client (an id, IP, MAC or TAP), not '${args.positionals[1]}'`);
  const match = args.positionals[0];
  const json = args.extras.has('--json');
  const out: string[] = [];
  const now = Date.now();
  // --json passes the relay's lines on as sent, 64 kB a write: a write per line (of 10,000) and
  // stringifying each again took as long as the relay's answer.
  let pending = '';
  try {
    await request(controlSocketPath(c), match === undefined ? { cmd: 'status' } : { cmd: 'status', match }, (text) => {
      if (json) {
        pending += `${text}\n`;
        if (pending.length >= 65536) {
          process.stdout.write(pending);
          pending = '';
        }
        return;
      }
      const line = JSON.parse(text) as { relay?: Record<string, unknown>; client?: ClientStatus };
      if (line.relay) out.push(formatRelay(line.relay));
      else if (line.client) out.push(formatClient(line.client, now));
    });
  } finally {
    if (pending !== '') process.stdout.write(pending);
  }
  if (!json) process.stdout.write(`${out.join('\n\n')}\n`);
  return 0;
}
