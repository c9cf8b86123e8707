/**
 * Logging: one line per event, a message and key=value fields, with a syslog priority.
 * On a terminal: "info: client connected address=... tap=...". When stderr is the journal
 * (JOURNAL_STREAM names it), each line starts with <N> so journald records the priority.
 */
import { fstatSync } from 'node:fs';
import type { LogLevel } from './config/schema';

export type Fields = Record<string, string | number | boolean | undefined>;

const PRIORITY: Record<LogLevel, number> = { error: 3, warning: 4, info: 6, debug: 7 };

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warning(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  setLevel(level: LogLevel): void;
}

function stderrIsJournal(): boolean {
  const stream = process.env.JOURNAL_STREAM;
  if (!stream) return false;
  try {
    const st = fstatSync(2);
    return stream === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

function formatValue(v: string | number | boolean): string {
  const s = String(v);
  return /^[^\s"=]+$/.test(s) ? s : JSON.stringify(s);
}

export function formatLine(level: LogLevel, msg: string, fields: Fields = {}): string {
  const kv = Object.entries(fields)
    .filter((e): e is [string, string | number | boolean] => e[1] !== undefined && e[1] !== '')
    .map(([k, v]) => `${k}=${formatValue(v)}`);
  return [`${level}: ${msg}`, ...kv].join(' ');
}

export function createLogger(level: LogLevel = 'info', write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  let min = PRIORITY[level];
  const journal = stderrIsJournal();
  const emit = (lvl: LogLevel) => (msg: string, fields?: Fields): void => {
    if (PRIORITY[lvl] > min) return;
    write(`${journal ? `<${PRIORITY[lvl]}>` : ''}${formatLine(lvl, msg, fields)}\n`);
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
