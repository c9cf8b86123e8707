/**
 * The session registry: every client from its accepted upgrade to its TAP's removal. On
 * accept: admission, a TAP on a bridge port, then a session; the MACs clients hold; totals;
 * closing them all. The HTTP servers that bring upgrades here are http/listeners.ts's.
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../log';
import type { Tap } from '../net/tap';
import type { Admission } from '../http/admission';
import { LINGER_MS, MAX_FRAME } from '../datapath/pump';
import type { Limits } from '../datapath/path';
import type { LeasedSet } from '../net/leasedset';
import { ipToInt } from '../config/values';
import { CLOSE, Session, type ClientInfo } from './session';
import type { Carried } from '../handover/state';
import type { Detached } from '../datapath/nativepath';
import { atMost } from '../deadline';
import { TapMaker, type BridgePorts } from './tapmaker';
import { addTotals, noTotals, type Totals } from './totals';

export interface RelayOptions {
  /** Which bridge a new client's TAP joins (the main one, or a leaf past its port limit). */
  ports: BridgePorts;
  tapPrefix: string;
  pingInterval: number; // seconds
  idleTimeout: number; // seconds
  /** Clients reach the gateway but not each other (bridge port isolation). */
  isolateClients: boolean;
  admission: Admission;
  /** Per-client rate limits, client->network ("up") and network->client ("down"). */
  rates: { up: Limits; down: Limits };
  /** The bridge's set of leased addresses clients may send from; undefined: not enforced. */
  leased?: LeasedSet | undefined;
  /** Clients may speak IPv6 (client_ipv6): their guards judge it. */
  ipv6?: boolean;
  /** The gateway (DHCP server) address, whose OFFERs and ACKs feed `leased`. */
  gateway?: string | undefined;
  /** A client binding a MAC another live client holds: logged, and with 'refuse' closed (1008). */
  duplicateMac: 'allow' | 'refuse';
  /** native: ws:// sessions go to the addon's data-plane threads (started by the caller). */
  dataPath: 'native' | 'js';
  log: Logger;
}

/** How long a session may take to leave its data-plane thread on a hand-over (then it is closed). */
const HANDOVER_WAIT_MS = 3000;

/** What clients are told when the relay stops, and when it restarts (come back soon). */
const SHUTTING_DOWN: { code: number; reason: string } = { code: CLOSE.goingAway, reason: 'server shutting down' };
const RESTARTING: { code: number; reason: string } = { code: CLOSE.serviceRestart, reason: 'service restart' };

