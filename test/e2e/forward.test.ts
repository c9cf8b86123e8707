/**
 * Port forwards with the real parts: guest 1 (a fixed MAC) serves TCP and UDP; `forward` sends
 * ports 2222 and 5353 of the host to it from the "outside" (the inet namespace), from another
 * guest (hairpin) and from the host itself. It reconnects on another TAP with another address
 * and the forward follows; gone, the ports are refused and the host's own services on the same
 * ports never answer.
 */
import t from 'tap';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { relayNetwork, sh, WSNIC, type Proc, type RelayNetwork } from './topology';

const MAC = '52:54:00:fa:00:01';
const UPLINK = '198.18.0.1';
const GATEWAY = '192.168.86.1';

/** A TCP exchange from ns: what the server sent (its name and the peer it saw), or why not. */
function tcp(n: RelayNetwork, ns: string, host: string, port: number): { said: string; ms: number } {
  const script = `const t0 = Date.now(); const s = require('net').connect(${port}, ${JSON.stringify(host)}); let said = '';
    const end = (what) => { console.log(JSON.stringify({ said: what, ms: Date.now() - t0 })); process.exit(0); };
    s.on('data', (d) => (said += d)); s.on('end', () => end(said));
    s.setTimeout(3000, () => end('timeout')); s.on('error', (e) => end(e.code));`;
  return JSON.parse(n.topo.exec(ns, process.execPath, ['-e', script]).stdout) as { said: string; ms: number };
}

/** A UDP datagram from ns and the answer, or the error a port unreachable gives (ECONNREFUSED). */
function udp(n: RelayNetwork, ns: string, host: string, port: number): string {
  const script = `const s = require('dgram').createSocket('udp4'); const end = (w) => { console.log(w); process.exit(0); };
    s.on('message', (m) => end(String(m))); s.on('error', (e) => end(e.code)); setTimeout(() => end('timeout'), 3000);
    s.connect(${port}, ${JSON.stringify(host)}, () => s.send('ping'));`;
  return n.topo.exec(ns, process.execPath, ['-e', script]).stdout.trim();
}

/** Servers answering with a name and the peer they saw: TCP then close, UDP one datagram back. */
function serve(n: RelayNetwork, ns: string, name: string, tcpPort: number, udpPort: number): Promise<string> {
  const script = `require('net').createServer((s) => s.end('${name} ' + s.remoteAddress.replace('::ffff:', ''))).listen(${tcpPort}, () => {
    const u = require('dgram').createSocket('udp4'); u.on('message', (m, r) => u.send('${name} ' + r.address, r.port, r.address));
    u.bind(${udpPort}, () => console.log('serving')); });`;
  return n.topo.spawn(ns, process.execPath, ['-e', script]).waitFor(/serving/);
}

/** Guest 1 on a new `wsnic connect` with TAP dev and the forwarded MAC, leased (with udhcpc options). */
async function joinGuest(n: RelayNetwork, dev: string, dhcp: string[] = []): Promise<{ proc: Proc; ip: string }> {
  const g = n.guests[0]!;
  const proc = n.topo.connect(g, n.url(1), ['--tap', dev]);
  await proc.waitFor(/connected url=/);
  // No frame has left yet (IPv6 is off in this namespace): the relay learns this MAC first.
  n.topo.exec(g, 'ip', ['link', 'set', dev, 'address', MAC]);
  return { proc, ip: n.topo.dhcp(g, dev, undefined, dhcp).ip };
}

function fwdMap(n: RelayNetwork): string {
  return n.topo.exec(n.srv, 'nft', ['list', 'map', 'inet', 'wsnic', 'fwd4']).stdout;
}

/** Polls get() until its text matches re (nft and `wsnic status` catch up a moment after a lease). */
async function eventually(get: () => string, re: RegExp): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (re.test(get())) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

