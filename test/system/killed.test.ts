/**
 * A system test killed midway leaves nothing behind: its watcher (test/tools/reap.js) removes what
 * the test listed, and the next run's reaper finds nothing more. Two ways to die, each at its
 * worst moment:
 * - SIGKILL of a test process while its Docker engine runs a container (engine-up.ts: the
 *   engine of docker.test.ts, docker.ts, with a data root of its own); no teardown runs;
 * - SIGKILL of the runner (tap) while test/system/container.test.ts has a container booted with
 *   systemd: the test, left with nobody to report to, is ended by its watcher, then reaped.
 */
import t, { type Test } from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, sh } from '../e2e/topology';
import { until } from './container';
import { ENGINE_WAIT_MS } from './docker';
import { DIR } from '../tools/reap';

// On a new machine the base image's tarball is built first (test/tools/docker-base.sh, 31 s here).
t.setTimeout(ENGINE_WAIT_MS + 10 * 60_000);

const read = (p: string): string => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
};
const pids = (): number[] => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number);
const argv = (pid: number): string => read(`/proc/${pid}/cmdline`).replace(/\0/g, ' ');
/** Running: there, and no zombie (PID 1 here may be slow to collect those). */
const running = (pid: number | string): boolean => !/^\S+ \(.*\) [ZX] /.test(read(`/proc/${pid}/stat`) || '0 () Z ');

/** What the host shows: its links, nftables tables, namespaces and mounts of tests. */
function host(): string {
  const mounts = read('/proc/self/mountinfo').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => /wsnic/.test(m));
  return [sh('ip', ['-o', 'link']).replace(/^\d+: /gm, '').split('\n').map((l) => l.split(' ')[0]).join(' '),
    sh('nft', ['list', 'tables']), `mounts: ${mounts.join(' ')}`].join('\n');
}

/** A child tap running `file`, and the file's own process once it has listed what it made. */
async function start(file: string): Promise<{ runner: ChildProcess; pid: number; list: () => string[]; output: () => string }> {
  const runner = spawn(join(ROOT, 'node_modules', '.bin', 'tap'), ['--reporter=tap', '--timeout=2400', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  runner.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  runner.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  // Its process among the runner's children: the suite may be running the same file beside it.
  const children = (): number[] => read(`/proc/${runner.pid}/task/${runner.pid}/children`).split(' ').filter(Boolean).map(Number);
  const pid = await until(`${file} to start`, () => children().find((p) => argv(p).includes(file)), 60_000);
  const entry = (): string | undefined => readdirSync(DIR).find((f) => f.startsWith(`${pid}-`));
  await until(`${file} to list what it makes`, () => existsSync(DIR) && entry(), 60_000);
  const file0 = join(DIR, entry()!);
  return { runner, pid, list: () => read(file0).split('\n').filter(Boolean), output: () => out };
}

/** After the kill: the watcher has reaped (the list is gone), nothing the list named is left, and the next run's reaper finds nothing. */
async function nothingLeft(t: Test, pid: number, listed: string[], before: string): Promise<void> {
  await until('the watcher to reap', () => !readdirSync(DIR).some((f) => f.startsWith(`${pid}-`)), 60_000);
  for (const line of listed) {
    const [kind, what] = line.split(' ') as [string, string];
    if (kind === 'pid') t.notOk(running(what), `${line}: the process is gone`);
    if (kind === 'netns') t.notOk(existsSync(`/run/netns/${what}`), `${line}: deleted`);
    if (kind === 'cgroup' || kind === 'path') t.notOk(existsSync(what), `${line}: removed`);
  }
  const next = spawnSync(process.execPath, [join(ROOT, 'test', 'tools', 'reap.js')], { encoding: 'utf8' });
  t.notMatch(next.stdout, new RegExp(`\\b${pid}\\b|could not`), 'the next run\'s reaper finds nothing of it');
  t.equal(host(), before, 'the host\'s links, nftables tables and test mounts are as before');
}

t.test('SIGKILL of a test while its engine runs a container: no engine, container, namespace or mount is left', async (t) => {
  const before = host();
  const { runner, pid, list, output } = await start('test/system/engine-up.ts');
  t.teardown(() => void runner.kill('SIGKILL'));
  // The run phase: the test's namespaces exist and an engine of its list runs a container.
  const sockets = (): string[] => list().filter((l) => /^path \S+\.sock$/.test(l)).map((l) => l.slice(5));
  const container = await until('a container in the test\'s engine', () => list().some((l) => l.startsWith('netns ')) &&
    sockets().map((s) => spawnSync('/usr/bin/docker', ['ps', '-q', '--no-trunc'], { encoding: 'utf8', env: { ...process.env, DOCKER_HOST: `unix://${s}` } }).stdout.trim()).find(Boolean),
    ENGINE_WAIT_MS + 5 * 60_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${output()}`);
  });
  const listed = list();
  const engines = pids().filter((p) => sockets().some((s) => argv(p).includes(s.replace(/\.sock$/, ''))));
  t.ok(engines.length > 0, `its engine runs (pids ${engines.join(' ')}), a container ${container.slice(0, 12)} in it`);
  process.kill(pid, 'SIGKILL');
  await new Promise((r) => runner.once('exit', r));
  await nothingLeft(t, pid, listed, before);
  t.same(engines.filter(running), [], 'dockerd and containerd are gone');
  t.same(pids().filter((p) => running(p) && read(`/proc/${p}/cgroup`).includes(container)), [], 'no process of the container is left');
});

t.test('SIGKILL of the runner while container.test.ts has a container booted: the watcher ends the test and reaps it', async (t) => {
  const before = host();
  const { runner, pid, list } = await start('test/system/container.test.ts');
  t.teardown(() => void runner.kill('SIGKILL'));
  // Booted far enough: journald runs in the container's cgroup.
  const cgroup = await until('the container\'s cgroup', () => list().find((l) => l.startsWith('cgroup '))?.slice(7), 10 * 60_000);
  const name = cgroup.split('/').pop()!;
  await until('journald in the container', () => pids().some((p) => read(`/proc/${p}/cgroup`).includes(`/${name}/`) && read(`/proc/${p}/comm`).trim() === 'systemd-journal'), 120_000);
  const listed = list();
  runner.kill('SIGKILL');
  await until('the test to be ended', () => !running(pid), 30_000);
  await nothingLeft(t, pid, listed, before);
});
