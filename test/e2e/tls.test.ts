/** wss:// natively: a self-signed certificate, a client that trusts it, the 426 page over TLS. */
import t from 'tap';
import { join } from 'node:path';
import { relayNetwork, Topology, WSNIC } from './topology';


t.test('wss:// with a self-signed certificate: a guest gets a lease over TLS', async (t) => {
  const scratch = new Topology();
  t.teardown(() => scratch.cleanup());
  const { cert, key } = scratch.selfSigned('relay', '198.19.1.1');
  const n = await relayNetwork(t.teardown.bind(t), { wss_certificate: cert, wss_private_key: key });
  await n.server.waitFor(/listening url=wss:\/\/0\.0\.0\.0:8087\//);
  const g = n.guests[0]!;

  const c = n.topo.connect(g, n.url(1, 'wss'), ['--tap', 'wsn0', '--ca', cert]);
  await c.waitFor(/connected url=wss:/);
  await n.server.waitFor(/client connected .*scheme=wss/);
  const lease = n.topo.dhcp(g, 'wsn0');
  t.match(lease.ip, /^192\.168\.86\./);
  const ping = n.topo.exec(g, 'busybox', ['ping', '-c', '2', '-W', '2', '192.168.86.1']);
  t.match(ping.stdout, /2 packets received/);

  const page = n.topo.exec(g, process.execPath, ['-e', `require('https').get('https://198.19.1.1:8087/', { ca: require('fs').readFileSync(${JSON.stringify(cert)}) }, (r) => { let b = ''; r.on('data', (d) => b += d); r.on('end', () => console.log(r.statusCode, b)); })`]);
  t.match(page.stdout, /^426 /, 'plain HTTPS gets 426');
  t.match(page.stdout, /TLS test succeeded/);

  const untrusted = n.topo.connect(g, n.url(1, 'wss'), ['--tap', 'wsn9']);
  await untrusted.waitFor(/connection error .*self[- ]signed certificate/i);

  // SIGHUP reloads the certificate and keeps the client.
  const mark = n.server.mark();
  n.server.child.kill('SIGHUP');
  await n.server.waitFor(/certificate reloaded/, 5000, mark);
  t.match(n.topo.exec(g, 'busybox', ['ping', '-c', '1', '-W', '2', '192.168.86.1']).stdout, /1 packets received/, 'the client survived the reload');
  t.notMatch(n.server.output().slice(mark), /client disconnected .*scheme=wss/);
});

t.test('a missing or invalid certificate is a clear startup error and changes nothing', async (t) => {
  const topo = new Topology();
  t.teardown(() => topo.cleanup());
  const ns = topo.ns('srv');
  const bad = topo.file('bad.pem', 'not a certificate\n');
  const runDir = join(topo.dir, 'run');
  for (const [cert, expect] of [
    [join(topo.dir, 'missing.pem'), /wss_certificate .*missing\.pem: ENOENT/],
    [bad, /wss_certificate .*bad\.pem \(no wss_private_key: the file must hold the key too\): not a usable certificate/],
  ] as const) {
    const r = topo.exec(ns, process.execPath, [WSNIC, 'run', '--runtime-dir', runDir, '-r', cert]);
    t.equal(r.code, 1);
    t.match(r.stderr, expect);
    t.notMatch(topo.exec(ns, 'ip', ['-o', 'link']).stdout, /wsbr0/, 'no bridge was made');
  }
});