t.test('a forward reaches its guest from outside, other guests and the host, follows it, and refuses without it', async (t) => {
  const conf = { enable_inet: 1, forward: `tcp:2222>${MAC}:8080, udp:5353>${MAC}:53` };
  let hosts = '';
  let control = '';
  const status = (): string => spawnSync(process.execPath, [WSNIC, 'status', '--control-socket', control], { encoding: 'utf8', timeout: 20_000 }).stdout;
  const n = await relayNetwork(t.teardown.bind(t), conf, 2, (topo, srv, dropin) => {
    // A reservation file dnsmasq rereads on SIGHUP: how the guest is made to change address.
    hosts = topo.file('dhcp-hosts', '');
    // dnsmasq rereads it as nobody: let that user through the run's private directory.
    chmodSync(topo.dir, 0o711);
    chmodSync(hosts, 0o644);
    topo.file('dnsmasq.d/hosts.conf', `dhcp-hostsfile=${hosts}\n`);
    control = join(topo.dir, 'control.sock');
    return topo.wsnic(srv, { ws_address: '0.0.0.0', dnsmasq_conf_dir: dropin, control_socket: control, ...conf });
  });
  const [g1, g2] = n.guests as [string, string];
  n.topo.exec(g1, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  await serve(n, g1, 'guest', 8080, 53);
  await serve(n, n.srv, 'host', 2222, 5353); // the host's own services on the forwarded ports
  await n.topo.connect(g2, n.url(2), ['--tap', 'wsn0']).waitFor(/connected url=/);
  n.topo.dhcp(g2, 'wsn0');

  t.test('guest absent: refused at once, and the host\'s services never answer', async (t) => {
    for (const [ns, host] of [[n.inet, UPLINK], [g2, GATEWAY], [n.srv, UPLINK], [n.srv, '127.0.0.1']] as const) {
      const r = tcp(n, ns, host, 2222);
      t.equal(r.said, 'ECONNREFUSED', `tcp ${host}:2222 from ${ns}: refused (${r.ms} ms)`);
      t.equal(udp(n, ns, host, 5353), 'ECONNREFUSED', `udp ${host}:5353 from ${ns}: port unreachable`);
    }
  });

  const first = await joinGuest(n, 'wsn0');
  t.ok(await eventually(() => fwdMap(n), new RegExp(`tcp \\. 2222 : ${first.ip.replace(/\./g, '\\.')} \\. 8080`)), `the map points at ${first.ip}`, { found: fwdMap(n) });

  const listed = new RegExp(`forwards: tcp:2222>${MAC}:8080 -> ${first.ip.replace(/\./g, '\\.')}:8080, udp:5353>${MAC}:53 -> `);
  t.ok(await eventually(status, listed), 'wsnic status lists the forwards', { found: status() });

  t.test('the guest answers through the host\'s ports', async (t) => {
    t.equal(tcp(n, n.inet, UPLINK, 2222).said, 'guest 198.18.0.2', 'from outside, seen with its own address (egress policy passed)');
    t.equal(udp(n, n.inet, UPLINK, 5353), 'guest 198.18.0.2', 'udp from outside');
    t.equal(tcp(n, g2, UPLINK, 2222).said, `guest ${GATEWAY}`, 'hairpin from another guest to the uplink address, replies through the host');
    t.equal(tcp(n, g2, GATEWAY, 2222).said, `guest ${GATEWAY}`, 'and to the gateway address');
    t.equal(udp(n, g2, GATEWAY, 5353), `guest ${GATEWAY}`, 'udp hairpin');
    t.match(tcp(n, n.srv, UPLINK, 2222).said, /^guest /, 'from the host itself');
    t.equal(tcp(n, n.srv, '127.0.0.1', 2222).said, 'ECONNREFUSED', 'not through 127.0.0.1 (documented), and not the host service either');
  });

  t.test('wsnic forward add and remove at runtime', async (t) => {
    const cli = (...args: string[]): string => spawnSync(process.execPath, [WSNIC, 'forward', ...args, '--control-socket', control], { encoding: 'utf8', timeout: 20_000 }).stdout;
    t.equal(tcp(n, n.inet, UPLINK, 2223).said, 'ECONNREFUSED', 'nothing on 2223 yet');
    t.match(cli('add', `tcp:2223>${MAC}:8080`), new RegExp(`^added tcp:2223>${MAC}:8080 until the relay stops; .*\n(.*\n)*tcp:2223>${MAC}:8080 +-> ${first.ip.replace(/\./g, '\\.')}:8080 \\(runtime\\)\n`));
    t.ok(await eventually(() => fwdMap(n), /tcp \. 2223 :/), 'in the map', { found: fwdMap(n) });
    t.equal(tcp(n, n.inet, UPLINK, 2223).said, 'guest 198.18.0.2', 'reaches the guest');
    t.match(cli('remove', `tcp:2223>${MAC}:8080`), /^removed tcp:2223>/);
    t.ok(await eventually(() => fwdMap(n), /^(?![\s\S]*2223 :)/), 'out of the map', { found: fwdMap(n) });
    t.equal(tcp(n, n.inet, UPLINK, 2223).said, 'ECONNREFUSED', 'gone again');
    t.match(cli('list'), new RegExp(`^tcp:2222>${MAC}:8080 +-> `), 'the configured ones stay');
  });

  t.test('the guest comes back on another TAP with another address: the forward follows', async (t) => {
    const second = await joinGuest(n, 'wsn1');
    first.proc.child.kill('SIGTERM');
    await first.proc.exited;
    // dnsmasq keeps a MAC's address while its lease lasts: another reserved and the lease
    // released, the guest's next lease has the new one.
    writeFileSync(hosts, `${MAC},192.168.86.200\n`);
    const pids = sh('ip', ['netns', 'pids', n.srv]).split('\n').filter(Boolean);
    const dnsmasq = pids.filter((p) => existsSync(`/proc/${p}/comm`) && readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'dnsmasq');
    t.equal(dnsmasq.length, 1, 'one dnsmasq');
    process.kill(Number(dnsmasq[0]), 'SIGHUP');
    n.topo.dhcp(g1, 'wsn1', undefined, ['-R']);
    // As a DHCP client does on release (the test's lease script only adds): else replies to
    // the unbound UDP server would leave from the old address, which anti-spoofing drops.
    n.topo.exec(g1, 'ip', ['addr', 'flush', 'dev', 'wsn1']);
    const taps = [...n.server.output().matchAll(/client connected .*client_address=198\.19\.1\.2 .*tap=(\S+)/g)].map((m) => m[1]);
    t.equal(new Set(taps).size, 2, `two server TAPs for guest 1: ${taps.join(', ')}`);
    const again = n.topo.dhcp(g1, 'wsn1');
    t.equal(again.ip, '192.168.86.200', `another address (it had ${first.ip}, and again on its new TAP ${second.ip})`);
    t.ok(await eventually(() => fwdMap(n), /tcp \. 2222 : 192\.168\.86\.200 \. 8080/), 'the map points at the new address', { found: fwdMap(n) });
    t.equal(tcp(n, n.inet, UPLINK, 2222).said, 'guest 198.18.0.2', 'from outside');
    t.equal(udp(n, n.inet, UPLINK, 5353), 'guest 198.18.0.2', 'udp from outside');
    t.equal(udp(n, g2, GATEWAY, 5353), `guest ${GATEWAY}`, 'udp hairpin');
    t.equal(tcp(n, g2, GATEWAY, 2222).said, `guest ${GATEWAY}`, 'hairpin');
    second.proc.child.kill('SIGTERM');
    await second.proc.exited;
  });

  t.test('the guest gone: its elements go, the ports refuse again, the host never answers', async (t) => {
    t.ok(await eventually(() => fwdMap(n), /^(?![\s\S]*2222 :)/), 'no element left', { found: fwdMap(n) });
    const r = tcp(n, n.inet, UPLINK, 2222);
    t.equal(r.said, 'ECONNREFUSED', `tcp refused (${r.ms} ms)`);
    t.equal(udp(n, n.inet, UPLINK, 5353), 'ECONNREFUSED', 'udp port unreachable');
    t.equal(tcp(n, g2, GATEWAY, 2222).said, 'ECONNREFUSED', 'hairpin refused');
    const rules = n.topo.exec(n.srv, 'nft', ['list', 'chain', 'inet', 'wsnic', 'input']).stdout;
    t.match(rules, /reject with tcp reset comment "forward, guest absent"/);
    t.match(rules, /counter packets [1-9]\d* bytes \d+ reject with tcp reset/, 'the refusals were counted');
    const absent = new RegExp(`forwards: tcp:2222>${MAC}:8080 \\(guest absent\\), udp:5353>${MAC}:53 \\(guest absent\\)`);
    t.ok(await eventually(status, absent), 'wsnic status says so', { found: status() });
  });
});
