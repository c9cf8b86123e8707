import t from 'tap';
import { parseRequest } from '../../src/ops/control';
import { formatClient, formatRelay } from '../../src/cli/status';
import { controlSocketPath } from '../../src/config/paths';
import { loadConfig } from '../../src/config/load';
import { claimSocketPath } from '../../src/ops/unixsocket';
import { endReason } from '../../src/relay/session';
import { existsSync, lstatSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

t.test('control requests are checked field by field', async (t) => {
  t.same(parseRequest('{"cmd":"status"}'), { cmd: 'status' });
  t.same(parseRequest('{"cmd":"status","match":"wstap3"}'), { cmd: 'status', match: 'wstap3' });
  t.same(parseRequest('{"cmd":"disconnect","match":"52:54:00:12:34:56","reason":"abuse","by":"root (uid 0)"}'),
    { cmd: 'disconnect', match: '52:54:00:12:34:56', reason: 'abuse', by: 'root (uid 0)' });
  t.throws(() => parseRequest('status'), /not JSON/);
  t.throws(() => parseRequest('[1]'), /not a JSON object/);
  t.throws(() => parseRequest('{"cmd":"shutdown"}'), /unknown cmd "shutdown"/);
  t.throws(() => parseRequest('{"cmd":"disconnect"}'), /disconnect needs match/);
  t.throws(() => parseRequest('{"cmd":"disconnect","match":""}'), /disconnect needs match/);
  t.throws(() => parseRequest('{"cmd":"status","match":7}'), /match must be a string/);
  t.throws(() => parseRequest(`{"cmd":"disconnect","match":"1","reason":"${'x'.repeat(121)}"}`), /reason must be a string of at most 120/);
});

t.test('the control socket sits beside runtime_dir unless set', async (t) => {
  const none = '/nonexistent/wsnic.conf';
  t.equal(controlSocketPath(loadConfig({ defaultFile: none }).config), '/run/wsnic-relay/control.sock');
  t.equal(controlSocketPath(loadConfig({ defaultFile: none, env: { WSNIC_RUNTIME_DIR: '/tmp/x/run' } }).config), '/tmp/x/run-relay/control.sock');
  t.equal(controlSocketPath(loadConfig({ defaultFile: none, env: { WSNIC_CONTROL_SOCKET: '/tmp/c.sock' } }).config), '/tmp/c.sock');
});

t.test('status text: the relay, then a block per client', async (t) => {
  t.equal(formatRelay({ version: '0.1.0', clients: 2, refused: { '403 Forbidden': 3 } }), 'relay:\n  version: 0.1.0\n  clients: 2\n  refused: 403 Forbidden 3');
  t.equal(formatRelay({ refused: {} }), 'relay:\n  refused: none');
  const now = Date.UTC(2026, 11, 5, 8, 0, 0);
  const text = formatClient({
    id: 7, address: '203.0.113.7', port: 51234, scheme: 'wss', origin: 'https://copy.sh', tap: 'wstap0', bridge: 'wsbr0',
    mac: '52:54:00:12:34:56', ip: '192.168.86.23', since: now - 720_000, lastSeen: now, lastFrame: now - 5000, path: 'js', framesIn: 18233, bytesIn: 2_410_000,
    framesOut: 20112, bytesOut: 9_870_000, drops: { spoofed: 1, limitedIn: 2, limitedOut: 3, refused: 4, stalls: 5 },
  }, now);
  t.equal(text, [
    'client 7:',
    '  remote: 203.0.113.7:51234 (wss, js path), origin https://copy.sh',
    '  tap: wstap0 on wsbr0',
    '  mac: 52:54:00:12:34:56',
    '  ip: 192.168.86.23',
    '  connected: 2026-12-05T07:48:00.000Z (12 min ago), last heard 0 s ago, last frame 5 s ago',
    '  transfer: 18233 frames (2.41 MB) received, 20112 frames (9.87 MB) sent',
    '  dropped: spoofed 1, rate limit in 2, rate limit out 3, refused by TAP 4, backpressure stalls 5',
  ].join('\n'));
  t.match(formatClient({ id: 1, address: '::1', port: 1, scheme: 'ws', origin: '', tap: 't', bridge: 'b', mac: undefined, ip: undefined, since: now, lastSeen: now, lastFrame: now, path: 'native',
    framesIn: 0, bytesIn: 0, framesOut: 0, bytesOut: 0, drops: { spoofed: 0, limitedIn: 0, limitedOut: 0, refused: 0, stalls: 0 } }, now), /remote: \[::1\]:1 \(ws, native path\)\n.*\n {2}mac: \(no frame yet\)\n {2}ip: \(no lease\)/);
});

t.test('a socket path is claimed only from a relay that is gone: a live socket or a file is refused, never removed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wsnic-claim-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await claimSocketPath(join(dir, 'none.sock'), 'control socket'); // nothing there: nothing to do

  const file = join(dir, 'wsnic.conf');
  writeFileSync(file, 'precious\n');
  await t.rejects(claimSocketPath(file, 'control socket'), new RegExp(`control socket ${file} exists and is not a socket: not removed`));
  t.equal(readFileSync(file, 'utf8'), 'precious\n', 'the file is untouched');

  const live = join(dir, 'live.sock');
  const server = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(live, resolve));
  await t.rejects(claimSocketPath(live, 'metrics socket'), /metrics socket .*live\.sock is in use by another process/);
  t.ok(existsSync(live), 'a live socket stays');

  // A socket nobody listens on any more (a relay killed with -9 leaves one): replaced.
  const stale = join(dir, 'stale.sock');
  const gone = createServer();
  await new Promise<void>((resolve) => gone.listen(stale, resolve));
  // Closed without the path going (libuv unlinks it on close; a killed process would not).
  renameSync(stale, `${stale}.keep`);
  await new Promise<void>((resolve) => gone.close(() => resolve()));
  renameSync(`${stale}.keep`, stale);
  t.ok(lstatSync(stale).isSocket(), 'the stale socket is there');
  await claimSocketPath(stale, 'control socket');
  t.notOk(existsSync(stale), 'the stale socket is removed');
  server.close();
});

t.test('clients gone are counted by close code and its name; codes a client makes up are "other"', async (t) => {
  t.equal(endReason(1000), '1000 normal');
  t.equal(endReason(1006), '1006 abnormal');
  t.equal(endReason(1008), '1008 policy');
  t.equal(endReason(1009), '1009 too big');
  t.equal(endReason(1012), '1012 service restart');
  for (const code of [3000, 4999, 1004, 0]) t.equal(endReason(code), 'other', String(code));
});
