/**
 * Bad input closes one client with a reason and touches nobody else: plain HTTP, garbage
 * handshakes, frames too large or too small, text messages, while a good guest keeps pinging.
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { ROOT, relayNetwork, type RelayNetwork } from './topology';

const PROBE = join(ROOT, 'test', 'fixtures', 'probe.js');

function probe(n: RelayNetwork, guest: number, args: string[]): Record<string, unknown>[] {
  const r = n.topo.exec(n.guests[guest - 1]!, process.execPath, [PROBE, ...args], 20_000);
  return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Bytes the kernel has taken from the relay on a server-side TAP. */
function tapRxBytes(n: RelayNetwork, tap: string): number {
  const r = n.topo.exec(n.srv, 'ip', ['-j', '-s', 'link', 'show', 'dev', tap]);
  return (JSON.parse(r.stdout) as { stats64: { rx: { bytes: number } } }[])[0]!.stats64.rx.bytes;
}

/**
 * Polls the TAP's rx bytes (the kernel's count of what the relay wrote to it) until they reach
 * `bytes`, or 5 s pass; returns the last value.
 */
async function tapRxReaches(n: RelayNetwork, tap: string, bytes: number): Promise<number> {
  let rx = tapRxBytes(n, tap);
  for (const end = Date.now() + 5000; rx < bytes && Date.now() < end; rx = tapRxBytes(n, tap)) await new Promise((r) => setTimeout(r, 20));
  return rx;
}

