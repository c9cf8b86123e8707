/**
 * `npm run bench`: the same topology every time, the relay against the kernel's own path.
 * Prints `name value unit` lines, writes bench-results/bench.json and bench-results/bench.svg.
 * It asserts nothing about speed.
 *
 *   relay:  server namespace running the relay (--relay-cmd, default `wsnic run -c {conf}`),
 *           guests joined with `wsnic connect` over their own links
 *   kernel: a server namespace after `wsnic setup` plus dnsmasq, guests on veths to wsbr0
 *   status: the relay (each data path) with the largest scale step of idle clients, `wsnic
 *           status --json` run back to back while one more client pings the gateway every 10 ms
 *
 *   restart: `systemctl restart wsnic` in the booted container with N guests pinging every 10 ms
 *           and an iperf3 stream, with the hand-over and without (restart.ts)
 *
 *   paths:  ping, TCP, UDP and jumbo for each relay (--paths c,native,js): c (test/bench/minimal.c,
 *           a minimal C relay in one epoll loop, the yardstick, `.relay_c`), native (the addon's
 *           threads, `.relay`) and js (the TypeScript path, `.relay_js`), in one run; the guests'
 *           NIC is a TAP driven by minimal.c's client (one user-space hop, --guest-client minimal)
 *           or by `wsnic connect` (--guest-client wsnic);
 *           threads: guest-to-guest TCP with data_threads 1 and 2; steady: --steady N clients
 *           each sending 1 Mbit/s, the relay's CPU and an idle client's ping during it
 *
 * Options: --quick (short runs), --relay-cmd 'CMD with {conf}', --scale 100,1000,10000,
 *          --only lease,ping,tcp,jumbo,udp,threads,steady,scale,status,slow,restart, --paths native,js,
 *          --steady 1000, --steady-gen c|node, --restart-clients 100,1000, --out DIR, --perf (a `perf record -g` of the
 *          relay during each TCP figure: OUT/perf-FIGURE.txt, the top symbols and what calls them)
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, WSNIC, Topology, relayNetwork, sh, type Proc } from '../e2e/topology';
import { barsFromFigures, renderChart } from './chart';
import { restartPart } from './restart';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
};
const QUICK = argv.includes('--quick');
const RELAY_CMD = opt('relay-cmd', `${process.execPath} ${WSNIC} run -c {conf}`);
/** The relay needs two fds a client (socket, TAP): the hard NOFILE limit caps the largest step. */
const FD_HARD = Number(spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim()) || 1024;
const SCALES = opt('scale', QUICK ? '100' : '100,1000,10000')
  .split(',')
  .map(Number)
  .map((n) => Math.min(n, Math.floor((FD_HARD - 64) / 2)));
/** Extra wsnic.conf keys for every relay of the run: --relay-conf bind_client_ip=0,mtu=9000 */
const RELAY_CONF = Object.fromEntries(opt('relay-conf', '').split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]));
const ONLY = opt('only', 'lease,ping,tcp,jumbo,udp,threads,steady,scale,status,slow,restart').split(',');
/** Emulated guests of the restart part, each pinging every 10 ms. */
const RESTART_CLIENTS = opt('restart-clients', QUICK ? '100' : '100,1000').split(',').map(Number);
const OUT = opt('out', join(ROOT, 'bench-results'));
/** The relays to measure, in one run: the minimal C relay, wsnic's native path (the default) and its js path (before it). */
type Path = 'c' | 'native' | 'js';
const PATHS = opt('paths', 'c,native,js').split(',') as Path[];
/** What drives the guests' TAP in the paths parts: minimal.c's client (one user-space hop) or `wsnic connect`. */
const GUEST_CLIENT = opt('guest-client', 'minimal') as 'minimal' | 'wsnic';
/** What sends the steady part's load: minimal.c's steady mode (c) or test/bench/steady.js (node). */
const STEADY_GEN = opt('steady-gen', 'c') as 'c' | 'node';
/** test/bench/minimal.c, built by main() before any part. */
const MINIMAL = join(ROOT, 'dist-bench', 'minimal');
/** Clients of the steady part, each sending 1 Mbit/s. */
const STEADY = Math.min(Number(opt('steady', QUICK ? '100' : '1000')), Math.floor((FD_HARD - 64) / 2));
const PERF = argv.includes('--perf');
const TCP_SECONDS = QUICK ? 2 : 10;
const RUNS = QUICK ? 1 : 3;

interface Figure {
  name: string;
  value: number;
  unit: string;
}
const figures: Figure[] = [];
function report(name: string, value: number, unit: string): void {
  figures.push({ name, value, unit });
  console.log(`${name} ${Number.isFinite(value) ? Number(value.toPrecision(5)) : value} ${unit}`);
}
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const cleanups: (() => Promise<void>)[] = [];
const registerCleanup = (fn: () => Promise<void>): void => void cleanups.unshift(fn);
async function cleanupAll(): Promise<void> {
  while (cleanups.length > 0) await cleanups.shift()!().catch(() => undefined);
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void cleanupAll().then(() => process.exit(130)));

