/**
 * The control socket's client side (ops/control.ts is the relay's): one JSON request, its answer
 * lines. `wsnic status` and `wsnic disconnect` use it.
 */
import { createConnection } from 'node:net';

/**
 * Sends one request and hands each answer line, as sent, to `onLine`; rejects with what went
 * wrong. Lines are not parsed here: `status --json` passes 10,000 of them on untouched.
 */
export function request(path: string, req: object, onLine: (text: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let buf = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(req)}\n`));
    socket.on('data', (chunk: string) => {
      buf += chunk;
      let at = 0;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n', at)) {
        const text = buf.slice(at, nl);
        at = nl + 1;
        // The relay's refusal, and only it, is {"error":...} (control.ts).
        if (text.startsWith('{"error":')) {
          socket.destroy();
          reject(new Error(String((JSON.parse(text) as { error: unknown }).error)));
          return;
        }
        onLine(text);
      }
      buf = buf.slice(at);
    });
    socket.on('end', () => resolve());
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EACCES' ? 'permission denied (root or the wsnic group only)'
        : err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? 'no relay is running there' : err.message;
      reject(new Error(`control socket ${path}: ${why}`));
    });
  });
}