t.test('protocol edges against a live relay', async (t) => {
  const n = await relayNetwork(t.teardown.bind(t), { ping_interval: 1, idle_timeout: 3 }, 2);
  // The good guest: a lease, then it must keep working through every bad client below.
  const good = n.topo.connect(n.guests[0]!, n.url(1), ['--tap', 'wsn0']);
  await good.waitFor(/connected url=/);
  await n.server.waitFor(/client connected .*tap=wstap0/);
  n.topo.dhcp(n.guests[0]!, 'wsn0');
  const goodStillWorks = (t: Test): void => {
    const r = n.topo.exec(n.guests[0]!, 'busybox', ['ping', '-c', '1', '-W', '2', '192.168.86.1']);
    if (!/1 packets received/.test(r.stdout)) t.comment(`the relay about wstap0:\n${n.server.output().split('\n').filter((l) => /tap=wstap0 /.test(l)).join('\n')}\nthe good guest:\n${good.output()}`);
    t.match(r.stdout, /1 packets received/, 'the good guest still reaches the gateway');
  };

  t.test('a plain GET gets 426 and a page saying the server works', async (t) => {
    const [r] = probe(n, 2, ['http', 'http://198.19.2.1:8086/']);
    t.equal(r!.status, 426);
    t.equal(r!.upgrade, 'websocket');
    t.match(r!.body as string, /wsnic is running/);
    t.notMatch(r!.body as string, /TLS test succeeded/);
  });

  t.test('a garbage handshake gets 400 and no TAP', async (t) => {
    const [r] = probe(n, 2, ['garbage', '198.19.2.1', '8086']);
    t.match(r!.reply as string, /^HTTP\/1\.1 400/);
    t.notMatch(n.topo.exec(n.srv, 'ip', ['-o', 'link']).stdout, /wstap1/);
    goodStillWorks(t);
  });

  t.test('a 65,549-byte frame passes; 65,550 bytes close that client with 1009 and remove its TAP', async (t) => {
    const mark = n.server.mark();
    const [start, large] = [join(n.topo.dir, 'gate-1009-start'), join(n.topo.dir, 'gate-1009-large')];
    const run = n.topo.spawn(n.guests[1]!, process.execPath, [PROBE, 'frames', n.url(2), `gate:${start}`, '65549', `gate:${large}`, '65550']);
    const tap = /tap=(\S+)/.exec(await n.server.waitFor(/client connected /, 5000, mark))![1]!;
    const before = tapRxBytes(n, tap);
    n.topo.file('gate-1009-start', '');
    await run.waitFor(/"step":"65549"/);
    t.equal(await tapRxReaches(n, tap, before + 65_549) - before, 65_549, 'the 65,549-byte frame went to the TAP (its kernel counters)');
    n.topo.file('gate-1009-large', '');
    const line = await n.server.waitFor(/client disconnected .*code=1009/, 5000, mark);
    t.match(line, /reason="frame too large/);
    t.match(line, new RegExp(`tap=${tap} .*frames_in=1 `), 'the relay passed on one frame, not the second');
    t.notMatch(n.topo.exec(n.srv, 'ip', ['-o', 'link']).stdout, new RegExp(`${tap}:`), 'its TAP is gone');
    await run.exited;
    const events = run.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    t.same(events.find((e) => e.event === 'close'), { event: 'close', code: 1009, reason: '' }, 'the client saw 1009');
    goodStillWorks(t);
  });

  t.test('frames reach the TAP whole: one write per frame', async (t) => {
    const mark = n.server.mark();
    const gate = join(n.topo.dir, 'gate-whole');
    const probeRun = n.topo.spawn(n.guests[1]!, process.execPath, [PROBE, 'frames', n.url(2), `gate:${gate}`, '60', '1514', '9000', 'wait', 'wait']);
    const line = await n.server.waitFor(/client connected /, 5000, mark);
    const tap = /tap=(\S+)/.exec(line)![1]!;
    const before = tapRxBytes(n, tap);
    n.topo.file('gate-whole', '');
    await probeRun.waitFor(/"step":"9000"/);
    t.equal(await tapRxReaches(n, tap, before + 60 + 1514 + 9000) - before, 60 + 1514 + 9000, 'the kernel got exactly those frames');
    await probeRun.exited;
  });

  t.test('a text message is ignored; a runt frame closes only that client with 1007', async (t) => {
    const events = probe(n, 2, ['frames', n.url(2), 'text', 'wait', '10']);
    t.same(events.find((e) => e.event === 'close'), { event: 'close', code: 1007, reason: 'frame of 10 bytes is shorter than an Ethernet header' }, JSON.stringify(events));
    t.ok(events.some((e) => e.event === 'sent' && e.step === 'text'), 'the text message did not close it');
    goodStillWorks(t);
  });

  t.test('a runt and the client\'s own close in one segment: 1007, and the connection closed at once', async (t) => {
    // The client's close frame arrives with the runt that ends the session: it is still read
    // (the close handshake completes), so the relay does not wait out its 2 s linger.
    const [r] = probe(n, 2, ['runt-close', '198.19.2.1', '8086']);
    t.equal(r!.code, 1007, JSON.stringify(r));
    t.ok((r!.ms as number) < 1000, `closed after ${r!.ms as number} ms`);
    goodStillWorks(t);
  });

  t.test('keepalive: a client that answers no PING is closed after idle_timeout; a live one stays', async (t) => {
    const mark = n.server.mark();
    const silent = n.topo.spawn(n.guests[1]!, process.execPath, [PROBE, 'silent', n.url(2), '8']);
    await silent.waitFor(/"open"/);
    const line = await n.server.waitFor(/client disconnected .*client_address=198\.19\.2\.2 .*reason="idle/, 8000, mark);
    t.match(line, /code=1001 reason="idle for [34] s"/, "closed within the 1 s keepalive tick of idle_timeout");
    t.notMatch(n.server.output().slice(mark), /client_address=198\.19\.1\.2 .*reason="idle/, 'the good guest (which answers PINGs) stays');
    goodStillWorks(t);
  });

  t.test('one MAC per client: frames from another source MAC are dropped and counted', async (t) => {
    const mark = n.server.mark();
    const gate = join(n.topo.dir, 'gate-mac');
    const run = n.topo.spawn(n.guests[1]!, process.execPath, [PROBE, 'frames', n.url(2), `gate:${gate}`, '100', 'mac2:200', '300', 'wait', 'wait']);
    const line = await n.server.waitFor(/client connected /, 5000, mark);
    const tap = /tap=(\S+)/.exec(line)![1]!;
    const before = tapRxBytes(n, tap);
    n.topo.file('gate-mac', '');
    await run.waitFor(/"step":"300"/);
    // In order on one connection: had the 200-byte frame passed, the count would go past 400.
    t.equal(await tapRxReaches(n, tap, before + 100 + 300) - before, 100 + 300, 'only the first MAC\'s frames reached the TAP');
    const end = await n.server.waitFor(/client disconnected .*mac=02:aa:bb:cc:dd:ee/, 10_000, mark);
    t.match(end, /spoofed=1 /);
    goodStillWorks(t);
  });
});
