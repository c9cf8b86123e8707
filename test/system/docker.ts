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
 *
 * dockerd is the first process of a PID namespace of its own, in a mount namespace of its own
 * (`unshare --pid --mount`): when it ends, however, the kernel ends containerd, the shims and
 * every container with it, and the mounts it made (overlays, its exec root's netns binds) go
 * with the mount namespace; none is ever made in the host's. The unshare holding it is listed
 * for the reaper (test/tools/reap.js): killing it (--kill-child) kills dockerd.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { own, disown } from '../tools/reap';

export const DOCKER = '/usr/bin/docker'; // Debian's client: the one that matches its engine
const DATA_ROOT = '/var/tmp/wsnic-docker';
const lockOf = (root: string): string => `${root}/.lock`;
/** How long Engine.start waits for another test's engine to free the data root. */
export const ENGINE_WAIT_MS = 10 * 60_000;

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
async function lock(root: string, ms: number): Promise<void> {
  mkdirSync(root, { recursive: true });
  const end = Date.now() + ms;
  for (;;) {
    try {
      const fd = openSync(lockOf(root), 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number(readFileSync(lockOf(root), 'utf8').trim());
    if (!holder || !alive(holder)) {
      stopOrphans(root); // a killed test's engine, if its watcher did not end it
      rmSync(lockOf(root), { force: true });
    }
    else if (Date.now() > end) throw new Error(`the Docker data root ${root} is still in use by process ${holder}`);
    else await delay(1000);
  }
}

/** Engines on this data root whose test is gone (it was killed): SIGTERM, then SIGKILL after 20 s. */
function stopOrphans(root: string): void {
  const pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      return /(^|\/)dockerd$/.test(argv[0] ?? '') && argv.includes(root);
    } catch {
      return false;
    }
  }).map(Number);
  for (const pid of pids) process.kill(pid, 'SIGTERM');
  for (let waited = 0; waited < 20_000 && pids.some(alive); waited += 100) spawnSync('sleep', ['0.1']);
  for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
}

function unlock(root: string): void {
  if (existsSync(lockOf(root)) && readFileSync(lockOf(root), 'utf8').trim() === String(process.pid)) rmSync(lockOf(root), { force: true });
}

export class Engine {
  readonly socket: string;
  private readonly execRoot: string;
  private daemon?: ChildProcess;
  private log = '';

  private constructor(readonly name: string, readonly netns: string | undefined, readonly dataRoot: string) {
    this.execRoot = `/run/wsnic-docker-${name}`;
    this.socket = `${this.execRoot}.sock`;
  }

  /** Starts dockerd (in `netns` when given, else in the root namespace without a bridge) once the data root is free. */
  static async start(name: string, netns?: string, dataRoot = DATA_ROOT): Promise<Engine> {
    await lock(dataRoot, ENGINE_WAIT_MS);
    const e = new Engine(name, netns, dataRoot);
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
    for (const p of this.files) own('path', p);
    writeFileSync(config, '{}\n'); // not /etc/docker/daemon.json: nothing of the machine's own settings
    const args = ['dockerd', '--config-file', config, '--data-root', this.dataRoot, '--exec-root', this.execRoot,
      '--pidfile', `${this.execRoot}.pid`, '-H', `unix://${this.socket}`, '--iptables=false', '--ip6tables=false', '--ip-masq=false',
      // Not net.ipv4.ip_forward either: dockerd sets it by default, and new namespaces inherit it.
      '--ip-forward=false',
      ...(this.netns ? [] : ['--bridge=none'])];
    const unshare = ['unshare', '--mount', '--propagation', 'private', '--pid', '--fork', '--kill-child', '--mount-proc', ...args];
    // nsenter --net, not `ip netns exec`: that remounts /sys, and dockerd needs the host's cgroups there.
    const [cmd, ...rest] = this.netns ? ['nsenter', `--net=/run/netns/${this.netns}`, ...unshare] : unshare;
    const daemon = spawn(cmd!, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.daemon = daemon;
    own('pid', String(daemon.pid));
    const ready = new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer): void => {
        this.log = (this.log + d.toString()).slice(-20_000);
        if (/API listen on/.test(this.log)) resolve();
      };
      daemon.stdout!.on('data', onData);
      daemon.stderr!.on('data', onData);
      daemon.on('exit', (code) => reject(new Error(`dockerd exited (${code}):\n${this.log}`)));
    });
    await Promise.race([ready, delay(60_000, undefined, { ref: false }).then(() => Promise.reject(new Error(`dockerd not ready in 60 s:\n${this.log}`)))]);
  }

  /** The paths this engine makes outside its data root. */
  private get files(): string[] {
    return [this.execRoot, this.socket, `${this.execRoot}.pid`, `${this.execRoot}.json`];
  }

  /** Runs the docker client against this engine to completion. */
  docker(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): ExecResult {
    const r = spawnSync(DOCKER, args, {
      encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, DOCKER_HOST: `unix://${this.socket}`, ...opts.env },
    });
    return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /**
   * Runs the docker client against this engine without blocking the event loop (a build takes
   * minutes: the test stays responsive), killed after timeoutMs.
   */
  dockerAsync(args: string[], opts: { timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<ExecResult> {
    const c = spawn(DOCKER, args, { env: { ...process.env, DOCKER_HOST: `unix://${this.socket}`, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-1_000_000)));
    c.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-1_000_000)));
    const timer = setTimeout(() => {
      stderr += `\n(killed: over its limit of ${opts.timeoutMs / 1000} s)`;
      c.kill('SIGKILL');
    }, opts.timeoutMs);
    return new Promise((resolve) => c.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }));
  }

  /**
   * Imports test/tools/docker-base.sh's tarball as debian:bookworm-slim, unless this data root has
   * that one already (a label names it): the import's result, or undefined when there was none.
   */
  async importBase(timeoutMs: number): Promise<ExecResult | undefined> {
    const base = await promisify(execFile)(join(__dirname, '..', 'tools', 'docker-base.sh'), { timeout: timeoutMs, encoding: 'utf8' });
    const tarball = base.stdout.trim().split('\n').pop()!;
    const key = tarball.replace(/^.*\//, '').replace(/\.tar$/, '');
    const label = this.docker(['image', 'inspect', '-f', '{{index .Config.Labels "wsnic.base"}}', 'debian:bookworm-slim']).stdout.trim();
    return label === key ? undefined : this.docker(['import', '--change', `LABEL wsnic.base=${key}`, tarball, 'debian:bookworm-slim']);
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
      // SIGTERM to dockerd itself (unshare's child): unshare passes no signal on.
      try {
        const dockerd = Number(readFileSync(`/proc/${d.pid}/task/${d.pid}/children`, 'utf8').split(' ')[0]);
        if (dockerd > 1) process.kill(dockerd, 'SIGTERM'); // never 0: that would be our own process group
      } catch {
        /* gone already, and unshare with it */
      }
      await Promise.race([exited, delay(30_000)]);
      if (d.exitCode === null && d.signalCode === null) {
        d.kill('SIGKILL'); // --kill-child: dockerd and its namespace with it
        await exited;
      }
    }
    if (d) disown('pid', String(d.pid));
    // Nothing is mounted in the exec root (that was in dockerd's mount namespace): just files.
    for (const p of this.files) {
      rmSync(p, { recursive: true, force: true });
      disown('path', p);
    }
    unlock(this.dataRoot);
  }

  /** dockerd's recent output, for failure messages. */
  get output(): string {
    return this.log;
  }
}
