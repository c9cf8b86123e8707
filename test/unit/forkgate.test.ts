/**
 * The fork gate's order (see src/net/forkgate.ts), with real fds of /dev/null standing in for
 * TAPs: the gate only orders close() against spawn(); what a TAP's close costs is measured in
 * the e2e fuzz test under churn.
 */
import t from 'tap';
import { openSync, fstatSync } from 'node:fs';
import { closeTapFd, whileNoTapCloses } from '../../src/net/forkgate';

const isOpen = (fd: number): boolean => {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
};

t.test('with no close in flight a spawn starts at once', async (t) => {
  const order: string[] = [];
  const p = whileNoTapCloses(() => order.push('spawn'));
  order.push('after the call');
  await p;
  t.same(order, ['spawn', 'after the call']);
});

t.test('a spawn waits for closes in flight, and closes asked for meanwhile wait for the spawn', async (t) => {
  const [a, b, c] = [0, 1, 2].map(() => openSync('/dev/null', 'r')) as [number, number, number];
  const order: string[] = [];
  const closed = (name: string, fd: number): Promise<void> =>
    new Promise((r) => closeTapFd(fd, () => {
      order.push(`${name} closed`);
      r();
    }));
  const aClosed = closed('a', a); // on the thread pool now
  const spawned = whileNoTapCloses(() => {
    order.push('spawn');
    t.notOk(isOpen(a), 'the close in flight finished first');
    t.ok(isOpen(b) && isOpen(c), 'closes asked for later have not started');
    return 42;
  });
  const bClosed = closed('b', b);
  const cClosed = closed('c', c);
  t.equal(await spawned, 42, 'the spawn\'s result comes back');
  await Promise.all([aClosed, bClosed, cClosed]);
  t.same(order.slice(0, 2), ['a closed', 'spawn']);
  t.same(order.slice(2).sort(), ['b closed', 'c closed']);
  t.ok(![a, b, c].some(isOpen), 'every fd was closed in the end');
});

t.test('a spawn that throws still lets the held closes go', async (t) => {
  const a = openSync('/dev/null', 'r');
  const b = openSync('/dev/null', 'r');
  const aClosed = new Promise<void>((r) => closeTapFd(a, r));
  const spawned = whileNoTapCloses(() => {
    throw new Error('EAGAIN');
  });
  const bClosed = new Promise<void>((r) => closeTapFd(b, r));
  await t.rejects(spawned, /EAGAIN/);
  await Promise.all([aClosed, bClosed]);
  t.notOk(isOpen(b));
});
