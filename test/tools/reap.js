#!/usr/bin/env node
// What a test made that would outlive it if it were killed (SIGKILL, a runner's timeout, a killed
// runner): each test process writes one line per thing into its own file,
// /run/wsnic-tests/PID-START (START: the process's start time, so a reused pid is another
// owner), and removes the line once it has cleaned the thing up itself. A line is one of
//   pid PID START   a process to SIGKILL (a Docker engine's pid-namespace holder: all in it die)
//   cgroup PATH     a cgroup: everything in it killed, then it and its children removed
//   netns NAME      a network namespace: the processes in it killed, then it is deleted (its
//                   interfaces, bridges, TAPs and nftables tables go with it)
//   path PATH       a file or directory to remove (never while something is mounted below it)
// Plain JavaScript, no dependency: it runs without the TypeScript toolchain, and detached.
//   node test/tools/reap.js            reaps every owner that is gone (the next run does this)
//   node test/tools/reap.js --watch P  (started by own()) waits for test process P to end, or
//                                      for its runner to go (then kills P), and reaps P's lines
'use strict';
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const DIR = '/run/wsnic-tests';
const ORDER = ['pid', 'cgroup', 'netns', 'path'];

/** Fields of /proc/PID/stat after the command: state, ppid, ... (index = field number - 3). */
function stat(pid) {
  const s = read(`/proc/${pid}/stat`);
  return s.slice(s.lastIndexOf(')') + 2).split(' ');
}

/** A process's start time (clock ticks since boot), or '' when it is gone (a zombie is). */
function startOf(pid) {
  const f = stat(pid);
  return f.length > 19 && !['Z', 'X'].includes(f[0]) ? f[19] : '';
}

const alive = (pid, start) => startOf(pid) !== '' && startOf(pid) === start;

function kill(pid) {
  if (!(pid > 1)) return; // never 0 or -1: those would be process groups, ours among them
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone already */
  }
}

/** A process and all its descendants. */
function tree(pid) {
  const children = new Map();
  for (const p of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    const ppid = stat(p)[1];
    children.set(ppid, [...(children.get(ppid) ?? []), p]);
  }
  const all = [String(pid)];
  for (let i = 0; i < all.length; i++) all.push(...(children.get(all[i]) ?? []));
  return all;
}

/** SIGKILLs a process (a PID namespace's holder: all in it die) and waits for its whole tree to be gone. */
function reapPid(pid, start) {
  if (!alive(pid, start)) return;
  const all = tree(pid).map((p) => [p, startOf(p)]);
  kill(Number(pid));
  for (let i = 0; i < 100 && all.some(([p, s]) => alive(p, s)); i++) sleep(100);
  const left = all.filter(([p, s]) => alive(p, s)).map(([p]) => p);
  if (left.length > 0) throw new Error(`pid ${pid}: processes ${left.join(' ')} still run 10 s after SIGKILL`);
}

function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A cgroup and every cgroup below it, deepest first. */
function subtree(dir) {
  let subs;
  try {
    subs = fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory());
  } catch {
    return [];
  }
  return [...subs.flatMap((e) => subtree(path.join(dir, e.name))), dir];
}

/** Kills everything in a cgroup tree (cgroup.kill where the kernel has it), then removes the tree. */
function reapCgroup(dir) {
  for (let i = 0; i < 100; i++) {
    const left = subtree(dir).filter((d) => {
      try {
        fs.rmdirSync(d);
        return false;
      } catch (e) {
        return e.code !== 'ENOENT';
      }
    });
    if (left.length === 0) return;
    if (fs.existsSync(path.join(dir, 'cgroup.kill'))) fs.writeFileSync(path.join(dir, 'cgroup.kill'), '1');
    for (const d of left) for (const p of read(path.join(d, 'cgroup.procs')).split('\n').filter(Boolean)) kill(Number(p));
    sleep(100);
  }
  throw new Error(`cannot remove cgroup ${dir}`);
}

function reapNetns(name) {
  if (!fs.existsSync(`/run/netns/${name}`)) return;
  // Twice: a process may fork while the first ones die.
  for (let i = 0; i < 2; i++) for (const p of run('ip', ['netns', 'pids', name]).split('\n').filter(Boolean)) kill(Number(p));
  run('ip', ['netns', 'del', name]);
}

function reapPath(p) {
  const below = read('/proc/self/mountinfo').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m === p || m.startsWith(`${p}/`));
  if (below.length > 0) throw new Error(`${p}: still mounted (${below.join(' ')}), not removed`);
  fs.rmSync(p, { recursive: true, force: true });
}

