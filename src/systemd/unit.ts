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

/** How long one answer from systemd serves every status and scrape that asks. */
export const UNIT_STATE_FRESH_MS = 1000;

/**
 * A unit as `wsnic status` and the metrics see it. Asked over D-Bus when asked, but at most once
 * a second, callers meanwhile sharing the answer: whoever may scrape the metrics must not be able
 * to make the relay open a bus connection per request.
 */
export function unitView(unit: string, busPath?: string, freshMs = UNIT_STATE_FRESH_MS): { state(): Promise<{ up: boolean | undefined; text: string }> } {
  let last: { at: number; answer: Promise<{ up: boolean | undefined; text: string }> } | undefined;
  return {
    state: () => {
      const now = Date.now();
      if (last === undefined || now - last.at >= freshMs) {
        last = {
          at: now,
          answer: unitState(unit, busPath).then(
            (s) => ({ up: unitUp(s), text: `${unit} ${describeUnit(s)}` }),
            (err: Error) => ({ up: undefined, text: `${unit}, state unknown: ${err.message}` }),
          ),
        };
      }
      return last.answer;
    },
  };
}
