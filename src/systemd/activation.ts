/**
 * Socket activation without libsystemd: the listening sockets systemd passed us (fds 3..),
 * named by LISTEN_FDNAMES (`ws`, `wss`, `metrics`, and sessions handed over before a restart:
 * handover/fdstore.ts). Only when LISTEN_PID is ours; the variables are removed so that children
 * (dnsmasq) do not take them for theirs, and the fds made close-on-exec.
 */
import { native } from '../native';

export interface Inherited {
  name: string;
  fd: number;
}

export const SD_LISTEN_FDS_START = 3;

export function takeListenFds(env: NodeJS.ProcessEnv = process.env, pid: number = process.pid, cloexec = (fd: number) => native().setCloexec(fd)): Inherited[] {
  const count = Number(env.LISTEN_FDS ?? '0');
  const forUs = Number(env.LISTEN_PID) === pid;
  const names = (env.LISTEN_FDNAMES ?? '').split(':');
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
  if (!forUs || !Number.isInteger(count) || count <= 0) return [];
  const fds = Array.from({ length: count }, (_, i) => ({ name: names[i] || 'unknown', fd: SD_LISTEN_FDS_START + i }));
  // None may reach a child (the fork server, tools): a copy of a stored client's TAP or socket
  // there would keep the device or the connection after the relay closes it.
  for (const { fd } of fds) cloexec(fd);
  return fds;
}
