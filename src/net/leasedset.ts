/**
 * The nftables set `bridge wsnic leased`: each client's TAP, MAC and the address dnsmasq leased
 * to that MAC. The bridge rules drop a client's ARP and IPv4 from anything else, so a client
 * cannot claim the gateway's or another client's address. The relay keeps the set: a client's
 * MAC comes from its first frame, its address from dnsmasq's lease file and, sooner, from the
 * DHCPOFFER and DHCPACK the relay carries to it (the file may be written after the ACK is on
 * its way, and the OFFER starts the nft update a round trip before the ACK arrives).
 *
 * The same knowledge keeps the map `inet wsnic fwd4` of port forwards: each forward whose guest
 * (its MAC) is connected and has an address points at that address, and a change (a new
 * address, TAP or connection) replaces the element in the same nft transaction as the set.
 */
import type { Logger } from '../log';
import { run, runAsync } from './tool';
import { BRIDGE_TABLE, LEASED_SET, TABLE } from './nftables';
import { forwardSpec, type Forward } from '../config/forward';
import { FORWARD_MAP, FORWARD_PORTS, forwardElement } from './forwardrules';

/** How long an OFFER or ACK seen on the wire counts without the lease file agreeing. */
export const ACK_GRACE_MS = 10_000;
/**
 * The whole set is rewritten this often: loading the ruleset again (`wsnic setup`, a restart of
 * wsnic-bridge) empties it behind our back, and a diff alone would never notice.
 */
export const REWRITE_MS = 30_000;
/** Retries after a failed nft run: 1 s, 2 s, 4 s, ... (timing.retryMs doubling) at most this. */
const RETRY_MAX_MS = 30_000;

interface Client {
  mac: string;
  acked?: { ip: string; until: number };
}

/** Applies nft commands; resolves with nft's stderr on failure, undefined on success. */
export type NftRunner = (script: string) => Promise<string | undefined>;

function nftRunner(): NftRunner {
  return (script) => runAsync('nft', ['-f', '-'], script).then(() => undefined, (err: Error) => err.message);
}

/** Time and timers, none of which keeps the process alive; a test passes a clock it moves by hand. */
export interface Clock {
  now(): number;
  /** Calls fn once, after ms; returns a function that cancels it. */
  after(ms: number, fn: () => void): () => void;
  /** Calls fn every ms; returns a function that stops it. */
  every(ms: number, fn: () => void): () => void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  after(ms, fn) {
    const timer = setTimeout(fn, ms).unref();
    return () => clearTimeout(timer);
  },
  every(ms, fn) {
    const timer = setInterval(fn, ms).unref();
    return () => clearInterval(timer);
  },
};

export function element(tap: string, mac: string, ip: string): string {
  return `${JSON.stringify(tap)} . ${mac} . ${ip}`;
}

export class LeasedSet {
  private readonly clients = new Map<string, Client>();
  private fileLeases = new Map<string, string>();
  /** tap -> element as loaded in the kernel. */
  private applied = new Map<string, string>();
  /** forward spec -> map element as loaded in the kernel. */
  private appliedFwd = new Map<string, string>();
  /** `proto . port` of each forward, as in the set fwdports in the kernel. */
  private appliedPorts = new Map<string, string>();
  /** Specs added at runtime (`wsnic forward add`): gone when the relay stops. */
  private readonly runtime = new Set<string>();
  private busy = false;
  private again = false;
  private resync = false;
  private disabled = false;
  private paused = false;
  private failures = 0;
  /** Cancels the pending retry; set while one is pending. */
  private retry: (() => void) | undefined;
  private readonly stopRewrite: () => void;
  private readonly target = `${BRIDGE_TABLE} ${LEASED_SET}`;
  private readonly map = `${TABLE} ${FORWARD_MAP}`;
  private readonly ports = `${TABLE} ${FORWARD_PORTS}`;
  private enforce: boolean;
  /** undefined: port forwards off (NAT off, or the ruleset has no map). */
  private forwards: Forward[] | undefined;
  private readonly reserved: (f: Forward) => string | undefined;

