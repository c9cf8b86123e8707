/**
 * The control socket: a local Unix socket (mode 0660, group wsnic) for `wsnic status`,
 * `wsnic disconnect` and `wsnic forward`, never TCP. One JSON request per connection, at most MAX_REQUEST bytes:
 *   {"cmd":"status"}                      the relay, then every client
 *   {"cmd":"status","match":"ID|IP|MAC|TAP"}
 *   {"cmd":"disconnect","match":"...","reason":"...","by":"root (uid 0)"}
 *   {"cmd":"forward","op":"list|add|remove","spec":"tcp:2222>MAC:22"}
 * The answer is JSON lines: {"relay":{...}}, {"client":{...}} each, {"end":{...}}; for forward
 * one {"forwards":{SPEC: where it points}}; or {"error":"..."}. Clients are written a batch at a time, yielding to the event loop in between
 * and waiting for the socket to drain, so 10,000 of them do not stall anyone's frames.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from '../log';
import type { Relay } from '../relay/registry';
import { FORWARD_SYNTAX, forwardSpec, parseForward, type Forward } from '../config/forward';
import { claimSocketPath } from './unixsocket';
import { CLOSE, type ClientStatus } from '../relay/session';

export const MAX_REQUEST = 4096;
const BATCH = 200;

/** What the relay says of itself (besides its clients), from serve's wiring. */
export type RelayStatus = Record<string, unknown>;

/** The relay's port forwards (net/leasedset.ts keeps them). */
export interface ForwardControl {
  forwardState(): Record<string, string>;
  addForward(f: Forward): void;
  removeForward(f: Forward): boolean;
}

export type Request =
  | { cmd: 'status'; match?: string }
  | { cmd: 'forward'; op: 'list' }
  | { cmd: 'forward'; op: 'add' | 'remove'; spec: Forward }
  | { cmd: 'disconnect'; match: string; reason?: string; by?: string };

/** A request line checked field by field; throws an Error saying what is wrong. Pure. */
export function parseRequest(line: string): Request {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new Error('not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
  const r = v as Record<string, unknown>;
  const str = (k: string, max: number): string | undefined => {
    if (r[k] === undefined) return undefined;
    if (typeof r[k] !== 'string' || (r[k] as string).length > max) throw new Error(`${k} must be a string of at most ${max} characters`);
    return r[k] as string;
  };
  const match = str('match', 64);
  if (r.cmd === 'status') return match === undefined ? { cmd: 'status' } : { cmd: 'status', match };
  if (r.cmd === 'disconnect') {
    if (match === undefined || match === '') throw new Error('disconnect needs match (an id, IP, MAC or TAP)');
    const reason = str('reason', 120);
    const by = str('by', 64);
    return { cmd: 'disconnect', match, ...(reason !== undefined ? { reason } : {}), ...(by !== undefined ? { by } : {}) };
  }
  if (r.cmd === 'forward') {
    if (r.op === 'list') return { cmd: 'forward', op: 'list' };
    if (r.op !== 'add' && r.op !== 'remove') throw new Error('forward needs op: list, add or remove');
    const spec = parseForward(str('spec', 64) ?? '');
    if (spec === undefined) throw new Error(`forward ${r.op} needs spec: ${FORWARD_SYNTAX}`);
    return { cmd: 'forward', op: r.op, spec };
  }
  throw new Error(`unknown cmd ${JSON.stringify(r.cmd)} (status, disconnect, forward)`);
}

/** The gid of group `name` from /etc/group, if there is one. */
function groupId(name: string): number | undefined {
  try {
    const line = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
    const gid = Number(line?.split(':')[2]);
    return Number.isInteger(gid) ? gid : undefined;
  } catch {
    return undefined;
  }
}

/** Resolves when the socket has room again, or is gone (a reader that left must not hold the answer). */
function drained(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done).off('close', done);
      resolve();
    };
    socket.on('drain', done).on('close', done);
  });
}

export class ControlServer {
  private readonly server: Server;

  private constructor(
    private readonly path: string,
    private readonly relay: Relay,
    private readonly describe: () => Promise<RelayStatus>,
    /** Each MAC's hostname from the lease file, read once per request. */
    private readonly hostnames: () => Map<string, string>,
    private readonly forwards: ForwardControl | undefined,
    private readonly log: Logger,
  ) {
    this.server = createServer((socket) => this.serve(socket));
  }

