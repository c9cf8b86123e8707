/**
 * The HTTP side of the relay: the ws:// and wss:// servers, their TLS, where they listen (on
 * sockets systemd passed, or on their own), the handshake timer, the 426 page for plain HTTP and
 * the 400 for bad requests. What an upgrade becomes is the caller's (Relay.upgrade).
 */
import http from 'node:http';
import https from 'node:https';
import { closeSync, readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from '../log';
import { upgradeRequired } from './page';
import { atMost } from '../deadline';
import { openFilesLimit } from '../fdlimit';
import { hostPort } from '../config/values';

/** A PEM file's bytes, or an error naming the key and the file. */
function readPem(key: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    // `docker run -v HOSTFILE:...` mounts an empty directory when HOSTFILE does not exist.
    const why = (err as NodeJS.ErrnoException).code === 'EISDIR' ? 'is a directory, not a PEM file (was a file mounted that does not exist on the host?)' : (err as Error).message;
    throw new Error(`${key} ${file}: ${why}`);
  }
}

/** TLS options from the configured files; a clear error if they are missing or invalid. */
export function readTls(certFile: string, keyFile: string): SecureContextOptions {
  const cert = readPem('wss_certificate', certFile);
  const key = keyFile ? readPem('wss_private_key', keyFile) : cert;
  const opts = { cert, key };
  try {
    createSecureContext(opts);
  } catch (err) {
    const where = keyFile ? `wss_certificate ${certFile} with wss_private_key ${keyFile}` : `wss_certificate ${certFile} (no wss_private_key: the file must hold the key too)`;
    throw new Error(`${where}: not a usable certificate and key: ${(err as Error).message}`);
  }
  return opts;
}

/**
 * How many clients fit under the open-file limit: a socket and a TAP each, and some room for
 * the listening sockets, dnsmasq's pipes, D-Bus and the journal. 0: no limit known.
 */
export function clientCapacity(limits?: string): number {
  const most = openFilesLimit(limits);
  return most === undefined ? 0 : Math.max(1, Math.floor((most - 64) / 2));
}

const HANDSHAKE_TIMER = Symbol('wsnic handshake timer');
type TimedSocket = Socket & { [HANDSHAKE_TIMER]?: NodeJS.Timeout };

export interface HttpOptions {
  /** Seconds a connection has to complete its WebSocket handshake (slow-loris). */
  handshakeTimeout: number;
  /** Most connections at once, handshakes included (0: no limit). */
  maxConnections: number;
  /** What a WebSocket upgrade request becomes, once its handshake timer is off. */
  onUpgrade(req: http.IncomingMessage, socket: Socket, head: Buffer, tls: boolean): void;
  log: Logger;
}

/** An HTTP (or, with `tls`, HTTPS) server that hands WebSocket upgrades to opts.onUpgrade. */
export function createServer(tls: SecureContextOptions | undefined, opts: HttpOptions): http.Server {
  const server = tls ? https.createServer(tls) : http.createServer();
  // Node's own limits, from the same setting (it checks them only every 30 s: the timer below
  // is what holds a handshake to handshake_timeout; these bound what its check lets through).
  server.headersTimeout = opts.handshakeTimeout * 1000;
  server.requestTimeout = opts.handshakeTimeout * 1000;
  if (opts.maxConnections > 0) server.maxConnections = opts.maxConnections;
  server.on('request', (req, res) => upgradeRequired(req, res, tls !== undefined));
  // Our own timer per connection, cleared by the upgrade.
  const arm = (socket: TimedSocket): void => {
    clearTimeout(socket[HANDSHAKE_TIMER]);
    socket[HANDSHAKE_TIMER] = setTimeout(() => socket.destroy(), opts.handshakeTimeout * 1000);
    socket.once('close', () => clearTimeout(socket[HANDSHAKE_TIMER]));
  };
  server.on('connection', arm);
  server.on('secureConnection', arm);
  server.on('upgrade', (req: http.IncomingMessage, socket: TimedSocket, head: Buffer) => {
    clearTimeout(socket[HANDSHAKE_TIMER]);
    socket.on('error', () => socket.destroy());
    opts.onUpgrade(req, socket, head, tls !== undefined);
  });
  server.on('clientError', (err: Error, socket: Socket) => {
    opts.log.debug('bad HTTP request', { client_address: socket.remoteAddress, reason: err.message });
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  return server;
}

/** Listens on host:port, rejecting with a clear message (e.g. the port is in use). */
export function listen(server: http.Server, host: string, port: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => reject(new Error(`cannot listen for ${what} on ${host}:${port}: ${err.code ?? err.message}`));
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

export interface Listening {
  servers: http.Server[];
  /** The wss:// server, whose certificate a reload replaces. */
  tls: https.Server | undefined;
}

/**
 * The servers, on the sockets systemd passed (named `ws` and `wss`) or, without any, on
 * address:port of their own. A `wss` socket without a certificate, or one of another name, is
 * closed with a warning.
 */
export async function openServers(o: {
  inherited: { name: string; fd: number }[];
  address: string;
  wsPort: number;
  wssPort: number;
  tls: SecureContextOptions | undefined;
  http: HttpOptions;
  /** Logged with the listening lines. */
  version: string;
}): Promise<Listening> {
  const out: Listening = { servers: [], tls: undefined };
  const make = (secure: boolean): http.Server => {
    const server = createServer(secure ? o.tls : undefined, o.http);
    out.servers.push(server);
    if (secure) out.tls = server as https.Server;
    return server;
  };
  const log = o.http.log;
  if (o.inherited.length > 0) {
    for (const { name, fd } of o.inherited) {
      if (name === 'ws' || (name === 'wss' && o.tls)) {
        const server = make(name === 'wss');
        await new Promise<void>((resolve, reject) => server.listen({ fd }, resolve).once('error', reject));
        log.info('listening on an inherited socket', { name, fd, version: o.version });
      } else {
        const why = name === 'wss' ? 'no wss_certificate is configured' : 'unknown socket name';
        log.warning('inherited socket not used, closed', { name, fd, reason: why });
        closeSync(fd);
      }
    }
  } else {
    await listen(make(false), o.address, o.wsPort, 'ws://');
    log.info('listening', { url: `ws://${hostPort(o.address, o.wsPort)}/`, version: o.version });
    if (o.tls) {
      await listen(make(true), o.address, o.wssPort, 'wss://');
      log.info('listening', { url: `wss://${hostPort(o.address, o.wssPort)}/`, version: o.version });
    }
  }
  return out;
}

/** Warns for each server on a non-loopback address while any web page may use the relay. */
export function warnIfOpen(servers: http.Server[], allowedOrigins: string[], log: Logger): void {
  if (allowedOrigins.length > 0) return;
  for (const server of servers) {
    const a = server.address();
    const host = typeof a === 'object' && a ? a.address : '';
    if (!/^(127\.|::1$|::ffff:127\.)/.test(host)) {
      log.warning('no allowed_origins: any web page may use this relay', { address: host, port: typeof a === 'object' && a ? a.port : undefined });
    }
  }
}

/**
 * Stops listening at once; the promise resolves when the servers' connections are gone (upgraded
 * ones end with their close handshake), or after 3 s: a client that never answers is not waited for.
 */
export async function closeServers(servers: http.Server[]): Promise<void> {
  await atMost(3000, Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r())))));
}
