/** TAP names: a device someone else made is never attached to the bridge, its name skipped. */
import t from 'tap';
import { join } from 'node:path';
import { relayNetwork, ROOT, sh } from './topology';

t.test('a persistent TAP of the same name is skipped, not taken over', async (t) => {
  const n = await relayNetwork(t.teardown.bind(t), {}, 1, (topo, srv, dropin) => {
    // Someone's own persistent TAP, named as wsnic's first client TAP would be.
    sh('ip', ['-n', srv, 'tuntap', 'add', 'dev', 'wstap0', 'mode', 'tap']);
    return topo.wsnic(srv, { ws_address: '0.0.0.0', dnsmasq_conf_dir: dropin });
  });
  const [ip] = await n.joinAll();
  t.match(ip, /^192\.168\.86\./, 'the client is served');
  t.match(n.server.output(), /client connected .*tap=wstap1 /, 'on the next free name');
  const theirs = n.topo.exec(n.srv, 'ip', ['-d', 'link', 'show', 'wstap0']).stdout;
  t.notMatch(theirs, /master|bridge_slave/, 'their TAP is not on the bridge');
  t.match(theirs, /tun type tap .*persist on|persist on/, 'and still theirs, persistent');
});

t.test('a TAP that cannot be made refuses that client with the reason, leaks nothing, and the relay goes on', async (t) => {
  const n = await relayNetwork(t.teardown.bind(t), {}, 1);
  // The bridge vanishes under the relay (an operator's mistake): making a client's port fails.
  n.topo.exec(n.srv, 'ip', ['link', 'del', 'wsbr0']);
  const mark = n.server.mark();
  const c = n.topo.connect(n.guests[0]!, n.url(1), ['--tap', 'wsn0']);
  const line = await n.server.waitFor(/client refused .*reason=/, 10_000, mark);
  t.match(line, /cannot create TAP: cannot add wstap0 to bridge wsbr0: No such device \(ENODEV\)/, 'the step and the errno');
  await c.waitFor(/code=1011/, 10_000);
  t.notMatch(n.topo.exec(n.srv, 'ip', ['-o', 'link']).stdout, / wstap\d+/, 'no TAP left behind');
  t.equal(n.server.child.exitCode, null, 'the relay still runs');
});

t.test('wsnic connect says which step failed', async (t) => {
  const n = await relayNetwork(t.teardown.bind(t), {}, 1);
  // lo is no TAP: the kernel refuses to make one of that name.
  const r = n.topo.exec(n.guests[0]!, process.execPath, [join(ROOT, 'dist', 'cli', 'main.js'), 'connect', n.url(1), '--tap', 'lo'], 10_000);
  t.not(r.code, 0);
  t.match(r.stderr + r.stdout, /cannot create TAP device 'lo' \(TUNSETIFF\): .* \([A-Z]+\)/);
});