export class Relay {
  readonly sessions = new Set<Session>();
  /** TAPs being made for accepted clients (see accept). */
  private readonly opening = new Set<Promise<void>>();
  /** Once closing: what clients whose TAPs were still being made are told. */
  private closingWith = SHUTTING_DOWN;
  private closing = false;
  /** Live clients by bound MAC; more than one only with duplicate_mac = allow. */
  private readonly macs = new Map<string, Session[]>();
  /** The gateway's address as a number, for the pumps' DHCP check. */
  private readonly dhcpServer: number | undefined;
  /** Counts of clients that have left, so totals keep growing. */
  private readonly past = noTotals();
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false, // frames are small and latency matters
    maxPayload: MAX_FRAME, // larger frames close the client with 1009
    clientTracking: false,
  });
  private readonly keepalive: NodeJS.Timeout;
  private readonly taps: TapMaker;
  /** The last client id given (ids start at 1). */
  private lastId = 0;
  /**
   * Since start: most clients at once, handshakes refused by reason, and clients gone by their
   * close code (session.ts's endReason).
   */
  readonly stats = { mostClients: 0, refused: new Map<string, number>(), closed: new Map<string, number>() };
  /** Called when a client comes or goes (for sd_notify STATUS). */
  onClientCountChange: (() => void) | undefined;
  /** Called with each client's TAP setup time in milliseconds (for metrics). */
  onTapReady: ((ms: number) => void) | undefined;

  /** Clients admitted since start (handshakes that passed admission). */
  get accepted(): number {
    return this.lastId;
  }

  constructor(private readonly opts: RelayOptions) {
    this.taps = new TapMaker(opts.ports, opts.tapPrefix, opts.isolateClients);
    this.dhcpServer = opts.gateway === undefined ? undefined : ipToInt(opts.gateway);
    let last = Date.now();
    this.keepalive = setInterval(() => {
      const now = Date.now();
      // After the event loop stalled (opening a TAP waits for the kernel's RTNL lock, which any
      // process on the host may hold), what clients sent meanwhile is still unread: skip this
      // tick rather than close them as idle (seen: a guest pinging every 2 s, "idle for 9 s").
      const late = now - last > 2000;
      last = now;
      if (late) return;
      for (const s of this.sessions) s.tick(now, opts.pingInterval * 1000, opts.idleTimeout * 1000);
    }, 1000);
    this.keepalive.unref();
  }

  /** A WebSocket upgrade request (from http/listeners.ts's servers): admitted, it becomes a client. */
  upgrade(req: IncomingMessage, socket: Socket, head: Buffer, tls: boolean): void {
    if (this.closing) {
      socket.destroy(); // stopping: no new TAP
      return;
    }
    const at = process.hrtime.bigint();
    const verdict = this.opts.admission.check(req);
    if (!verdict.ok) {
      this.opts.log.warning('client refused', { client_address: verdict.address, status: verdict.status, reason: verdict.reason });
      const status = `${verdict.status} ${STATUS_CODES[verdict.status] ?? 'Refused'}`;
      this.countRefused(status);
      const body = `${verdict.reason}\n`;
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req, tls, at, verdict.address));
  }

  /**
   * `at`: when the upgrade request arrived, to log how long the TAP took to be ready. The TAP
   * is made on the thread pool; meanwhile the client is not read (its first frames wait in the
   * socket) and counts under the limits.
   */
  private accept(ws: WebSocket, req: IncomingMessage, tls: boolean, at: bigint, address: string): void {
    const client = { id: ++this.lastId, address, port: req.socket.remotePort ?? 0, scheme: tls ? 'wss' : 'ws', origin: req.headers.origin ?? '' };
    this.opts.admission.admit(address);
    ws.pause();
    ws.on('error', () => {}); // (read nothing yet; the session listens once it exists)
    const opening = this.taps.turn().then(async () => {
      let made: { tap: Tap; bridge: string } | undefined;
      try {
        // Gone while it waited for its turn (or the relay is stopping): no TAP is made for it.
        if (ws.readyState === ws.OPEN && !this.closing) made = await this.taps.open(this.onNativePath(client.scheme));
      } catch (err) {
        this.opts.admission.release(address);
        this.refuse(ws, client, (err as Error).message);
        return;
      } finally {
        this.taps.turnDone();
        this.opening.delete(opening);
      }
      if (made === undefined || ws.readyState !== ws.OPEN || this.closing) {
        if (this.closing && ws.readyState === ws.OPEN) {
          // Stopping or restarting while its TAP was made: told so as every served client is
          // (1001, or 1012 on a restart: come back soon), not cut off.
          const { code, reason } = this.closingWith;
          this.opts.log.info('client not served: the relay is stopping', { client_address: address, client_port: client.port, code, reason });
          this.closeUnserved(ws, code, reason);
        } else {
          // Gone before its TAP was ready: nothing to serve.
          this.opts.log.info('client left before its TAP was ready', { client_address: address, client_port: client.port, tap: made?.tap.name });
          ws.terminate();
        }
        if (made) this.releaseWhenGone(made.tap.close(), made.tap.name, address, made.bridge);
        else this.opts.admission.release(address);
        return;
      }
      const { tap, bridge } = made;
      try {
        this.serve(ws, tap, client, bridge, at);
      } catch (err) {
        // (e.g. the TAP cannot be polled): this client only, nothing kept.
        this.releaseWhenGone(tap.close(), tap.name, address, bridge);
        this.refuse(ws, client, `cannot start the session: ${(err as Error).message}`);
        return;
      }
      ws.resume();
    });
    this.opening.add(opening);
  }

  /** The client's session, from a ready TAP. */
  private serve(ws: WebSocket, tap: Tap, client: Omit<ClientInfo, 'bridge'>, bridge: string, at: bigint): void {
    const tapMs = Number(process.hrtime.bigint() - at) / 1e6;
    this.session(ws, tap, { ...client, bridge, tapMs });
    this.onTapReady?.(tapMs);
    this.onClientCountChange?.();
  }

  /**
   * A session the relay before a restart handed over (handover/restart.ts takes it from systemd's fd
   * store): the same connection, TAP, MAC and address, taken up where they were.
   */
  adopt(c: Carried, sock: number, tap: Tap): void {
    this.taps.claim(tap.name, c.bridge);
    this.opts.admission.admit(c.address);
    let s: Session;
    try {
      s = this.session(undefined, tap, { id: c.id, address: c.address, port: c.port, scheme: 'ws', origin: c.origin, bridge: c.bridge }, {
        from: { sock, unread: c.unread, owed: c.owed, frag: c.frag, fragOpcode: c.fragOpcode, mac: c.mac, counts: c.counts, claims: c.claims },
        since: c.since,
        ip: c.ip,
      });
    } catch (err) {
      // (the caller closes the fds: the TAP's name, port and place are free at once)
      this.taps.release(tap.name, c.bridge);
      this.opts.admission.release(c.address);
      throw err;
    }
    this.lastId = Math.max(this.lastId, c.id);
    if (c.mac !== undefined) {
      this.bindMac(s, c.mac);
      if (c.ip !== undefined) this.opts.leased?.acked(tap.name, c.mac, c.ip);
    }
    this.onClientCountChange?.();
  }

  private session(ws: WebSocket | undefined, tap: Tap, client: ClientInfo, resumed?: ConstructorParameters<typeof Session>[6]): Session {
    const { address, bridge } = client;
    const leased = this.opts.leased;
    const s = new Session(ws, tap, client, this.opts.log, (s) => {
        this.sessions.delete(s);
        this.unbindMac(s);
        this.opts.leased?.unbind(tap.name);
        this.releaseWhenGone(s.gone, tap.name, address, bridge);
        addTotals(this.past, s);
        if (s.end !== undefined) this.stats.closed.set(s.end, (this.stats.closed.get(s.end) ?? 0) + 1);
        this.onClientCountChange?.();
      }, {
        rules: { ...this.opts.rates, dhcpServer: this.dhcpServer, ipv6: this.opts.ipv6 ?? false },
        native: this.onNativePath(client.scheme),
        onBound: (s, mac) => this.bindMac(s, mac),
        ...(leased ? { onDhcpAck: (s: Session, mac: string, ip: string) => leased.acked(s.tap.name, mac, ip) } : {}),
      }, resumed);
    this.sessions.add(s);
    this.stats.mostClients = Math.max(this.stats.mostClients, this.sessions.size);
    return s;
  }

  /**
   * Notes which client holds a MAC. A second live client with the same MAC (v86 state images
   * share one) makes the bridge flap between their ports: warned about, and refused if so set.
   */
  private bindMac(s: Session, mac: string): void {
    const holders = this.macs.get(mac);
    if (holders === undefined) {
      this.macs.set(mac, [s]);
      this.opts.leased?.bind(s.tap.name, mac);
      return;
    }
    const refuse = this.opts.duplicateMac === 'refuse';
    this.opts.log.warning(refuse ? 'duplicate MAC, client refused' : 'duplicate MAC, both clients kept', {
      ...s.fields(), mac, other_tap: holders[0]!.tap.name, other_client_address: holders[0]!.client.address,
    });
    // Kept, the later client gets no address on the bridge while the first holds the MAC: the
    // lease is the MAC's, and a client must not claim another's address by copying its MAC.
    if (refuse) s.close(CLOSE.policy, `MAC ${mac} is in use by another client`);
    else holders.push(s);
  }

  private unbindMac(s: Session): void {
    const mac = s.mac;
    const holders = mac === undefined ? undefined : this.macs.get(mac);
    if (holders === undefined || !holders.includes(s)) return;
    if (holders.length === 1) this.macs.delete(mac!);
    else {
      const wasFirst = holders[0] === s;
      holders.splice(holders.indexOf(s), 1);
      if (wasFirst) this.opts.leased?.bind(holders[0]!.tap.name, mac!); // the next in line gets it
    }
  }

  /**
   * The TAP's name, its bridge port and the client's place under the limits are free once the
   * TAP is gone: closes queue up under churn (counted free earlier, the bridge's 1,023 ports ran
   * out: EXFULL), and clients that come and go faster than the kernel removes TAPs must not pile
   * TAPs up beyond max_clients.
   */
  private releaseWhenGone(gone: Promise<void> | undefined, tap: string, address: string, bridge: string): void {
    void gone?.then(() => {
      this.opts.admission.release(address);
      this.taps.release(tap, bridge);
    });
  }

  /** ws:// on the native data path (unless data_path = js); wss:// on JavaScript's (Node owns TLS). */
  private onNativePath(scheme: string): boolean {
    return this.opts.dataPath === 'native' && scheme === 'ws';
  }

  private countRefused(reason: string): void {
    this.stats.refused.set(reason, (this.stats.refused.get(reason) ?? 0) + 1);
  }

  private refuse(ws: WebSocket, client: { address: string; port: number }, reason: string): void {
    this.countRefused('1011 no TAP');
    this.opts.log.error('client refused', { client_address: client.address, client_port: client.port, reason });
    this.closeUnserved(ws, CLOSE.internal, reason);
  }

  /** Closes a client no session serves (yet) with a code and reason; cut off if it does not answer. */
  private closeUnserved(ws: WebSocket, code: number, reason: string): void {
    // No session listens on this socket: without a listener, a protocol error the client sends
    // before the close completes would be an uncaught exception and stop the relay.
    ws.on('error', () => {});
    ws.resume(); // paused while its TAP was being made: the close handshake needs the answer read
    ws.close(code, reason.slice(0, 120));
    setTimeout(() => ws.terminate(), LINGER_MS).unref(); // a client that does not answer is cut off
  }

  /** Since start: what live clients and those that left moved and dropped. */
  totals(): Totals {
    const t = { ...this.past, drops: { ...this.past.drops } };
    for (const s of this.sessions) addTotals(t, s);
    return t;
  }

  /** The client with this id, TAP, MAC or leased IP (several may share a MAC or an IP). */
  find(match: string): Session[] {
    const id = /^\d+$/.test(match) ? Number(match) : undefined;
    const m = match.toLowerCase();
    return [...this.sessions].filter((s) => s.client.id === id || s.tap.name === match || s.mac === m || s.ip === match);
  }

  /** New lease data: sessions learn their IP. */
  leases(byMac: Map<string, string>): void {
    for (const s of this.sessions) s.leased(byMac);
    this.opts.leased?.leases(byMac);
  }

  /**
   * A restart: takes no new client, and every session that can (ws:// on the native path, at
   * most `most`: the fd store's room) stops here with its socket and TAP left open for the next
   * relay. The others are closed with 1012 (Service Restart), so their browsers come back at once.
   */
  async handOver(most: number): Promise<{ handed: { detached: Detached; carried: Carried }[]; leaving: Promise<unknown> }> {
    this.closing = true;
    this.closingWith = RESTARTING;
    clearInterval(this.keepalive);
    // (TAPs being made: those clients are cut off as their TAPs come; they must not hold up the rest)
    await atMost(2000, Promise.all(this.opening));
    const all = [...this.sessions];
    const results = await Promise.all(all.map((s, i) => (i < most ? s.handOver(HANDOVER_WAIT_MS) : Promise.resolve(undefined))));
    const handed: { detached: Detached; carried: Carried }[] = [];
    const leaving: Session[] = [];
    all.forEach((s, i) => {
      const h = results[i];
      if (h) {
        handed.push(h);
        this.sessions.delete(s); // its TAP, port and place are the next relay's
      } else {
        s.close(this.closingWith.code, this.closingWith.reason);
        leaving.push(s);
      }
    });
    // The caller stores the handed first, then waits for these (systemd's stop timeout runs).
    return { handed, leaving: atMost(5000, Promise.all(leaving.map((s) => s.gone))) };
  }

  /** Takes no new client and closes every client with 1001 (their TAPs go at once). */
  async close(): Promise<void> {
    this.closing = true;
    this.closingWith = SHUTTING_DOWN;
    clearInterval(this.keepalive);
    // TAPs being made: each is closed as it comes (a kernel that hangs does not hold us past 10 s).
    await atMost(10_000, Promise.all(this.opening));
    const leaving = [...this.sessions];
    for (const s of leaving) s.close(this.closingWith.code, this.closingWith.reason);
    // TAPs go on the thread pool, ~20 ms each; what is left after 10 s goes when we exit.
    await atMost(10_000, Promise.all(leaving.map((s) => s.gone)));
  }
}
