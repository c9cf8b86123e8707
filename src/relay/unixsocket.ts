/**
 * A Unix socket path for a listener of ours (the control socket, the metrics endpoint): a socket
 * left by a relay that is gone is replaced; one that answers, or anything that is not a socket,
 * is refused, never removed.
 */
import { lstatSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';

/** Whether something accepts connections on the socket path. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/** Frees `path` for listen(); throws why not, naming `what` and the path. */
export async function claimSocketPath(path: string, what: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new Error(`${what} ${path} exists and is not a socket: not removed`);
  if (await answers(path)) throw new Error(`${what} ${path} is in use by another process`);
  rmSync(path, { force: true });
}
