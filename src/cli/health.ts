/**
 * `wsnic health`: whether the relay answers on its ws:// port, for Docker's HEALTHCHECK. A plain
 * HTTP request gets the relay's 426 (Upgrade Required): exit 0; anything else, or no answer
 * within 3 s: exit 1. One line on stdout either way (Docker keeps it in the health log).
 */
import { request } from 'node:http';
import type { Config } from '../config/schema';
import { hostPort } from '../config/values';

const TIMEOUT_MS = 3000;

/** Where to ask: the listening address, or loopback when it listens on every address. */
export function probeHost(address: string): string {
  if (address === '0.0.0.0') return '127.0.0.1';
  if (address === '::') return '::1';
  return address;
}

export function health(c: Config): Promise<number> {
  const host = probeHost(c.ws_address);
  const url = `http://${hostPort(host, c.ws_port)}/`;
  return new Promise((resolve) => {
    const done = (ok: boolean, what: string): void => {
      process.stdout.write(`${ok ? 'healthy' : 'unhealthy'}: ${url} ${what}\n`);
      resolve(ok ? 0 : 1);
    };
    const req = request(url, { timeout: TIMEOUT_MS }, (res) => {
      res.resume();
      done(res.statusCode === 426, `answered ${res.statusCode}`);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${TIMEOUT_MS / 1000} s`)));
    req.on('error', (err) => done(false, err.message));
    req.end();
  });
}
