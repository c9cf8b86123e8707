/**
 * Another unit's state from systemd over D-Bus: under systemd, dnsmasq is wsnic-dnsmasq.service's,
 * not the relay's child, and `wsnic status` and the metrics ask systemd whether it runs.
 */
import { getProperty, withSystemBus } from './bus';

const SYSTEMD = 'org.freedesktop.systemd1';

export interface UnitState {
  /** ActiveState: active, reloading, inactive, failed, activating, deactivating. */
  active: string;
  /** SubState: running, dead, exited, ... */
  sub: string;
  /** The service's main process, 0 when none. */
  mainPid: number;
}

/** Whether a unit in this state is doing its work. Pure. */
export function unitUp(s: UnitState): boolean {
  return s.active === 'active' || s.active === 'reloading';
}

/** As `systemctl status` says it: "active (running), pid 4711". Pure. */
export function describeUnit(s: UnitState): string {
  return `${s.active} (${s.sub})${s.mainPid > 0 ? `, pid ${s.mainPid}` : ''}`;
}

/** A service unit's state; a unit systemd has not loaded is "inactive (dead)", as systemctl says. */
export async function unitState(unit: string, busPath?: string): Promise<UnitState> {
  return withSystemBus(async (bus, call) => {
    const manager = (await call(bus.getProxyObject(SYSTEMD, '/org/freedesktop/systemd1'), 'systemd')).getInterface(`${SYSTEMD}.Manager`);
    let path: string;
    try {
      // GetUnit, not LoadUnit: asking must not load anything.
      path = (await call(manager.GetUnit(unit), `GetUnit ${unit}`)) as string;
    } catch (err) {
      if ((err as { type?: string }).type === `${SYSTEMD}.NoSuchUnit`) return { active: 'inactive', sub: 'dead', mainPid: 0 };
      throw err;
    }
    const prop = (iface: string, name: string): Promise<unknown> => getProperty(bus, call, SYSTEMD, path, `${SYSTEMD}.${iface}`, name);
    return {
      active: String(await prop('Unit', 'ActiveState')),
      sub: String(await prop('Unit', 'SubState')),
      mainPid: Number(await prop('Service', 'MainPID')),
    };
  }, busPath);
}

/** A unit as `wsnic status` and the metrics see it: asked each time (a status, a scrape). */
export function unitView(unit: string, busPath?: string): { state(): Promise<{ up: boolean | undefined; text: string }> } {
  return {
    state: () => unitState(unit, busPath).then(
      (s) => ({ up: unitUp(s), text: `${unit} ${describeUnit(s)}` }),
      (err: Error) => ({ up: undefined, text: `${unit}, state unknown: ${err.message}` }),
    ),
  };
}
