import t from 'tap';
import { loadConfig } from '../../src/config/load';
import { leafNames } from '../../src/net/leaves';
import { NETWORKD_DROPIN, renderNetworkdConf } from '../../src/net/networkd-conf';

/** networkd's Name= match: space-separated globs; the config loader allows no glob characters in names. */
function matches(text: string, ifname: string): boolean {
  const line = /^\[Match\]\nName=(.*)$/m.exec(text)?.[1] ?? '';
  return line.split(' ').some((g) => new RegExp(`^${g.replace(/\./g, '\\.').replace(/\*/g, '.*')}$`).test(ifname));
}

const load = (env: NodeJS.ProcessEnv): { bridge: string; tapPrefix: string } => {
  const { config } = loadConfig({ defaultFile: '/nonexistent/wsnic.conf', env });
  return { bridge: config.bridge, tapPrefix: config.tap_prefix };
};

t.test('the networkd drop-in: every link wsnic makes is unmanaged, by the names configured', async (t) => {
  t.equal(NETWORKD_DROPIN, '/run/systemd/network/00-wsnic.network', 'in /run: an admin\'s file of that name in /etc overrides it');
  const defaults = renderNetworkdConf(load({}));
  t.match(defaults, /^\[Match\]\nName=wsbr0 wsbr0l\* wstap\*\n\n\[Link\]\nUnmanaged=yes\n$/m, 'the defaults: wsbr0, its leaves, wstap*');

  const own = load({ WSNIC_BRIDGE: 'br-v86', WSNIC_TAP_PREFIX: 'v86tap' });
  const text = renderNetworkdConf(own);
  const { leaf, up, down } = leafNames(own.bridge, 3);
  for (const name of ['br-v86', 'v86tap0', 'v86tap1023', leaf, up, down]) t.ok(matches(text, name), `${name} is unmanaged`);
  for (const name of ['wsbr0', 'wstap0', 'br-v8', 'br-v866', 'eth0', 'v86ta']) t.notOk(matches(text, name), `${name} is not wsnic's: not matched`);

  // A bridge name of 15 characters: its leaves take its first 9 (IFNAMSIZ), and still match.
  const long = { bridge: 'bridge-fifteen0', tapPrefix: 'wstap' };
  const longText = renderNetworkdConf(long);
  for (const name of Object.values(leafNames(long.bridge, 12))) t.ok(matches(longText, name), `leaf link ${name} of a long bridge name is unmanaged`);
  t.notOk(matches(longText, 'bridge-fifteen1'), 'another bridge of a similar name is not');
});
