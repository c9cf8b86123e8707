/**
 * A Debian 12 container booted with systemd-nspawn -b (systemd as its PID 1), for tests that need
 * a real systemd: units, D-Bus, networkd, the journal. The root filesystem is a tarball from
 * test/tools/rootfs.sh, unpacked per container under /var/tmp/wsnic-ct-NAME/ and removed on stop().
 *
 * How nspawn is run (this host's PID 1 is not systemd; see FINDINGS.md):
 * - --register=no --keep-unit: no machined or system bus to register with;
 * - its own cgroup (wsnic-ct-NAME in each hierarchy nspawn uses), entered before exec: with
 *   --keep-unit nspawn makes payload/ and supervisor/ under its current cgroup, otherwise at the
 *   roots. stop() removes that subtree and, through it, kills anything left (cgroup.kill);
 * - SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1: the container gets cgroup v2 (this host is hybrid);
 * - in hostNs by `nsenter --net` (not `ip netns exec`, which remounts /sys and hides
 *   /sys/fs/cgroup from nspawn: "Failed to determine whether the unified cgroups hierarchy is
 *   used"), so --network-veth-extra puts the host end straight into hostNs: nothing appears
 *   on the host's own network, even for a moment;
 * - in a private mount namespace with a tmpfs on /run: nspawn keeps state in
 *   /run/systemd/nspawn, which on this host is a disk and would be left behind.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, rmdirSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { own, disown } from '../tools/reap';

export interface ContainerOptions {
  tarball: string;
  /** A network namespace (made by the caller, e.g. `ip netns add`) that gets the host end of a veth; the container end is `host0`. */
  hostNs: string;
  hostIf: string;
  hostAddr: string /* e.g. 198.19.9.1/24 */;
  containerAddr: string /* e.g. 198.19.9.2/24 */;
  /** Unique, <= 11 characters of [a-z0-9-]. */
  name: string;
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** What commands inside get: the caller's environment (NODE_OPTIONS from tap, say) is not theirs. */
const ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', HOME: '/root', TERM: 'dumb' };

/** Cgroup hierarchies nspawn places itself in: cgroup2 and, on a hybrid host, name=systemd. */
function hierarchies(): string[] {
  const hybrid = ['/sys/fs/cgroup/unified', '/sys/fs/cgroup/systemd'].filter((d) => existsSync(join(d, 'cgroup.procs')));
  return hybrid.length > 0 ? hybrid : ['/sys/fs/cgroup'];
}

// Runs in sh: enter the cgroups, then exec nspawn in hostNs, in a mount namespace of its own.
const LAUNCH = `set -e
for g in $CGROUPS; do mkdir "$g"; echo $$ > "$g/cgroup.procs"; done
exec nsenter --net="/run/netns/$HOSTNS" unshare --mount --propagation private \
  sh -c 'mount -t tmpfs -o mode=0755 wsnic-ct /run && exec "$@"' sh systemd-nspawn "$@"`;

export class Container {
  readonly dir: string;
  readonly root: string;
  readonly cgroups: string[];
  /** The container's systemd (PID 1 inside), known once booted. */
  initPid = 0;
  private nspawn?: ChildProcess;
  private exited?: Promise<void>;
  private stopping?: Promise<void>;
  /** Whether this.dir is ours: stop() must not remove a twin's or a leftover's. */
  private made = false;

  private constructor(readonly opts: ContainerOptions) {
    this.dir = `/var/tmp/wsnic-ct-${opts.name}`;
    this.root = join(this.dir, 'root');
    this.cgroups = hierarchies().map((h) => join(h, `wsnic-ct-${opts.name}`));
  }

  static async boot(opts: ContainerOptions): Promise<Container> {
    if (!/^[a-z0-9-]{1,11}$/.test(opts.name)) throw new Error(`container name "${opts.name}": want 1-11 of [a-z0-9-]`);
    const c = new Container(opts);
    try {
      await c.start();
      return c;
    } catch (e) {
      const log = c.made ? c.consoleTail() : '';
      await c.stop();
      throw new Error(`container ${opts.name}: ${(e as Error).message}${log ? `\n--- console:\n${log}` : ''}`);
    }
  }

