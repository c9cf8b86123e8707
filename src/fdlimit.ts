/**
 * The open-file limit, read once for every use: how many clients fit (http/listeners.ts) and how
 * many sessions the next relay can take up after a restart (handover/restart.ts).
 */
import { readFileSync } from 'node:fs';

/**
 * The soft RLIMIT_NOFILE (/proc/self/limits's first column): the one open() fails against with
 * EMFILE, and the one the next relay gets from the unit again. The hard limit is only how far a
 * process may raise it, which wsnic does not. undefined: no bound known, whether the limit is
 * "unlimited" or the file cannot be read (no /proc): the callers then bound nothing.
 */
export function openFilesLimit(limits = '/proc/self/limits'): number | undefined {
  let text: string;
  try {
    text = readFileSync(limits, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^Max open files\s+(\d+)\s/m.exec(text);
  return m ? Number(m[1]) : undefined;
}
