/**
 * Loads the configuration: defaults < wsnic.conf (or -c FILE) < WSNIC_* environment < flags.
 * Every invalid value is refused with the key, where it came from and what is allowed.
 */
import { readFileSync, existsSync } from 'node:fs';
import { schema, entry, envName, type Config, type Entry } from './schema';
import { parseValue, ValueError } from './values';
import { configForwards, forwardSpec, reservedPort } from './forward';

export const DEFAULT_CONFIG_FILE = '/etc/wsnic/wsnic.conf';

export class ConfigError extends Error {}

/** A raw value and where it came from, e.g. "wsnic.conf line 12" or "flag --subnet". */
export interface RawValue {
  key: string;
  raw: string;
  source: string;
  invert?: boolean;
}

export interface Loaded {
  config: Config;
  /** The file read, if any. */
  file: string | undefined;
  /** Unknown keys and the like: the caller logs them. */
  warnings: string[];
  /** Worth a line at start (e.g. wss:// off in a container with no certificate mounted). */
  notices: string[];
}

export interface LoadOptions {
  /** -c FILE: must exist. Without it /etc/wsnic/wsnic.conf is read when present. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  flags?: RawValue[];
  /** Whether a file exists (the container's certificate defaults); fs.existsSync by default. */
  exists?: (path: string) => boolean;
  defaultFile?: string;
}

/** Parses the original wsnic's format: `key = value` lines, no sections, # or ; comments. Pure. */
export function parseConfFile(text: string, name: string, warnings: string[]): RawValue[] {
  const out: RawValue[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const where = `${name} line ${i + 1}`;
    const t = line.trim();
    if (t === '' || t.startsWith('#') || t.startsWith(';')) return;
    if (/^\[.*\]$/.test(t)) {
      warnings.push(`${where}: section ${t} ignored (wsnic.conf has no sections)`);
      return;
    }
    const m = /^([A-Za-z0-9_.-]+)\s*[=:]\s*(.*)$/.exec(t);
    if (!m) throw new ConfigError(`${where}: expected 'key = value', found '${t}'`);
    out.push({ key: m[1]!.toLowerCase(), raw: unquote(m[2]!), source: where });
  });
  return out;
}

/** Strips matching quotes; unquoted values lose a trailing ` # comment`. */
function unquote(v: string): string {
  const q = /^(["'])(.*)\1$/.exec(v.trim());
  if (q) return q[2]!;
  return v.replace(/\s+[#;].*$/, '').trim();
}

/** WSNIC_<KEY> for every key, plus the original wsnic's Docker names (WSNIC_ENABLE_HOSTNET, ...). */
export function envValues(env: NodeJS.ProcessEnv): RawValue[] {
  const out: RawValue[] = [];
  for (const e of schema as readonly Entry[]) {
    for (const name of [envName(e.key), ...(e.env ?? []).map((x) => x.name)]) {
      const raw = env[name];
      if (raw === undefined) continue;
      const invert = e.env?.find((x) => x.name === name)?.invert ?? false;
      out.push({ key: e.key, raw, source: `environment ${name}`, invert });
    }
  }
  return out;
}

export function loadConfig(opts: LoadOptions = {}): Loaded {
  const warnings: string[] = [];
  const notices: string[] = [];
  const values: Record<string, unknown> = {};
  const given = new Set<string>(); // keys set by the file, the environment or a flag
  const sources = new Map<string, string>(); // where each given key was last set, for errors
  const set = (rv: RawValue): void => {
    const e = entry(rv.key);
    if (!e) {
      warnings.push(`${rv.source}: unknown key '${rv.key}' ignored`);
      return;
    }
    try {
      const v = parseValue(e, rv.raw);
      values[e.key] = rv.invert ? !v : v;
      given.add(e.key);
      sources.set(e.key, rv.source);
    } catch (err) {
      if (err instanceof ValueError) throw new ConfigError(`${rv.source}: ${e.key} ${err.message}`);
      throw err;
    }
  };

  for (const e of schema as readonly Entry[]) values[e.key] = parseValue(e, e.default);

  let file = opts.file;
  if (file !== undefined && !existsSync(file)) throw new ConfigError(`configuration file ${file} not found (given with -c)`);
  const defaultFile = opts.defaultFile ?? DEFAULT_CONFIG_FILE;
  if (file === undefined && existsSync(defaultFile)) file = defaultFile;
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read configuration file ${file}: ${(err as Error).message}`);
    }
    parseConfFile(text, file, warnings).forEach(set);
  }
  envValues(opts.env ?? {}).forEach(set);
  (opts.flags ?? []).forEach(set);
  if (values.container === true) containerDefaults(values, given, opts.exists ?? existsSync, notices);

  const config = values as Config;
  crossCheck(config, sources);
  return { config, file, warnings, notices };
}

/** Checks that need more than one key. */
function crossCheck(c: Config, sources: ReadonlyMap<string, string>): void {
  if (c.ws_port === c.wss_port && c.wss_certificate !== '') {
    throw new ConfigError(`ws_port and wss_port are both ${c.ws_port}: give wss:// its own port`);
  }
  if (c.idle_timeout <= c.ping_interval) {
    throw new ConfigError(`idle_timeout (${c.idle_timeout}) must be longer than ping_interval (${c.ping_interval})`);
  }
  for (const f of configForwards(c)) {
    const what = reservedPort(f, c);
    if (what !== undefined) throw new ConfigError(`${sources.get('forward') ?? 'default'}: forward '${forwardSpec(f)}' takes ${f.proto} port ${f.port}, which is ${what}: forward another port`);
  }
  if (c.wss_private_key !== '' && c.wss_certificate === '') {
    throw new ConfigError(`wss_private_key is set but wss_certificate is not: wss:// needs a certificate`);
  }
}

/**
 * The container image's defaults, for every key no source set: the schema's `container` values;
 * the certificate only when mounted there, and its key file only beside it (without one, the
 * certificate file must hold the key too).
 */
function containerDefaults(values: Record<string, unknown>, given: Set<string>, exists: (p: string) => boolean, notices: string[]): void {
  for (const e of schema as readonly Entry[]) {
    if (e.container === undefined || given.has(e.key)) continue;
    if (e.kind !== 'path') values[e.key] = parseValue(e, e.container);
    else if (exists(e.container) && (e.key !== 'wss_private_key' || values.wss_certificate === entry('wss_certificate')!.container)) values[e.key] = e.container;
  }
  if (values.wss_certificate === '') notices.push(`no certificate at ${entry('wss_certificate')!.container}: wss:// is off, serving ws:// only`);
}
