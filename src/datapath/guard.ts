/**
 * The guard: one per client, it judges every frame the client sends ("up", towards the bridge)
 * and every frame sent to it ("down"). The pump asks and obeys; it moves frames, the guard
 * decides which may move. Pure: no socket, no TAP, no timer; the rate limits read an injected
 * clock. A small interface on purpose (judgeUp, judgeDown, state, counters, two events), as
 * it is also where the data path can move into native code.
 *
 *   unbound --first frame from the client--> bound (its source MAC is the client's MAC)
 *
 * Up: an Ethernet header at least; from the bound MAC only; a DHCP request must name the bound
 * MAC as its client (else dnsmasq would offer or release another client's address); within the
 * upload limit. Down: within the download limit; an OFFER or ACK from the DHCP server is told
 * (dhcpAck) so the bridge allows the address before the client uses it. A DHCP server inside a
 * client, spoofed addresses and foreign ethertypes are the bridge's rules (nftables), not here.
 */
import type { RateLimit } from './ratelimit';
import { dhcpAck, dhcpRequestChaddr } from './dhcp';

/** Smallest frame: an Ethernet header. */
export const MIN_FRAME = 14;

/** What the guard makes of one frame: pass, or drop for a named reason. */
export const Verdict = {
  pass: 0,
  /** Shorter than an Ethernet header: not Ethernet, the client is closed (1007). */
  runt: 1,
  /** From a source MAC other than the bound one (counted: spoofed). */
  otherMac: 2,
  /** A DHCP request naming another client's MAC (counted: spoofed). */
  dhcpOtherMac: 3,
  /** Over the client's rate limit (counted: limitedIn up, limitedOut down). */
  limited: 4,
} as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

export type GuardState = 'unbound' | 'bound';

/** What a guard checks besides the MAC; each absent rule checks nothing. */
export interface GuardRules {
  /** Client -> network. */
  up?: RateLimit | undefined;
  /** Network -> client. */
  down?: RateLimit | undefined;
  /** The DHCP server's address (the gateway, as a 32-bit number): its OFFERs and ACKs are told. */
  dhcpServer?: number | undefined;
}

export interface GuardEvents {
  /** The client's MAC, from its first frame (its owner may close the client here). */
  bound(mac: string): void;
  /** An OFFER or ACK from the DHCP server granting `ip` to `mac`, on its way to the client. */
  dhcpAck?(mac: string, ip: string): void;
  /** The first frame dropped over a rate limit, each way (to log it once, not per frame). */
  limited?(direction: 'up' | 'down'): void;
}

/** The frames a guard dropped, by counter. */
export interface GuardCounters {
  /** From a source MAC other than the client's, or DHCP requests naming another MAC. */
  spoofed: number;
  /** From the client, over its rate limit ("up"). */
  limitedIn: number;
  /** To the client, over its rate limit ("down"). */
  limitedOut: number;
}

/** What the pump asks of a guard. */
export interface Judge {
  judgeUp(frame: Buffer): Verdict;
  /** `now`: the clock, read once per batch by now(). */
  judgeDown(frame: Buffer, now: number | undefined): Verdict;
  now(): number | undefined;
}

/** "02:aa:bb:cc:dd:ee" from the six bytes at `offset`. */
export function formatMac(frame: Buffer, offset: number): string {
  return [...frame.subarray(offset, offset + 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export class Guard implements Judge {
  state: GuardState = 'unbound';
  mac: string | undefined;
  readonly counters: GuardCounters = { spoofed: 0, limitedIn: 0, limitedOut: 0 };
  /** The bound MAC's six bytes, compared with each frame's source in place. */
  private boundMac: Buffer | undefined;
  private readonly up: RateLimit | undefined;
  private readonly down: RateLimit | undefined;
  private readonly dhcpServer: number | undefined;

  constructor(rules: GuardRules, private readonly events: GuardEvents) {
    this.up = rules.up;
    this.down = rules.down;
    this.dhcpServer = rules.dhcpServer;
  }

  /** A frame from the client: pass, or why it must not reach the bridge (counted). */
  judgeUp(frame: Buffer): Verdict {
    if (frame.length < MIN_FRAME) return Verdict.runt;
    const mac = this.boundMac;
    if (mac === undefined) {
      this.bind(frame);
    } else if (frame.compare(mac, 0, 6, 6, 12) !== 0) {
      this.counters.spoofed++; // one MAC per client: a guest does not change MAC mid-connection
      return Verdict.otherMac;
    }
    if (frame[23] === 17) {
      // UDP over IPv4 (or chance): a DHCP request for another MAC is refused.
      const chaddr = dhcpRequestChaddr(frame);
      if (chaddr !== undefined && chaddr.compare(this.boundMac!) !== 0) {
        this.counters.spoofed++;
        return Verdict.dhcpOtherMac;
      }
    }
    if (this.up !== undefined && !this.up.allow(frame.length)) {
      if (this.counters.limitedIn++ === 0) this.events.limited?.('up');
      return Verdict.limited;
    }
    return Verdict.pass;
  }

  /** A frame to the client: pass, or limited (counted). */
  judgeDown(frame: Buffer, now: number | undefined): Verdict {
    if (this.down !== undefined && !this.down.allow(frame.length, now)) {
      if (this.counters.limitedOut++ === 0) this.events.limited?.('down');
      return Verdict.limited;
    }
    if (frame[23] === 17 && this.dhcpServer !== undefined && this.events.dhcpAck !== undefined) {
      const ack = dhcpAck(frame, this.dhcpServer);
      if (ack) this.events.dhcpAck(ack.mac, ack.ip);
    }
    return Verdict.pass;
  }

  /** The download limit's clock, for a batch of judgeDown; undefined without a limit. */
  now(): number | undefined {
    return this.down?.now();
  }

  private bind(frame: Buffer): void {
    this.boundMac = Buffer.from(frame.subarray(6, 12));
    this.mac = formatMac(frame, 6);
    this.state = 'bound';
    this.events.bound(this.mac);
  }
}

/**
 * The client side's judge (`wsnic connect`): frames from every host on the bridge come down its
 * socket, so it binds no MAC and limits nothing; only a frame that is not Ethernet is refused.
 */
export const UNGUARDED: Judge = {
  judgeUp: (frame) => (frame.length < MIN_FRAME ? Verdict.runt : Verdict.pass),
  judgeDown: () => Verdict.pass,
  now: () => undefined,
};
