/**
 * The Debian package in a real systemd: build the .deb, boot Debian 12 (systemd as PID 1) with
 * systemd-nspawn, `apt install` it (so the relay runs on Debian's own nodejs 18), enable the
 * socket, and drive it from a namespace of ours through a veth with `wsnic connect`.
 */
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Container, buildDeb, rootfsTarball, until } from './container';
import { ROOT, Topology } from '../e2e/topology';

const PROBE = join(ROOT, 'test', 'fixtures', 'probe.js');
/** The package is Architecture: any, built for this machine's architecture. */
const ARCH = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();

t.test('wsnic as a Debian package under a booted systemd', async (t) => {
  const deb = buildDeb();
  t.match(deb, new RegExp(`wsnic_[\\d.]+_${ARCH}\\.deb$`), 'npm run deb prints the .deb path last');
  const lint = execFileSync('lintian', [deb], { encoding: 'utf8' });
  t.same(lint.split('\n').filter((l) => /^[EW]: /.test(l)), [], 'lintian: no errors, no warnings');

  const tarball = rootfsTarball();
  const topo = new Topology();
  t.teardown(() => topo.cleanup());
  const host = topo.ns('host');
  const ct = await Container.boot({ tarball, hostNs: host, hostIf: 'ct0', hostAddr: '198.19.9.1/24', containerAddr: '198.19.9.2/24', name: `${topo.prefix}ct` });
  t.teardown(() => ct.stop());
  const sh = (cmd: string, timeoutMs = 60_000): { code: number | null; stdout: string; stderr: string } => ct.exec(['sh', '-c', cmd], { timeoutMs });
  const journal = (): Record<string, string>[] =>
    sh('journalctl -u wsnic.service -o json --no-pager').stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, string>);

  // On a real Debian host udev makes /dev/net/tun 0666 (50-udev-default.rules); nspawn's copy is
  // 0600 and no udev runs in the container, so the wsnic user could not open it.
  sh('chmod 0666 /dev/net/tun');
  ct.copyIn(deb, '/root/wsnic.deb');
  const install = sh('DEBIAN_FRONTEND=noninteractive apt-get install -y /root/wsnic.deb', 180_000);
  t.equal(install.code, 0, `apt install: ${install.stderr}`);
  t.equal(sh('systemctl is-enabled wsnic.socket').stdout.trim(), 'disabled', 'installing enables nothing');
  t.equal(sh('systemctl is-active wsnic.service').stdout.trim(), 'inactive', 'installing starts nothing');
  t.match(sh('node --version').stdout, /^v18\./, 'the relay runs on Debian\'s nodejs 18');

  t.test('systemd-analyze verify is silent on the installed units', async (t) => {
    // Documentation=man:wsnic(1) is checked by running man: not inside (the rootfs has no man-db),
    // outside, where man finds the installed page through MANPATH.
    const v = sh('systemd-analyze verify --man=no /lib/systemd/system/wsnic.service /lib/systemd/system/wsnic.socket /lib/systemd/system/wsnic-tls.socket /lib/systemd/system/wsnic-metrics.socket /lib/systemd/system/wsnic-bridge.service /lib/systemd/system/wsnic-dnsmasq.service');
    t.equal(v.code, 0);
    t.equal(v.stderr.trim(), '', 'no warnings');
    // And from outside, with --root= the installed tree (the container's root directory).
    const units = ['wsnic.service', 'wsnic.socket', 'wsnic-tls.socket', 'wsnic-metrics.socket', 'wsnic-bridge.service', 'wsnic-dnsmasq.service'];
    const outside = spawnSync('systemd-analyze', ['verify', `--root=${ct.root}`, ...units.map((u) => `${ct.root}/lib/systemd/system/${u}`)],
      { encoding: 'utf8', env: { ...process.env, MANPATH: `${ct.root}/usr/share/man` } });
    t.equal(outside.status, 0, outside.stderr);
    t.equal(outside.stderr.trim(), '', 'no warnings with --root=');
    const score = /Overall exposure level for wsnic\.service: ([\d.]+)/.exec(sh('systemd-analyze security wsnic.service --no-pager').stdout)?.[1];
    t.comment(`systemd-analyze security wsnic.service: ${score}`);
    t.ok(score !== undefined && Number(score) <= 2.5, `exposure ${score} <= 2.5 (README reports it)`);
  });

  t.test('socket activation: inactive until the first client, then a TAP, a lease, STATUS and journal fields', async (t) => {
    t.equal(sh('systemctl enable --now wsnic.socket').code, 0);
    // Nothing queued to start: a relay started by the socket's start would be a job by now.
    await until('systemd\'s job queue empty', () => sh('systemctl list-jobs --no-legend').stdout.trim() === '');
    t.equal(sh('systemctl is-active wsnic.service').stdout.trim(), 'inactive', 'no client, no relay');
    const c1 = topo.connect(host, 'ws://198.19.9.2:8086/', ['--tap', 'wsn0']);
    await c1.waitFor(/connected url=/, 30_000).catch((err: Error) => {
      throw new Error(`${err.message}\n--- journal ---\n${sh('journalctl --no-pager -n 60 -u "wsnic*"').stdout}`);
    });
    await until('wsnic.service active', () => sh('systemctl is-active wsnic.service').stdout.trim() === 'active');
    t.match(sh('ip -o link show master wsbr0').stdout, /wstap0/, `the client's TAP is on the bridge unit's wsbr0 ${sh('journalctl --no-pager -n 30 -u wsnic.service').stdout}`);
    t.equal(sh('systemctl is-active wsnic-bridge.service wsnic-dnsmasq.service').stdout.trim(), 'active\nactive');
    const lease = topo.dhcp(host, 'wsn0');
    t.match(lease.ip, /^192\.168\.86\./, `lease from wsnic-dnsmasq.service in ${lease.ms} ms`);
    t.match(topo.exec(host, 'busybox', ['ping', '-c', '2', '-W', '2', '192.168.86.1']).stdout, /2 packets received/);
    // The sandboxed relay (user wsnic, CAP_NET_ADMIN only) keeps the bridge's set of leases.
    t.match(sh('nft list set bridge wsnic leased').stdout, new RegExp(`"wstap0" \\. [0-9a-f:]+ \\. ${lease.ip.replace(/\./g, '\\.')}`), 'the lease is in the set');
    // The control socket of the sandboxed relay: root sees the client, its TAP and its lease.
    const ctl = sh('wsnic status --json');
    t.equal(ctl.code, 0, `wsnic status: ${ctl.stderr}`);
    const listed = ctl.stdout.trim().split('\n').map((l) => JSON.parse(l) as { client?: { tap: string; ip?: string } }).filter((l) => l.client);
    t.same(listed.map((l) => [l.client!.tap, l.client!.ip]), [['wstap0', lease.ip]], 'wsnic status lists the client with its TAP and lease');
    t.equal(sh('stat -c %a:%U:%G /run/wsnic-relay/control.sock').stdout.trim(), '660:wsnic:wsnic', 'the socket: root and the wsnic group');
    // dnsmasq is wsnic-dnsmasq.service's: the relay asks systemd (D-Bus) for the unit's state.
    const relayBlock = JSON.parse(ctl.stdout.split('\n')[0]!) as { relay: { dnsmasq: string } };
    const dnsmasqPid = sh('systemctl show -p MainPID --value wsnic-dnsmasq.service').stdout.trim();
    t.equal(relayBlock.relay.dnsmasq, `wsnic-dnsmasq.service active (running), pid ${dnsmasqPid}`, 'wsnic status: dnsmasq as systemd runs it');
    const status = await until('StatusText counting the client', () => {
      const s = sh('systemctl show -p StatusText --value wsnic.service').stdout.trim();
      return /^1 client, /.test(s) && s;
    });
    t.match(status, /^1 client, /, `STATUS: ${status}`);
    const leased = await until('a journal entry with the client\'s IP', () => journal().find((e) => e.IP === lease.ip));
    t.equal(leased.CLIENT_ADDRESS, '198.19.9.1');
    t.match(leased.TAP, /^wstap\d+$/);
    t.match(leased.MAC, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    t.equal(leased.PRIORITY, '6');
    t.ok(journal().some((e) => e.CLIENT_PORT !== undefined && /client connected/.test(e.MESSAGE ?? '')), 'connect entry has fields');
    const networkd = journal().find((e) => /networkd link state/.test(e.MESSAGE ?? '') || /systemd-networkd not consulted/.test(e.MESSAGE ?? ''));
    t.ok(networkd, `networkd's view is logged: ${networkd?.MESSAGE}`);
    if (sh('systemctl is-active systemd-networkd').stdout.trim() === 'active') {
      t.match(networkd?.MESSAGE ?? '', /link=wsbr0 .*administrative=unmanaged/, 'networkd leaves wsbr0 alone (00-wsnic.network)');
    }
    t.match(sh('cat /run/systemd/network/00-wsnic.network').stdout, /^\[Match\]\nName=wsbr0 wsbr0l\* wstap\*\n\n\[Link\]\nUnmanaged=yes$/m,
      'wsnic setup wrote the networkd drop-in for the configured bridge, its leaves and TAPs');

    t.test('systemctl reload keeps clients', async (t) => {
      const before = journal().length;
      t.equal(sh('systemctl reload wsnic.service').code, 0);
      // systemctl returns once the signal is sent; the relay logs when it has reloaded.
      await until('the relay\'s reload line', () => journal().slice(before).some((e) => /reloaded|nothing to reload/.test(e.MESSAGE ?? '')));
      const after = journal().slice(before);
      t.notOk(after.some((e) => /client disconnected/.test(e.MESSAGE ?? '')), 'nobody was dropped');
      t.match(topo.exec(host, 'busybox', ['ping', '-c', '1', '-W', '2', '192.168.86.1']).stdout, /1 packets received/);
    });

    // What `wsnic status --json` lists of each client.
    type Row = { id: number; tap: string; ip?: string; mac?: string; port: number; since: number; framesIn: number };
    const clients = (): Row[] => sh('wsnic status --json').stdout.trim().split('\n').filter(Boolean)
      .map((l) => JSON.parse(l) as { client?: Row }).filter((l) => l.client).map((l) => l.client!);
    const ifindex = (tap: string): string => sh(`cat /sys/class/net/${tap}/ifindex`).stdout.trim();
    const mainPid = (): string => sh('systemctl show -p MainPID --value wsnic.service').stdout.trim();

    t.test('systemctl restart hands the ws:// client over: the same connection, TAP, MAC and address', async (t) => {
      const [before] = clients();
      t.ok(before?.ip, 'one client with its address');
      const index = ifindex(before!.tap);
      const pid = mainPid();
      const mark = c1.mark();
      const journalAt = journal().length;
      // 200 pings 20 ms apart (4 s) through the relay while it restarts, counted where they reach
      // the guest: busybox ping's own socket buffer (~7 KB) drops the burst of replies that waited
      // in the TAP while no relay ran (seen: every reply on the wire, ping missing the last few).
      const dump = topo.spawn(host, 'tcpdump', ['-i', 'wsn0', '-n', '-l', 'icmp[icmptype] = icmp-echoreply']);
      await dump.waitFor(/listening on/);
      const ping = topo.spawn(host, 'busybox', ['ping', '-i', '0.02', '-c', '200', '-W', '5', '192.168.86.1']);
      const replies = (): number[] => [...dump.output().matchAll(/ICMP echo reply, id \d+, seq (\d+),/g)].map((m) => Number(m[1]));
      // The restart comes while pings flow: after the first 50 replies (1 s of them).
      await until('50 replies before the restart', () => replies().length >= 50);
      const restart = sh('systemctl restart wsnic.service');
      t.equal(restart.code, 0, restart.stderr);
      await ping.exited;
      // tcpdump prints what ping got, and the replies ping's socket dropped: every seq ping printed
      // must be in tcpdump's lines before it stops (at most 5 s; the assertions below judge).
      const pinged = [...ping.output().matchAll(/seq=(\d+) /g)].map((m) => Number(m[1]));
      await until('tcpdump\'s line for each reply ping got', () => { const r = new Set(replies()); return pinged.every((i) => r.has(i)); }, 5000).catch(() => undefined);
      dump.child.kill('SIGINT');
      await dump.exited;
      const [, sent, got] = /(\d+) packets transmitted, (\d+) packets received/.exec(ping.output()) ?? [];
      const answered = new Set(replies());
      const missing = Array.from({ length: 200 }, (_, i) => i).filter((i) => !answered.has(i));
      const slowest = Math.max(...[...ping.output().matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])));
      t.comment(`pings during the restart: ${answered.size} of ${sent} answered on the guest's link (busybox ping counted ${got}); slowest reply ${slowest} ms`);
      t.ok(Number(sent) === 200 && missing.length <= 2, `at most a few pings lost (${missing.length}: seq ${missing.join(' ')})`);
      t.not(mainPid(), pid, 'the relay did restart');
      const since = c1.output().slice(mark);
      t.notMatch(since, /disconnected|connected url=/, 'the client saw no close and did not reconnect');
      const [after] = clients();
      const who = (c: Row | undefined): unknown[] => [c?.id, c?.tap, c?.mac, c?.ip, c?.port, c?.since];
      t.same(who(after), who(before), 'wsnic status: the same client id, TAP, MAC, address, port and start');
      t.ok(after!.framesIn > before!.framesIn, 'its counters went on from where they were');
      t.equal(ifindex(after!.tap), index, 'the same TAP (ifindex)');
      t.match(sh('nft list set bridge wsnic leased').stdout, new RegExp(`"${after!.tap}" \\. ${after!.mac} \\. ${after!.ip!.replace(/\./g, '\\.')}`), 'its MAC and address still in the set');
      const lines = journal().slice(journalAt).map((e) => e.MESSAGE ?? '');
      t.ok(lines.some((l) => /sessions handed over for the restart .*handed_over=1 closed=0/.test(l)), 'the old relay handed it over');
      t.ok(lines.some((l) => /sessions resumed after a restart resumed=1 failed=0/.test(l)), 'the new one took it up');
      t.ok(lines.some((l) => new RegExp(`client resumed .*tap=${after!.tap}`).test(l)), 'and logged it');
      t.match(topo.exec(host, 'busybox', ['ping', '-c', '1', '-W', '2', '192.168.86.1']).stdout, /1 packets received/);
    });

    t.test('a package upgrade with the client connected: the new version takes it over', async (t) => {
      const newer = buildDeb('0.1.0+upgrade');
      ct.copyIn(newer, '/root/wsnic-newer.deb');
      const [before] = clients();
      const index = ifindex(before!.tap);
      const mark = c1.mark();
      const journalAt = journal().length;
      const upgrade = sh('DEBIAN_FRONTEND=noninteractive apt-get install -y /root/wsnic-newer.deb', 180_000);
      t.equal(upgrade.code, 0, `apt install (upgrade): ${upgrade.stderr}`);
      const lines = (): string[] => journal().slice(journalAt).map((e) => e.MESSAGE ?? '');
      await until('the new version listening', () => lines().some((l) => /listening on an inherited socket .*version=0\.1\.0\+upgrade/.test(l)));
      t.ok(lines().some((l) => /sessions handed over for the restart job=\S+ .*handed_over=1/.test(l)), `the upgrade's restart handed the client over: ${lines().join('\n')}`);
      t.ok(lines().some((l) => /sessions resumed after a restart resumed=1 failed=0/.test(l)), 'to the new version');
      t.notMatch(c1.output().slice(mark), /disconnected|connected url=/, 'the client saw no close');
      const [after] = clients();
      t.same([after?.id, after?.tap, after?.ip], [before?.id, before?.tap, before?.ip]);
      t.equal(ifindex(after!.tap), index, 'the same TAP');
      t.match(topo.exec(host, 'busybox', ['ping', '-c', '1', '-W', '2', '192.168.86.1']).stdout, /1 packets received/);
    });

    t.test('a restart while one client leaves and another\'s stored state is corrupted: the rest resume', async (t) => {
      // Two more clients, each with its TAP on the relay (no DHCP: the first one's namespace routes).
      const c2 = topo.connect(host, 'ws://198.19.9.2:8086/', ['--tap', 'wsn1']);
      await c2.waitFor(/connected url=/, 30_000);
      const two = await until('the second client listed', () => { const l = clients(); return l.length === 2 && l; });
      const tap2 = two.find((c) => c.tap !== 'wstap0')!.tap;
      const c3 = topo.connect(host, 'ws://198.19.9.2:8086/', ['--tap', 'wsn2']);
      await c3.waitFor(/connected url=/, 30_000);
      const three = await until('the third client listed', () => { const l = clients(); return l.length === 3 && l; });
      const tap3 = three.find((c) => c.tap !== 'wstap0' && c.tap !== tap2)!.tap;
      const [index2, index3] = [ifindex(tap2), ifindex(tap3)];
      // Between the stop and the next relay (its ExecStartPre, as root): until the test says c2 is
      // gone (a file; at most 20 s), then c3's line in the states file in systemd's fd store
      // damaged through PID 1's fd ("tap" becomes "tXp": still JSON, no longer a state).
      sh(`cat > /usr/local/sbin/wsnic-test-corrupt <<'EOF'
#!/bin/sh
i=0
while [ ! -e /run/wsnic-test-c2-gone ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
for f in /proc/1/fd/*; do
  [ "$(readlink "$f")" = "/memfd:wsnic-sessions (deleted)" ] || continue
  at=$(grep -a -b -o '"tap":"${tap3}"' "$f" | cut -d: -f1)
  [ -n "$at" ] && printf X | dd of="$f" bs=1 seek=$((at + 2)) conv=notrunc 2>/dev/null
done
exit 0
EOF
chmod 755 /usr/local/sbin/wsnic-test-corrupt
mkdir -p /etc/systemd/system/wsnic.service.d
printf '[Service]\nExecStartPre=+/usr/local/sbin/wsnic-test-corrupt\n' > /etc/systemd/system/wsnic.service.d/test-restart.conf
systemctl daemon-reload`);
      t.teardown(() => sh('rm -f /etc/systemd/system/wsnic.service.d/test-restart.conf /run/wsnic-test-c2-gone && systemctl daemon-reload'));
      const journalAt = journal().length;
      const mark3 = c3.mark();
      sh('systemctl restart --no-block wsnic.service');
      await until('the sessions handed over', () => journal().slice(journalAt).some((e) => /sessions handed over .*handed_over=3/.test(e.MESSAGE ?? '')));
      c2.child.kill('SIGKILL'); // gone while no relay runs
      await c2.exited; // its connection closed by the kernel
      sh('touch /run/wsnic-test-c2-gone');
      await until('the next relay', () => journal().slice(journalAt).some((e) => /sessions resumed after a restart/.test(e.MESSAGE ?? '')), 30_000);
      const lines = (): string[] => journal().slice(journalAt).map((e) => e.MESSAGE ?? '');
      t.ok(lines().some((l) => /sessions resumed after a restart resumed=2 failed=1/.test(l)), `two resumed, one refused: ${lines().join('\n')}`);
      t.ok(lines().some((l) => new RegExp(`stored session not resumed, client closed .*reason="session state: bad tap"`).test(l)), 'the damaged state is named');
      // (a client back may have its TAP's name again, not its ifindex)
      await until(`${tap2} (its client left meanwhile) removed`, () => ifindex(tap2) !== index2);
      await until(`${tap3} (its state unreadable) removed`, () => ifindex(tap3) !== index3);
      await c3.waitFor(/disconnected, reconnecting/, 30_000, mark3);
      await c3.waitFor(/connected url=/, 30_000, mark3);
      t.ok(clients().some((c) => c.tap === 'wstap0'), 'the first client is still there');
      t.match(topo.exec(host, 'busybox', ['ping', '-c', '1', '-W', '2', '192.168.86.1']).stdout, /1 packets received/, 'and still pings');
      t.notMatch(sh('nft list set bridge wsnic leased').stdout, new RegExp(`"${tap2}"`), 'no set element of the client that left');
      c3.child.kill('SIGTERM');
    });

    t.test('a restart whose start fails once: systemd 252 restarts it (Restart=on-failure), and the store?', async (t) => {
      // The next relay's start fails once (an ExecStartPre exiting 1), as a broken upgrade would.
      sh(`printf '[Service]\\nExecStartPre=+/bin/sh -c "test -e /run/wsnic-test-failed || { touch /run/wsnic-test-failed; exit 1; }"\\n' > /etc/systemd/system/wsnic.service.d/test-fail.conf && rm -f /run/wsnic-test-failed && systemctl daemon-reload`);
      t.teardown(() => sh('rm -f /etc/systemd/system/wsnic.service.d/test-fail.conf /run/wsnic-test-failed && systemctl daemon-reload'));
      const mark = c1.mark();
      const journalAt = journal().length;
      const restart = sh('systemctl restart wsnic.service');
      t.not(restart.code, 0, 'the restart job fails');
      await until('the relay running again', () => sh('systemctl is-active wsnic.service').stdout.trim() === 'active', 30_000);
      const lines = journal().slice(journalAt).map((e) => e.MESSAGE ?? '');
      t.comment(lines.filter((l) => /handed over|resumed|Failed|failed|Scheduled restart/.test(l)).join('\n'));
      const resumed = lines.some((l) => /sessions resumed after a restart resumed=1/.test(l));
      const reconnected = /connected url=/.test(c1.output().slice(mark));
      t.comment(`after a failed start: ${resumed ? 'the store was kept, the client resumed' : 'the store was dropped'}; the client ${reconnected ? 'reconnected' : 'did not reconnect'}`);
      t.ok(resumed !== reconnected, 'either resumed or reconnected, never neither');
      if (!resumed) await c1.waitFor(/connected url=/, 30_000, mark);
    });

    t.test('systemctl restart: clients connecting meanwhile wait instead of being refused', async (t) => {
      const pid = sh('systemctl show -p MainPID --value wsnic.service').stdout.trim();
      const mark = c1.mark();
      // The restart starts after the 6th of a run of connections 50 ms apart, so some land while no relay runs.
      const probe = topo.spawn(host, process.execPath, [PROBE, 'hammer', 'ws://198.19.9.2:8086/', '30', '50']);
      await probe.waitFor(/"i":5,/);
      const restart = sh('systemctl restart wsnic.service');
      t.equal(restart.code, 0, restart.stderr);
      await probe.waitFor(/"i":29,/, 60_000);
      const attempts = probe.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { result: string; ms: number });
      t.equal(attempts.length, 30, probe.output());
      t.same(attempts.filter((a) => a.result !== 'open'), [], 'every connection opened, none refused');
      t.not(sh('systemctl show -p MainPID --value wsnic.service').stdout.trim(), pid, 'the relay did restart');
      t.comment(`slowest connection during the restart: ${Math.max(...attempts.map((a) => a.ms))} ms`);
      t.notMatch(c1.output().slice(mark), /disconnected/, 'the first client was handed over again');
      await until('a ping through the new relay', () => /1 packets received/.test(topo.exec(host, 'busybox', ['ping', '-c', '1', '-W', '1', '192.168.86.1']).stdout), 15_000);
    });

    t.test('restarting the bridge unit: a stored TAP left on no bridge is closed, and the client comes back', async (t) => {
      const mark = c1.mark();
      const journalAt = journal().length;
      t.equal(sh('systemctl restart wsnic-bridge.service').code, 0);
      await until('the relay back', () => sh('systemctl is-active wsnic.service').stdout.trim() === 'active', 30_000);
      await c1.waitFor(/connected url=/, 30_000, mark);
      const lines = journal().slice(journalAt).map((e) => e.MESSAGE ?? '');
      t.ok(lines.some((l) => /stored session not resumed, client closed .*on no bridge, not on wsbr0/.test(l)), `named: ${lines.filter((l) => /stored|resumed|handed/.test(l)).join(' | ')}`);
      // (dnsmasq restarted with the bridge: the guest asks for its lease again, as its DHCP client would)
      t.match(topo.dhcp(host, 'wsn0').ip, /^192\.168\.86\./);
      await until('a ping through the new bridge', () => /1 packets received/.test(topo.exec(host, 'busybox', ['ping', '-c', '1', '-W', '1', '192.168.86.1']).stdout), 20_000);
    });

    t.test('the watchdog restarts a relay stopped with SIGSTOP', async (t) => {
      const mark = c1.mark();
      const pid = sh('systemctl show -p MainPID --value wsnic.service').stdout.trim();
      const restarts = Number(sh('systemctl show -p NRestarts --value wsnic.service').stdout.trim());
      t.equal(sh(`kill -STOP ${pid}`).code, 0);
      await until('a new main PID after the watchdog fired', () => {
        const now = sh('systemctl show -p MainPID --value wsnic.service').stdout.trim();
        return now !== pid && now !== '0' && now;
      }, 40_000);
      t.ok(Number(sh('systemctl show -p NRestarts --value wsnic.service').stdout.trim()) > restarts, 'counted as a restart');
      t.match(sh('journalctl -u wsnic.service --no-pager').stdout, /[Ww]atchdog timeout/);
      // A relay killed hands nothing over: the client reconnects, and nothing of its old session
      // is left (no TAP, no set element) once the new relay rewrote the set.
      await c1.waitFor(/connected url=/, 30_000, mark);
      const listed = await until('the client back in wsnic status', () => { const l = clients(); return l.length === 1 && l; });
      const taps: string[] = sh('ip -o link show master wsbr0').stdout.match(/wstap\d+/g) ?? [];
      t.same(taps, listed.map((c) => c.tap), 'only the live client\'s TAP on the bridge');
      await until('the set naming only live TAPs', () => (sh('nft list set bridge wsnic leased').stdout.match(/"wstap\d+"/g) ?? []).every((x) => taps.includes(x.slice(1, -1))));
    });
  });

  t.test('wss:// through wsnic-tls.socket with a certificate the wsnic group can read', async (t) => {
    const { cert, key } = topo.selfSigned('relay', '198.19.9.2');
    ct.copyIn(cert, '/etc/wsnic/cert.pem');
    ct.copyIn(key, '/etc/wsnic/key.pem');
    // As the README says: the key readable by the wsnic group only.
    sh('chgrp wsnic /etc/wsnic/key.pem && chmod 640 /etc/wsnic/key.pem');
    sh('printf "wss_certificate = /etc/wsnic/cert.pem\\nwss_private_key = /etc/wsnic/key.pem\\n" >> /etc/wsnic/wsnic.conf');
    // A socket unit will not start while its service runs: stop the relay, and wsnic.socket (a
    // client reconnecting in between would start the relay again), then start them all.
    const enable = sh('systemctl enable wsnic-tls.socket && systemctl stop wsnic.socket wsnic.service && systemctl start wsnic.socket wsnic-tls.socket wsnic.service');
    t.equal(enable.code, 0, `${enable.stderr}${sh('journalctl --no-pager -n 20 -u "wsnic*"').stdout}`);
    const c2 = topo.connect(host, 'wss://198.19.9.2:8087/', ['--tap', 'wsn1', '--ca', cert]);
    await c2.waitFor(/connected url=wss:/, 30_000);
    const entry = await until('a wss client in the journal', () => journal().find((e) => /client connected .*scheme=wss/.test(e.MESSAGE ?? '')));
    t.equal(entry.CLIENT_ADDRESS, '198.19.9.1');
    t.match(journal().map((e) => e.MESSAGE).join('\n'), /listening on an inherited socket name=wss/);
    const before = journal().length;
    t.equal(sh('systemctl reload wsnic.service').code, 0);
    await until('the certificate reloaded', () => journal().slice(before).some((e) => /certificate reloaded/.test(e.MESSAGE ?? '')));
    t.notOk(journal().slice(before).some((e) => /client disconnected/.test(e.MESSAGE ?? '')), 'the reload kept the wss client');
    // wss:// cannot be handed over (Node holds the TLS state): 1012, and the client comes back.
    const mark = c2.mark();
    t.equal(sh('systemctl restart wsnic.service').code, 0);
    await c2.waitFor(/disconnected, reconnecting .*code=1012/, 30_000, mark);
    await c2.waitFor(/connected url=wss:/, 30_000, mark);
    c2.child.kill('SIGTERM');
  });

  t.test('Prometheus metrics through wsnic-metrics.socket, as the unit file says to enable it', async (t) => {
    t.equal(sh('systemctl is-enabled wsnic-metrics.socket').stdout.trim(), 'disabled', 'off by default');
    const enable = sh('systemctl enable wsnic-metrics.socket && systemctl stop wsnic.socket wsnic && systemctl start wsnic.socket wsnic-metrics.socket wsnic');
    t.equal(enable.code, 0, enable.stderr);
    await until('the relay on the metrics socket', () => journal().some((e) => /metrics on an inherited socket name=metrics/.test(e.MESSAGE ?? '')));
    const scrape = await until('a scrape', () => {
      const r = sh('wget -qO- http://127.0.0.1:9586/metrics');
      return r.code === 0 && r.stdout;
    });
    t.match(scrape, /^wsnic_clients\{scheme="ws"\} \d+$/m);
    t.match(scrape, /^nodejs_eventloop_lag_seconds /m);
    t.match(scrape, /^wsnic_dnsmasq_up 1$/m, 'dnsmasq up: wsnic-dnsmasq.service is active');
    // Stopped, then started again: the gauge and wsnic status follow the unit.
    // (the relay asks systemd at most once a second: polled)
    t.equal(sh('systemctl stop wsnic-dnsmasq.service').code, 0);
    const metric = (): string => sh('wget -qO- http://127.0.0.1:9586/metrics').stdout;
    t.match(await until('wsnic_dnsmasq_up 0', () => /^wsnic_dnsmasq_up 0$/m.test(metric()) && metric()), /^wsnic_dnsmasq_up 0$/m, 'dnsmasq down: the unit stopped');
    t.match(sh('wsnic status').stdout, /^ {2}dnsmasq: wsnic-dnsmasq\.service inactive \(dead\)$/m, 'wsnic status says so');
    t.equal(sh('systemctl is-active wsnic.service').stdout.trim(), 'active', 'the relay is not stopped with it');
    t.equal(sh('systemctl start wsnic-dnsmasq.service').code, 0);
    t.match(await until('wsnic_dnsmasq_up 1', () => /^wsnic_dnsmasq_up 1$/m.test(metric()) && metric()), /^wsnic_dnsmasq_up 1$/m, 'up again');
    t.equal(sh('wget -qO- http://198.19.9.2:9586/metrics').code === 0, false, 'loopback only');
  });

  t.test('stopping everything leaves no bridge, rules or TAP; remove and purge leave nothing', async (t) => {
    t.equal(sh('systemctl stop wsnic.socket wsnic-tls.socket wsnic-metrics.socket wsnic.service wsnic-dnsmasq.service wsnic-bridge.service').code, 0);
    t.notMatch(sh('ip -o link').stdout, /wsbr0|wstap/);
    t.not(sh('nft list table inet wsnic').code, 0, 'no nftables table');
    t.not(sh('test -e /run/systemd/network/00-wsnic.network').code, 0, 'no networkd drop-in');

    // Other names in wsnic.conf, and a .network of the admin's that would configure links of
    // those names: wsnic's drop-in names them, sorts first, and networkd leaves them alone.
    sh('cp /etc/wsnic/wsnic.conf /root/wsnic.conf.orig && printf "bridge = v86br\\ntap_prefix = v86tap\\n" >> /etc/wsnic/wsnic.conf');
    sh('printf "[Match]\\nName=v86*\\n\\n[Network]\\nLinkLocalAddressing=no\\n" > /etc/systemd/network/50-admin.network && networkctl reload');
    t.teardown(() => sh('rm -f /etc/systemd/network/50-admin.network && networkctl reload'));
    const bridge = sh('systemctl start wsnic-bridge.service');
    t.equal(bridge.code, 0, bridge.stderr);
    t.match(sh('cat /run/systemd/network/00-wsnic.network').stdout, /^Name=v86br v86brl\* v86tap\*$/m, 'the drop-in names the configured bridge, leaves and TAPs');
    sh('ip tuntap add dev v86tap7 mode tap && ip link set v86tap7 up');
    const setupState = (link: string): Promise<string> => until(`networkd's setup state of ${link}`,
      () => /\s(unmanaged|configuring|configured|failed)\s*$/m.exec(sh(`networkctl list --no-legend --no-pager ${link}`).stdout)?.[1]);
    t.equal(await setupState('v86br'), 'unmanaged', 'networkd leaves the configured bridge alone');
    t.equal(await setupState('v86tap7'), 'unmanaged', 'and a TAP of the configured prefix');
    sh('ip link del v86tap7');
    t.equal(sh('systemctl stop wsnic-bridge.service').code, 0);
    t.notMatch(sh('ip -o link').stdout, /v86br/, 'teardown removed the configured bridge');
    t.not(sh('test -e /run/systemd/network/00-wsnic.network').code, 0, 'and the drop-in');
    sh('mv /root/wsnic.conf.orig /etc/wsnic/wsnic.conf');

    // Running again, then apt remove: the units stop and take the bridge with them.
    sh('systemctl start wsnic.socket wsnic.service');
    await until('the bridge again', () => /wsbr0/.test(sh('ip -o link').stdout));
    t.equal(sh('DEBIAN_FRONTEND=noninteractive apt-get remove -y wsnic', 120_000).code, 0);
    t.notMatch(sh('ip -o link').stdout, /wsbr0|wstap/, 'apt remove stopped the units');
    t.notMatch(sh(`systemctl list-units --all --no-legend "wsnic*"`).stdout, /\sactive\s|running/);
    t.equal(sh('DEBIAN_FRONTEND=noninteractive apt-get purge -y wsnic', 120_000).code, 0);
    t.equal(sh('ls -d /etc/wsnic /run/wsnic /usr/lib/wsnic /usr/bin/wsnic 2>/dev/null').stdout.trim(), '', 'no files');
    t.equal(sh('getent passwd wsnic').code, 0, 'the wsnic user stays (Debian deletes no system user)');
  });
});