  /** Listens on `path` (its directory made 0750 if missing; a stale socket replaced, a live one left). */
  static async start(path: string, relay: Relay, describe: () => Promise<RelayStatus>, hostnames: () => Map<string, string>,
    forwards: ForwardControl | undefined, log: Logger): Promise<ControlServer> {
    const dir = dirname(path);
    const made = !existsSync(dir);
    if (made) mkdirSync(dir, { recursive: true, mode: 0o750 });
    await claimSocketPath(path, 'control socket');
    const c = new ControlServer(path, relay, describe, hostnames, forwards, log);
    await new Promise<void>((resolve, reject) => c.server.once('error', reject).listen(path, () => resolve()));
    try {
      chmodSync(path, 0o660);
    } catch (err) {
      c.stop(); // not left listening: a listening server would keep the process from exiting
      throw err;
    }
    const gid = groupId('wsnic');
    if (gid !== undefined && process.getuid?.() === 0) {
      try {
        chownSync(path, 0, gid); // root and the wsnic group
        if (made) chownSync(dir, 0, gid); // a directory of someone else's stays as it is
      } catch (err) {
        // (a container without CAP_CHOWN): root's alone, which is stricter, not looser.
        log.warning('control socket left to root alone', { path, reason: (err as Error).message });
      }
    }
    log.info('control socket', { path });
    return c;
  }

  stop(): void {
    this.server.close();
    rmSync(this.path, { force: true });
  }

  private serve(socket: Socket): void {
    let buf = '';
    socket.setEncoding('utf8');
    socket.on('error', () => socket.destroy());
    const fail = (message: string): void => {
      socket.end(`${JSON.stringify({ error: message })}\n`);
    };
    socket.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (buf.length > MAX_REQUEST && (nl < 0 || nl > MAX_REQUEST)) {
        buf = '';
        socket.removeAllListeners('data');
        fail(`request over ${MAX_REQUEST} bytes`);
        return;
      }
      if (nl < 0) return;
      socket.removeAllListeners('data');
      let req: Request;
      try {
        req = parseRequest(buf.slice(0, nl));
      } catch (err) {
        fail((err as Error).message);
        return;
      }
      void this.answer(req, socket).catch((err: Error) => fail(err.message));
    });
  }

  private async answer(req: Request, socket: Socket): Promise<void> {
    if (req.cmd === 'forward') {
      if (this.forwards === undefined) throw new Error('port forwards are off (they need enable_inet)');
      if (req.op === 'add') this.forwards.addForward(req.spec);
      if (req.op === 'remove' && !this.forwards.removeForward(req.spec)) throw new Error(`no forward ${forwardSpec(req.spec)}`);
      if (req.op !== 'list') this.log.warning(`port forward ${req.op === 'add' ? 'added' : 'removed'} until the relay stops`, { forward: forwardSpec(req.spec) });
      socket.end(`${JSON.stringify({ forwards: this.forwards.forwardState() })}\n`);
      return;
    }
    if (req.cmd === 'disconnect') {
      const found = this.relay.find(req.match);
      const reason = req.reason ?? 'disconnected by the operator';
      for (const s of found) {
        this.log.warning('client disconnected by the operator', { ...s.fields(), mac: s.mac, by: req.by ?? 'unknown', reason });
        s.close(CLOSE.policy, reason);
      }
      socket.end(`${JSON.stringify({ disconnected: found.map((s) => s.client.id) })}\n`);
      return;
    }
    const relay = await this.describe(); // (may ask systemd: the clients are listed as they are after)
    const sessions = req.match === undefined ? [...this.relay.sessions] : this.relay.find(req.match);
    if (req.match !== undefined && sessions.length === 0) throw new Error(`no client matches ${req.match}`);
    socket.write(`${JSON.stringify({ relay })}\n`);
    const names = this.hostnames();
    for (let i = 0; i < sessions.length; i += BATCH) {
      // One write a batch: a write per line cost a syscall each, most of the relay's time here.
      let text = '';
      for (let j = i; j < Math.min(i + BATCH, sessions.length); j++) {
        const status: ClientStatus = sessions[j]!.status();
        const hostname = status.mac === undefined ? undefined : names.get(status.mac);
        text += `${JSON.stringify({ client: hostname === undefined ? status : { ...status, hostname } })}\n`;
      }
      if (!socket.write(text)) await drained(socket);
      else await new Promise((r) => setImmediate(r)); // frames of other clients in between
      if (socket.destroyed) return;
    }
    socket.end(`${JSON.stringify({ end: { clients: sessions.length } })}\n`);
  }
}
