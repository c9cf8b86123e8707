/**
 * The `leased` set of `table bridge wsnic` (ifname . ether_addr . ipv4_addr, one element per
 * leased client), checked against the links that exist: an element naming a TAP that is gone is
 * a stale one, left by a relay that did not clean up after a client (or after itself).
 */
import { Topology } from './topology';

/** One element of a set in `nft -j` output: a bare value, or {elem: {val, timeout, ...}}. */
type Elem = { concat?: unknown[] } | { elem: { val: { concat?: unknown[] } } } | string;

/**
 * TAP names in the server namespace's `leased` set whose link does not exist; [] when the
 * set (or the table) is not there. JSON, not the text listing: elements with timeouts or
 * comments print differently there, the same here.
 */
export function staleLeasedTaps(topo: Topology, ns: string): string[] {
  const links = new Set(topo.exec(ns, 'ip', ['-o', 'link', 'show']).stdout.split('\n').map((l) => /^\d+: ([^:@\s]+)/.exec(l)?.[1]).filter(Boolean));
  return leasedElements(topo, ns).map(([tap]) => tap!).filter((tap) => !links.has(tap));
}

/** The set's elements as [tap, MAC, address], sorted; [] when the set is not there. */
export function leasedElements(topo: Topology, ns: string): string[][] {
  const r = topo.exec(ns, 'nft', ['-j', 'list', 'ruleset']);
  if (r.code !== 0) throw new Error(`nft -j list ruleset in ${ns} failed: ${r.stderr}`);
  const items = (JSON.parse(r.stdout) as { nftables: { set?: { family: string; table: string; name: string; elem?: Elem[] } }[] }).nftables;
  const set = items.find((i) => i.set?.family === 'bridge' && i.set.table === 'wsnic' && i.set.name === 'leased')?.set;
  if (!set) return [];
  return (set.elem ?? []).map((e) => {
    const value = typeof e === 'object' && 'elem' in e ? e.elem.val : e;
    return typeof value === 'object' && Array.isArray(value.concat) ? value.concat.map(String) : [String(value)];
  }).sort();
}
