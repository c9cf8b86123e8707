/**
 * journald's native protocol: one datagram per entry to /run/systemd/journal/socket, with real
 * priorities and structured fields (CLIENT_ADDRESS, TAP, MAC, IP, ...), so that
 * `journalctl -u wsnic CLIENT_ADDRESS=1.2.3.4` and `-o json` work. Pure encoder, thin sender.
 */
import { existsSync, fstatSync } from 'node:fs';
import { native } from '../native';

export const JOURNAL_SOCKET = '/run/systemd/journal/socket';

/** Encodes one entry; values with a newline use the binary form (name, LE64 length, bytes). */
export function encodeEntry(fields: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of Object.entries(fields)) {
    if (!value.includes('\n')) {
      parts.push(Buffer.from(`${key}=${value}\n`));
      continue;
    }
    const v = Buffer.from(value);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(v.length));
    parts.push(Buffer.from(`${key}\n`), len, v, Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

/** A field name journald accepts: A-Z, 0-9, _, not starting with _ or a digit. */
export function fieldName(key: string): string {
  return key.toUpperCase().replace(/[^A-Z0-9_]/g, '_').replace(/^[_0-9]+/, '');
}

/** True when stderr is connected to the journal (systemd sets JOURNAL_STREAM to its dev:inode). */
export function stderrIsJournal(env: NodeJS.ProcessEnv = process.env): boolean {
  const stream = env.JOURNAL_STREAM;
  if (!stream) return false;
  try {
    const st = fstatSync(2);
    return stream === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

export function journalAvailable(): boolean {
  return existsSync(JOURNAL_SOCKET);
}

export function sendEntry(fields: Record<string, string>): void {
  native().sendDatagram(JOURNAL_SOCKET, encodeEntry(fields));
}