/** CPU seconds a process has used (utime + stime). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks, USER_HZ = 100
}
/** The whole machine's CPU time so far, in jiffies: busy (all but idle and iowait) and total. */
function machineCpu(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total };
}
/** Both cores' share busy between two machineCpu() readings, in % of the machine (200 % = 2 cores). */
const machinePct = (a: ReturnType<typeof machineCpu>, b: ReturnType<typeof machineCpu>, cores = 2): number => ((b.busy - a.busy) / Math.max(1, b.total - a.total)) * 100 * cores;

const rssKiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);

/** The relay's PID: the process in the server namespace that is not dnsmasq or a shell. */
function relayPid(ns: string): number {
  const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
  const comm = (p: number): string => {
    try {
      return readFileSync(`/proc/${p}/comm`, 'utf8').trim();
    } catch {
      return 'sh'; // gone since the listing (a short-lived child): not the relay
    }
  };
  const named = pids.map((p) => ({ p, comm: comm(p) })).filter((x) => !['dnsmasq', 'sh', 'prlimit', 'iperf3'].includes(x.comm));
  if (named.length === 0) throw new Error(`no relay process in ${ns}`);
  return named.sort((a, b) => a.p - b.p)[0]!.p;
}

/**
 * A relay network whose server is started by RELAY_CMD (fd limit raised for many clients); with
 * data_path = c, by `wsnic setup`, dnsmasq and minimal.c's relay instead: the same bridge,
 * ruleset and DHCP, the minimal relay's TAPs (mrtapN) outside the client-port rules, as the
 * kernel path's veths are.
 */
async function relayNet(conf: Record<string, string | number>, guests: number) {
  // iperf3 on the gateway: the host's own services are closed to clients unless allowed.
  const gateway = conf.subnet === undefined ? '192.168.86.1' : String(conf.subnet).replace(/\.0\/\d+$/, '.1');
  const open = { egress_allow: `${gateway}:tcp:5201, ${gateway}:udp:5201` };
  if (conf.data_path === 'c') {
    return relayNetwork(registerCleanup, conf, guests, (topo, srv, dropin) => {
      const run = join(topo.dir, 'run');
      const setup = topo.exec(srv, process.execPath, [WSNIC, 'setup', '--runtime-dir', run, '--dnsmasq-conf-dir', dropin, '--mtu', String(conf.mtu ?? 1500),
        ...(conf.subnet ? ['--subnet', String(conf.subnet)] : []), '--egress-allow', open.egress_allow.replace(/ /g, '')]);
      if (setup.code !== 0) throw new Error(`minimal relay's setup: ${setup.stderr}`);
      topo.spawn(srv, 'dnsmasq', ['--keep-in-foreground', `--conf-file=${run}/dnsmasq.conf`]);
      return topo.spawn(srv, 'sh', ['-c', `ulimit -n "$(ulimit -Hn)"; exec ${MINIMAL} relay ${conf.ws_port ?? 8086} wsbr0`]);
    });
  }
  return relayNetwork(registerCleanup, conf, guests, (topo, srv, dropin) => {
    const file = topo.file(`${srv}.conf`, Object.entries({ ws_address: '0.0.0.0', runtime_dir: join(topo.dir, 'run'), dnsmasq_conf_dir: dropin, ping_interval: 600, idle_timeout: 1200, ...open, ...conf, ...RELAY_CONF }).map(([k, v]) => `${k} = ${v}`).join('\n'));
    return topo.spawn(srv, 'sh', ['-c', `ulimit -n "$(ulimit -Hn)"; exec ${RELAY_CMD.replace('{conf}', file)}`]);
  });
}

/** Every guest joined (by GUEST_CLIENT) and leased, as RelayNetwork.joinAll does: the guests' addresses. */
async function joinGuests(n: Awaited<ReturnType<typeof relayNet>>, mtu?: number): Promise<string[]> {
  if (GUEST_CLIENT === 'wsnic') return n.joinAll(mtu ? ['--mtu', String(mtu)] : []);
  const ips: string[] = [];
  for (const [i, g] of n.guests.entries()) {
    const mark = n.server.mark();
    const url = new URL(n.url(i + 1));
    await n.topo.spawn(g, MINIMAL, ['client', url.hostname, url.port, 'wsn0', String(mtu ?? 1500)]).waitFor(/connected url=/);
    await n.server.waitFor(new RegExp(`client connected client_address=198\\.19\\.${i + 1}\\.2 `), 20_000, mark);
    ips.push(n.topo.dhcp(g, 'wsn0').ip);
  }
  return ips;
}

