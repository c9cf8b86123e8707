/**
 * Test networks made of namespaces, each run with its own name prefix so runs can go on side by
 * side. Everything made here is removed in cleanup() (called from t.teardown, so also on failure):
 * processes first, then namespaces, which takes their interfaces, bridges, TAPs and rules along.
 *
 * Addresses: 198.18.0.0/15 (the benchmarking range) for the links between namespaces; the
 * "internet" is another namespace. Nothing leaves this machine.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { own, disown } from '../tools/reap';

/** The repository: the nearest directory up with wsnic's package.json (tests may run compiled). */
function findRoot(dir: string): string {
  for (let d = dir; d !== dirname(d); d = dirname(d)) if (existsSync(join(d, 'package.json')) && existsSync(join(d, 'native'))) return d;
  throw new Error(`no wsnic checkout above ${dir}`);
}
export const ROOT = findRoot(__dirname);
export const WSNIC = join(ROOT, 'dist', 'cli', 'main.js');

let counter = 0;

/**
 * With WSNIC_ASAN_ADDON=PATH (test/native/asan.test.ts), relays and `wsnic connect` load that
 * AddressSanitizer/UBSan build of the addon; any finding aborts them, which fails the test.
 */
export function sanitizerEnv(): NodeJS.ProcessEnv {
  const addon = process.env.WSNIC_ASAN_ADDON;
  if (!addon) return {};
  return {
    WSNIC_ADDON: addon,
    LD_PRELOAD: spawnSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).stdout.trim(),
    // Node itself keeps memory to the end: leaks are not ours to judge here, errors are.
    NODE_OPTIONS: `--require ${join(ROOT, 'test', 'tools', 'asan-preload.js')}`,
    ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1:halt_on_error=1',
    UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
  };
}

