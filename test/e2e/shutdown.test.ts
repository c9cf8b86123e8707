/**
 * Stopping the relay while clients are arriving: every client is told with a close frame (1001,
 * "server shutting down"), served or not. Those whose TAPs were still being made (four at a
 * time) used to be cut off with no close frame (1006). On a restart the same path tells them
 * 1012 (relay/registry.ts's closingWith); that case is not tested: it needs a restart by systemd
 * at the moment clients arrive.
 */
import t from 'tap';
import { join } from 'node:path';
import { relayNetwork, ROOT } from './topology';

const CLIENTS = 80;

t.test('a relay stopped while clients arrive closes every one of them with 1001, served or not', async (t) => {
  const n = await relayNetwork(t.teardown.bind(t), {}, 1);
  const mark = n.server.mark();
  const clients = n.topo.spawn(n.guests[0]!, process.execPath, [join(ROOT, 'test', 'fixtures', 'closecodes.js'), n.url(1), String(CLIENTS)]);
  await n.server.waitFor(/client connected /, 20_000, mark); // the first has its TAP; most are still waiting
  n.server.child.kill('SIGTERM');
  const end = JSON.parse(await clients.waitFor(/"event":"closed"/, 30_000)) as { codes: Record<string, number>; unopened: number };
  t.equal(await n.server.exited, 0, 'the relay exits 0');
  const opened = Math.max(0, ...[...clients.output().matchAll(/"event":"open","n":(\d+)/g)].map((m) => Number(m[1])));
  const served = (n.server.output().slice(mark).match(/client connected /g) ?? []).length;
  const unserved = (n.server.output().slice(mark).match(/client not served: the relay is stopping .*code=1001/g) ?? []).length;
  t.comment(`${opened} handshakes completed (${end.unopened} did not: the relay had stopped listening), ${served} served, ${unserved} told while their TAPs were made; close codes ${JSON.stringify(end.codes)}`);
  t.ok(unserved > 0, 'some clients were still waiting for their TAPs when the relay stopped (the case under test)');
  t.same(end.codes, { 1001: opened }, 'every client whose handshake completed got 1001, none was cut off (1006)');
});
