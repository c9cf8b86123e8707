/** TAP names: a device someone else made is never attached to the bridge, its name skipped. */
import t from 'tap';
import { relayNetwork, sh } from './topology';

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
