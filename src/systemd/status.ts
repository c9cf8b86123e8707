/**
 * What `systemctl status` shows for the relay (sd_notify STATUS=): "3 clients, 1.2 MB/s in,
 * 0.9 MB/s out", rates over the last 5 s, the count always current, and standing problems
 * (networkd's view of the links) after a semicolon.
 */
import type { Notifier } from './notify';

const EVERY_MS = 5000;

/** What the relay counts: clients now, bytes since it started. */
export interface Counts {
  clients: number;
  bytesIn: number;
  bytesOut: number;
}

export function formatRate(bytes: number, ms: number): string {
  const perSec = (bytes * 1000) / ms;
  if (perSec >= 1e6) return `${(perSec / 1e6).toFixed(1)} MB/s`;
  if (perSec >= 1e3) return `${(perSec / 1e3).toFixed(1)} kB/s`;
  return `${Math.round(perSec)} B/s`;
}

export class StatusReporter {
  private last: Counts & { at: number };
  private rates = '0 B/s in, 0 B/s out';
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly notifier: Notifier, private readonly counts: () => Counts, private readonly problems: string[]) {
    this.last = { at: Date.now(), ...counts() };
  }

  text(): string {
    const n = this.counts().clients;
    const text = `${n} client${n === 1 ? '' : 's'}, ${this.rates}`;
    return this.problems.length > 0 ? `${text}; ${this.problems.join('; ')}` : text;
  }

  /** READY=1 with the first STATUS, then a STATUS every 5 s. */
  start(): void {
    this.notifier.ready(this.text());
    this.timer = setInterval(() => {
      const now = { at: Date.now(), ...this.counts() };
      const ms = Math.max(1, now.at - this.last.at);
      this.rates = `${formatRate(now.bytesIn - this.last.bytesIn, ms)} in, ${formatRate(now.bytesOut - this.last.bytesOut, ms)} out`;
      this.last = now;
      this.update();
    }, EVERY_MS);
    this.timer.unref();
  }

  /** A STATUS now (a client came or went: not at the next tick). */
  update(): void {
    this.notifier.status(this.text());
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
