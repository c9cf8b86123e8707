/**
 * Whether a write to a TAP can ever be told to wait (EAGAIN), which is why the pump has no
 * would-block path. The tun driver's tun_get_user() can only fail that way in
 * sock_alloc_send_pskb(), when the fd's socket holds more than sk_sndbuf bytes in flight; that
 * is INT_MAX unless TUNSETSNDBUF lowers it (wsnic never does), and frames leave the socket's
 * account as soon as another port's queue takes them. So a flood with nobody reading is taken
 * at once and dropped further on. This test floods and counts, at every size the relay writes.
 */
import t from 'tap';
import { join } from 'node:path';
import { ROOT, Topology } from './topology';
import { PORT_MTU } from '../../src/net/bridge';

/** Run in the namespace: writes broadcast frames through the addon as fast as it can. */
const FLOOD = `
const addon = require(${JSON.stringify(join(ROOT, 'native', 'build', 'Release', 'wsnic.node'))});
const [bridge, mtu, sizes, ms] = process.argv.slice(1);
const a = addon.tapOpen('twa%d', { bridge, mtu: Number(mtu) });
const b = addon.tapOpen('twb%d', { bridge, mtu: Number(mtu) }); // its fd is never read
const port = new addon.TapPort(a.fd, () => {}, () => {});
port.pause(); // nor is this one's
const out = [];
for (const size of sizes.split(',').map(Number)) {
  const f = Buffer.alloc(size);
  f.write('ffffffffffff02000000000188b5', 0, 'hex');
  let written = 0, refused = 0;
  const errors = {};
  for (const end = Date.now() + Number(ms); Date.now() < end; ) {
    for (let i = 0; i < 1000; i++) {
      try {
        if (port.write(f) === false) refused++; // (an addon with a would-block path)
        else written++;
      } catch (e) {
        if (e.code === 'EAGAIN' || e.code === 'ENOBUFS') refused++;
        else errors[e.code] = (errors[e.code] || 0) + 1;
      }
    }
  }
  out.push({ size, written, refused, errors });
}
const stat = (dev, s) => Number(require('fs').readFileSync('/sys/class/net/' + dev + '/statistics/' + s, 'utf8'));
console.log(JSON.stringify({ sizes: out, unreadQueueDropped: stat(b.name, 'tx_dropped'), sndbuf: 'INT_MAX' }));
`;

t.test('a TAP never makes a write wait: a flood with nobody reading is taken, and dropped further on', async (t) => {
  const topo = new Topology();
  t.teardown(() => topo.cleanup());
  const ns = topo.ns('tw');
  topo.exec(ns, 'ip', ['link', 'add', 'twbr', 'type', 'bridge']);
  topo.exec(ns, 'ip', ['link', 'set', 'twbr', 'up']);
  // Small frames (built in a page by the driver) and large ones (charged to the fd's socket).
  const sizes = [60, 1514, 9000, PORT_MTU + 14];
  const r = topo.exec(ns, process.execPath, ['-e', FLOOD, 'twbr', String(PORT_MTU), sizes.join(','), '1000'], 60_000);
  t.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { sizes: { size: number; written: number; refused: number; errors: Record<string, number> }[]; unreadQueueDropped: number };
  for (const s of result.sizes) {
    t.comment(`${s.size}-byte frames for 1 s: ${s.written} written, ${s.refused} refused (EAGAIN), other errors ${JSON.stringify(s.errors)}`);
    t.equal(s.refused, 0, `no ${s.size}-byte write was told to wait`);
    t.same(s.errors, {}, 'nor refused otherwise');
    t.ok(s.written > 10_000, `${s.written} frames: far past every queue on the way (1,000 frames each)`);
  }
  t.comment(`the unread TAP's queue dropped ${result.unreadQueueDropped} frames`);
  t.ok(result.unreadQueueDropped > 0, 'the kernel dropped what nobody read, as Ethernet may');
});
