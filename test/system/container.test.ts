/**
 * The system-test harness itself: a Debian 12 container boots with systemd, has what the system
 * tests rely on (node 18, networkd on D-Bus, the journal, a veth to a namespace of ours) and
 * leaves nothing behind when stopped.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, sh } from '../e2e/topology';
import { Container } from './container';
import { own, disown } from '../tools/reap';

/** Pids of processes whose command line mentions s. */
function processesWith(s: string): number[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(s);
    } catch {
      return false;
    }
  }).map(Number);
}

t.test('a Debian 12 container boots systemd and is removed without a trace', async (t) => {
  const build = spawnSync(join(ROOT, 'test', 'tools', 'rootfs.sh'), { encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`test/tools/rootfs.sh failed (${build.status ?? build.signal}):\n${build.stderr.split('\n').slice(-20).join('\n')}`);
  const tarball = build.stdout.trim().split('\n').pop()!;
  // Unique per run: namespace, veth and container names all carry the pid.
  const id = `c${(process.pid % 1_000_000).toString(36)}`;
  const hostNs = `w${id}-host`;
  own('netns', hostNs);
  sh('ip', ['netns', 'add', hostNs]);
  let ct: Container | undefined;
  t.teardown(async () => {
    await ct?.stop();
    spawnSync('ip', ['netns', 'del', hostNs]);
    disown('netns', hostNs);
  });
  sh('ip', ['-n', hostNs, 'link', 'set', 'lo', 'up']);

  const t0 = Date.now();
  ct = await Container.boot({ tarball, hostNs, hostIf: `w${id}h`, hostAddr: '198.19.9.1/24', containerAddr: '198.19.9.2/24', name: id });
  t.comment(`booted in ${Date.now() - t0} ms`);

  t.match(ct.exec(['systemctl', 'is-system-running']).stdout, /^(running|degraded)\n/, 'systemd has finished booting');
  t.match(ct.exec(['node', '--version']).stdout, /^v18\./, "Debian's nodejs 18");
  const ping = spawnSync('ip', ['netns', 'exec', hostNs, 'busybox', 'ping', '-c', '2', '-W', '2', '198.19.9.2'], { encoding: 'utf8' });
  t.match(ping.stdout, /2 packets received/, 'the container answers on the veth from hostNs');
  t.match(ct.exec(['busctl', '--system', 'list']).stdout, /org\.freedesktop\.network1/, 'networkd is on the system bus');
  // networkd manages host0 only: a bridge named like wsnic's is left alone.
  ct.exec(['ip', 'link', 'add', 'wsbr9', 'type', 'bridge']);
  t.match(ct.exec(['networkctl', 'list', '--no-legend']).stdout, /host0 +ether +routable +configured/, 'networkctl talks to networkd; host0 is configured');
  t.match(ct.exec(['networkctl', 'status', 'wsbr9']).stdout, /State: .*unmanaged/, 'networkd does not manage wsbr*');
  const entry = ct.exec(['journalctl', '-o', 'json', '-n', '1']);
  t.equal(entry.code, 0, 'journalctl runs');
  t.type(JSON.parse(entry.stdout).MESSAGE, 'string', 'a journal entry as JSON');

  const dir = mkdtempSync(join(tmpdir(), `wsnic-${id}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'hello.sh'), '#!/bin/sh\necho hello from inside\n', { mode: 0o755 });
  ct.copyIn(join(dir, 'hello.sh'), '/usr/local/bin/hello');
  t.equal(ct.exec(['hello']).stdout, 'hello from inside\n', 'copyIn keeps the file and its mode');

  const t1 = Date.now();
  await ct.stop();
  t.comment(`stopped in ${Date.now() - t1} ms`);
  await ct.stop(); // a second call is harmless
  t.same(processesWith(ct.dir), [], 'no systemd-nspawn (or anything else) of ours runs');
  t.notOk(existsSync(ct.dir), 'its directory is removed');
  t.same(ct.cgroups.filter((g) => existsSync(g)), [], 'its cgroups are removed');
  t.notMatch(readFileSync('/proc/self/mountinfo', 'utf8'), ct.dir, 'nothing of it is mounted');
  t.notMatch(sh('ip', ['-n', hostNs, 'link']), `w${id}h`, 'the veth is gone');
  sh('ip', ['netns', 'del', hostNs]);
  t.notOk(sh('ip', ['netns', 'list']).includes(hostNs), 'hostNs is removed');
});
