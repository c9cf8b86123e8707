/**
 * A private Docker engine (Debian's docker.io) for the image test: its own data root, exec root
 * and API socket, so it never meets a Docker the machine may run, and started with
 * --iptables=false --ip-forward=false so it never touches a firewall or forwarding. Two ways
 * to run it:
 * - in the root network namespace with no bridge (--bridge=none), to build: RUN steps use the
 *   host's network (`docker build --network=host`) to reach Debian's mirror and npm, and no NAT
 *   or docker0 is made for them;
 * - inside a test namespace, to run containers: docker0, the containers' veths and the published
 *   ports (docker-proxy) all live in that namespace and go with it.
 * One engine at a time uses the data root (a lock file), which is kept under /var/tmp as the
 * build cache: layers whose inputs did not change are not built again.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';

export const DOCKER = '/usr/bin/docker'; // Debian's client: the one that matches its engine
const DATA_ROOT = '/var/tmp/wsnic-docker';
const LOCK = `${DATA_ROOT}/.lock`;

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Takes the data root's lock (waiting for another run's engine, up to `ms`); a dead holder's lock is taken over. */
async function lock(ms: number): Promise<void> {
  mkdirSync(DATA_ROOT, { recursive: true });
  const end = Date.now() + ms;
  for (;;) {
    try {
      const fd = openSync(LOCK, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number(readFileSync(LOCK, 'utf8').trim());
    if (!holder || !alive(holder)) {
      stopOrphans(); // a killed test's engine outlives it
      rmSync(LOCK, { force: true });
    }
    else if (Date.now() > end) throw new Error(`the Docker data root ${DATA_ROOT} is still in use by process ${holder}`);
    else await delay(1000);
  }
}

/** Engines on this data root whose test is gone (it was killed): SIGTERM, then SIGKILL after 20 s. */
function stopOrphans(): void {
  const pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      return /(^|\/)dockerd$/.test(argv[0] ?? '') && argv.includes(DATA_ROOT);
    } catch {
      return false;
    }
  }).map(Number);
  for (const pid of pids) process.kill(pid, 'SIGTERM');
  for (let waited = 0; waited < 20_000 && pids.some(alive); waited += 100) spawnSync('sleep', ['0.1']);
  for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
}

function unlock(): void {
  if (existsSync(LOCK) && readFileSync(LOCK, 'utf8').trim() === String(process.pid)) rmSync(LOCK, { force: true });
}

export class Engine {
  readonly socket: string;
  private readonly execRoot: string;
  private daemon?: ChildProcess;
  private log = '';

  private constructor(readonly name: string, readonly netns: string | undefined) {
    this.execRoot = `/run/wsnic-docker-${name}`;
    this.socket = `${this.execRoot}.sock`;
  }

  /** Starts dockerd (in `netns` when given, else in the root namespace without a bridge) once the data root is free. */
  static async start(name: string, netns?: string): Promise<Engine> {
    await lock(15 * 60_000);
    const e = new Engine(name, netns);
    try {
      await e.boot();
      return e;
    } catch (err) {
      await e.stop();
      throw err;
    }
  }

  private async boot(): Promise<void> {
    const config = `${this.execRoot}.json`;
    writeFileSync(config, '{}\n'); // not /etc/docker/daemon.json: nothing of the machine's own settings
    const args = ['dockerd', '--config-file', config, '--data-root', DATA_ROOT, '--exec-root', this.execRoot,
      '--pidfile', `${this.execRoot}.pid`, '-H', `unix://${this.socket}`, '--iptables=false', '--ip6tables=false', '--ip-masq=false',
      // Not net.ipv4.ip_forward either: dockerd sets it by default, and new namespaces inherit it.
      '--ip-forward=false',
      ...(this.netns ? [] : ['--bridge=none'])];
    // nsenter --net, not `ip netns exec`: that remounts /sys, and dockerd needs the host's cgroups there.
    const [cmd, ...rest] = this.netns ? ['nsenter', `--net=/run/netns/${this.netns}`, ...args] : args;
    const daemon = spawn(cmd!, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.daemon = daemon;
    const ready = new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer): void => {
        this.log = (this.log + d.toString()).slice(-20_000);
        if (/API listen on/.test(this.log)) resolve();
      };
      daemon.stdout!.on('data', onData);
      daemon.stderr!.on('data', onData);
      daemon.on('exit', (code) => reject(new Error(`dockerd exited (${code}):\n${this.log}`)));
    });
    await Promise.race([ready, delay(60_000).then(() => Promise.reject(new Error(`dockerd not ready in 60 s:\n${this.log}`)))]);
  }

  /** Runs the docker client against this engine to completion. */
  docker(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): ExecResult {
    const r = spawnSync(DOCKER, args, {
      encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, DOCKER_HOST: `unix://${this.socket}`, ...opts.env },
    });
    return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** The environment a docker client needs to talk to this engine. */
  get env(): NodeJS.ProcessEnv {
    return { DOCKER_HOST: `unix://${this.socket}` };
  }

  /** Removes what is left (containers), stops dockerd and its containerd, frees the data root. */
  async stop(): Promise<void> {
    const d = this.daemon;
    if (d && d.exitCode === null && d.signalCode === null) {
      const ids = this.docker(['ps', '-aq'], { timeoutMs: 20_000 }).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) this.docker(['rm', '-f', ...ids], { timeoutMs: 30_000 });
      const exited = new Promise((r) => d.once('exit', r));
      d.kill('SIGTERM');
      await Promise.race([exited, delay(30_000)]);
      if (d.exitCode === null && d.signalCode === null) {
        d.kill('SIGKILL');
        await exited;
      }
    }
    // dockerd leaves mounts in its exec root (netns/default, an nsfs bind mount): off first, deepest first.
    const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(`${this.execRoot}/`)).sort((a, b) => b.length - a.length);
    for (const m of mounts) spawnSync('umount', ['-l', m]);
    for (const p of [this.execRoot, this.socket, `${this.execRoot}.pid`, `${this.execRoot}.json`]) rmSync(p, { recursive: true, force: true });
    unlock();
  }

  /** dockerd's recent output, for failure messages. */
  get output(): string {
    return this.log;
  }
}
