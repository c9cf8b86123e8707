/**
 * The set behind the bridge's anti-spoofing rules (who may send from which address). Spotting a
 * DHCP OFFER or ACK on its way to a client is the guard's: guard-vectors.ts.
 */
import t from 'tap';
import { ACK_GRACE_MS, element, LeasedSet, type Clock, type NftRunner } from '../../src/net/leasedset';
import { formatLine, type Logger } from '../../src/log';
import { parseForward, reservedPort, type Forward } from '../../src/config/forward';

function quietLog(lines: string[]): Logger {
  const log = (level: 'debug' | 'info' | 'warning' | 'error') => (msg: string, f?: Record<string, string | number | boolean | undefined>) => lines.push(formatLine(level, msg, f));
  return { debug: log('debug'), info: log('info'), warning: log('warning'), error: log('error'), setLevel: () => undefined };
}

/** How many elements an nft script adds to the set. */
const elements = (script: string | undefined): number => (script ?? '').split('"wstap').length - 1;

/** A clock the test moves by hand: advance() runs the timers that fall due, in order. */
function manualClock(): Clock & { advance(ms: number): void } {
  let now = 1_000_000;
  let seq = 0;
  const timers = new Map<number, { at: number; every?: number; fn: () => void }>();
  const add = (ms: number, fn: () => void, every?: number): (() => void) => {
    const id = seq++;
    timers.set(id, { at: now + ms, fn, ...(every === undefined ? {} : { every }) });
    return () => timers.delete(id);
  };
  return {
    now: () => now,
    after: (ms, fn) => add(ms, fn),
    every: (ms, fn) => add(ms, fn, ms),
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const due = [...timers].filter(([, x]) => x.at <= end).sort(([a, x], [b, y]) => x.at - y.at || a - b)[0];
        if (due === undefined) break;
        const [id, timer] = due;
        now = timer.at;
        if (timer.every === undefined) timers.delete(id);
        else timer.at += timer.every;
        timer.fn();
      }
      now = end;
    },
  };
}

/** An nft that runs until the test finishes it: each run's script, and how it ends. */
function heldNft(): { nft: NftRunner; runs: string[]; finish(err?: string): Promise<void> } {
  const runs: string[] = [];
  const pending: ((err: string | undefined) => void)[] = [];
  return {
    nft: (script) => {
      runs.push(script);
      return new Promise((resolve) => pending.push(resolve));
    },
    runs,
    async finish(err) {
      const end = pending.shift();
      if (end === undefined) throw new Error('no nft run to finish');
      end(err);
      await new Promise(setImmediate); // the set's reaction to the result
    },
  };
}

const add = (tap: string, mac: string, ip: string): string => `add element bridge wsnic leased { ${element(tap, mac, ip)} }\n`;
const NFT_ERROR = 'Error: Could not process rule';
const PORTS = 'add element inet wsnic fwdports { tcp . 2222 }\nadd element inet wsnic fwdports { udp . 5353 }\nadd element inet wsnic fwdports { tcp . 8080 }\n';

t.test('the set follows clients and leases, one nft at a time, and rewrites itself after a failure', async (t) => {
  const lines: string[] = [];
  const clock = manualClock();
  const { nft, runs, finish } = heldNft();
  const set = new LeasedSet(quietLog(lines), nft, { rewriteMs: 60_000, retryMs: 20 }, clock);
  t.teardown(() => set.stop());
  set.bind('wstap0', '52:54:00:00:00:01');
  t.same(runs, [], 'no lease yet: nothing to allow');
  set.leases(new Map([['52:54:00:00:00:01', '192.168.86.10']]));
  t.same(runs, [add('wstap0', '52:54:00:00:00:01', '192.168.86.10')], 'the lease file names it: allowed');
  set.bind('wstap1', '52:54:00:00:00:02');
  set.acked('wstap1', '52:54:00:00:00:02', '192.168.86.11');
  set.acked('wstap1', '52:54:00:00:00:99', '192.168.86.99'); // an ACK for some other MAC
  t.equal(runs.length, 1, 'no second nft while the first runs');
  await finish();
  t.same(runs.slice(1), [add('wstap1', '52:54:00:00:00:02', '192.168.86.11')], 'changes while nft ran go in one more run');
  await finish();
  t.equal(runs.length, 2, 'and nothing after it');

  runs.length = 0;
  set.unbind('wstap0');
  t.same(runs, [`delete element bridge wsnic leased { ${element('wstap0', '52:54:00:00:00:01', '192.168.86.10')} }\n`]);
  await finish();

  runs.length = 0;
  set.bind('wstap2', '52:54:00:00:00:01');
  t.same(runs, [add('wstap2', '52:54:00:00:00:01', '192.168.86.10')]);
  await finish(NFT_ERROR);
  clock.advance(19);
  t.equal(runs.length, 1, 'no retry before retryMs');
  clock.advance(1);
  t.equal(runs.length, 2, 'a retry after retryMs');
  t.match(runs.at(-1), /^flush set bridge wsnic leased\nadd element/, 'after a failure: flushed and rewritten');
  t.equal(elements(runs.at(-1)), 2, 'the rewrite holds both clients');
  await finish();

  runs.length = 0;
  set.unbind('wstap2');
  await finish(NFT_ERROR);
  const at: number[] = [];
  for (let waited = 0; runs.length < 4 && waited < 1000; waited++) {
    clock.advance(1);
    if (runs.length > at.length + 1) {
      at.push(waited + 1);
      await finish(runs.length < 4 ? NFT_ERROR : undefined);
    }
  }
  t.same(at, [20, 40 + 20, 80 + 40 + 20], 'failed runs are retried after 20, 40, 80 ms: a growing pause, not given up');
  t.match(runs.at(-1), /^flush set bridge wsnic leased\n/);
  t.equal(elements(runs.at(-1)), 1, 'the rewrite holds the one client left');
  t.match(lines.join('\n'), /client address set updated again after_failures=3/);
  t.equal(lines.filter((l) => l.includes('client address set update failed, retrying')).length, 2, 'one warning per run of failures, not per retry');
});

