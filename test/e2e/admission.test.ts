/**
 * Admission before a TAP exists: Origin allow-list, tokens (reloaded on SIGHUP), total and
 * per-address limits, trusted proxies, slow-loris handshakes; a refused client never gets a TAP
 * and a well-behaved guest keeps working.
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { ROOT, relayNetwork, type RelayNetwork } from './topology';

const PROBE = join(ROOT, 'test', 'fixtures', 'probe.js');

function handshake(n: RelayNetwork, guest: number, path: string, headers: string[] = [], holdMs = 0): { status: number; body?: string } {
  const r = n.topo.exec(n.guests[guest - 1]!, 'env', [`HOLD_MS=${holdMs}`, process.execPath, PROBE, 'handshake', `${n.url(guest)}${path}`, ...headers], 20_000);
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new Error(`no handshake result: ${r.stdout} ${r.stderr}`);
  return JSON.parse(line) as { status: number; body?: string };
}

t.test('admission controls refuse before a TAP exists', async (t) => {
  const topoTokens = 'tokens';
  const n = await relayNetwork(t.teardown.bind(t), {
    allowed_origins: 'https://emu.example.org,https://*.trusted.test',
    max_clients: 3,
    max_clients_per_ip: 2,
    handshake_timeout: 2,
    trusted_proxies: '198.19.2.2',
  }, 2, (topo, srv, dropin) => {
    const tokens = topo.file(topoTokens, '# one per line\nsecret-one\n');
    const conf = topo.file('adm.conf', [
      'ws_address = 0.0.0.0', `runtime_dir = ${join(topo.dir, 'run')}`, `dnsmasq_conf_dir = ${dropin}`,
      'allowed_origins = https://emu.example.org,https://*.trusted.test', 'max_clients = 3', 'max_clients_per_ip = 2',
      'handshake_timeout = 2', 'trusted_proxies = 198.19.2.2', `auth_tokens_file = ${tokens}`,
    ].join('\n'));
    return topo.spawn(srv, process.execPath, [join(ROOT, 'dist', 'cli', 'main.js'), 'run', '-c', conf]);
  });
  const taps = (): number => (n.topo.exec(n.srv, 'ip', ['-o', 'link']).stdout.match(/ wstap\d+:/g) ?? []).length;

  // The well-behaved guest: allowed Origin is irrelevant for it (no Origin header), token in the URL.
  const good = n.topo.connect(n.guests[0]!, `${n.url(1)}?token=secret-one`, ['--tap', 'wsn0']);
  await good.waitFor(/connected url=/);
  n.topo.dhcp(n.guests[0]!, 'wsn0');
  const goodPings = (t: Test): void => {
    t.match(n.topo.exec(n.guests[0]!, 'busybox', ['ping', '-c', '1', '-W', '2', '192.168.86.1']).stdout, /1 packets received/, 'the good guest still works');
  };

  t.test('tokens: none, wrong, in the query, as a protocol, as a bearer; a refusal is logged', async (t) => {
    t.match(handshake(n, 2, '/'), { status: 401, body: 'no token' });
    t.match(handshake(n, 2, '/?token=secret-two'), { status: 401, body: 'wrong token' });
    t.equal(handshake(n, 2, '/?token=secret-one').status, 101);
    t.equal(handshake(n, 2, '/', ['Sec-WebSocket-Protocol=secret-one']).status, 101);
    t.equal(handshake(n, 2, '/', ['Authorization=Bearer secret-one']).status, 101);
    await n.server.waitFor(/client refused client_address=198\.19\.2\.2 status=401 reason="wrong token"/);
    goodPings(t);
  });

  t.test('origins: a browser from elsewhere gets 403 and no TAP; listed ones pass', async (t) => {
    const before = taps();
    t.match(handshake(n, 2, '/?token=secret-one', ['Origin=https://evil.example']), { status: 403 });
    t.equal(taps(), before, 'no TAP for a refused client');
    t.equal(handshake(n, 2, '/?token=secret-one', ['Origin=https://emu.example.org']).status, 101);
    t.equal(handshake(n, 2, '/?token=secret-one', ['Origin=https://a.trusted.test']).status, 101);
    t.match(handshake(n, 2, '/?token=secret-one', ['Origin=https://trusted.test.evil']), { status: 403 });
  });

  t.test('limits: per address (429), in all (503); freed when clients leave', async (t) => {
    // Guest 1 already holds one; two held from guest 2 reach the per-address limit of 2.
    const hold = (ms: number) => n.topo.spawn(n.guests[1]!, 'env', [`HOLD_MS=${ms}`, process.execPath, PROBE, 'handshake', `${n.url(2)}?token=secret-one`]);
    const left = n.server.mark();
    const a = hold(4000);
    const b = hold(4000);
    await a.waitFor(/"status":101/);
    await b.waitFor(/"status":101/);
    t.match(handshake(n, 2, '/?token=secret-one'), { status: 429 }, 'a third from the same address');
    // Through the trusted proxy (guest 2's address) a different client is named: total limit 3.
    t.match(handshake(n, 2, '/?token=secret-one', ['X-Forwarded-For=203.0.113.9']), { status: 503 }, 'the fourth in all');
    await a.exited;
    await b.exited;
    // A client counts until its TAP is gone, which is when the relay logs its departure.
    for (const held of [a, b]) {
      const port = /"port":(\d+)/.exec(held.output())![1]!;
      await n.server.waitFor(new RegExp(`client disconnected client_address=198\\.19\\.2\\.2 client_port=${port} `), 5000, left);
    }
    t.equal(handshake(n, 2, '/?token=secret-one').status, 101, 'counted down when they left');
    const proxied = n.server.mark();
    t.equal(handshake(n, 2, '/?token=secret-one', ['X-Forwarded-For=203.0.113.9']).status, 101);
    await n.server.waitFor(/client connected client_address=203\.0\.113\.9 /, 5000, proxied);
    goodPings(t);
  });

  t.test('a slow-loris handshake is cut after handshake_timeout, not 30 s later', async (t) => {
    const r = n.topo.exec(n.guests[1]!, process.execPath, [PROBE, 'slowloris', '198.19.2.1', '8086'], 20_000);
    const ms = (JSON.parse(r.stdout.trim()) as { closed_after_ms: number }).closed_after_ms;
    t.ok(ms >= 1900 && ms < 3500, `cut after ${ms} ms (handshake_timeout 2 s)`);
  });

  t.test('SIGHUP reloads the tokens', async (t) => {
    n.topo.file(topoTokens, 'secret-two\n');
    const mark = n.server.mark();
    n.server.child.kill('SIGHUP');
    await n.server.waitFor(/tokens reloaded .*tokens=1/, 5000, mark);
    t.match(handshake(n, 2, '/?token=secret-one'), { status: 401 });
    t.equal(handshake(n, 2, '/?token=secret-two').status, 101);
    goodPings(t);
  });
});
