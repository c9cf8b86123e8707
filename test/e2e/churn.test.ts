/**
 * Churn: 10,000 clients come and go (closing cleanly, dropping the connection, aborting the
 * handshake) while one well-behaved guest stays, and nothing is left behind: no TAP, no
 * unneeded leaf bridge, no set element, one "disconnected" for every "connected". Then the relay
 * is killed with SIGKILL and started again: the dnsmasq and leaves the dead one left are cleared
 * and the guest comes back.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, relayNetwork, WSNIC, type Proc, type Topology } from './topology';
import { leasedElements, staleLeasedTaps } from './leasedset';

// The churn is bound by the kernel (TAPs are made and removed under one global lock): ~190
// cycles/s on a quiet 2-core machine, ~70/s while other suites churn TAPs too. Hence more
// than tap's default 240 s for this file, so that a busy machine does not fail it.
t.setTimeout(360_000);

const CYCLES = 10_000;
const CONCURRENCY = 32;
/** Small, so that the churn needs leaves: up to 32 clients at once take 4 or more of them. */
const PORT_LIMIT = 8;

const count = (out: string, re: RegExp): number => out.split('\n').filter((l) => re.test(l)).length;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Links in a namespace named PREFIXn (TAPs) or BRIDGEln (leaf bridges, not their veths). */
function links(topo: Topology, ns: string, re: RegExp): string[] {
  return topo.exec(ns, 'ip', ['-o', 'link', 'show']).stdout.split('\n')
    .map((l) => /^\d+: ([^:@\s]+)/.exec(l)?.[1] ?? '')
    .filter((name) => re.test(name));
}
const TAPS = /^wstap\d+$/;
const LEAVES = /^wsbr0l\d+$/;

/** Pids of the dnsmasq processes in a namespace. */
function dnsmasqs(topo: Topology, ns: string): number[] {
  return topo.exec(ns, 'ip', ['netns', 'pids', ns]).stdout.split('\n').filter(Boolean).map(Number).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'dnsmasq';
    } catch {
      return false; // gone meanwhile
    }
  });
}

/** CPU seconds a process has used (user + system, in the kernel's 100 Hz ticks). */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Resolves once check() holds, polling; rejects with what() after ms. */
async function until(check: () => boolean, ms: number, what: () => string): Promise<void> {
  for (const end = Date.now() + ms; !check(); await sleep(100)) if (Date.now() > end) throw new Error(what());
}

/** One echo answered of three: right after a lease the first can be dropped, until the relay's
 *  nft update puts the address in the `leased` set (bind_client_ip) a few ms after the DHCPACK. */
const pingsGateway = (topo: Topology, guest: string): boolean =>
  /[123] packets received/.test(topo.exec(guest, 'busybox', ['ping', '-c', '3', '-W', '2', '192.168.86.1']).stdout);

