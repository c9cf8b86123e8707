/**
 * `wsnic relay`: the daemon of wsnic.service. It only relays: the bridge and NAT belong to
 * wsnic-bridge.service, DHCP/DNS to wsnic-dnsmasq.service, the listening sockets to
 * wsnic.socket. It needs CAP_NET_ADMIN (TAPs) and nothing else.
 */
import type { Config } from '../config/schema';
import type { Logger } from '../log';
import { bridgeIsUp } from '../net/bridge';
import { ToolError } from '../net/tool';
import { resolveUplink } from '../net/setup';
import { serve } from '../daemon/serve';

export async function relayOnly(c: Config, log: Logger): Promise<number> {
  if (!bridgeIsUp(c.bridge)) {
    throw new ToolError(`bridge ${c.bridge} is missing or down: start wsnic-bridge.service (or run \`wsnic setup\`) first`);
  }
  let uplink: string | undefined;
  try {
    uplink = resolveUplink(c);
  } catch (err) {
    log.warning('uplink not found', { reason: (err as Error).message });
  }
  const serving = await serve(c, log, { uplink });
  const end = await serving.done;
  if (end instanceof Error) log.error('internal error, stopping', { reason: end.stack ?? end.message });
  else log.info('stopping', { signal: end });
  await serving.stop();
  return end instanceof Error ? 70 : 0;
}
