/** Command-line flags, derived from the schema: long forms for every key, the original wsnic's short ones. */
import { schema, longFlag, containerDefault, type Entry } from './schema';
import { ConfigError, type RawValue } from './load';

/** A verb's own option, e.g. connect's --tap NAME. */
export interface ExtraOption {
  long: string;
  short?: string;
  meta?: string;
  doc: string;
}

export interface ParsedArgs {
  flags: RawValue[];
  configFile: string | undefined;
  positionals: string[];
  extras: Map<string, string>;
  help: boolean;
  version: boolean;
}

export function parseArgs(argv: string[], extraOptions: ExtraOption[] = []): ParsedArgs {
  const out: ParsedArgs = { flags: [], configFile: undefined, positionals: [], extras: new Map(), help: false, version: false };
  const byFlag = new Map<string, Entry>();
  for (const e of schema as readonly Entry[]) {
    byFlag.set(longFlag(e.key), e);
    if (e.short) byFlag.set(`-${e.short}`, e);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-') {
      out.positionals.push(arg);
      continue;
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = argv[++i];
      if (next === undefined) throw new ConfigError(`flag ${name} needs a value`);
      return next;
    };
    // A command's own option wins over a wsnic.conf key's flag of the same name (connect's --mtu
    // is its TAP's, not the relay's mtu key).
    const extra = extraOptions.find((o) => o.long === name || (o.short !== undefined && o.short === name));
    if (extra) out.extras.set(extra.long, extra.meta ? value() : '1');
    else if (name === '-h' || name === '--help') out.help = true;
    else if (name === '--version') out.version = true;
    else if (name === '-v' || name === '--verbose') out.flags.push({ key: 'log_level', raw: 'debug', source: `flag ${name}` });
    else if (name === '-q' || name === '--quiet') out.flags.push({ key: 'log_level', raw: 'warning', source: `flag ${name}` });
    else if (name === '-c' || name === '--config') out.configFile = value();
    else if (name === '--disable-dhcp' || (byFlag.get(name)?.kind === 'bool' && inline === undefined)) {
      out.flags.push({ key: byFlag.get(name)!.key, raw: '1', source: `flag ${name}` });
    } else if (byFlag.has(name)) out.flags.push({ key: byFlag.get(name)!.key, raw: value(), source: `flag ${name}` });
    else throw new ConfigError(`unknown flag ${name} (see --help)`);
  }
  return out;
}

/** The options --help lists, as [flags, doc] pairs: the general ones, a verb's own, then every key's. */
export function flagRows(extraOptions: ExtraOption[] = []): [string, string][] {
  return [
    ['-c, --config FILE', 'Configuration file (default /etc/wsnic/wsnic.conf, if present).'],
    ['-v, --verbose', 'Log debug messages.'],
    ['-q, --quiet', 'Log warnings and errors only.'],
    ['--version', 'Print the version and exit.'],
    ...extraOptions.map((o): [string, string] => [`${o.short ? `${o.short}, ` : ''}${o.long}${o.meta ? ` ${o.meta}` : ''}`, o.doc]),
    ...(schema as readonly Entry[]).map((e): [string, string] => [
      `${e.short ? `-${e.short}, ` : ''}${longFlag(e.key)}${e.kind === 'bool' ? '' : ` ${e.meta ?? 'VALUE'}`}`,
      `${e.doc}${e.default !== '' ? ` Default: ${e.default}.` : ''}${containerDefault(e)}`,
    ]),
  ];
}

/** The flag part of --help, one line per key, from the schema. */
export function flagHelp(extraOptions: ExtraOption[] = []): string {
  const rows = flagRows(extraOptions);
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  return rows.map(([f, d]) => `  ${f.padEnd(width)}${d}`).join('\n');
}