t.test('10,000 clients come and go, one stays; a SIGKILLed relay restarts clean', async (t) => {
  const conf = { enable_inet: 0, bridge_port_limit: PORT_LIMIT };
  const n = await relayNetwork(t.teardown.bind(t), conf, 2);
  const [good, churner] = [n.guests[0]!, n.guests[1]!];
  const [goodIp] = await n.joinAll([], 1);
  t.same(links(n.topo, n.srv, TAPS), ['wstap0'], 'the good guest has wstap0');

  // The churn: one Node process in the second guest, CONCURRENCY cycles at a time.
  const churn = n.topo.spawn(churner, process.execPath, [join(ROOT, 'test', 'fixtures', 'churn.js'), n.url(2), String(CYCLES), String(CONCURRENCY)]);
  const t0 = Date.now();
  const cpu0 = cpuSeconds(n.server.child.pid!);
  const result = JSON.parse(await churn.waitFor(/^\{/, 300_000)) as { opened: number; aborted: number; failed: number; errors: Record<string, number>; ms: number };
  t.equal(result.failed, 0, `no cycle failed: ${JSON.stringify(result.errors)}`);
  t.equal(result.opened + result.aborted, CYCLES, 'every cycle ended');
  t.ok(result.opened >= CYCLES * 0.8, `at least the four open-then-leave kinds opened (${result.opened})`);

  // "disconnected" is logged once the TAP is gone (on the thread pool): wait for the last ones.
  const churned = (what: string): number => count(n.server.output(), new RegExp(`client ${what} client_address=198\\.19\\.2\\.2 `));
  await until(() => churned('disconnected') === churned('connected'), 30_000,
    () => `connects ${churned('connected')} != disconnects ${churned('disconnected')}`);
  const settledMs = Date.now() - t0;
  const relayCpu = cpuSeconds(n.server.child.pid!) - cpu0;
  const connects = churned('connected');
  // A client that leaves while its TAP is being made (on the thread pool) gets no session.
  const early = count(n.server.output(), /client left before its TAP was ready client_address=198\.19\.2\.2 /);
  t.ok(connects + early >= result.opened && connects + early <= CYCLES, `the relay saw ${connects} connects and ${early} left early for ${result.opened} opened`);
  t.equal(churned('disconnected'), connects, 'one disconnect per connect');
  const bad = n.server.output().split('\n').filter((l) => /^(warning|error):/.test(l) && !/no allowed_origins/.test(l));
  t.same(bad.slice(0, 5), [], `no refusal, no error (${bad.length})`);
  const tapMs = [...n.server.output().matchAll(/client connected .*tap_ms=([\d.]+)/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
  t.comment(`TAP ready in ${tapMs[tapMs.length >> 1]} ms (median), ${tapMs[Math.floor(tapMs.length * 0.99)]} ms (99th percentile)`);
  t.comment(`${CYCLES} cycles (${result.opened} opened, ${result.aborted} aborted) at ${CONCURRENCY} at a time: ` +
    `${result.ms} ms, ${((CYCLES * 1000) / result.ms).toFixed(0)}/s; all TAPs gone after ${settledMs} ms; relay CPU ${relayCpu.toFixed(1)} s`);

  t.same(links(n.topo, n.srv, TAPS), ['wstap0'], 'no leaked TAP: only the good guest\'s');
  // Leaves stay while the relay runs (leaves.ts removes them at stop), so their number is what
  // the peak needed. A port is free once its TAP is gone, and TAP removals queue up under churn
  // (~20 ms each, one at a time under the kernel's RTNL lock), so the peak is the most TAPs that
  // existed at once: names are reused lowest first, so the highest number used, plus one.
  const peak = 1 + Math.max(...[...n.server.output().matchAll(/client connected .*tap=wstap(\d+)/g)].map((m) => Number(m[1])));
  const leaves = links(n.topo, n.srv, LEAVES);
  const added = count(n.server.output(), /leaf bridge added/);
  t.equal(leaves.length, added, `leaves kept, none made twice (${leaves.length})`);
  // A port is reserved from the handshake, while its TAP is made (not yet a link the sampler
  // sees), until the TAP is gone: at most CONCURRENCY more than the links seen at once.
  const most = Math.ceil((peak + CONCURRENCY) / PORT_LIMIT) - 1;
  t.ok(leaves.length >= 1 && leaves.length <= most, `no more leaves than ${peak} TAPs and ${CONCURRENCY} being made need (${most})`);
  t.comment(`peak ${peak} TAPs at once (${CONCURRENCY} clients at once), ${leaves.length} leaves of ${PORT_LIMIT} ports`);
  t.same(staleLeasedTaps(n.topo, n.srv), [], 'no set element for a TAP that is gone');
  t.ok(pingsGateway(n.topo, good), 'the good guest still reaches the gateway');

  // SIGKILL: no cleanup at all. `ip netns exec` execs the command, so the child is wsnic itself.
  const relayPid = n.server.child.pid!;
  t.match(readFileSync(`/proc/${relayPid}/cmdline`, 'utf8'), /main\.js\0run\0/, 'the pid is wsnic run');
  const oldDnsmasq = Number(/dnsmasq started pid=(\d+)/.exec(n.server.output())![1]);
  process.kill(relayPid, 'SIGKILL');
  await n.server.exited;
  // TAPs go with their fds (they are not persistent); the bridge and leaves stay, and dnsmasq
  // too: it is the bug this test is for, since a new dnsmasq cannot bind ports 67 and 53.
  await until(() => links(n.topo, n.srv, TAPS).length === 0, 10_000, () => `TAPs left: ${links(n.topo, n.srv, TAPS).join(' ')}`);
  t.same(links(n.topo, n.srv, LEAVES), leaves, 'the leaves outlive a SIGKILLed relay');
  t.same(dnsmasqs(n.topo, n.srv), [oldDnsmasq], 'and so does its dnsmasq');

  // The same configuration again (as relayNetwork() wrote it, runtime_dir included).
  const again: Proc = n.topo.wsnic(n.srv, { ws_address: '0.0.0.0', dnsmasq_conf_dir: join(n.topo.dir, 'dnsmasq.d'), ...conf });
  await again.waitFor(/listening url=ws:/, 20_000);
  t.notMatch(again.output(), /^error:/m, 'it starts cleanly');
  t.match(again.output(), new RegExp(`stale dnsmasq killed pid=${oldDnsmasq} `), 'the old dnsmasq is killed, and says so');
  for (const leaf of leaves) t.match(again.output(), new RegExp(`stale leaf bridge removed bridge=${leaf}\\b`), `${leaf} removed as stale`);
  const newDnsmasq = Number(/dnsmasq started pid=(\d+)/.exec(again.output())![1]);
  t.same(dnsmasqs(n.topo, n.srv), [newDnsmasq], 'exactly one dnsmasq: the new child');
  t.same(links(n.topo, n.srv, LEAVES), [], 'no stale leaf bridge');

  // wsnic connect reconnects by itself (1 s, 2 s, 4 s, ... apart) and keeps its TAP and lease.
  await again.waitFor(/client connected client_address=198\.19\.1\.2 /, 20_000);
  t.same(links(n.topo, n.srv, TAPS), ['wstap0'], 'the good guest is back, alone');
  t.equal(n.topo.dhcp(good, 'wsn0').ip, goodIp, 'the same lease from the new dnsmasq');
  t.ok(pingsGateway(n.topo, good), 'and the gateway answers');
  t.same(staleLeasedTaps(n.topo, n.srv), [], 'no set element for a TAP the dead relay had');
  const goodMac = /link\/ether (\S+)/.exec(n.topo.exec(good, 'ip', ['link', 'show', 'wsn0']).stdout)![1]!;
  t.same(leasedElements(n.topo, n.srv), [['wstap0', goodMac, goodIp]], 'the set binds exactly the live client: its TAP, MAC and lease');

  again.child.kill('SIGTERM');
  t.equal(await again.exited, 0, 'the new relay stops cleanly');
  t.same(dnsmasqs(n.topo, n.srv), [], 'and its dnsmasq with it');
});

t.test('wsnic teardown after a SIGKILLed wsnic run takes its dnsmasq and leaves too', async (t) => {
  const n = await relayNetwork(t.teardown.bind(t), { enable_inet: 0, bridge_port_limit: 1 }, 2);
  await n.joinAll(); // two guests, one port per bridge: one leaf
  t.same(links(n.topo, n.srv, LEAVES), ['wsbr0l1']);
  const oldDnsmasq = Number(/dnsmasq started pid=(\d+)/.exec(n.server.output())![1]);
  process.kill(n.server.child.pid!, 'SIGKILL');
  await n.server.exited;
  t.same(dnsmasqs(n.topo, n.srv), [oldDnsmasq], 'dnsmasq outlives wsnic run');

  const r = n.topo.exec(n.srv, process.execPath, [WSNIC, 'teardown', '-c', join(n.topo.dir, `${n.srv}.conf`)]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, new RegExp(`stale dnsmasq killed pid=${oldDnsmasq} `));
  t.same(dnsmasqs(n.topo, n.srv), [], 'no dnsmasq left');
  t.notMatch(n.topo.exec(n.srv, 'ip', ['-o', 'link']).stdout, /wsbr0|wstap/, 'no bridge, leaf or TAP left');
});
