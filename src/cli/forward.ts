/**
 * `wsnic forward [list]`, `wsnic forward add SPEC`, `wsnic forward remove SPEC`: the relay's port
 * forwards over its control socket (ops/control.ts). A change lasts until the relay stops; the
 * `forward` key of wsnic.conf is what persists.
 */
import type { ParsedArgs } from '../config/flags';
import { ConfigError } from '../config/load';
import type { Config } from '../config/schema';
import { controlSocketPath } from '../config/paths';
import { FORWARD_SYNTAX, forwardSpec, parseForward } from '../config/forward';
import { request } from '../ops/control-client';

/** The forwards as lines, `SPEC  -> ADDRESS:PORT` or `(guest absent)`. Pure. */
export function formatForwards(forwards: Record<string, string>): string {
  const specs = Object.keys(forwards);
  if (specs.length === 0) return 'no port forwards\n';
  const width = Math.max(...specs.map((s) => s.length));
  return specs.map((s) => `${s.padEnd(width)}  ${forwards[s]}\n`).join('');
}

export async function forward(c: Config, args: ParsedArgs): Promise<number> {
  const [op = 'list', spec, ...more] = args.positionals;
  if (op !== 'list' && op !== 'add' && op !== 'remove') throw new ConfigError(`forward takes list, add SPEC or remove SPEC, not '${op}'`);
  if (more.length > 0 || (op === 'list' && spec !== undefined)) throw new ConfigError(`unexpected argument '${more[0] ?? spec}'`);
  const f = op === 'list' ? undefined : parseForward(spec ?? '');
  if (op !== 'list' && f === undefined) throw new ConfigError(`forward ${op} needs ${FORWARD_SYNTAX}${spec === undefined ? '' : `, not '${spec}'`}`);
  let forwards: Record<string, string> = {};
  await request(controlSocketPath(c), f === undefined ? { cmd: 'forward', op } : { cmd: 'forward', op, spec: forwardSpec(f) }, (text) => {
    forwards = (JSON.parse(text) as { forwards?: Record<string, string> }).forwards ?? forwards;
  });
  if (f !== undefined) {
    process.stdout.write(`${op === 'add' ? 'added' : 'removed'} ${forwardSpec(f)} until the relay stops; the forward key of wsnic.conf is what persists\n`);
  }
  process.stdout.write(formatForwards(forwards));
  return 0;
}
