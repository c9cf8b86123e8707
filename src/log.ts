/**
 * Logging: one event per line, a message and key=value fields, with a syslog priority.
 *   terminal:  "info: client connected client_address=... tap=..."
 *   journal:   native entries with PRIORITY and the fields as journal fields (CLIENT_ADDRESS, TAP,
 *              MAC, IP, ...) when stderr is the journal; "<6>..." lines if the socket is missing.
 */
import type { LogLevel } from './config/schema';
import { fieldName, journalAvailable, sendEntry, stderrIsJournal } from './systemd/journal';

export type Fields = Record<string, string | number | boolean | undefined>;

const PRIORITY: Record<LogLevel, number> = { error: 3, warning: 4, info: 6, debug: 7 };

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warning(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  setLevel(level: LogLevel): void;
}

function formatValue(v: string | number | boolean): string {
  const s = String(v);
  return /^[^\s"=]+$/.test(s) ? s : JSON.stringify(s);
}

function present(fields: Fields): [string, string | number | boolean][] {
  return Object.entries(fields).filter((e): e is [string, string | number | boolean] => e[1] !== undefined && e[1] !== '');
}

/** "msg k=v k2=v2" */
export function formatMessage(msg: string, fields: Fields = {}): string {
  return [msg, ...present(fields).map(([k, v]) => `${k}=${formatValue(v)}`)].join(' ');
}

export function formatLine(level: LogLevel, msg: string, fields: Fields = {}): string {
  return `${level}: ${formatMessage(msg, fields)}`;
}

/** The journal entry for one event. */
export function journalFields(level: LogLevel, msg: string, fields: Fields = {}): Record<string, string> {
  const out: Record<string, string> = { MESSAGE: formatMessage(msg, fields), PRIORITY: String(PRIORITY[level]), SYSLOG_IDENTIFIER: 'wsnic' };
  for (const [k, v] of present(fields)) {
    const name = fieldName(k);
    if (name && !(name in out)) out[name] = String(v);
  }
  return out;
}

export type Sink = (level: LogLevel, msg: string, fields: Fields) => void;

/** The sink for where stderr goes: the journal's socket, a journal stream, or a terminal. */
export function defaultSink(): Sink {
  const toStderr = (prefix: boolean): Sink => (level, msg, fields) =>
    process.stderr.write(`${prefix ? `<${PRIORITY[level]}>` : ''}${formatLine(level, msg, fields)}\n`);
  if (!stderrIsJournal()) return toStderr(false);
  if (!journalAvailable()) return toStderr(true);
  const fallback = toStderr(true);
  return (level, msg, fields) => {
    try {
      sendEntry(journalFields(level, msg, fields));
    } catch {
      fallback(level, msg, fields);
    }
  };
}

export function createLogger(level: LogLevel = 'info', sink: Sink = defaultSink()): Logger {
  let min = PRIORITY[level];
  const emit = (lvl: LogLevel) => (msg: string, fields: Fields = {}): void => {
    if (PRIORITY[lvl] <= min) sink(lvl, msg, fields);
  };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warning: emit('warning'),
    error: emit('error'),
    setLevel(l: LogLevel) {
      min = PRIORITY[l];
    },
  };
}
