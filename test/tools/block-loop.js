// Loaded first (NODE_OPTIONS=--require) into the relay of test/e2e/plane.test.ts, so that no test
// hook lives in wsnic itself: SIGUSR2 blocks this process's event loop (its main thread) for 2 s,
// as a long synchronous task would, while the addon's data-plane threads run on. The two lines
// go to stderr, a pipe, written before and after (synchronous on Linux).
'use strict';
process.on('SIGUSR2', () => {
  process.stderr.write('test: event loop blocked ms=2000\n');
  const until = Date.now() + 2000;
  while (Date.now() < until);
  process.stderr.write('test: event loop free\n');
});
