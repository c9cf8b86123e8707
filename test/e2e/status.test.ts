/**
 * `wsnic status` and `wsnic disconnect` against a live relay with two guests: each client's TAP,
 * MAC, address and counters as the kernel counted them on its TAP; one client thrown out, the
 * other unaffected; the control socket refuses a user outside root and the wsnic group, and
 * bad requests; tcpdump on a client's TAP sees its DHCP and pings.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { relayNetwork, WSNIC, sh } from './topology';
import type { ClientStatus } from '../../src/relay/session';

interface Lines {
  relay: Record<string, unknown>;
  clients: ClientStatus[];
  end: { clients: number };
}

t.test('wsnic status shows every client as the kernel counted it; disconnect throws one out', async (t) => {
  // A directory others may enter, so that only the socket's own mode keeps them out.
  const dir = `/run/wsnic-test-${process.pid}`;
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const control = join(dir, 'control.sock');
  const n = await relayNetwork(t.teardown.bind(t), { control_socket: control }, 2);
  const { topo, srv } = n;
  const ips = await n.joinAll();
  // Guest 1 asks for its lease again with a hostname, which wsnic status shows beside the address.
  t.equal(topo.dhcp(n.guests[0]!, 'wsn0', 'guest-one').ip, ips[0]);
  await n.server.waitFor(/control socket path=/);

  const cli = (args: string[], as?: number): { code: number | null; stdout: string; stderr: string } => {
    const cmd = as === undefined ? [process.execPath, WSNIC, ...args] : ['setpriv', `--reuid=${as}`, `--regid=${as}`, '--clear-groups', process.execPath, WSNIC, ...args];
    const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', timeout: 20_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const statusJson = (): Lines => {
    const r = cli(['status', '--json', '--control-socket', control]);
    if (r.code !== 0) throw new Error(`wsnic status --json: ${r.stderr}`);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    return {
      relay: lines[0]!.relay as Record<string, unknown>,
      clients: lines.filter((l) => l.client).map((l) => l.client as ClientStatus),
      end: lines.at(-1)!.end as { clients: number },
    };
  };
  const macOf = (ns: string): string => (JSON.parse(sh('ip', ['-n', ns, '-j', 'link', 'show', 'wsn0'])) as { address: string }[])[0]!.address;
  const kernel = (tap: string): Record<string, number> => {
    const read = (f: string): number => Number(sh('ip', ['netns', 'exec', srv, 'cat', `/sys/class/net/${tap}/statistics/${f}`]).trim());
    return { rxPackets: read('rx_packets'), rxBytes: read('rx_bytes'), txPackets: read('tx_packets'), txBytes: read('tx_bytes') };
  };

  t.test('status --json: the relay, then each client with its TAP, MAC, lease and the TAP\'s own counts', async (t) => {
    for (const [i, g] of n.guests.entries()) topo.exec(g, 'busybox', ['ping', '-c', String(3 + i * 4), '-W', '2', '192.168.86.1']);
    // The kernel's counts are read before and after; a frame in between (an ARP refresh) means again.
    let s: Lines | undefined;
    let counts: Record<string, number>[] = [];
    for (let tries = 0; tries < 10; tries++) {
      const taps = statusJson().clients.map((c) => c.tap);
      const before = taps.map(kernel);
      s = statusJson();
      counts = taps.map(kernel);
      if (JSON.stringify(before) === JSON.stringify(counts)) break;
    }
    t.equal(s!.relay.clients, 2);
    t.equal(s!.relay.bridge, 'wsbr0 192.168.86.1');
    t.match(String(s!.relay.listening), /^ws:\/\/0\.0\.0\.0:8086\/$/);
    t.match(String(s!.relay.dnsmasq), /^running \(pid \d+/);
    t.equal(s!.relay.leases, 2);
    t.equal(s!.end.clients, 2);
    for (const [i, g] of n.guests.entries()) {
      const c = s!.clients.find((x) => x.ip === ips[i]);
      t.ok(c, `guest ${i + 1} (${ips[i]}) is listed`);
      if (!c) continue;
      const k = counts[s!.clients.indexOf(c)]!;
      t.equal(c.mac, macOf(g), 'its MAC');
      t.equal(c.path, process.env.WSNIC_TEST_DATA_PATH ?? 'native', 'the data path its frames take');
      t.equal(c.address, `198.19.${i + 1}.2`, 'its address');
      t.match(c.tap, /^wstap\d+$/);
      t.equal(c.bridge, 'wsbr0');
      t.same([c.framesIn, c.bytesIn], [k.rxPackets, k.rxBytes], `frames and bytes it sent = what its TAP received (${k.rxPackets} frames)`);
      t.same([c.framesOut, c.bytesOut], [k.txPackets, k.txBytes], `frames and bytes it got = what its TAP sent (${k.txPackets} frames)`);
      t.ok(c.framesIn >= 3 + i * 4, 'at least its pings');
    }
  });

  t.test('the text form, and one client by IP', async (t) => {
    const all = cli(['status', '--control-socket', control]);
    t.equal(all.code, 0, all.stderr);
    t.match(all.stdout, /^relay:\n {2}version: \d+\.\d+\.\d+/);
    t.equal(all.stdout.match(/^client \d+:$/gm)?.length, 2);
    t.match(all.stdout, new RegExp(`ip: ${ips[0]!.replace(/\./g, '\\.')} \\(guest-one\\)`), 'with the hostname it gave dnsmasq');
    const one = cli(['status', ips[1]!, '--control-socket', control]);
    t.equal(one.stdout.match(/^client \d+:$/gm)?.length, 1);
    t.match(one.stdout, new RegExp(`ip: ${ips[1]!.replace(/\./g, '\\.')}`));
    const none = cli(['status', '10.9.9.9', '--control-socket', control]);
    t.not(none.code, 0);
    t.match(none.stderr, /no client matches 10\.9\.9\.9/);
  });

  t.test('tcpdump on a client\'s TAP sees its DHCP and its pings', async (t) => {
    const c = statusJson().clients.find((x) => x.ip === ips[0])!;
    const dump = topo.spawn(srv, 'tcpdump', ['-i', c.tap, '-n', '-l', 'udp port 67 or icmp']);
    await dump.waitFor(/listening on/);
    topo.dhcp(n.guests[0]!, 'wsn0');
    topo.exec(n.guests[0]!, 'busybox', ['ping', '-c', '2', '-W', '2', '192.168.86.1']);
    await dump.waitFor(/BOOTP\/DHCP, Request/);
    await dump.waitFor(/ICMP echo reply/);
    t.pass(`tcpdump -i ${c.tap}: DHCP and ICMP seen`);
  });

  t.test('bad requests get an error and change nothing; others are kept out by the socket\'s mode', async (t) => {
    const ask = (raw: string): Promise<string> => new Promise((resolve) => {
      const s = createConnection(control);
      let out = '';
      s.on('connect', () => s.write(raw));
      s.on('data', (d) => { out += d.toString(); });
      s.on('close', () => resolve(out));
      s.on('error', () => resolve(out));
    });
    t.match(await ask('not json\n'), /^\{"error":"not JSON"\}\n$/);
    t.match(await ask('{"cmd":"reboot"}\n'), /unknown cmd/);
    t.match(await ask('{"cmd":"disconnect"}\n'), /disconnect needs match/);
    t.match(await ask(`${'x'.repeat(5000)}`), /request over 4096 bytes/);
    t.equal(statusJson().clients.length, 2, 'both clients still there');
    const nobody = cli(['status', '--control-socket', control], 65534);
    t.not(nobody.code, 0, 'an unprivileged user is refused');
    t.match(nobody.stderr, /permission denied/);
  });

  t.test('disconnect closes exactly the named client with 1008; the other keeps pinging', async (t) => {
    const before = statusJson().clients;
    const victim = before.find((x) => x.ip === ips[0])!;
    const other = before.find((x) => x.ip === ips[1])!;
    const mark = n.server.mark();
    const r = cli(['disconnect', victim.mac!, '--reason', 'abuse report 42', '--control-socket', control]);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, `disconnected: client ${victim.id}\n`);
    const line = await n.server.waitFor(/client disconnected by the operator /, 10_000, mark);
    t.match(line, /by="root \(uid 0\)"/);
    t.match(line, /reason="abuse report 42"/);
    t.match(await n.server.waitFor(new RegExp(`client disconnected .*tap=${victim.tap} .*code=1008`), 10_000, mark), /reason="abuse report 42"/);
    // (`wsnic connect`, like v86, comes back by itself: as a new client, with a new id.)
    const after = statusJson();
    const left = after.clients;
    t.same(after.relay.closed, { '1008 policy': 1 }, 'the relay counts it gone by its close code');
    t.notOk(left.some((c) => c.id === victim.id), 'the named client is gone');
    t.ok(left.some((c) => c.id === other.id), 'the other client stays, the same session');
    t.match(topo.exec(n.guests[1]!, 'busybox', ['ping', '-c', '3', '-W', '2', '192.168.86.1']).stdout, /3 packets received/);
    t.equal(cli(['disconnect', '02:00:00:00:00:99', '--control-socket', control]).code, 1, 'no match: exit 1');
  });
});
