/**
 * Past ~1,000 clients: a Linux bridge takes at most 1,023 ports (the 1,024th enslave fails with
 * EXFULL), so when the main bridge holds `limit` client ports further TAPs go to leaf bridges
 * (BRIDGE-l1, BRIDGE-l2, ...), each joined to the main bridge by a veth pair. One L2 segment:
 * the same DHCP, DNS and NAT. Leaves are made on demand and removed when the relay stops (and
 * by `wsnic teardown`, after a crash).
 */
import type { Logger } from '../log';
import { ipJson, linkExists, run, runAsync } from './tool';
import { PORT_MTU } from './bridge';

/**
 * The interface group of leaf bridges. With br_netfilter loaded, frames a leaf forwards pass the
 * IP hooks too, with the leaf bridge as input device; conntrack would then settle a
 * connection's NAT (none) at the leaf, before it is routed out of the uplink. The ruleset does
 * not track what enters from this group (see nftables.ts). Measured: without it, TCP from a
 * leaf's client left the uplink unmasqueraded.
 */
export const LEAF_GROUP = 4213;

/** "wsbr0l": leaves are wsbr0l1, wsbr0l2, ... (room for the veths' "a"/"b" in 15 bytes). */
export const leafPrefix = (bridge: string): string => `${bridge.slice(0, 9)}l`;

export function leafNames(bridge: string, n: number): { leaf: string; up: string; down: string } {
  const base = `${leafPrefix(bridge)}${n}`;
  return { leaf: base, up: `${base}a`, down: `${base}b` };
}

/** Leaves of this bridge that exist now (made by an earlier relay, or this one). */
export function existingLeaves(bridge: string): string[] {
  const prefix = leafPrefix(bridge);
  return ipJson<{ ifname: string; linkinfo?: { info_kind?: string } }[]>(['-d', 'link', 'show', 'type', 'bridge'])
    .map((l) => l.ifname)
    .filter((n) => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length)));
}

/** Deletes a leaf bridge and its link to the main bridge. */
export function removeLeaf(leaf: string): void {
  if (linkExists(`${leaf}a`)) run('ip', ['link', 'del', 'dev', `${leaf}a`]);
  if (linkExists(leaf)) run('ip', ['link', 'del', 'dev', leaf]);
}

export class PortAllocator {
  /** Client ports per bridge: index 0 is the main bridge, n the leaf n. */
  private readonly used: number[] = [0];
  /** Leaves made (or being made) by this relay: none is looked up per client. */
  private readonly leaves = new Map<number, Promise<void>>();

  /** isolate: the leaf's link on the main bridge is isolated too, so that isolated clients on
   *  different bridges cannot reach each other through it (they still reach the gateway). */
  constructor(private readonly bridge: string, private readonly limit: number, private readonly log: Logger, private readonly isolate = false) {}

  /** Leaf bridges this relay has made (or is making) and not removed. */
  get leafCount(): number {
    return this.leaves.size;
  }

  /**
   * Removes leaves an earlier relay left (their TAPs died with it), but those in `keep` (the
   * bridges of sessions handed over across a restart: see claim). Before serving.
   */
  sweep(keep: ReadonlySet<string> = new Set()): void {
    for (const leaf of existingLeaves(this.bridge)) {
      if (keep.has(leaf)) continue;
      removeLeaf(leaf);
      this.log.info('stale leaf bridge removed', { bridge: leaf });
    }
  }

  /**
   * The bridge for the next client port, counted at once; it resolves when the bridge exists
   * (a leaf is made off the event loop the first time it is needed). release() it when the
   * port goes, and only then; a reservation that rejects has released itself.
   */
  reserve(): Promise<string> {
    let n = this.used.findIndex((count) => count < this.limit);
    if (n < 0) {
      n = this.used.length;
      this.used.push(0);
    }
    this.used[n]!++;
    if (n === 0) return Promise.resolve(this.bridge);
    const { leaf } = leafNames(this.bridge, n);
    let made = this.leaves.get(n);
    if (made === undefined) {
      made = this.makeLeaf(n);
      this.leaves.set(n, made);
      made.catch(() => this.leaves.delete(n)); // the next client tries again
    }
    return made.then(
      () => leaf,
      (err: Error) => {
        this.release(leaf);
        throw err;
      },
    );
  }

  /** A port in use already: a TAP handed over by the relay before a restart, on `bridge`. */
  claim(bridge: string): void {
    const n = bridge === this.bridge ? 0 : Number(bridge.slice(leafPrefix(this.bridge).length));
    if (!Number.isInteger(n) || n < 0 || (n > 0 && !bridge.startsWith(leafPrefix(this.bridge)))) return;
    while (this.used.length <= n) this.used.push(0);
    this.used[n]!++;
    if (n > 0 && !this.leaves.has(n)) this.leaves.set(n, Promise.resolve());
  }

  release(bridge: string): void {
    const n = bridge === this.bridge ? 0 : Number(bridge.slice(leafPrefix(this.bridge).length));
    if (this.used[n] !== undefined && this.used[n]! > 0) this.used[n]!--;
  }

  /**
   * Removes every leaf (the relay is stopping; its TAPs are gone); with keepUsed (a restart),
   * those that still have ports (TAPs handed over to the next relay) stay.
   */
  close(keepUsed = false): void {
    for (let n = 1; n < this.used.length; n++) if (!keepUsed || this.used[n] === 0) removeLeaf(leafNames(this.bridge, n).leaf);
    this.used.length = 1;
    this.leaves.clear();
  }

  /**
   * Off the event loop, in three `ip -batch` steps (each stops at its first error): the bridge,
   * the veth pair, the rest. A failed step removes what the earlier ones made, and only that: a
   * link of that name someone else made is left alone.
   */
  private async makeLeaf(n: number): Promise<void> {
    const { leaf, up, down } = leafNames(this.bridge, n);
    const ip = (lines: string[]): Promise<string> => runAsync('ip', ['-batch', '-'], `${lines.join('\n')}\n`);
    const undo = (devs: string[]): Promise<unknown> => runAsync('ip', ['-force', '-batch', '-'], devs.map((d) => `link del dev ${d}\n`).join('')).catch(() => {});
    const steps: [string[], string[]][] = [
      [[`link add name ${leaf} type bridge stp_state 0 forward_delay 0`], []],
      [[`link add name ${up} mtu ${PORT_MTU} type veth peer name ${down} mtu ${PORT_MTU}`], [leaf]],
      [[
        ...[leaf, up, down].map((dev) => `link set dev ${dev} addrgenmode none`),
        `link set dev ${leaf} group ${LEAF_GROUP}`,
        `link set dev ${up} master ${this.bridge} up`,
        ...(this.isolate ? [`link set dev ${up} type bridge_slave isolated on`] : []),
        `link set dev ${down} master ${leaf} up`,
        `link set dev ${leaf} up`,
      ], [up, leaf]],
    ];
    for (const [lines, made] of steps) {
      try {
        await ip(lines);
      } catch (err) {
        if (made.length > 0) await undo(made);
        this.log.error('cannot add a leaf bridge', { bridge: leaf, reason: (err as Error).message });
        throw err;
      }
    }
    this.log.info('leaf bridge added', { bridge: leaf, joined_to: this.bridge, ports_per_bridge: this.limit });
  }
}
