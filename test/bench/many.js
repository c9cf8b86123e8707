// Opens N idle WebSocket clients to a relay (run in a guest namespace by the benchmark).
//   node many.js URL N CONCURRENCY
// Prints {"event":"connected","n":N,"ms":T,"failed":F} once all are open, then stays until killed
// (SIGTERM closes them all and prints {"event":"closed"}).
'use strict';
const WebSocket = require('ws');

const [url, total, concurrency] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4] || 100)];
const sockets = [];
let failed = 0;
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

function open() {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 60000 });
    ws.on('open', () => {
      sockets.push(ws);
      resolve();
    });
    ws.on('error', () => {
      failed++;
      resolve();
    });
    ws.on('message', () => {}); // frames from the bridge (broadcasts) are read and dropped
  });
}

(async () => {
  const started = Date.now();
  let next = 0;
  const worker = async () => {
    while (next < total) {
      next++;
      await open();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  out({ event: 'connected', n: sockets.length, ms: Date.now() - started, failed });
})();

process.on('SIGTERM', () => {
  for (const ws of sockets) ws.terminate();
  out({ event: 'closed' });
  setTimeout(() => process.exit(0), 200);
});