  constructor(
    private readonly log: Logger,
    private readonly nft: NftRunner = nftRunner(),
    private readonly timing = { rewriteMs: REWRITE_MS, retryMs: 1000 },
    private readonly clock: Clock = realClock,
    /** enforce: keep the set `leased` (bind_client_ip); forwards: keep the map (NAT on), or undefined;
        reserved: what a host port already is that no forward may take (config/forward.ts). */
    scope: { enforce: boolean; forwards: readonly Forward[] | undefined; reserved?: (f: Forward) => string | undefined } = { enforce: true, forwards: undefined },
  ) {
    this.enforce = scope.enforce;
    this.forwards = scope.forwards && [...scope.forwards];
    this.reserved = scope.reserved ?? ((): undefined => undefined);
    this.stopRewrite = clock.every(timing.rewriteMs, () => {
      this.resync = true;
      this.sync();
    });
  }

  /** Stops the timers (the set stays as it is). */
  stop(): void {
    this.stopRewrite();
    this.retry?.();
    this.disabled = true;
  }

  /**
   * Empties the set at start: elements a relay left when it was killed name TAPs that are gone
   * (and whose names the next clients get). Without the set (no `wsnic setup` yet, or an old
   * ruleset), client addresses are not enforced, and the log says so.
   */
  reset(deferred = false): void {
    if (this.forwards !== undefined) {
      // Probed in either case: nft runs with map lines against a ruleset without the map (an
      // upgraded relay, the bridge's ruleset not yet reloaded) would fail, leased set and all.
      try {
        run('nft', ['list', 'map', ...TABLE.split(' '), FORWARD_MAP]);
        this.resync = true; // the map and ports set as they should be; a runtime forward of the last relay is no longer one
      } catch (err) {
        this.forwards = undefined;
        this.log.warning('port forwards off: the nftables map is missing (run wsnic setup with enable_inet on)', { reason: (err as Error).message });
      }
    }
    if (deferred) {
      // Sessions taken over from the relay before a restart are in it: they are bound first
      // (pause/unpause), then one nft run empties it and adds them, with no moment between.
      this.resync = true;
      return;
    }
    if (this.enforce) {
      try {
        run('nft', ['flush', 'set', ...BRIDGE_TABLE.split(' '), LEASED_SET]);
      } catch (err) {
        this.enforce = false;
        this.log.warning('client addresses not enforced: the nftables set is missing (run wsnic setup)', { reason: (err as Error).message });
      }
    }
    if (!this.enforce && this.forwards === undefined) this.disabled = true;
    this.sync();
  }

  /** A forward from `wsnic forward add`; throws if forwards are off or its port is taken. */
  addForward(f: Forward): void {
    if (this.forwards === undefined || this.disabled) throw new Error('port forwards are off (they need enable_inet and the ruleset of wsnic setup)');
    const taken = this.forwards.find((g) => g.proto === f.proto && g.port === f.port);
    if (taken !== undefined) throw new Error(`${f.proto} port ${f.port} is forwarded already (${forwardSpec(taken)})`);
    const what = this.reserved(f);
    if (what !== undefined) throw new Error(`${f.proto} port ${f.port} is ${what}: forward another port`);
    this.forwards.push(f);
    this.runtime.add(forwardSpec(f));
    this.sync();
  }

  /** Removes a forward (configured or not) until the relay stops; false if there is none such. */
  removeForward(f: Forward): boolean {
    const i = this.forwards?.findIndex((g) => forwardSpec(g) === forwardSpec(f)) ?? -1;
    if (i < 0) return false;
    this.forwards!.splice(i, 1);
    this.runtime.delete(forwardSpec(f));
    this.sync();
    return true;
  }

  /** No nft run until unpause() (binding many clients at once: one run for all). */
  pause(): void {
    this.paused = true;
  }

  unpause(): void {
    this.paused = false;
    this.sync();
  }

  /** A client's first frame named its MAC. */
  bind(tap: string, mac: string): void {
    this.clients.set(tap, { mac });
    this.sync();
  }

  /** A DHCPOFFER or DHCPACK for this client's MAC passed to it. */
  acked(tap: string, mac: string, ip: string): void {
    const c = this.clients.get(tap);
    if (c === undefined || c.mac !== mac) return;
    c.acked = { ip, until: this.clock.now() + ACK_GRACE_MS };
    // Once the grace ends the lease file decides (a later release or expiry removes it).
    this.clock.after(ACK_GRACE_MS + 100, () => this.sync());
    this.sync();
  }

