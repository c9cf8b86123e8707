/**
 * How a serving relay stops, in order: systemd is told (STOPPING=1); status, the operator's
 * endpoints and the lease watch stop; the listening sockets close (no new connection). Then, if
 * systemd is restarting the relay, its ws:// sessions go to the fd store for the next one
 * (handover/restart.ts); otherwise every client is closed with 1001. The bridge ports and the fork
 * server go last, once the clients' TAPs are gone (or the next relay's).
 */
import type http from 'node:http';
import type { Logger } from '../log';
import { closeServers } from '../http/listeners';
import { handOverOnRestart } from '../handover/restart';
import type { LeasedSet } from '../net/leasedset';
import type { PortAllocator } from '../net/leaves';
import { stopForkServer } from '../net/forkserver';
import type { Relay } from '../relay/registry';
import type { Notifier } from '../systemd/notify';
import type { StatusReporter } from '../systemd/status';

/** What serve() started, as stop() undoes it. */
export interface Running {
  notifier: Notifier;
  status: StatusReporter;
  endpoints: { stop(): void };
  stopLeases(): void;
  leased: LeasedSet | undefined;
  servers: http.Server[];
  relay: Relay;
  ports: PortAllocator;
  /** restart_handover: whether a restart hands the sessions over at all. */
  handover: boolean;
  log: Logger;
}

export async function stopServing(r: Running): Promise<void> {
  // What stopping waits for (the planes' events, D-Bus) holds no reference on the event loop:
  // without this, Node would exit mid-way, a hand-over half done.
  const hold = setInterval(() => {}, 1000);
  try {
    r.notifier.stopping();
    r.status.stop();
    r.endpoints.stop();
    r.stopLeases();
    r.leased?.stop();
    const closed = closeServers(r.servers); // no new connection from here on
    // A restart (systemd's job on us): ws:// sessions go to the fd store, the rest get 1012.
    const handedOver = await handOverOnRestart(r.relay, r.notifier, r.log, r.handover);
    if (!handedOver) await r.relay.close();
    await closed;
    r.ports.close(handedOver); // the clients' TAPs are gone (or the next relay's): their leaves can go too
    stopForkServer();
  } finally {
    clearInterval(hold);
  }
}