export interface Proc {
  child: ChildProcess;
  output(): string;
  /**
   * Resolves when a line matching re has been printed (after output position `since`, e.g. a
   * value of mark() taken before the action); rejects on exit or timeout.
   */
  waitFor(re: RegExp, ms?: number, since?: number): Promise<string>;
  /** The current output position, for waitFor(re, ms, since). */
  mark(): number;
  exited: Promise<number | null>;
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export class Topology {
  readonly prefix: string;
  readonly dir: string;
  private readonly namespaces: string[] = [];
  private readonly procs: Proc[] = [];

  constructor() {
    // Unique per run and per topology: pid and a counter, short enough for interface names.
    this.prefix = `w${(process.pid % 100000).toString(36)}${(counter++).toString(36)}`;
    this.dir = mkdtempSync(join(tmpdir(), `wsnic-${this.prefix}-`));
    own('path', this.dir);
  }

  /** Creates namespace PREFIX-name with lo up; returns its full name. */
  ns(name: string): string {
    const full = `${this.prefix}-${name}`;
    own('netns', full);
    sh('ip', ['netns', 'add', full]);
    this.namespaces.push(full);
    sh('ip', ['-n', full, 'link', 'set', 'lo', 'up']);
    return full;
  }

  /** A veth link between two namespaces with an address on each end (a /24 each side). */
  link(a: string, aIf: string, aAddr: string, b: string, bIf: string, bAddr: string): void {
    // Made inside the namespaces: nothing appears on the host, even for a moment.
    sh('ip', ['-n', a, 'link', 'add', aIf, 'type', 'veth', 'peer', 'name', bIf, 'netns', b]);
    sh('ip', ['-n', a, 'addr', 'add', aAddr, 'dev', aIf]);
    sh('ip', ['-n', b, 'addr', 'add', bAddr, 'dev', bIf]);
    sh('ip', ['-n', a, 'link', 'set', aIf, 'up']);
    sh('ip', ['-n', b, 'link', 'set', bIf, 'up']);
  }

  /** Runs a command in a namespace to completion. */
  exec(ns: string, cmd: string, args: string[], timeoutMs = 30_000): ExecResult {
    const r = spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024 });
    return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** Starts a long-running command in a namespace; it is killed in cleanup(). */
  spawn(ns: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let out = '';
    const waiters: { re: RegExp; since: number; resolve: (l: string) => void }[] = [];
    const onData = (d: Buffer): void => {
      out += d.toString();
      for (const w of [...waiters]) {
        const m = out.slice(w.since).split('\n').find((l) => w.re.test(l));
        if (m !== undefined) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    // Resolved once its output is all read ('close'), not at 'exit': the last lines can come after
    // it (seen: a docker client's whole shutdown log). At most 2 s after 'exit', in case a child
    // it left holds the pipes.
    const exited = new Promise<number | null>((r) => {
      child.on('exit', (code) => setTimeout(() => r(code), 2000).unref());
      child.on('close', (code) => r(code));
    });
    const proc: Proc = {
      child,
      output: () => out,
      mark: () => out.length,
      exited,
      waitFor: (re, ms = 20_000, since = 0) =>
        new Promise((resolveLine, reject) => {
          const m = out.slice(since).split('\n').find((l) => re.test(l));
          if (m !== undefined) return resolveLine(m);
          const timer = setTimeout(() => reject(new Error(`timeout waiting for ${re} in:\n${out}`)), ms);
          const w = {
            re,
            since,
            resolve: (l: string) => {
              clearTimeout(timer);
              resolveLine(l);
            },
          };
          waiters.push(w);
          void exited.then((code) => {
            if (waiters.includes(w)) {
              clearTimeout(timer);
              reject(new Error(`${cmd} exited (${code}) before printing ${re}:\n${out}`));
            }
          });
        }),
    };
    this.procs.push(proc);
    return proc;
  }

  /** `wsnic run` in a namespace with a config file written from these keys. */
  wsnic(ns: string, conf: Record<string, string | number>, args: string[] = []): Proc {
    const file = this.file(`${ns}.conf`, Object.entries({ runtime_dir: join(this.dir, `${ns}-run`), ...conf }).map(([k, v]) => `${k} = ${v}`).join('\n'));
    return this.spawn(ns, process.execPath, [WSNIC, 'run', '-c', file, ...args], sanitizerEnv());
  }

  /** `wsnic connect` in a namespace. */
  connect(ns: string, url: string, args: string[] = []): Proc {
    return this.spawn(ns, process.execPath, [WSNIC, 'connect', url, ...args], sanitizerEnv());
  }

  /** A DHCP lease with busybox udhcpc on dev (asking for a hostname, if given, and with extra options); returns what the server offered. */
  dhcp(ns: string, dev: string, hostname?: string, extra: string[] = []): { ip: string; mask: string; router: string; dns: string; domain: string; ms: number } {
    const script = this.file('udhcpc.sh', [
      '#!/bin/sh',
      'case "$1" in bound|renew)',
      '  ip addr replace "$ip/$mask" dev "$interface"',
      '  [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"',
      '  echo "LEASE ip=$ip mask=$mask router=$router dns=$dns domain=$domain";;',
      'esac',
      '',
    ].join('\n'));
    chmodSync(script, 0o755);
    const t0 = Date.now();
    const r = this.exec(ns, 'busybox', ['udhcpc', '-i', dev, '-q', '-n', '-t', '10', '-T', '1', '-s', script, ...(hostname ? ['-x', `hostname:${hostname}`] : []), ...extra]);
    const line = r.stdout.split('\n').find((l) => l.startsWith('LEASE '));
    if (!line) throw new Error(`no DHCP lease on ${dev} in ${ns}: ${r.stdout}${r.stderr}`);
    const f = Object.fromEntries(line.slice(6).split(' ').map((kv) => kv.split('=') as [string, string]));
    return { ip: f.ip ?? '', mask: f.mask ?? '', router: f.router ?? '', dns: f.dns ?? '', domain: f.domain ?? '', ms: Date.now() - t0 };
  }

  /** An HTTP GET from a namespace (busybox 1.35's wget segfaults with -T here, so Node's http). */
  httpGet(ns: string, url: string, timeoutMs = 5000): ExecResult {
    const script = `require('http').get(${JSON.stringify(url)}, { timeout: ${timeoutMs} }, (r) => { r.pipe(process.stdout); })
      .on('timeout', function () { console.error('timeout'); process.exit(1); })
      .on('error', (e) => { console.error(e.message); process.exit(1); });`;
    return this.exec(ns, process.execPath, ['-e', script], timeoutMs + 5000);
  }

  /** A self-signed certificate and key for an IP address, in this topology's directory. */
  selfSigned(cn: string, ip: string): { cert: string; key: string } {
    const cert = join(this.dir, `${cn}.crt`);
    const key = join(this.dir, `${cn}.key`);
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${cn}`,
      '-addext', `subjectAltName=IP:${ip}`, '-keyout', key, '-out', cert], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
    return { cert, key };
  }

  file(name: string, text: string): string {
    const path = join(this.dir, name);
    writeFileSync(path, text);
    return path;
  }

  /** Kills what this topology started, then deletes its namespaces and files. */
  async cleanup(): Promise<void> {
    for (const p of this.procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
    await Promise.all(
      this.procs.map((p) => Promise.race([p.exited, new Promise((r) => setTimeout(r, 5000))]).then(() => {
        if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      })),
    );
    for (const ns of this.namespaces) {
      // Processes started in the namespace by other means (e.g. a stray dnsmasq) go too.
      const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          /* gone already */
        }
      }
      spawnSync('ip', ['netns', 'del', ns]);
      if (!existsSync(`/run/netns/${ns}`)) disown('netns', ns); // else its watcher tries again
    }
    rmSync(this.dir, { recursive: true, force: true });
    disown('path', this.dir);
  }

  /** Names of this topology's namespaces that still exist (for the leak check). */
  static leftovers(prefix: string): string[] {
    return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.startsWith(`${prefix}-`));
  }
}

export function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

export interface RelayNetwork {
  topo: Topology;
  srv: string;
  inet: string;
  guests: string[];
  server: Proc;
  /** ws:// URL of the server as guest i sees it. */
  url(i: number, scheme?: 'ws' | 'wss'): string;
  /**
   * Starts the "outside": an HTTP server on port 8080 of the inet namespace (INTERNET, beyond
   * the uplink's network, and 198.18.0.2, the uplink's gateway) answering with the caller's address.
   */
  outside(): Promise<void>;
  /**
   * Joins the first `count` guests one after another (so their TAPs' order is known) with
   * `wsnic connect --tap wsn0 ARGS`, each leased by udhcpc; returns their addresses.
   */
  joinAll(args?: string[], count?: number): Promise<string[]>;
}

/** An "Internet" address: on the inet namespace, routed to via the uplink's gateway. */
export const INTERNET = '198.18.1.80';

const OUTSIDE_SERVER = `require('http').createServer((q, s) => s.end(q.socket.remoteAddress.replace('::ffff:', ''))).listen(8080, () => console.log('http ready'))`;

/**
 * The usual test network: a server namespace running `wsnic run` (with these wsnic.conf keys),
 * an "internet" namespace behind its uplink (198.18.0.0/24, the server's default route) and
 * guest namespaces, each on its own link to the server (198.19.N.0/24).
 */
export async function relayNetwork(
  teardown: (fn: () => Promise<void>) => void,
  conf: Record<string, string | number>,
  guests = 1,
  /** How to start the server (default: `wsnic run -c` a file of conf), given the drop-in dir. */
  start?: (topo: Topology, srv: string, dropin: string) => Proc,
): Promise<RelayNetwork> {
  const topo = new Topology();
  teardown(() => topo.cleanup());
  const srv = topo.ns('srv');
  const inet = topo.ns('inet');
  topo.link(srv, 'uplink0', '198.18.0.1/24', inet, 'eth0', '198.18.0.2/24');
  sh('ip', ['-n', srv, 'route', 'add', 'default', 'via', '198.18.0.2']);
  // The Internet is past the uplink's gateway: the uplink's own network is the host's LAN,
  // which egress_deny's host-networks keeps clients out of.
  sh('ip', ['-n', inet, 'addr', 'add', `${INTERNET}/32`, 'dev', 'lo']);
  const names: string[] = [];
  for (let i = 1; i <= guests; i++) {
    const g = topo.ns(`g${i}`);
    topo.link(srv, `ctl${i}`, `198.19.${i}.1/24`, g, 'ctl0', `198.19.${i}.2/24`);
    names.push(g);
  }
  const dropin = join(topo.dir, 'dnsmasq.d');
  sh('mkdir', ['-p', dropin]);
  // Names come from this drop-in only: no query may leave for the host's real resolver.
  topo.file('dnsmasq.d/test.conf', `no-resolv\nhost-record=www.example.test,${INTERNET}\n`);
  // WSNIC_TEST_DATA_PATH=js: the relay's ws:// sessions on the JavaScript path, the one wss://
  // takes (test/native/jspath.test.ts); a test's own data_path still wins.
  const path: Record<string, string> = process.env.WSNIC_TEST_DATA_PATH ? { data_path: process.env.WSNIC_TEST_DATA_PATH } : {};
  const server = start ? start(topo, srv, dropin) : topo.wsnic(srv, { ws_address: '0.0.0.0', dnsmasq_conf_dir: dropin, ...path, ...conf });
  await server.waitFor(/listening url=ws:/);
  const port = (scheme: 'ws' | 'wss'): string | number => conf[scheme === 'ws' ? 'ws_port' : 'wss_port'] ?? (scheme === 'ws' ? 8086 : 8087);
  const url = (i: number, scheme: 'ws' | 'wss' = 'ws'): string => `${scheme}://198.19.${i}.1:${port(scheme)}/`;
  return {
    topo,
    srv,
    inet,
    guests: names,
    server,
    url,
    async outside() {
      await topo.spawn(inet, process.execPath, ['-e', OUTSIDE_SERVER]).waitFor(/http ready/);
    },
    async joinAll(args = [], count = names.length) {
      const ips: string[] = [];
      for (let i = 1; i <= count; i++) {
        const mark = server.mark();
        await topo.connect(names[i - 1]!, url(i), ['--tap', 'wsn0', ...args]).waitFor(/connected url=/);
        await server.waitFor(new RegExp(`client connected client_address=198\\.19\\.${i}\\.2 `), 20_000, mark);
        ips.push(topo.dhcp(names[i - 1]!, 'wsn0').ip);
      }
      return ips;
    },
  };
}
