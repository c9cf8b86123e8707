/** What clients moved and dropped, summed over the relay's sessions (live and gone) since start. */
import type { Session } from './session';

export interface Totals {
  bytesIn: number;
  bytesOut: number;
  framesIn: number;
  framesOut: number;
  /** Frames dropped by reason, as in Session.status(). */
  drops: { spoofed: number; limitedIn: number; limitedOut: number; refused: number; stalls: number };
}

export function noTotals(): Totals {
  return { bytesIn: 0, bytesOut: 0, framesIn: 0, framesOut: 0, drops: { spoofed: 0, limitedIn: 0, limitedOut: 0, refused: 0, stalls: 0 } };
}

/** Adds a session's counters to t. */
export function addTotals(t: Totals, s: Session): void {
  const c = s.counts();
  t.bytesIn += c.bytesIn;
  t.bytesOut += c.bytesOut;
  t.framesIn += c.framesIn;
  t.framesOut += c.framesOut;
  t.drops.spoofed += c.spoofed;
  t.drops.limitedIn += c.limitedIn;
  t.drops.limitedOut += c.limitedOut;
  t.drops.refused += c.refused;
  t.drops.stalls += c.stalls;
}
