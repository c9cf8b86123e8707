/**
 * Another unit's state from systemd over D-Bus: under systemd, dnsmasq is wsnic-dnsmasq.service's,
 * not the relay's child, and `wsnic status` and the metrics ask systemd whether it runs.
 */
import { performance } from 'node:perf_hooks';
import { propertiesOf, withSystemBus } from './bus';

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
    const prop = await propertiesOf(bus, call, SYSTEMD, path);
    return {
      active: String(await prop(`${SYSTEMD}.Unit`, 'ActiveState')),
      sub: String(await prop(`${SYSTEMD}.Unit`, 'SubState')),
      mainPid: Number(await prop(`${SYSTEMD}.Service`, 'MainPID')),
    };
  }, busPath);
}

export interface UnitAnswer {
  /** undefined: not known (systemd could not be asked, or did not answer in time). */
  up: boolean | undefined;
  text: string;
}

export interface UnitViewOptions {
  busPath?: string;
  /** How long one answer serves every status and scrape that asks (ms, monotonic). */
  freshMs?: number;
  /** How long a caller waits for systemd before it takes the last answer known (or "unknown"). */
  waitMs?: number;
  /** The question (tests pass their own); default unitState over the system bus. */
  query?: (unit: string) => Promise<UnitState>;
}

/**
 * A unit as `wsnic status` and the metrics see it, asked over D-Bus when asked but at most one
 * question at a time and one a second: whoever may scrape the metrics must not make the relay
 * open a bus connection per request. A caller waits waitMs at most (a hung systemd must not
 * hold a scrape past Prometheus' timeout), then gets the last answer known, or "unknown".
 */
export function unitView(unit: string, o: UnitViewOptions = {}): { state(): Promise<UnitAnswer> } {
  const freshMs = o.freshMs ?? 1000;
  const waitMs = o.waitMs ?? 500;
  const query = o.query ?? ((u: string) => unitState(u, o.busPath));
  let known: { answer: UnitAnswer; at: number } | undefined;
  let asking: Promise<UnitAnswer> | undefined;
  const ask = (): Promise<UnitAnswer> => {
    asking ??= query(unit).then(
      (s) => ({ up: unitUp(s), text: `${unit} ${describeUnit(s)}` }),
      (err: Error) => ({ up: undefined, text: `${unit}, state unknown: ${err.message}` }),
    ).then((answer) => {
      known = { answer, at: performance.now() };
      asking = undefined;
      return answer;
    });
    return asking;
  };
  return {
    state: () => {
      if (known !== undefined && performance.now() - known.at < freshMs) return Promise.resolve(known.answer);
      const answer = ask();
      return new Promise((resolve) => {
        const late = setTimeout(() => resolve(known?.answer ?? { up: undefined, text: `${unit}, state unknown: systemd did not answer in ${waitMs} ms` }), waitMs);
        void answer.then((a) => {
          clearTimeout(late);
          resolve(a);
        });
      });
    },
  };
}
