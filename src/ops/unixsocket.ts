/**
 * A Unix socket path for a listener of ours (the control socket, the metrics endpoint): a socket
 * left by a relay that is gone is replaced; one that answers, or anything that is not a socket,
 * is refused, never removed.
 */
import { lstatSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';

/**
 * Whether something listens on the socket path: only a refused connection (ECONNREFUSED) says
 * nobody does; a live relay whose backlog is full (EAGAIN) or one we may not reach (EACCES) is
 * not ours to remove. Resolves with the error code then.
 */
function probe(path: string): Promise<'live' | 'stale' | 'gone' | string> {
  return new Promise((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => {
      c.destroy();
      resolve('live');
    });
    c.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' ? 'stale' : err.code === 'ENOENT' ? 'gone' : err.code ?? err.message));
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
  const found = await probe(path);
  if (found === 'gone') return;
  if (found === 'live') throw new Error(`${what} ${path} is in use by another process`);
  if (found !== 'stale') throw new Error(`${what} ${path} cannot be checked (${found}): not removed`);
  rmSync(path, { force: true });
}
