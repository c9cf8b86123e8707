/**
 * systemd-networkd over D-Bus (bus.ts): the operational and administrative state of the
 * bridge and the uplink. Without a bus or without networkd the answer is one reason, and nothing else changes.
 */
import type { Logger } from '../log';
import { SYSTEM_BUS, propertiesOf, withSystemBus } from './bus';

export interface LinkState {
  name: string;
  operational: string; // e.g. routable, carrier, no-carrier, off
  administrative: string; // unmanaged, configured, configuring, failed, ...
}

export type NetworkdReport = { available: false; reason: string } | { available: true; links: LinkState[] };

const BUS = 'org.freedesktop.network1';

export async function queryNetworkd(names: string[], busPath = SYSTEM_BUS): Promise<NetworkdReport> {
  try {
    return await withSystemBus(async (bus, call) => {
      const dbusObj = await call(bus.getProxyObject('org.freedesktop.DBus', '/org/freedesktop/DBus'), 'D-Bus');
      const owned = (await call(dbusObj.getInterface('org.freedesktop.DBus').NameHasOwner(BUS), 'NameHasOwner')) as boolean;
      if (!owned) return { available: false, reason: 'systemd-networkd is not running' };
      const manager = (await call(bus.getProxyObject(BUS, '/org/freedesktop/network1'), 'networkd')).getInterface(`${BUS}.Manager`);
      const links: LinkState[] = [];
      for (const name of names) {
        try {
          const [, path] = (await call(manager.GetLinkByName(name), `GetLinkByName ${name}`)) as [number, string];
          const prop = await propertiesOf(bus, call, BUS, path);
          const get = async (p: string): Promise<string> => String(await prop(`${BUS}.Link`, p));
          links.push({ name, operational: await get('OperationalState'), administrative: await get('AdministrativeState') });
        } catch (err) {
          links.push({ name, operational: 'unknown', administrative: `error: ${(err as Error).message}` });
        }
      }
      return { available: true, links };
    }, busPath);
  } catch (err) {
    const msg = (err as Error).message;
    return { available: false, reason: msg.startsWith('no system D-Bus') ? msg : `D-Bus: ${msg}` };
  }
}

/** What in a report is worth a warning: networkd managing our bridge, a link that is down. */
export function problems(report: NetworkdReport, bridge: string): string[] {
  if (!report.available) return [];
  const out: string[] = [];
  for (const l of report.links) {
    if (l.name === bridge && !['unmanaged', 'linger'].includes(l.administrative)) {
      out.push(`systemd-networkd manages ${bridge} (${l.administrative}); it may reconfigure it: mark it Unmanaged=yes`);
    }
    if (['off', 'no-carrier', 'unknown'].includes(l.operational)) out.push(`${l.name} is ${l.operational}`);
  }
  return out;
}

/** networkd's view of the links, once: logged, and the problems returned (they stay in STATUS). */
export async function reportNetworkd(names: string[], bridge: string, log: Logger): Promise<string[]> {
  const report = await queryNetworkd(names);
  if (!report.available) {
    log.info('systemd-networkd not consulted', { reason: report.reason });
    return [];
  }
  for (const l of report.links) log.info('networkd link state', { link: l.name, operational: l.operational, administrative: l.administrative });
  const found = problems(report, bridge);
  for (const w of found) log.warning(w);
  return found;
}