t.test('an OFFER or ACK counts for its grace period; then the lease file decides', async (t) => {
  const clock = manualClock();
  const { nft, runs, finish } = heldNft();
  const set = new LeasedSet(quietLog([]), nft, { rewriteMs: 600_000, retryMs: 20 }, clock);
  t.teardown(() => set.stop());
  set.bind('wstap0', '52:54:00:00:00:01');
  set.acked('wstap0', '52:54:00:00:00:01', '192.168.86.10');
  t.same(runs, [add('wstap0', '52:54:00:00:00:01', '192.168.86.10')], 'allowed from the ACK, before the lease file says so');
  await finish();
  clock.advance(ACK_GRACE_MS);
  t.equal(runs.length, 1, 'still allowed during the grace');
  clock.advance(100);
  t.same(runs.slice(1), [`delete element bridge wsnic leased { ${element('wstap0', '52:54:00:00:00:01', '192.168.86.10')} }\n`], 'the lease file never agreed: removed once the grace is over');
  await finish();
});

t.test('the whole set is rewritten now and then (a reloaded ruleset empties it behind our back)', async (t) => {
  const clock = manualClock();
  const { nft, runs, finish } = heldNft();
  const set = new LeasedSet(quietLog([]), nft, { rewriteMs: 30, retryMs: 20 }, clock);
  t.teardown(() => set.stop());
  set.bind('wstap0', '52:54:00:00:00:01');
  set.leases(new Map([['52:54:00:00:00:01', '192.168.86.10']]));
  await finish();
  const rewrite = `flush set bridge wsnic leased\n${add('wstap0', '52:54:00:00:00:01', '192.168.86.10')}`;
  clock.advance(29);
  t.equal(runs.length, 1, 'nothing before rewriteMs');
  clock.advance(1);
  t.same(runs.slice(1), [rewrite], 'flushed and filled again');
  await finish();
  clock.advance(30);
  t.same(runs.slice(1), [rewrite, rewrite], 'and again, each time');
  await finish();
});

t.test('port forwards follow their guest: a new address or TAP replaces the element in the same run', async (t) => {
  const clock = manualClock();
  const { nft, runs, finish } = heldNft();
  const forwards = ['tcp:2222>52:54:00:00:00:01:22', 'udp:5353>52:54:00:00:00:01:53', 'tcp:8080>52:54:00:00:00:09:80'].map((s) => parseForward(s)!);
  const set = new LeasedSet(quietLog([]), nft, { rewriteMs: 600_000, retryMs: 20 }, clock, { enforce: true, forwards });
  t.teardown(() => set.stop());
  set.bind('wstap0', '52:54:00:00:00:01');
  t.same(runs.splice(0), [PORTS], 'no address yet: no element, but every forwarded port refused');
  await finish();
  set.leases(new Map([['52:54:00:00:00:01', '192.168.86.10']]));
  t.same(runs, [
    add('wstap0', '52:54:00:00:00:01', '192.168.86.10') +
      'add element inet wsnic fwd4 { tcp . 2222 : 192.168.86.10 . 22 }\nadd element inet wsnic fwd4 { udp . 5353 : 192.168.86.10 . 53 }\n',
  ], 'both forwards of that MAC, in the run that binds its address; the absent guest has none');
  await finish();
  t.same(set.forwardState(), {
    'tcp:2222>52:54:00:00:00:01:22': '-> 192.168.86.10:22', 'udp:5353>52:54:00:00:00:01:53': '-> 192.168.86.10:53', 'tcp:8080>52:54:00:00:00:09:80': '(guest absent)',
  }, 'what wsnic status shows');
  set.acked('wstap0', '52:54:00:00:00:01', '192.168.86.20');
  t.same(runs.slice(1), [
    `delete element bridge wsnic leased { ${element('wstap0', '52:54:00:00:00:01', '192.168.86.10')} }\n${add('wstap0', '52:54:00:00:00:01', '192.168.86.20')}` +
      'delete element inet wsnic fwd4 { tcp . 2222 }\ndelete element inet wsnic fwd4 { udp . 5353 }\n' +
      'add element inet wsnic fwd4 { tcp . 2222 : 192.168.86.20 . 22 }\nadd element inet wsnic fwd4 { udp . 5353 : 192.168.86.20 . 53 }\n',
  ], 'a new address: each element replaced in one transaction');
  await finish();
  set.unbind('wstap0');
  set.bind('wstap3', '52:54:00:00:00:01');
  t.match(runs[2], /delete element inet wsnic fwd4 \{ tcp \. 2222 \}/, 'gone: its forwards go at once');
  await finish();
  t.same(runs.slice(3), [
    add('wstap3', '52:54:00:00:00:01', '192.168.86.10') +
      'add element inet wsnic fwd4 { tcp . 2222 : 192.168.86.10 . 22 }\nadd element inet wsnic fwd4 { udp . 5353 : 192.168.86.10 . 53 }\n',
  ], 'back on another TAP, with the address of the lease file: the forwards follow');
  await finish();
  set.unbind('wstap3');
  t.same(runs.slice(4), [
    `delete element bridge wsnic leased { ${element('wstap3', '52:54:00:00:00:01', '192.168.86.10')} }\n` +
      'delete element inet wsnic fwd4 { tcp . 2222 }\ndelete element inet wsnic fwd4 { udp . 5353 }\n',
  ], 'the guest gone: its forwards go');
  await finish();
});

