import t from 'tap';
import { hasCapability, missingMessage } from '../../src/net/preflight';
import { probeHost } from '../../src/cli/health';

t.test('CAP_NET_ADMIN is read from CapEff', async (t) => {
  t.equal(hasCapability('Name:\tnode\nCapEff:\t000001ffffffffff\n', 12), true, 'root');
  t.equal(hasCapability('CapEff:\t00000000a80425fb\n', 12), false, "Docker's default set has no NET_ADMIN");
  t.equal(hasCapability('CapEff:\t00000000a80435fb\n', 12), true, 'Docker with --cap-add=NET_ADMIN');
  t.equal(hasCapability('CapEff:\t0000000000000000\n', 12), false, 'no capabilities');
  t.equal(hasCapability('CapEff:\t0000004000000000\n', 38), true, 'a bit of the high word');
  t.equal(hasCapability('Name:\tnode\n', 12), true, 'cannot tell: let the first ip command say');
});

t.test('one line says what is missing, with the docker run flags in a container', async (t) => {
  t.equal(missingMessage({ tun: true, netAdmin: true, inContainer: true }), undefined);
  t.equal(missingMessage({ tun: true, netAdmin: false, inContainer: true }), 'this container has no CAP_NET_ADMIN: start it with --cap-add=NET_ADMIN');
  t.equal(missingMessage({ tun: false, netAdmin: true, inContainer: true }), 'this container has no /dev/net/tun: start it with --device /dev/net/tun:/dev/net/tun');
  t.equal(missingMessage({ tun: false, netAdmin: false, inContainer: true }),
    'this container has no CAP_NET_ADMIN and /dev/net/tun: start it with --cap-add=NET_ADMIN --device /dev/net/tun:/dev/net/tun');
  t.equal(missingMessage({ tun: false, netAdmin: false, inContainer: false }),
    'no CAP_NET_ADMIN and /dev/net/tun: run wsnic as root (or with CAP_NET_ADMIN) and load the tun module (modprobe tun)');
});

t.test('the health check asks loopback when the relay listens on every address', async (t) => {
  t.equal(probeHost('0.0.0.0'), '127.0.0.1');
  t.equal(probeHost('::'), '::1');
  t.equal(probeHost('192.0.2.7'), '192.0.2.7');
});