/** The kernel path: same bridge setup and dnsmasq, guests on veths. */
async function kernelNet(guests: number, mtu = 1500) {
  const topo = new Topology();
  registerCleanup(() => topo.cleanup());
  const srv = topo.ns('ksrv');
  const dropin = join(topo.dir, 'dnsmasq.d');
  sh('mkdir', ['-p', dropin]);
  topo.file('dnsmasq.d/bench.conf', 'no-resolv\n');
  const run = join(topo.dir, 'run');
  // The same rules as the relay's, iperf3 on the gateway allowed the same way.
  const setup = topo.exec(srv, process.execPath, [WSNIC, 'setup', '--runtime-dir', run, '--dnsmasq-conf-dir', dropin, '--mtu', String(mtu),
    '--egress-allow', '192.168.86.1:tcp:5201,192.168.86.1:udp:5201']);
  if (setup.code !== 0) throw new Error(`kernel path setup: ${setup.stderr}`);
  const dnsmasq = topo.spawn(srv, 'dnsmasq', ['--keep-in-foreground', `--conf-file=${run}/dnsmasq.conf`]);
  await dnsmasq.waitFor(/DHCP, sockets bound/);
  const names: string[] = [];
  for (let i = 1; i <= guests; i++) {
    const g = topo.ns(`k${i}`);
    sh('ip', ['-n', srv, 'link', 'add', `kv${i}`, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', g, 'mtu', String(mtu)]);
    sh('ip', ['-n', srv, 'link', 'set', `kv${i}`, 'master', 'wsbr0', 'up']);
    sh('ip', ['-n', g, 'link', 'set', 'eth0', 'up']);
    names.push(g);
  }
  return { topo, srv, guests: names };
}

function pingStats(topo: Topology, ns: string, target: string): { avg: number; p99: number } {
  const count = QUICK ? 50 : 200;
  const r = topo.exec(ns, 'busybox', ['ping', '-c', String(count), '-i', '0.01', '-W', '2', target], 60_000);
  const times = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  if (times.length < count * 0.9) throw new Error(`ping ${target} from ${ns}: ${times.length}/${count} replies`);
  return { avg: times.reduce((a, b) => a + b, 0) / times.length, p99: pct(times, 99) };
}

/**
 * A profile of the relay (every thread, kernel included) while fn runs: OUT/perf-NAME.txt, the
 * symbols by share of samples, then the same with their callers. Nothing without --perf.
 */
function profiled<T>(name: string, pid: number | undefined, fn: () => T): T {
  if (!PERF || !pid) return fn();
  const data = join(OUT, `perf-${name}.data`);
  const rec = spawn('perf', ['record', '-q', '-F', '997', '-g', '-p', String(pid), '-o', data], { stdio: 'ignore' });
  spawnSync('sleep', ['0.5']); // perf attached before the load starts
  try {
    return fn();
  } finally {
    rec.kill('SIGINT');
    spawnSync('sh', ['-c', `while kill -0 ${rec.pid} 2>/dev/null; do sleep 0.1; done`], { timeout: 30_000 });
    const flat = spawnSync('perf', ['report', '-i', data, '--stdio', '--no-children', '-g', 'none', '--sort', 'sym', '--percent-limit', '0.7'], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout;
    const calls = spawnSync('perf', ['report', '-i', data, '--stdio', '--no-children', '-g', 'caller,0.5,callee,function,percent', '--sort', 'sym', '--percent-limit', '3'], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout;
    writeFileSync(join(OUT, `perf-${name}.txt`), `${flat}\n# callers of the symbols above 3 %\n${calls}`);
    spawnSync('rm', ['-f', data]);
    console.log(`# profile: ${join(OUT, `perf-${name}.txt`)}`);
  }
}

/** iperf3 TCP: median Mbit/s over RUNS, and the relay's CPU over those runs. */
function iperfTcp(topo: Topology, clientNs: string, server: string, reverse: boolean, pid?: number, name = ''): { mbit: number; cpu: number; machine: number } {
  return profiled(name, pid, () => iperfRuns(topo, clientNs, server, reverse, pid));
}

function iperfRuns(topo: Topology, clientNs: string, server: string, reverse: boolean, pid?: number): { mbit: number; cpu: number; machine: number } {
  const rates: number[] = [];
  let cpu = 0;
  let wall = 0;
  const m0 = machineCpu();
  for (let i = 0; i < RUNS; i++) {
    const c0 = pid ? cpuSeconds(pid) : 0;
    const t0 = Date.now();
    const r = topo.exec(clientNs, 'iperf3', ['-c', server, '-t', String(TCP_SECONDS), '-J', ...(reverse ? ['-R'] : [])], (TCP_SECONDS + 30) * 1000);
    wall += (Date.now() - t0) / 1000;
    if (pid) cpu += cpuSeconds(pid) - c0;
    const j = JSON.parse(r.stdout || '{}') as { end?: { sum_received?: { bits_per_second: number } }; error?: string };
    if (!j.end?.sum_received) throw new Error(`iperf3 ${clientNs} -> ${server}: ${j.error ?? r.stderr}`);
    rates.push(j.end.sum_received.bits_per_second / 1e6);
  }
  return { mbit: median(rates), cpu: wall > 0 ? cpu / wall : 0, machine: machinePct(m0, machineCpu()) };
}

async function iperfServer(topo: Topology, ns: string, bind?: string): Promise<Proc> {
  const p = topo.spawn(ns, 'iperf3', ['-s', '--forceflush', ...(bind ? ['-B', bind] : [])]);
  await p.waitFor(/Server listening/);
  return p;
}

async function leaseAndTap(): Promise<void> {
  const n = await relayNet({}, 1);
  const g = n.guests[0]!;
  const leases: number[] = [];
  const taps: number[] = [];
  for (let i = 0; i < 5; i++) {
    const mark = n.server.mark();
    const c = n.topo.connect(g, n.url(1), ['--tap', `wsn${i}`]);
    await c.waitFor(/connected url=/);
    const t0 = Date.now();
    n.topo.dhcp(g, `wsn${i}`);
    leases.push(Date.now() - t0);
    taps.push(Number(/tap_ms=([\d.]+)/.exec(await n.server.waitFor(/client connected .*tap_ms=/, 5000, mark))![1]));
    c.child.kill('SIGTERM');
    await c.exited;
  }
  const k = await kernelNet(1);
  const kleases: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = Date.now();
    k.topo.dhcp(k.guests[0]!, 'eth0');
    kleases.push(Date.now() - t0);
    k.topo.exec(k.guests[0]!, 'ip', ['addr', 'flush', 'dev', 'eth0']);
  }
  report('lease_ms.relay', median(leases), 'ms');
  report('lease_ms.kernel', median(kleases), 'ms');
  report('tap_ready_ms.relay', median(taps), 'ms');
  await cleanupAll();
}

/**
 * Ping, TCP, UDP (or jumbo TCP) for one data path of the relay: figures `.relay` for the native
 * path (the default), `.relay_js` for data_path = js (the TypeScript path, kept for the
 * comparison); the kernel path's `.kernel` figures with the native run.
 */
async function pingAndTcp(jumbo: boolean, path: Path = 'native', threads = 0): Promise<void> {
  const mtu = jumbo ? 65521 : undefined;
  const tag = jumbo ? 'jumbo.' : '';
  const R = path !== 'native' ? `relay_${path}` : threads ? `relay_${threads}thread` : 'relay';
  const n = await relayNet({ ...(jumbo ? { mtu: 65521 } : {}), data_path: path, data_threads: threads }, 2);
  const [, ip2] = (await joinGuests(n, mtu)) as [string, string];
  const [g1, g2] = n.guests as [string, string];
  const pid = relayPid(n.srv);
  const k = R === 'relay' ? await kernelNet(2, mtu ?? 1500) : undefined;
  const [k1, k2] = (k?.guests ?? []) as [string, string];
  if (k) k.topo.dhcp(k1, 'eth0');
  const kip2 = k ? k.topo.dhcp(k2, 'eth0').ip : '';

  if (!jumbo && !threads && ONLY.includes('ping')) {
    for (const [what, rt, kt] of [['gateway', '192.168.86.1', '192.168.86.1'], ['guest', ip2, kip2]] as const) {
      const r = pingStats(n.topo, g1, rt);
      report(`ping_${what}_avg_ms.${R}`, r.avg, 'ms');
      report(`ping_${what}_p99_ms.${R}`, r.p99, 'ms');
      if (!k) continue;
      const kk = pingStats(k.topo, k1, kt);
      report(`ping_${what}_avg_ms.kernel`, kk.avg, 'ms');
      report(`ping_${what}_p99_ms.kernel`, kk.p99, 'ms');
      report(`ping_${what}_added_avg_ms`, r.avg - kk.avg, 'ms');
    }
  }
  if (ONLY.includes(jumbo ? 'jumbo' : 'tcp')) {
    await iperfServer(n.topo, g2);
    await iperfServer(n.topo, n.srv, '192.168.86.1');
    if (k) await iperfServer(k.topo, k2);
    if (k) await iperfServer(k.topo, k.srv, '192.168.86.1');
    const cases = [
      ['guest_to_guest', g1, ip2, false, k1, kip2],
      ['guest_to_host', g1, '192.168.86.1', false, k1, '192.168.86.1'],
      ['host_to_guest', g1, '192.168.86.1', true, k1, '192.168.86.1'],
    ] as const;
    for (const [what, cns, target, rev, kns, ktarget] of cases) {
      if (threads && what !== 'guest_to_guest') continue; // the threads comparison: guest to guest only
      const r = iperfTcp(n.topo, cns, target, rev, pid, `${tag}tcp_${what}.${R}`);
      report(`${tag}tcp_${what}_mbit.${R}`, r.mbit, 'Mbit/s');
      report(`${tag}tcp_${what}_relay_cpu_pct.${R}`, r.cpu * 100, '%');
      report(`${tag}tcp_${what}_mbit_per_relay_cpu_s.${R}`, r.cpu > 0 ? r.mbit / r.cpu : NaN, 'Mbit/CPU-s');
      report(`${tag}tcp_${what}_machine_cpu_pct.${R}`, r.machine, '% of 200');
      if (k) report(`${tag}tcp_${what}_mbit.kernel`, iperfTcp(k.topo, kns, ktarget, rev).mbit, 'Mbit/s');
    }
  }
  if (!jumbo && !threads && ONLY.includes('udp')) {
    await iperfServer(n.topo, g2, ip2).catch(() => undefined);
    const udp = (pps: number): { rx: number; loss: number; relayCpu: number; machineCpu: number } => {
      const rate = pps === 0 ? '0' : String(pps * 64 * 8);
      const [m0, c0, t0] = [machineCpu(), cpuSeconds(pid), Date.now()];
      const r = n.topo.exec(g1, 'iperf3', ['-c', ip2, '-u', '-l', '64', '-b', rate, '-t', QUICK ? '2' : '5', '-J'], 60_000);
      const [m1, c1, t1] = [machineCpu(), cpuSeconds(pid), Date.now()];
      const j = JSON.parse(r.stdout || '{}') as { end?: { sum?: { packets: number; lost_packets: number; seconds: number } } };
      const s = j.end?.sum;
      if (!s) throw new Error(`iperf3 udp: ${r.stdout.slice(0, 300)} ${r.stderr}`);
      return { rx: (s.packets - s.lost_packets) / s.seconds, loss: s.packets > 0 ? s.lost_packets / s.packets : 1, relayCpu: ((c1 - c0) / ((t1 - t0) / 1000)) * 100, machineCpu: machinePct(m0, m1) };
    };
    const max = udp(0);
    report(`udp64_max_offered_rx_pps.${R}`, max.rx, 'packets/s');
    report(`udp64_max_offered_loss_pct.${R}`, max.loss * 100, '%');
    for (const pps of [200_000, 300_000]) {
      const r = udp(pps);
      report(`udp64_${pps / 1000}k_offered_rx_pps.${R}`, r.rx, 'packets/s');
      report(`udp64_${pps / 1000}k_offered_loss_pct.${R}`, r.loss * 100, '%');
      // What limits it: the relay's share, and the whole machine's (200 % = both cores busy).
      report(`udp64_${pps / 1000}k_offered_relay_cpu_pct.${R}`, r.relayCpu, '%');
      report(`udp64_${pps / 1000}k_offered_machine_cpu_pct.${R}`, r.machineCpu, '% of 200');
    }
    let best = 0;
    for (const pps of [5_000, 10_000, 20_000, 50_000, 100_000, 150_000, 200_000, 300_000]) {
      const r = udp(pps);
      if (r.loss < 0.01) best = r.rx;
      else break;
    }
    report(`udp64_highest_rx_pps_under_1pct_loss.${R}`, best, 'packets/s');
  }
  await cleanupAll();
}

/**
 * `count` clients each sending a steady 1 Mbit/s (minimal.c's steady mode, or test/bench/steady.js
 * with --steady-gen node: 1,250-byte frames every 10 ms to the bridge's own MAC, dropped there),
 * so count Mbit/s in all: the relay's CPU, and the ping of one more, idle, client to the gateway
 * during it.
 */
async function steady(count: number, path: Path): Promise<void> {
  const R = path !== 'native' ? `relay_${path}` : 'relay';
  const n = await relayNet({ subnet: '10.64.0.0/18', data_path: path }, 2);
  await n.joinAll([], 1);
  const pid = relayPid(n.srv);
  const bridgeMac = (JSON.parse(sh('ip', ['-n', n.srv, '-j', 'link', 'show', 'wsbr0'])) as { address: string }[])[0]!.address;
  // The generator: minimal.c's steady mode (one C loop), or test/bench/steady.js (--steady-gen node).
  const url = new URL(n.url(2));
  const gen = STEADY_GEN === 'node' ? `${process.execPath} ${join(ROOT, 'test', 'bench', 'steady.js')} ${n.url(2)} ${count} ${bridgeMac}` : `${MINIMAL} steady ${url.hostname} ${url.port} ${count} ${bridgeMac} 1250`;
  const load = n.topo.spawn(n.guests[1]!, 'sh', ['-c', `ulimit -n "$(ulimit -Hn)"; exec ${gen}`]);
  const res = JSON.parse(await load.waitFor(/"event":"connected"/, 600_000)) as { n: number; failed: number };
  await sleep(3000); // every client bound and sending
  const c0 = cpuSeconds(pid);
  const t0 = Date.now();
  const ping = n.topo.exec(n.guests[0]!, 'busybox', ['ping', '-c', QUICK ? '100' : '500', '-i', '0.02', '-W', '2', '10.64.0.1'], 120_000);
  const cpu = (cpuSeconds(pid) - c0) / ((Date.now() - t0) / 1000);
  const mark = load.mark();
  load.child.kill('SIGTERM');
  const done = JSON.parse(await load.waitFor(/"event":"done"/, 10_000, mark)) as { frames: number; seconds: number };
  const rtts = [...ping.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  report(`steady_${count}x1mbit_clients.${R}`, res.n, 'clients');
  report(`steady_${count}x1mbit_sent_mbit.${R}`, (done.frames * 1250 * 8) / done.seconds / 1e6, 'Mbit/s');
  report(`steady_${count}x1mbit_relay_cpu_pct.${R}`, cpu * 100, '%');
  report(`steady_${count}x1mbit_idle_client_ping_p50_ms.${R}`, median(rtts), 'ms');
  report(`steady_${count}x1mbit_idle_client_ping_p99_ms.${R}`, pct(rtts, 99), 'ms');
  report(`steady_${count}x1mbit_idle_client_ping_replies_pct.${R}`, (rtts.length / (QUICK ? 100 : 500)) * 100, '%');
  await load.exited;
  await cleanupAll();
}

async function scale(count: number): Promise<void> {
  // A /18 leases 16,381; ping slowly so that idle clients stay idle.
  const n = await relayNet({ subnet: '10.64.0.0/18' }, 3);
  const pid = relayPid(n.srv);
  await sleep(500);
  const rss0 = rssKiB(pid);
  const mark = n.server.mark();
  const many = n.topo.spawn(n.guests[0]!, 'sh', ['-c', `ulimit -n "$(ulimit -Hn)"; exec ${process.execPath} ${join(ROOT, 'test', 'bench', 'many.js')} ${n.url(1)} ${count} 200`]);
  const line = await many.waitFor(/"event":"connected"/, 600_000);
  const res = JSON.parse(line) as { n: number; ms: number; failed: number };
  await sleep(1000);
  const rss1 = rssKiB(pid);
  const taps = (n.topo.exec(n.srv, 'ip', ['-o', 'link', 'show'], 60_000).stdout.match(/ wstap\d+[:@]/g) ?? []).length;
  const tapMs = [...n.server.output().slice(mark).matchAll(/tap_ms=([\d.]+)/g)].map((m) => Number(m[1]));
  report(`scale_${count}_connect_all_ms`, res.ms, 'ms');
  report(`scale_${count}_tap_ready_p50_ms`, median(tapMs), 'ms');
  report(`scale_${count}_tap_ready_p99_ms`, pct(tapMs, 99), 'ms');
  report(`scale_${count}_connected`, res.n, 'clients');
  report(`scale_${count}_taps_present`, taps, 'TAPs');
  report(`scale_${count}_relay_rss_mib`, rss1 / 1024, 'MiB');
  report(`scale_${count}_kib_per_client`, (rss1 - rss0) / Math.max(1, res.n), 'KiB');
  // A sample: two guests connect now and must get a lease and reach the gateway.
  let ok = 0;
  for (const i of [2, 3]) {
    try {
      const c = n.topo.connect(n.guests[i - 1]!, n.url(i), ['--tap', 'wsn0']);
      await c.waitFor(/connected url=/, 60_000);
      n.topo.dhcp(n.guests[i - 1]!, 'wsn0');
      if (/1 packets received/.test(n.topo.exec(n.guests[i - 1]!, 'busybox', ['ping', '-c', '1', '-W', '3', '10.64.0.1']).stdout)) ok++;
    } catch (err) {
      console.error(`sample client ${i}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  report(`scale_${count}_sample_lease_and_ping_ok`, ok, 'of 2');
  const t0 = Date.now();
  many.child.kill('SIGTERM');
  await many.exited;
  let left = taps;
  while (Date.now() - t0 < 120_000) {
    left = (n.topo.exec(n.srv, 'ip', ['-o', 'link', 'show'], 60_000).stdout.match(/ wstap\d+[:@]/g) ?? []).length;
    if (left <= 2) break; // the two sample clients remain
    await sleep(500);
  }
  report(`scale_${count}_taps_left_after_close`, left - 2, 'TAPs');
  report(`scale_${count}_close_all_ms`, Date.now() - t0, 'ms');
  await cleanupAll();
}

/** A command in a namespace, run without blocking the bench's loop: wall time and output. */
function timedExec(ns: string, cmd: string, args: string[]): Promise<{ ms: number; code: number | null; stdout: string; bytes: number }> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.on('close', (code) => {
      const out = Buffer.concat(chunks);
      resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, code, stdout: out.toString(), bytes: out.length });
    });
  });
}

/** busybox ping's replies in a stretch of its output: RTTs and how many of the sequence numbers sent never came back. */
function pingReplies(text: string): { rtts: number[]; lost: number } {
  const replies = [...text.matchAll(/seq=(\d+) ttl=\d+ time=([\d.]+) ms/g)].map((m) => ({ seq: Number(m[1]), ms: Number(m[2]) }));
  if (replies.length === 0) return { rtts: [], lost: NaN };
  const seqs = replies.map((r) => r.seq);
  return { rtts: replies.map((r) => r.ms), lost: Math.max(...seqs) - Math.min(...seqs) + 1 - new Set(seqs).size };
}

/**
 * `wsnic status` against a relay (on one data path) with `count` idle clients, while one more
 * client pings the gateway every 10 ms: its RTT before, while `status --json` runs back to back,
 * and while a mere CPU hog runs as long (what sharing 2 cores costs anyway).
 */
async function statusUnderLoad(count: number, path: 'native' | 'js'): Promise<void> {
  const R = path === 'js' ? 'relay_js' : 'relay';
  const n = await relayNet({ subnet: '10.64.0.0/18', data_path: path }, 2);
  const sock = /control socket path=(\S+)/.exec(await n.server.waitFor(/control socket path=/))![1]!;
  await n.joinAll([], 1); // guest 1: the client that pings, leased; the idle ones make up the rest of count
  const mark = n.server.mark();
  const many = n.topo.spawn(n.guests[1]!, 'sh', ['-c', `ulimit -n "$(ulimit -Hn)"; exec ${process.execPath} ${join(ROOT, 'test', 'bench', 'many.js')} ${n.url(2)} ${count - 1} 200`]);
  const res = JSON.parse(await many.waitFor(/"event":"connected"/, 600_000)) as { n: number; failed: number };
  const connected = res.n + 1;
  // A WebSocket is open before its TAP is made (a few at a time): wait until the relay serves
  // them all (or stops making progress for a minute), else TAP setup runs during the measurement.
  const served = (): number => (n.server.output().slice(mark).match(/client connected /g) ?? []).length;
  for (let last = -1, since = Date.now(); served() < res.n && Date.now() - since < 60_000; await sleep(1000)) {
    if (served() !== last) [last, since] = [served(), Date.now()];
  }
  await sleep(2000); // the last TAPs' setup settles
  const cli = (args: string[]): ReturnType<typeof timedExec> => timedExec(n.srv, process.execPath, [WSNIC, ...args, '--control-socket', sock]);

  const pid = relayPid(n.srv);
  const ping = n.topo.spawn(n.guests[0]!, 'busybox', ['ping', '-i', '0.01', '10.64.0.1']);
  await ping.waitFor(/seq=\d+ /);
  const m0 = ping.mark();
  const c0 = cpuSeconds(pid);
  const t0 = Date.now();
  await sleep((QUICK ? 3 : 10) * 1000);
  const m1 = ping.mark();
  const c1 = cpuSeconds(pid);
  const t1 = Date.now();
  const walls: number[] = [];
  let bytes = 0;
  let listed = 0;
  let ended = 0;
  for (let i = 0; i < (QUICK ? 3 : 10); i++) {
    const r = await cli(['status', '--json']);
    if (r.code !== 0) throw new Error(`wsnic status --json exited ${r.code}`);
    walls.push(r.ms);
    bytes = r.bytes;
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { client?: unknown; end?: { clients: number } });
    listed = lines.filter((l) => l.client).length;
    ended = lines.at(-1)?.end?.clients ?? NaN;
  }
  const m2 = ping.mark();
  const c2 = cpuSeconds(pid);
  const t2 = Date.now();
  // The control: one core kept busy as long by another process than the relay (2 cores here).
  await timedExec(n.srv, process.execPath, ['-e', `const end = Date.now() + ${t2 - t1}; while (Date.now() < end);`]);
  const m3 = ping.mark();
  await sleep(500);
  ping.child.kill('SIGINT');
  const base = pingReplies(ping.output().slice(m0, m1));
  const during = pingReplies(ping.output().slice(m1, m2));
  const hog = pingReplies(ping.output().slice(m2, m3));
  const text = await cli(['status']);
  const startup = await timedExec(n.srv, process.execPath, [WSNIC, '--version']);
  if (listed !== connected) {
    // Not a figure: why clients left the relay during the run, by close code and reason.
    const why = new Map<string, number>();
    for (const m of n.server.output().matchAll(/client disconnected .*?code=(\d+) reason=("[^"]*"|\S+)/g)) why.set(`${m[1]} ${m[2]}`, (why.get(`${m[1]} ${m[2]}`) ?? 0) + 1);
    console.error(`# status (${path}): ${connected - listed} of ${connected} clients left during the run: ${[...why].map(([k, v]) => `${k} x${v}`).join(', ') || 'no disconnect logged'}`);
  }

  report(`status_${count}_connected.${R}`, connected, 'clients');
  report(`status_${count}_connect_failed.${R}`, res.failed, 'clients');
  report(`status_${count}_json_listed.${R}`, listed, 'clients');
  report(`status_${count}_json_count_matches.${R}`, listed === connected && ended === connected ? 1 : 0, 'bool');
  report(`status_${count}_json_bytes.${R}`, bytes, 'bytes');
  report(`status_${count}_json_wall_median_ms.${R}`, median(walls), 'ms');
  report(`status_${count}_json_wall_max_ms.${R}`, Math.max(...walls), 'ms');
  report(`status_${count}_text_wall_ms.${R}`, text.ms, 'ms');
  report(`status_${count}_text_bytes.${R}`, text.bytes, 'bytes');
  report(`status_cli_version_wall_ms.${R}`, startup.ms, 'ms'); // node's start alone, for comparison
  report(`status_${count}_relay_cpu_idle_pct.${R}`, ((c1 - c0) / ((t1 - t0) / 1000)) * 100, '%');
  report(`status_${count}_relay_cpu_during_status_pct.${R}`, ((c2 - c1) / ((t2 - t1) / 1000)) * 100, '%');
  report(`status_${count}_json_relay_cpu_ms_per_run.${R}`, ((c2 - c1) * 1000) / walls.length, 'ms');
  for (const [what, p] of [['idle', base], ['during_status', during], ['during_cpu_hog', hog]] as const) {
    report(`status_${count}_ping_${what}_p50_ms.${R}`, median(p.rtts), 'ms');
    report(`status_${count}_ping_${what}_p99_ms.${R}`, pct(p.rtts, 99), 'ms');
    report(`status_${count}_ping_${what}_max_ms.${R}`, Math.max(...p.rtts), 'ms');
    report(`status_${count}_ping_${what}_replies.${R}`, p.rtts.length, 'replies');
    report(`status_${count}_ping_${what}_lost.${R}`, p.lost, 'pings');
  }
  many.child.kill('SIGTERM');
  await many.exited;
  await cleanupAll();
}

async function slowConsumer(): Promise<void> {
  const n = await relayNet({}, 2);
  await n.joinAll([], 1);
  const pid = relayPid(n.srv);
  const idle = pingStats(n.topo, n.guests[0]!, '192.168.86.1');
  // The slow client: announces 02:aa:aa:aa:aa:01 (an ARP probe, which the client-port rules
  // let through before a lease), then stops reading. The host sends it UDP
  // at full speed through a static neighbour entry.
  const slow = n.topo.spawn(n.guests[1]!, process.execPath, ['-e', `
    const W = require(${JSON.stringify(join(ROOT, 'node_modules', 'ws'))});
    const ws = new W(${JSON.stringify(n.url(2))}, { perMessageDeflate: false });
    ws.on('open', () => { const f = Buffer.alloc(60); f.write('ffffffffffff02aaaaaaaa01080600010800060400010' + '2aaaaaaaa01' + '00000000' + '000000000000' + 'c0a856fa', 0, 'hex'); ws.send(f);
      setTimeout(() => { ws._socket.pause(); console.log('paused'); }, 300); });`]);
  await slow.waitFor(/paused/);
  sh('ip', ['-n', n.srv, 'neigh', 'replace', '192.168.86.250', 'lladdr', '02:aa:aa:aa:aa:01', 'dev', 'wsbr0', 'nud', 'permanent']);
  const seconds = QUICK ? 4 : 10;
  const blast = n.topo.spawn(n.srv, process.execPath, [join(ROOT, 'test', 'bench', 'blast.js'), '192.168.86.250', '9', '1400', String(seconds)]);
  const samples: number[] = [];
  const sampler = setInterval(() => samples.push(rssKiB(pid)), 500);
  await sleep(1000);
  const during = pingStats(n.topo, n.guests[0]!, '192.168.86.1');
  await blast.exited;
  clearInterval(sampler);
  report('slow_consumer_relay_rss_start_mib', samples[0]! / 1024, 'MiB');
  report('slow_consumer_relay_rss_max_mib', Math.max(...samples) / 1024, 'MiB');
  report('slow_consumer_relay_rss_end_mib', samples[samples.length - 1]! / 1024, 'MiB');
  report('slow_consumer_other_ping_idle_ms', idle.avg, 'ms');
  report('slow_consumer_other_ping_during_ms', during.avg, 'ms');
  await cleanupAll();
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  mkdirSync(join(ROOT, 'dist-bench'), { recursive: true });
  sh('cc', ['-O2', '-Wall', '-o', MINIMAL, join(ROOT, 'test', 'bench', 'minimal.c')]);
  console.log(`# relay: ${RELAY_CMD}${QUICK ? ' (quick)' : ''}; paths ${PATHS.join(',')}; guests' client: ${GUEST_CLIENT}`);
  if (ONLY.includes('lease')) await leaseAndTap();
  for (const path of PATHS) {
    if (ONLY.some((o) => ['ping', 'tcp', 'udp'].includes(o))) await pingAndTcp(false, path);
    if (ONLY.includes('jumbo')) await pingAndTcp(true, path);
  }
  if (ONLY.includes('threads') && PATHS.includes('native')) for (const th of [1, 2]) await pingAndTcp(false, 'native', th);
  if (ONLY.includes('steady')) for (const path of PATHS) await steady(STEADY, path);
  if (ONLY.includes('scale')) for (const s of SCALES) await scale(s);
  if (ONLY.includes('status')) for (const path of PATHS.filter((p) => p !== 'c')) await statusUnderLoad(Math.max(...SCALES), path);
  if (ONLY.includes('slow')) await slowConsumer();
  if (ONLY.includes('restart')) await restartPart({ report, registerCleanup, cleanupAll, quick: QUICK }, RESTART_CLIENTS);
  writeFileSync(join(OUT, 'bench.json'), `${JSON.stringify({ relay: RELAY_CMD, quick: QUICK, date: new Date().toISOString(), figures }, null, 2)}\n`);
  writeFileSync(join(OUT, 'bench.svg'), renderChart(`wsnic benchmark (${new Date().toISOString().slice(0, 10)}, 2 cores)`, barsFromFigures(figures)));
  console.log(`# wrote ${join(OUT, 'bench.json')} and ${join(OUT, 'bench.svg')}`);
}

main().then(
  () => cleanupAll(),
  async (err: Error) => {
    console.error(`bench failed: ${err.stack ?? err.message}`);
    await cleanupAll();
    process.exitCode = 1;
  },
);
