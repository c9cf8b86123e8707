/**
 * `wsnic run`: everything in the foreground for development, containers and a quick start —
 * setup (bridge, NAT), dnsmasq as a supervised child, the relay. SIGINT/SIGTERM undo it all.
 */
import type { Config } from '../config/schema';
import { deriveNetwork } from '../config/derive';
import type { Logger } from '../log';
import { DnsmasqSupervisor } from '../net/dnsmasq-supervisor';
import { setup, teardown } from '../net/setup';
import { preflight } from '../net/preflight';
import { readTls } from '../http/listeners';
import { dnsmasqConfPath, leaseFile } from '../config/paths';
import { serve, type Serving } from '../daemon/serve';

/** `notices`: the configuration's lines worth logging at start, once the preflight passed. */
export async function runAll(c: Config, log: Logger, notices: string[] = []): Promise<number> {
  preflight(c.container); // TUN device and CAP_NET_ADMIN, before anything changes
  for (const n of notices) log.info(n);
  const net = deriveNetwork(c);
  if (c.wss_certificate) readTls(c.wss_certificate, c.wss_private_key); // fail before changing anything
  let dnsmasq: DnsmasqSupervisor | undefined;
  let serving: Serving | undefined;
  const undo = async (): Promise<void> => {
    await serving?.stop();
    if (dnsmasq) {
      const pid = dnsmasq.pid;
      await dnsmasq.stop().then(
        () => log.info('dnsmasq stopped', { pid }),
        (err: Error) => log.error('dnsmasq not stopped', { pid, reason: err.message }),
      );
    }
    teardown(c, log);
  };

  try {
    const { uplink } = setup(c, log);
    if (!c.disable_dhcp) {
      dnsmasq = new DnsmasqSupervisor(dnsmasqConfPath(c), log);
      await dnsmasq.start();
      log.info('dnsmasq started', { pid: dnsmasq.pid, pool: `${net.poolStart}-${net.poolEnd}`, lease_file: leaseFile(c) });
    }
    const child = dnsmasq;
    serving = await serve(c, log, { uplink, ...(child ? { dnsmasq: { state: () => Promise.resolve({ up: child.running(), text: child.state() }) } } : {}) });
  } catch (err) {
    await undo().catch((e: Error) => log.error('cleanup failed', { reason: e.message }));
    throw err;
  }

  const end = await serving.done;
  if (end instanceof Error) {
    log.error('internal error, stopping', { reason: end.stack ?? end.message });
    await undo().catch((e: Error) => log.error('cleanup failed', { reason: e.message }));
    return 70; // EX_SOFTWARE
  }
  log.info('stopping', { signal: end });
  await undo();
  return 0;
}