  private async start(): Promise<void> {
    const { opts } = this;
    // mkdir without recursive for the last step: an existing dir is a running twin or a leftover.
    mkdirSync(dirname(this.dir), { recursive: true });
    try {
      mkdirSync(this.dir);
    } catch (e) {
      throw new Error(`${this.dir}: ${(e as Error).message} (a running container of that name, or a leftover to remove)`);
    }
    this.made = true;
    // Killed before stop(), the test leaves them to its watcher (test/tools/reap.js): the
    // cgroups first (everything in them dies, the mount namespace with it), then the tree.
    for (const g of this.cgroups) own('cgroup', g);
    own('path', this.dir);
    mkdirSync(this.root);
    // --numeric-owner: the tree's users are the container's, not the host's of the same name.
    run('tar', ['-xpf', opts.tarball, '--numeric-owner', '-C', this.root]);
    // Own machine id, so not a "first boot"; host0's static address, applied by networkd.
    writeFileSync(join(this.root, 'etc/machine-id'), `${randomBytes(16).toString('hex')}\n`);
    const network = join(this.root, 'etc/systemd/network/80-container-host0.network');
    rmSync(network, { force: true }); // the rootfs has it as a /dev/null link (masked)
    writeFileSync(network, `[Match]\nName=host0\n\n[Network]\nAddress=${opts.containerAddr}\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n`);

    const log = openSync(join(this.dir, 'console.log'), 'w');
    const args = [
      '-q', '-b', '-D', this.root, '-M', `wsnic-${opts.name}`,
      '--register=no', '--keep-unit', '--link-journal=no', '--resolv-conf=off', '--timezone=off',
      '--private-network', `--network-veth-extra=${opts.hostIf}:host0`, '--console=read-only',
    ];
    const child = spawn('sh', ['-c', LAUNCH, 'sh', ...args], {
      stdio: ['ignore', log, log],
      env: { ...ENV, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1', CGROUPS: this.cgroups.join(' '), HOSTNS: opts.hostNs },
    });
    closeSync(log);
    this.nspawn = child;
    this.exited = new Promise((r) => child.on('exit', () => r()));

    const deadline = Date.now() + 60_000;
    const alive = (what: string): void => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`systemd-nspawn exited (${child.exitCode ?? child.signalCode}) ${what}`);
      if (Date.now() > deadline) throw new Error(`timeout (60 s) ${what}`);
    };
    // The container's init is the child of nspawn that has become systemd.
    while (this.initPid === 0) {
      alive('before its systemd started');
      const kids = readIf(`/proc/${child.pid}/task/${child.pid}/children`).split(' ').filter(Boolean);
      this.initPid = Number(kids.find((p) => readIf(`/proc/${p}/comm`).trim() === 'systemd') ?? 0);
      if (this.initPid === 0) await delay(100);
    }
    let state = '';
    for (;;) {
      alive(`waiting for the boot to finish (is-system-running: ${state || 'no answer'})`);
      state = this.exec(['systemctl', 'is-system-running'], { timeoutMs: 5000 }).stdout.trim();
      if (state === 'running' || state === 'degraded') break;
      await delay(200);
    }
    run('ip', ['-n', opts.hostNs, 'addr', 'add', opts.hostAddr, 'dev', opts.hostIf]);
    run('ip', ['-n', opts.hostNs, 'link', 'set', opts.hostIf, 'up']);
    // networkd adds host0's address once the link has carrier, i.e. just now.
    const addr = opts.containerAddr.split('/')[0]!;
    while (!this.exec(['ip', '-4', '-o', 'addr', 'show', 'dev', 'host0']).stdout.includes(` ${addr}/`)) {
      alive(`waiting for ${addr} on host0`);
      await delay(100);
    }
  }

  /** Runs a command inside (all of the container's namespaces), to completion. */
  exec(cmd: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): ExecResult {
    if (this.initPid === 0) throw new Error(`container ${this.opts.name} is not running`);
    // `env -i`: tap's processinfo adds NODE_OPTIONS (an --import of a host path) to every child's
    // environment, whatever env spawnSync is given; a node inside would fail on it.
    const env = Object.entries(ENV).map(([k, v]) => `${k}=${v}`);
    const r = spawnSync('nsenter', ['-t', String(this.initPid), '-a', 'env', '-i', ...env, ...cmd], {
      input: opts.input, encoding: 'utf8', env: ENV, timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 << 20,
    });
    return { code: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? `\n${r.error.message}` : '') };
  }

  /**
   * Copies a host file or directory (its contents) to containerPath. Written from inside the
   * container, so its symlinks resolve there and never to a host path.
   */
  copyIn(hostPath: string, containerPath: string): void {
    const dir = statSync(hostPath).isDirectory();
    const input = dir ? run('tar', ['-C', hostPath, '-cf', '-', '.']) : readFileSync(hostPath);
    const script = dir
      ? 'mkdir -p "$1" && tar -C "$1" -xf -'
      : `mkdir -p "$(dirname "$1")" && cat > "$1" && chmod ${(statSync(hostPath).mode & 0o7777).toString(8)} "$1"`;
    const r = this.exec(['sh', '-c', script, 'sh', containerPath], { input });
    if (r.code !== 0) throw new Error(`copyIn ${hostPath} -> ${containerPath} failed (${r.code}): ${r.stderr}`);
  }

  /** Last lines of the boot console, for error messages. */
  consoleTail(lines = 30): string {
    return readIf(join(this.dir, 'console.log')).split('\n').slice(-lines).join('\n').trim();
  }

  /**
   * Shuts the container down (SIGTERM to nspawn: an orderly halt; after 20 s everything in its
   * cgroups is killed), then removes its cgroups and directory. Safe to call twice.
   */
  stop(): Promise<void> {
    this.stopping ??= this.teardown();
    return this.stopping;
  }

  private async teardown(): Promise<void> {
    if (!this.made) return;
    const child = this.nspawn;
    if (child && this.exited && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = new Promise<'timeout'>((r) => setTimeout(r, 20_000, 'timeout').unref());
      if ((await Promise.race([this.exited, timer])) === 'timeout') {
        this.killCgroups();
        child.kill('SIGKILL');
        await this.exited;
      }
    }
    this.initPid = 0;
    // The veth went with the container's network namespace. Its cgroups: kill any straggler,
    // then remove them deepest first (rmdir fails while a dying process is still in one).
    for (let i = 0; ; i++) {
      const left = this.cgroups.flatMap((g) => subtree(g)).filter((d) => !tryRmdir(d));
      if (left.length === 0) break;
      if (i === 50) throw new Error(`container ${this.opts.name}: cannot remove cgroups ${left.join(' ')}`);
      this.killCgroups();
      await delay(100);
    }
    // Nothing may be mounted below the tree (nspawn's mounts were in its own namespace): rm -r
    // would otherwise walk into whatever is mounted there.
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4]?.startsWith(`${this.dir}/`));
    if (mounts.length > 0) throw new Error(`container ${this.opts.name}: still mounted under ${this.dir}, not removed:\n${mounts.join('\n')}`);
    rmSync(this.dir, { recursive: true, force: true });
    for (const g of this.cgroups) disown('cgroup', g);
    disown('path', this.dir);
  }

  private killCgroups(): void {
    for (const g of this.cgroups) {
      if (existsSync(join(g, 'cgroup.kill'))) writeFileSync(join(g, 'cgroup.kill'), '1');
      else for (const d of subtree(g)) for (const p of readIf(join(d, 'cgroup.procs')).split('\n').filter(Boolean)) tryKill(Number(p));
    }
  }
}

