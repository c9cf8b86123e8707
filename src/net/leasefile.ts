/**
 * dnsmasq's lease file, read to learn which address each client's MAC got (for logs and the
 * journal's IP field). Format: "expiry mac ip hostname clientid" per line.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { isIPv4 } from 'node:net';

interface Lease {
  mac: string;
  ip: string;
  /** undefined: the client gave none ("*" in the file). */
  hostname: string | undefined;
}

/** The file's valid lines, MACs in lower case. Pure. */
function leaseLines(text: string): Lease[] {
  const out: Lease[] = [];
  for (const line of text.split('\n')) {
    const [, mac, ip, hostname] = line.trim().split(/\s+/);
    if (mac && ip && isIPv4(ip) && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) {
      out.push({ mac: mac.toLowerCase(), ip, hostname: hostname && hostname !== '*' ? hostname : undefined });
    }
  }
  return out;
}

export function parseLeases(text: string): Map<string, string> {
  return new Map(leaseLines(text).map((l) => [l.mac, l.ip]));
}

/** Calls onChange with the current leases whenever the file changes (stat polled every 2 s). */
export function watchLeases(file: string, onChange: (byMac: Map<string, string>) => void): () => void {
  const read = (): void => {
    try {
      onChange(parseLeases(readFileSync(file, 'utf8')));
    } catch {
      /* not there yet, or unreadable: no IPs in the logs */
    }
  };
  watchFile(file, { interval: 2000, persistent: false }, read);
  read();
  return () => unwatchFile(file, read);
}

/** How many leases the file holds now (0 when it cannot be read). */
export function countLeases(file: string): number {
  try {
    return parseLeases(readFileSync(file, 'utf8')).size;
  } catch {
    return 0;
  }
}

/** The hostname each MAC's client gave dnsmasq, for `wsnic status`. */
export function leaseHostnames(file: string): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return new Map(); // no file: no names
  }
  return new Map(leaseLines(text).flatMap((l) => (l.hostname === undefined ? [] : [[l.mac, l.hostname] as [string, string]])));
}
