/**
 * `wsnic run`: everything in the foreground for development, containers and a quick start —
 * setup (bridge, NAT), dnsmasq as a supervised child, the relay. SIGINT/SIGTERM undo it all.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema';
import { deriveNetwork } from '../config/derive';
import type { Logger } from '../log';
import { DnsmasqSupervisor, renderDnsmasqConf } from '../net/dnsmasq';
import { setup, teardown } from '../net/setup';
import { createServer, listen, readTls, Relay } from '../relay/server';

export function dnsmasqConfPath(c: Config): string {
  return join(c.runtime_dir, 'dnsmasq.conf');
}

export function leaseFile(c: Config): string {
  return c.dhcp_lease_file || join(c.runtime_dir, 'dnsmasq.leases');
}

export async function runRelay(c: Config, log: Logger): Promise<number> {
  const net = deriveNetwork(c);
  const tls = c.wss_certificate ? readTls(c.wss_certificate, c.wss_private_key) : undefined; // fail before changing anything
  let dnsmasq: DnsmasqSupervisor | undefined;
  let relay: Relay | undefined;
  const undo = async (): Promise<void> => {
    await relay?.close();
    await dnsmasq?.stop();
    teardown(c, log);
  };

  try {
    setup(c, log);
    if (!c.disable_dhcp) {
      writeFileSync(
        dnsmasqConfPath(c),
        renderDnsmasqConf({ bridge: c.bridge, net, leaseTime: c.dhcp_lease_time, leaseFile: leaseFile(c), domain: c.dhcp_domain_name, confDir: c.dnsmasq_conf_dir, mtu: c.mtu }),
      );
      dnsmasq = new DnsmasqSupervisor(dnsmasqConfPath(c), log);
      await dnsmasq.start();
      log.info('dnsmasq started', { pid: dnsmasq.pid, pool: `${net.poolStart}-${net.poolEnd}`, lease_file: leaseFile(c) });
    }
    relay = new Relay({ bridge: c.bridge, tapPrefix: c.tap_prefix, pingInterval: c.ping_interval, idleTimeout: c.idle_timeout, log });
    const ws = createServer(undefined);
    relay.attach(ws, false);
    await listen(ws, c.ws_address, c.ws_port, 'ws://');
    log.info('listening', { url: `ws://${hostPort(c.ws_address, c.ws_port)}/` });
    if (tls) {
      const wss = createServer(tls);
      relay.attach(wss, true);
      await listen(wss, c.ws_address, c.wss_port, 'wss://');
      log.info('listening', { url: `wss://${hostPort(c.ws_address, c.wss_port)}/` });
      process.on('SIGHUP', () => {
        try {
          (wss as import('node:https').Server).setSecureContext(readTls(c.wss_certificate, c.wss_private_key));
          log.info('certificate reloaded', { file: c.wss_certificate });
        } catch (err) {
          log.error('certificate reload failed, keeping the old one', { reason: (err as Error).message });
        }
      });
    }
  } catch (err) {
    await undo().catch((e: Error) => log.error('cleanup failed', { reason: e.message }));
    throw err;
  }

  // A bug must not leave a dnsmasq child or the bridge behind: undo, then exit non-zero.
  const crashed = new Promise<Error>((resolve) => {
    process.once('uncaughtException', resolve);
    process.once('unhandledRejection', (reason) => resolve(reason instanceof Error ? reason : new Error(String(reason))));
  });
  const signal = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  const end = await Promise.race([signal, crashed]);
  if (end instanceof Error) {
    log.error('internal error, stopping', { reason: end.stack ?? end.message });
    await undo().catch((e: Error) => log.error('cleanup failed', { reason: e.message }));
    return 70; // EX_SOFTWARE
  }
  log.info('stopping', { signal: end });
  await undo();
  return 0;
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
