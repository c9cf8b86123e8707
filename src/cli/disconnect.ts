/**
 * `wsnic disconnect CLIENT [--reason TEXT]`: a request on the relay's control socket
 * (ops/control.ts) to close that client with 1008, logged with who asked. CLIENT is an id, a
 * leased IP, a MAC or a TAP name.
 */
import { userInfo } from 'node:os';
import type { ParsedArgs } from '../config/flags';
import { ConfigError } from '../config/load';
import type { Config } from '../config/schema';
import { controlSocketPath } from '../config/paths';
import { request } from '../ops/control-client';

export async function disconnect(c: Config, args: ParsedArgs): Promise<number> {
  const match = args.positionals[0];
  if (match === undefined || args.positionals.length > 1) throw new ConfigError('disconnect takes one client: an id, IP, MAC or TAP');
  const me = userInfo();
  const reason = args.extras.get('--reason');
  let ids: number[] = [];
  await request(controlSocketPath(c), { cmd: 'disconnect', match, by: `${me.username} (uid ${me.uid})`, ...(reason !== undefined ? { reason } : {}) }, (text) => {
    ids = (JSON.parse(text) as { disconnected?: number[] }).disconnected ?? ids;
  });
  if (ids.length === 0) {
    process.stderr.write(`no client matches ${match}\n`);
    return 1;
  }
  process.stdout.write(`disconnected: ${ids.map((i) => `client ${i}`).join(', ')}\n`);
  return 0;
}
