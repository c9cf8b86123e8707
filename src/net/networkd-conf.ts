/**
 * The systemd-networkd drop-in that keeps networkd away from wsnic's links: a .network file
 * that matches the bridge, its leaf bridges (and their veths) and the client TAPs by the names
 * configured (bridge, tap_prefix) and marks them Unmanaged=yes. Without it, a .network file of
 * the admin's that matches broadly (Name=*, Type=bridge) would have networkd configure them.
 * `wsnic setup` writes it into /run/systemd/network before it makes the bridge (a file of the
 * same name in /etc/systemd/network overrides it), `wsnic teardown` removes it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../log';
import { leafPrefix } from './leaves';
import { hasTool, run, ToolError } from './tool';

export const NETWORKD_DROPIN = '/run/systemd/network/00-wsnic.network';

/** The drop-in's text: names are checked by the config loader (A-Z a-z 0-9 _ . -, no globs). */
export function renderNetworkdConf(o: { bridge: string; tapPrefix: string }): string {
  return [
    '# Written by `wsnic setup` from wsnic.conf (bridge, tap_prefix), removed by `wsnic teardown`:',
    '# systemd-networkd leaves wsnic\'s bridge, its leaf bridges and the client TAPs alone.',
    '[Match]',
    `Name=${o.bridge} ${leafPrefix(o.bridge)}* ${o.tapPrefix}*`,
    '',
    '[Link]',
    'Unmanaged=yes',
    '',
  ].join('\n');
}

/**
 * Whether this host's networkd can see the links setup makes: systemd is the init, and we are in
 * its network namespace. Not so in a container without systemd, nor for a setup in a namespace
 * of its own (the e2e tests): those must not write the host's /run/systemd/network.
 */
function networkdSeesUs(): boolean {
  if (!existsSync('/run/systemd/system')) return false;
  try {
    return readlinkSync('/proc/self/ns/net') === readlinkSync('/proc/1/ns/net');
  } catch {
    return false; // /proc/1/ns is root's to read; a setup without root fails later anyway
  }
}

/**
 * Writes the drop-in (when networkd can see our links) and has a running networkd read it, so
 * that it is in force before the bridge exists. Unchanged text: nothing to reload.
 */
export function writeNetworkdDropin(o: { bridge: string; tapPrefix: string }, log: Logger): void {
  if (!networkdSeesUs()) return;
  const text = renderNetworkdConf(o);
  if (existsSync(NETWORKD_DROPIN) && readFileSync(NETWORKD_DROPIN, 'utf8') === text) return;
  mkdirSync(dirname(NETWORKD_DROPIN), { recursive: true, mode: 0o755 });
  writeFileSync(NETWORKD_DROPIN, text, { mode: 0o644 });
  // `networkctl reload` would start a networkd that is enabled but stopped (D-Bus activation).
  if (!hasTool('networkctl') || spawnSync('systemctl', ['is-active', '--quiet', 'systemd-networkd.service']).status !== 0) return;
  try {
    run('networkctl', ['reload']);
  } catch (err) {
    if (!(err instanceof ToolError)) throw err;
    log.warning('systemd-networkd did not reload; it may configure the bridge', { file: NETWORKD_DROPIN, reason: err.message });
  }
}

/** Removes the drop-in setup wrote; networkd keeps the match in memory, for links that are gone. */
export function removeNetworkdDropin(): void {
  if (networkdSeesUs()) rmSync(NETWORKD_DROPIN, { force: true });
}
