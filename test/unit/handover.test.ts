/**
 * The state a session carries across a restart (src/handover/state.ts), and how the next relay
 * tells a stored session's fds apart (src/handover/fdstore.ts): real fds of each kind.
 */
import t from 'tap';
import { closeSync, openSync, writeSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { decodeState, decodeStates, encodeState, encodeStates, type Carried } from '../../src/handover/state';
import { STORE_NAME, closeAll, fdKind, readState, takeStored } from '../../src/handover/fdstore';
import { native } from '../../src/native';

const carried = (): Carried => ({
  id: 17, address: '198.51.100.7', port: 40123, origin: 'https://copy.sh', bridge: 'wsbr0', tap: 'wstap3',
  mac: '52:54:00:12:34:56', ip: '192.168.86.23', since: 1_796_000_000_000,
  counts: { framesIn: 5, bytesIn: 900, framesOut: 6, bytesOut: 1000, refused: 0, stalls: 1, spoofed: 2, limitedIn: 0, limitedOut: 0, lastSeen: 1_796_000_001_000, lastFrame: 1_796_000_000_500 },
  unread: Buffer.from([0x82, 0xfe, 0x01]), owed: Buffer.from('owed bytes'), frag: Buffer.alloc(0), fragOpcode: 0,
});

t.test('a state survives encoding, buffers and all', async (t) => {
  const c = carried();
  t.same(decodeState(encodeState(c)), c);
  const unbound = { ...carried(), mac: undefined, ip: undefined, frag: Buffer.from('half a message'), fragOpcode: 2 };
  t.same(decodeState(encodeState(unbound)), unbound, 'a client with no frame yet, mid-message');
});

t.test('a state carries the guard\'s IPv6 claims; one from before them has none', async (t) => {
  const c = { ...carried(), claims: Buffer.alloc(2 * 17, 2) };
  t.same(decodeState(encodeState(c)), c, 'two claims');
  const good = encodeState(c).toString();
  t.match(decodeState(Buffer.from(good.replace(/"claims":"[^"]*"/, `"claims":"${Buffer.alloc(18).toString('base64')}"`))), /bad claims/, 'not whole records');
  t.match(decodeState(Buffer.from(good.replace(/"claims":"[^"]*"/, `"claims":"${Buffer.alloc(9 * 17).toString('base64')}"`))), /bad claims/, 'more than 8');
  t.same(decodeState(encodeState(carried())), carried(), 'none (a state written before claims)');
});

t.test('a state that is not ours or is damaged is refused with the reason', async (t) => {
  const good = encodeState(carried()).toString();
  const reason = (b: Buffer | string): string => {
    const r = decodeState(Buffer.from(b));
    return r instanceof Error ? r.message : 'accepted';
  };
  t.match(reason('garbage\n'), /not a session state \(8 bytes/);
  t.match(reason(''), /not a session state/);
  t.match(reason(good.replace('wsnic-session 1 ', 'wsnic-session 2 ')), /version 2, this relay reads 1/);
  t.match(reason(good.slice(0, good.length - 5)), /not JSON/);
  t.match(reason(good.replace('"wstap3"', '"a/b"')), /bad tap/);
  t.match(reason(good.replace('"52:54:00:12:34:56"', '"52:54:00:12:34"')), /bad mac/);
  t.match(reason(good.replace('"port":40123', '"port":70000')), /bad port/);
  t.match(reason(good.replace('"stalls":1', '"stalls":-1')), /bad counts\.stalls/);
  t.same(decodeState(Buffer.from(good.replace('"fragOpcode":0', '"fragOpcode":2'))), { ...carried(), fragOpcode: 2 }, 'a message open with no byte yet (an empty first fragment)');
  t.match(reason(good.replace('"frag":""', '"frag":"AAAA"')), /bad frag/, 'bytes of a message without its opcode');
  t.match(reason(good.replace('"ip":"192.168.86.23"', '"ip":"999.1.1.1"')), /bad ip/);
  t.match(reason(good.replace('"since":1796000000000', '"since":9000000000000000')), /bad since/, 'beyond a Date');
  t.match(reason(good.replace('"bytesIn":900', '"bytesIn":1e300')), /bad counts\.bytesIn/, 'not exact in a double');
  t.match(reason(good.replace(/"owed":"[^"]*"/, '"owed":"%%%"')), /bad owed/);
  t.match(reason(`wsnic-session 1 ${JSON.stringify({ ...JSON.parse(good.slice('wsnic-session 1 '.length)), owed: Buffer.alloc(5 * 1024 * 1024).toString('base64') })}`), /bad owed/, 'more than a plane owes');
});

t.test('the states file: one line a session, each read on its own', async (t) => {
  const lines = decodeStates(encodeStates([carried(), { ...carried(), id: 18, tap: 'wstap4' }]));
  t.same(lines, [carried(), { ...carried(), id: 18, tap: 'wstap4' }]);
  const damaged = encodeStates([carried(), { ...carried(), id: 18, tap: 'wstap4' }]).toString().replace('"tap":"wstap4"', '"tXp":"wstap4"');
  const r = decodeStates(Buffer.from(damaged));
  t.same(r[0], carried(), 'the first is read');
  t.match((r[1] as Error).message, /bad tap/, 'the damaged one is refused alone');
  t.same(decodeStates(Buffer.alloc(0)), [], 'none');
});

t.test('the store gives back a carrier socketpair and the states file; the sessions\' fds come out in order', async (t) => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const sock: Socket = connect(port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  t.teardown(() => {
    sock.destroy();
    server.close();
  });
  const sockFd = (sock as unknown as { _handle: { fd: number } })._handle.fd;
  const dev = openSync('/dev/zero', 'r+'); // a character device, as a TAP's fd (/dev/net/tun) is
  const memfd = native().memfdCreate('wsnic-sessions');
  writeSync(memfd, encodeStates([carried()]));
  const [a, b] = native().carrierPack([sockFd, dev]);
  closeSync(dev);
  const inherited = [{ name: 'ws', fd: 3 }, { name: STORE_NAME, fd: b! }, { name: STORE_NAME, fd: memfd }, { name: STORE_NAME, fd: a! }];
  const stored = takeStored(inherited);
  t.same(inherited, [{ name: 'ws', fd: 3 }], 'the listening socket stays');
  t.same(stored, { sockets: [a, b], state: memfd, other: [] });
  const fds = stored!.sockets.flatMap((fd) => native().carrierUnpack(fd));
  t.equal(fds.length, 2, 'two fds came out of the carrier');
  t.same(fds.map(fdKind), ['socket', 'device'], 'in the order they went in');
  t.same(decodeStates(readState(memfd)), [carried()], 'the states read from the start, whatever the offset');
  closeAll([a, b, memfd, ...fds]);
  t.equal(fdKind(memfd), 'closed');
});