/** Polls fn every 250 ms until it returns something truthy (that value), or throws after ms. */
export async function until<T>(what: string, fn: () => T | undefined | false, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(250);
  }
}

/** A cgroup and all below it, deepest first. */
function subtree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const subs = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory());
  return [...subs.flatMap((e) => subtree(join(dir, e.name))), dir];
}

function tryRmdir(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

function tryKill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone already */
  }
}

function readIf(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function run(cmd: string, args: string[]): Buffer {
  const r = spawnSync(cmd, args, { maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr?.toString() ?? r.error?.message}`);
  return r.stdout;
}

const lastLine = (s: string): string => s.trim().split('\n').pop()!;

/** packaging/build-deb.sh (as `version`, package.json's when undefined): the .deb's path. */
export function buildDeb(version?: string): string {
  const root = join(__dirname, '..', '..');
  const env = version === undefined ? process.env : { ...process.env, WSNIC_DEB_VERSION: version };
  return lastLine(execFileSync(join(root, 'packaging', 'build-deb.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env }));
}

/** test/tools/rootfs.sh (cached under /var/tmp): the Debian 12 root filesystem tarball's path. */
export function rootfsTarball(): string {
  const root = join(__dirname, '..', '..');
  return lastLine(execFileSync(join(root, 'test', 'tools', 'rootfs.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
}