  /**
   * Each forward's spec and where it points ('guest absent': nowhere), for `wsnic status`: what
   * the kernel's map holds or is about to (an nft run, milliseconds, behind).
   */
  forwardState(): Record<string, string> {
    const want = this.desiredForwards();
    return Object.fromEntries((this.forwards ?? []).map((f) => {
      const el = want.get(forwardSpec(f));
      const where = el === undefined ? '(guest absent)' : `-> ${el.split(' : ')[1]!.replace(' . ', ':')}`;
      return [forwardSpec(f), this.runtime.has(forwardSpec(f)) ? `${where} (runtime)` : where];
    }));
  }

  /** The client left. */
  unbind(tap: string): void {
    if (this.clients.delete(tap)) this.sync();
  }

  /** dnsmasq's lease file changed. */
  leases(byMac: Map<string, string>): void {
    this.fileLeases = byMac;
    this.sync();
  }

  /** What the set should hold: a fresh OFFER/ACK first, then the lease file. */
  private desired(): Map<string, string> {
    const now = this.clock.now();
    const want = new Map<string, string>();
    if (!this.enforce) return want;
    for (const [tap, c] of this.clients) {
      const ip = c.acked && c.acked.until > now ? c.acked.ip : this.fileLeases.get(c.mac);
      if (ip !== undefined) want.set(tap, element(tap, c.mac, ip));
    }
    return want;
  }

  /** What the forward map should hold: each forward whose guest is here with an address. */
  private desiredForwards(): Map<string, string> {
    const now = this.clock.now();
    const ipOf = new Map<string, string>();
    for (const c of this.clients.values()) {
      const ip = c.acked && c.acked.until > now ? c.acked.ip : this.fileLeases.get(c.mac);
      if (ip !== undefined && !ipOf.has(c.mac)) ipOf.set(c.mac, ip);
    }
    const want = new Map<string, string>();
    for (const f of this.forwards ?? []) {
      const ip = ipOf.get(f.mac);
      if (ip !== undefined) want.set(forwardSpec(f), forwardElement(f, ip));
    }
    return want;
  }

  /** The nft lines that bring `applied` to `want` (the whole of `want` on a resync). */
  private diff(target: string, kind: 'set' | 'map', applied: Map<string, string>, want: Map<string, string>): string[] {
    const key = (el: string): string => (kind === 'map' ? el.split(' : ')[0]! : el);
    const lines: string[] = [];
    if (this.resync) lines.push(`flush ${kind} ${target}`);
    for (const [k, el] of applied) if (!this.resync && want.get(k) !== el) lines.push(`delete element ${target} { ${key(el)} }`);
    for (const [k, el] of want) if (this.resync || applied.get(k) !== el) lines.push(`add element ${target} { ${el} }`);
    return lines;
  }

  /** Brings the kernel's set to desired(), one nft at a time; changes meanwhile go in the next. */
  private sync(): void {
    if (this.disabled || this.paused) return;
    if (this.busy || this.retry !== undefined) {
      this.again = true;
      return;
    }
    const want = this.desired();
    const wantFwd = this.desiredForwards();
    const wantPorts = new Map((this.forwards ?? []).map((f) => [forwardSpec(f), `${f.proto} . ${f.port}`]));
    const lines = [
      ...(this.enforce ? this.diff(this.target, 'set', this.applied, want) : []),
      ...(this.forwards !== undefined ? this.diff(this.map, 'map', this.appliedFwd, wantFwd) : []),
      ...(this.forwards !== undefined ? this.diff(this.ports, 'set', this.appliedPorts, wantPorts) : []),
    ];
    if (lines.length === 0) return;
    this.busy = true;
    void this.nft(`${lines.join('\n')}\n`).then((err) => {
      this.busy = false;
      if (err === undefined) {
        this.applied = want;
        this.appliedFwd = wantFwd;
        this.appliedPorts = wantPorts;
        this.resync = false;
        if (this.failures > 0) this.log.info('client address set updated again', { after_failures: this.failures });
        this.failures = 0;
      } else {
        // Out of step with the kernel (the ruleset reloaded, nft killed, no fds): start over
        // from empty, after a pause. Meanwhile the kernel keeps what it had.
        if (this.failures++ === 0) this.log.warning('client address set update failed, retrying', { reason: err.split('\n')[0] });
        this.applied = new Map();
        this.appliedFwd = new Map();
        this.appliedPorts = new Map();
        this.resync = true;
        this.again = true;
        this.retry = this.clock.after(Math.min(RETRY_MAX_MS, this.timing.retryMs * 2 ** (this.failures - 1)), () => {
          this.retry = undefined;
          this.sync();
        });
        return;
      }
      if (this.again) {
        this.again = false;
        this.sync();
      }
    });
  }

}
