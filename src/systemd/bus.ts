/**
 * The system D-Bus (dbus-next), for networkd's view of the links and systemd's own job on our
 * unit. Every call has a timeout: dbus-next can wait forever on a bad bus.
 */
import { existsSync } from 'node:fs';
import type { MessageBus } from 'dbus-next';
import { withTimeout } from '../deadline';

export const SYSTEM_BUS = '/run/dbus/system_bus_socket';
const TIMEOUT_MS = 2000;

/** Awaits p, or fails after the timeout (or when the bus fails), naming `what`. */
export type BusCall = <T>(p: Promise<T>, what: string) => Promise<T>;

/**
 * Runs fn with a connection to the system bus, closed after. Without a bus it throws
 * "no system D-Bus (... missing)"; a call that hangs throws after timeoutMs.
 */
export async function withSystemBus<T>(fn: (bus: MessageBus, call: BusCall) => Promise<T>, busPath = SYSTEM_BUS, timeoutMs = TIMEOUT_MS): Promise<T> {
  if (!existsSync(busPath)) throw new Error(`no system D-Bus (${busPath} missing)`);
  // Loaded only here: a relay without a bus never pays for it.
  const dbus = (await import('dbus-next')) as typeof import('dbus-next');
  const bus = dbus.systemBus();
  const failed = new Promise<never>((_, reject) => bus.on('error', (e: Error) => reject(e)));
  failed.catch(() => {}); // (only raced below)
  try {
    return await fn(bus, (p, what) => withTimeout(Promise.race([p, failed]), what, timeoutMs));
  } finally {
    bus.disconnect();
  }
}

/** Reads properties of one object of `service` (values unwrapped from their variants). */
export type Properties = (iface: string, name: string) => Promise<unknown>;

/** The properties of one object: introspected once, however many are read. */
export async function propertiesOf(bus: MessageBus, call: BusCall, service: string, path: string): Promise<Properties> {
  const props = (await call(bus.getProxyObject(service, path), path)).getInterface('org.freedesktop.DBus.Properties');
  return async (iface, name) => ((await call(props.Get(iface, name), name)) as { value: unknown }).value;
}

/** One property of an object of `service` (its value, unwrapped from the variant). */
export async function getProperty(bus: MessageBus, call: BusCall, service: string, path: string, iface: string, name: string): Promise<unknown> {
  return (await propertiesOf(bus, call, service, path))(iface, name);
}