/** Undoes one owner's lines, in ORDER (processes before the namespaces and paths they hold); returns them. */
function reapFile(file) {
  const lines = read(file).split('\n').filter(Boolean).map((l) => l.split(' '));
  lines.sort((a, b) => ORDER.indexOf(a[0]) - ORDER.indexOf(b[0]));
  const errors = [];
  for (const [kind, what, start] of lines) {
    try {
      if (kind === 'pid') reapPid(what, start);
      else if (kind === 'cgroup') reapCgroup(what);
      else if (kind === 'netns') reapNetns(what);
      else if (kind === 'path') reapPath(what);
    } catch (e) {
      errors.push(e.message);
    }
  }
  if (errors.length > 0) throw new Error(`${file}: ${errors.join('; ')}`);
  fs.rmSync(file, { force: true });
  return lines.map((l) => l.join(' '));
}

/** Reaps every owner that is no longer running; returns what was reaped, and what could not be. */
function reap() {
  let files = [];
  try {
    files = fs.readdirSync(DIR).filter((f) => /^\d+-\d+$/.test(f));
  } catch {
    return { reaped: [], errors: [] };
  }
  const reaped = [];
  const errors = [];
  for (const f of files.filter((f) => !alive(...f.split('-')))) {
    try {
      reaped.push(...reapFile(path.join(DIR, f)));
    } catch (e) {
      errors.push(e.message);
    }
  }
  return { reaped, errors };
}

let mine;

/** Notes that this process made `what` (see the kinds above); the first call starts its watcher. */
function own(kind, ...what) {
  if (!ORDER.includes(kind)) throw new Error(`own: unknown kind ${kind}`);
  if (!mine) {
    fs.mkdirSync(DIR, { recursive: true });
    mine = path.join(DIR, `${process.pid}-${startOf(process.pid)}`);
    fs.writeFileSync(mine, '');
    // Detached (a session of its own, so a kill of the runner's process group spares it), with a
    // pipe from this process: when this process ends, however, the pipe's end tells the watcher.
    const env = { ...process.env };
    delete env.NODE_OPTIONS; // a runner's loader hooks, not for this plain script
    const w = spawn(process.execPath, [__filename, '--watch', String(process.pid)], { detached: true, stdio: ['pipe', 'ignore', 'ignore'], env });
    w.unref();
    w.stdin.unref();
  }
  // A process is known by its start time too: its pid may be reused once it is gone.
  const line = kind === 'pid' && what.length === 1 ? [kind, what[0], startOf(what[0])] : [kind, ...what];
  fs.appendFileSync(mine, `${line.join(' ')}\n`);
}

/** This process has removed `what` itself. */
function disown(kind, ...what) {
  if (!mine) return;
  const line = [kind, ...what].join(' ');
  const keep = (l) => l && l !== line && !l.startsWith(`${line} `);
  fs.writeFileSync(mine, read(mine).split('\n').filter(keep).map((l) => `${l}\n`).join(''));
}

function watch(pid) {
  const start = startOf(pid);
  const runner = Number(stat(pid)[1] ?? 0);
  const runnerStart = startOf(runner);
  const file = path.join(DIR, `${pid}-${start}`);
  const done = () => {
    try {
      if (fs.existsSync(file)) reapFile(file);
    } catch {
      /* what failed stays listed, for the next run's reap */
    }
    process.exit(0);
  };
  process.stdin.on('close', done).on('end', done).on('error', done).resume();
  // A test whose runner is gone has nobody to report to: it is ended, and its end reaps.
  setInterval(() => {
    if (runner > 1 && !alive(runner, runnerStart) && alive(pid, start)) kill(pid);
  }, 1000);
}

function read(p) {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

function run(cmd, args) {
  return spawnSync(cmd, args, { encoding: 'utf8' }).stdout ?? '';
}

module.exports = { own, disown, reap, DIR };

if (require.main === module) {
  if (process.argv[2] === '--watch') watch(Number(process.argv[3]));
  else {
    // Run before the tests (package.json's tap.before): a leftover it cannot remove is reported,
    // not fatal, as the tests use names of their own.
    const { reaped, errors } = reap();
    if (reaped.length > 0) console.log(`# reaped what killed tests left: ${reaped.join(', ')}`);
    for (const e of errors) console.log(`# could not reap: ${e}`);
  }
}
