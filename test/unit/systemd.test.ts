import t from 'tap';
import { takeListenFds } from '../../src/systemd/activation';
import { encodeEntry, fieldName } from '../../src/systemd/journal';
import { parseLeases } from '../../src/net/leasefile';
import { problems } from '../../src/systemd/networkd';
import { journalFields } from '../../src/log';
import { describeUnit, unitUp, unitView, type UnitState } from '../../src/systemd/unit';

t.test('socket activation: fds by name only when LISTEN_PID is ours; the variables are removed', async (t) => {
  const env: NodeJS.ProcessEnv = { LISTEN_PID: '42', LISTEN_FDS: '2', LISTEN_FDNAMES: 'ws:wss' };
  const marked: number[] = [];
  t.same(takeListenFds(env, 42, (fd) => marked.push(fd)), [{ name: 'ws', fd: 3 }, { name: 'wss', fd: 4 }]);
  t.same(marked, [3, 4], 'each made close-on-exec');
  t.same(env, {}, 'children do not inherit them');
  t.same(takeListenFds({ LISTEN_PID: '41', LISTEN_FDS: '1', LISTEN_FDNAMES: 'ws' }, 42), [], 'for another process');
  t.same(takeListenFds({}, 42), [], 'not socket-activated');
  t.same(takeListenFds({ LISTEN_PID: '42', LISTEN_FDS: '1' }, 42, () => undefined), [{ name: 'unknown', fd: 3 }], 'unnamed');
});

t.test('journal entries: KEY=value lines, binary form for values with newlines', async (t) => {
  t.equal(encodeEntry({ MESSAGE: 'hi', PRIORITY: '6' }).toString(), 'MESSAGE=hi\nPRIORITY=6\n');
  const multi = encodeEntry({ MESSAGE: 'a\nb' });
  t.equal(multi.subarray(0, 8).toString(), 'MESSAGE\n');
  t.equal(multi.readBigUInt64LE(8), 3n);
  t.equal(multi.subarray(16).toString(), 'a\nb\n');
  t.equal(fieldName('client_address'), 'CLIENT_ADDRESS');
  t.equal(fieldName('_x-y'), 'X_Y', 'no leading underscore (trusted fields are journald\'s)');
  t.same(journalFields('warning', 'client leased', { client_address: '1.2.3.4', tap: 'wstap0', ip: '192.168.86.5', none: undefined }), {
    MESSAGE: 'client leased client_address=1.2.3.4 tap=wstap0 ip=192.168.86.5', PRIORITY: '4', SYSLOG_IDENTIFIER: 'wsnic',
    CLIENT_ADDRESS: '1.2.3.4', TAP: 'wstap0', IP: '192.168.86.5',
  });
});

t.test('dnsmasq lease lines map MACs to addresses', async (t) => {
  const leases = parseLeases('1764160000 52:54:00:AB:cd:01 192.168.86.7 guest 01:52:54:00:ab:cd:01\nduid 00:01:00:01\n\n1764160001 52:54:00:00:00:02 192.168.86.8 * *\n');
  t.same([...leases], [['52:54:00:ab:cd:01', '192.168.86.7'], ['52:54:00:00:00:02', '192.168.86.8']]);
});

t.test('networkd: a managed bridge or a link without carrier is a problem worth a warning', async (t) => {
  t.same(problems({ available: false, reason: 'no bus' }, 'wsbr0'), []);
  t.same(problems({ available: true, links: [{ name: 'wsbr0', operational: 'routable', administrative: 'unmanaged' }] }, 'wsbr0'), []);
  const p = problems({ available: true, links: [{ name: 'wsbr0', operational: 'no-carrier', administrative: 'configured' }, { name: 'eth0', operational: 'off', administrative: 'configured' }] }, 'wsbr0');
  t.equal(p.length, 3);
  t.match(p[0]!, /systemd-networkd manages wsbr0 \(configured\)/);
});

t.test('another unit\'s state (dnsmasq under systemd), as systemctl says it', async (t) => {
  t.equal(describeUnit({ active: 'active', sub: 'running', mainPid: 4711 }), 'active (running), pid 4711');
  t.equal(describeUnit({ active: 'failed', sub: 'failed', mainPid: 0 }), 'failed (failed)');
  t.ok(unitUp({ active: 'active', sub: 'running', mainPid: 1 }));
  t.ok(unitUp({ active: 'reloading', sub: 'reload', mainPid: 1 }));
  for (const active of ['inactive', 'failed', 'activating', 'deactivating']) t.notOk(unitUp({ active, sub: 'x', mainPid: 0 }), active);
  // Without a bus, neither up nor down: not known, and why. (The real bus: test/system/package.test.ts.)
  t.same(await unitView('wsnic-dnsmasq.service', { busPath: '/nonexistent/system_bus_socket' }).state(),
    { up: undefined, text: 'wsnic-dnsmasq.service, state unknown: no system D-Bus (/nonexistent/system_bus_socket missing)' });
  // One question at a time, one answer serving freshMs; a caller waits waitMs at most.
  let asked = 0;
  let answer: (s: UnitState) => void = () => {};
  const view = unitView('wsnic-dnsmasq.service', { freshMs: 200, waitMs: 100, query: () => {
    asked++;
    return new Promise<UnitState>((resolve) => (answer = resolve));
  } });
  const waiting = [view.state(), view.state()];
  t.equal(asked, 1, 'two callers at once: one question');
  answer({ active: 'active', sub: 'running', mainPid: 7 });
  for (const a of await Promise.all(waiting)) t.same(a, { up: true, text: 'wsnic-dnsmasq.service active (running), pid 7' });
  await view.state();
  t.equal(asked, 1, 'the answer serves the next caller too');
  await new Promise((r) => setTimeout(r, 250));
  const started = Date.now();
  const stale = await view.state(); // systemd does not answer this time
  t.equal(asked, 2, 'asked again once the answer is older than freshMs');
  t.ok(Date.now() - started < 1000, 'the caller waited about waitMs, not for systemd');
  t.same(stale, { up: true, text: 'wsnic-dnsmasq.service active (running), pid 7' }, 'and got the last answer known');
  await view.state();
  t.equal(asked, 2, 'no second question while one is unanswered');
  const fresh = unitView('x.service', { waitMs: 50, query: () => new Promise<UnitState>(() => {}) });
  t.same(await fresh.state(), { up: undefined, text: 'x.service, state unknown: systemd did not answer in 50 ms' }, 'nothing known yet: unknown');
});