t.test('forwards without bind_client_ip: only the map is kept', async (t) => {
  const { nft, runs, finish } = heldNft();
  const set = new LeasedSet(quietLog([]), nft, { rewriteMs: 600_000, retryMs: 20 }, manualClock(), { enforce: false, forwards: [parseForward('tcp:2222>52:54:00:00:00:01:22')!] });
  t.teardown(() => set.stop());
  set.bind('wstap0', '52:54:00:00:00:01');
  await finish();
  set.leases(new Map([['52:54:00:00:00:01', '192.168.86.10']]));
  t.same(runs, ['add element inet wsnic fwdports { tcp . 2222 }\n', 'add element inet wsnic fwd4 { tcp . 2222 : 192.168.86.10 . 22 }\n']);
  await finish();

  // At runtime (wsnic forward add/remove): the port and, with the guest here, the element.
  set.addForward(parseForward('udp:53>52:54:00:00:00:01:5353')!);
  t.same(runs.slice(2), ['add element inet wsnic fwd4 { udp . 53 : 192.168.86.10 . 5353 }\nadd element inet wsnic fwdports { udp . 53 }\n']);
  await finish();
  t.throws(() => set.addForward(parseForward('udp:53>52:54:00:00:00:02:53')!), { message: 'udp port 53 is forwarded already (udp:53>52:54:00:00:00:01:5353)' });
  t.same(set.forwardState(), { 'tcp:2222>52:54:00:00:00:01:22': '-> 192.168.86.10:22', 'udp:53>52:54:00:00:00:01:5353': '-> 192.168.86.10:5353 (runtime)' });
  t.ok(set.removeForward(parseForward('tcp:2222>52:54:00:00:00:01:22')!), 'a configured one goes too');
  t.notOk(set.removeForward(parseForward('tcp:2222>52:54:00:00:00:01:22')!), 'and is not there twice');
  t.same(runs.slice(3), ['delete element inet wsnic fwd4 { tcp . 2222 }\ndelete element inet wsnic fwdports { tcp . 2222 }\n']);
  await finish();
});

t.test('a runtime forward of a reserved port (wsnic forward add tcp:8086, the relay\'s own) is refused', async (t) => {
  const { nft, runs, finish } = heldNft();
  const reserved = (f: Forward): string | undefined => reservedPort(f, { ws_port: 8086, wss_port: 8087, wss_certificate: '', disable_dhcp: false });
  const set = new LeasedSet(quietLog([]), nft, { rewriteMs: 600_000, retryMs: 20 }, manualClock(), { enforce: false, forwards: [], reserved });
  t.teardown(() => set.stop());
  for (const spec of ['tcp:8086>52:54:00:00:00:01:80', 'udp:53>52:54:00:00:00:01:53']) {
    t.throws(() => set.addForward(parseForward(spec)!), { message: /is (ws_port|DNS), .*: forward another port/ }, spec);
  }
  t.same(set.forwardState(), {}, 'neither taken');
  set.addForward(parseForward('tcp:8087>52:54:00:00:00:01:80')!); // wss:// not served: a free port
  t.match(runs.at(-1), /add element inet wsnic fwdports \{ tcp \. 8087 \}/);
  await finish();
});

t.test('forwards off (NAT off): adding one says why', async (t) => {
  const set = new LeasedSet(quietLog([]), heldNft().nft, { rewriteMs: 600_000, retryMs: 20 }, manualClock(), { enforce: true, forwards: undefined });
  t.teardown(() => set.stop());
  t.throws(() => set.addForward(parseForward('tcp:1>52:54:00:00:00:01:1')!), { message: /port forwards are off \(they need enable_inet/ });
  t.same(set.forwardState(), {});
});
