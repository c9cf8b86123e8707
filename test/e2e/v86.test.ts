/**
 * A real emulator as the client: v86 (the npm package, headless in Node) boots an i386 Debian
 * kernel and busybox (test/tools/v86-guest.sh) inside a guest namespace, its NIC relayed to
 * `wsnic run` over ws://. The guest takes a DHCP lease, pings the gateway, resolves a name through
 * dnsmasq and fetches a page from the "internet" namespace through NAT, once with v86's ne2k NIC
 * and once with its virtio NIC. The guest reports each step as a `WSNIC-STEP` line on its serial
 * console (test/fixtures/v86-run.mjs prints it with a timestamp).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, relayNetwork, INTERNET } from './topology';

const RUNNER = join(ROOT, 'test', 'fixtures', 'v86-run.mjs');
/** Seconds the runner lets a guest run before giving up (a boot to a lease takes ~10-20 s). */
const GUEST_TIMEOUT_S = 120;

const build = spawnSync(join(ROOT, 'test', 'tools', 'v86-guest.sh'), { encoding: 'utf8', timeout: 600_000 });
const guestDir = build.status === 0 ? build.stdout.trim().split('\n').pop() ?? '' : '';
// Only a guest whose i386 packages cannot be fetched (exit 75) is a skip; any other failure fails.
const unavailable = build.status === 75 ? `i386 guest packages cannot be fetched: ${build.stderr.trim().split('\n').pop()}` : false;
if (unavailable) t.comment(`SKIPPING the v86 tests: ${unavailable}`);
else if (build.status !== 0 || !guestDir) {
  t.fail(`test/tools/v86-guest.sh failed (status ${build.status}, signal ${build.signal ?? 'none'}): ${build.error?.message ?? ''}\n${build.stderr}`);
}

/** `V86-TIME <ms> <text>` lines of the runner: ms since the emulator was created. */
function timeOf(out: string, re: RegExp): number | undefined {
  for (const l of out.split('\n')) {
    const m = /^V86-TIME (\d+) (.*)$/.exec(l);
    if (m && re.test(m[2]!)) return Number(m[1]);
  }
  return undefined;
}

for (const nic of ['ne2k', 'virtio'] as const) {
  const driver = nic === 'ne2k' ? 'ne2k-pci' : 'virtio_net';
  t.test(`a v86 guest with the ${nic} NIC: lease, gateway, DNS and the outside through wsnic`, { skip: unavailable }, async (t) => {
    if (build.status !== 0 || !guestDir) {
      t.fail('no guest (see the build failure above)');
      return;
    }
    const n = await relayNetwork(t.teardown.bind(t), { enable_inet: 1 }, 1);
    const { topo, server } = n;
    const g = n.guests[0]!;
    await n.outside();

    const vm = topo.spawn(g, process.execPath, [
      RUNNER, guestDir, n.url(1), nic, String(GUEST_TIMEOUT_S),
      'wsnic_name=www.example.test', `wsnic_url=http://${INTERNET}:8080/`,
    ]);
    const code = await vm.exited;
    const out = vm.output();
    for (const l of out.split('\n')) if (l.startsWith('V86-TIME ') || l.startsWith('V86-EXIT ')) t.comment(l);
    const whole = `guest:\n${out.slice(-6000)}\nserver:\n${server.output()}`;
    t.equal(code, 0, 'the guest ran every step and the runner exited 0', code === 0 ? {} : { diagnostic: true, output: whole });

    t.match(server.output(), /client connected client_address=198\.19\.1\.2 /, 'v86 connected to the relay from the guest namespace');
    t.match(out, new RegExp(`^WSNIC-STEP nic eth0 ${driver} `, 'm'), `the guest drives v86's ${nic} NIC (${driver})`);
    const lease = /^WSNIC-STEP lease (\S+) mask=(\S*) gw=(\S*) dns=(\S*)/m.exec(out);
    t.ok(lease, 'the guest got a DHCP lease', lease ? {} : { output: whole });
    if (lease) {
      t.match(lease[1], /^192\.168\.86\.\d+$/, 'an address from the pool');
      t.not(lease[1], '192.168.86.1');
      t.equal(lease[2], '24');
      t.equal(lease[3], '192.168.86.1', 'the bridge is the router');
      t.equal(lease[4], '192.168.86.1', 'and the DNS server');
    }
    t.match(out, /^WSNIC-STEP ping-gw ok/m, 'the guest pings the gateway');
    t.match(out, new RegExp(`^WSNIC-STEP dns ok ${INTERNET.replace(/\./g, '\\.')}$`, 'm'), 'www.example.test resolves through dnsmasq on the bridge');
    t.match(out, /^WSNIC-STEP http ok 198\.18\.0\.1\s*$/m, 'the guest fetches a page from the outside, seen as the uplink address (NAT)');
    t.match(out, /^WSNIC-STEP done$/m, 'the guest finished');
    t.notMatch(out, /^WSNIC-STEP fail/m, 'no step failed');

    const left = await server.waitFor(/client disconnected client_address=198\.19\.1\.2 /, 10_000);
    t.match(left, / frames_in=[1-9]\d* .*frames_out=[1-9]\d* /, 'the relay saw the emulator leave, after frames both ways');

    const started = timeOf(out, /^emulator-started$/);
    const leased = timeOf(out, /^WSNIC-STEP lease /);
    const done = timeOf(out, /^WSNIC-STEP done$/);
    t.comment(`${nic}: emulator started at ${started} ms, lease at ${leased} ms (${leased !== undefined && started !== undefined ? leased - started : '?'} ms after start), all steps done at ${done} ms`);
  });
}
