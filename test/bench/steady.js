// N WebSocket clients each sending a steady stream of Ethernet frames (run in a guest namespace
// by the benchmark's `steady` part): every 10 ms each sends one frame of FRAME bytes, so a client
// sends FRAME * 100 bytes a second (1,250 bytes: 1 Mbit/s).
//   node steady.js URL N DST_MAC [FRAME]
// The frames go to DST_MAC (the bridge's own) with ethertype 0x88b5 (local experimental): the
// relay writes each to the client's TAP and the bridge drops it, nothing floods the other ports.
// Prints {"event":"connected","n":N,"failed":F}, then on SIGTERM {"event":"done","frames":F,"seconds":S}.
'use strict';
const WebSocket = require('ws');

const [url, total, dst, frameArg] = [process.argv[2], Number(process.argv[3]), process.argv[4], process.argv[5]];
const FRAME = Number(frameArg || 1250);
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const sockets = [];
let failed = 0;
let frames = 0;

function open(i) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 60000 });
    const f = Buffer.alloc(FRAME);
    Buffer.from(dst.replace(/:/g, ''), 'hex').copy(f, 0);
    f.writeUInt32BE(0x02fe0000 + i, 6); // a MAC of its own: 02:fe:00:00:ii:ii
    f.writeUInt16BE(i & 0xffff, 10);
    f.writeUInt16BE(0x88b5, 12);
    ws.on('open', () => {
      sockets.push({ ws, f });
      resolve();
    });
    ws.on('error', () => {
      failed++;
      resolve();
    });
    ws.on('message', () => {});
  });
}

(async () => {
  for (let i = 0; i < total; i += 50) await Promise.all(Array.from({ length: Math.min(50, total - i) }, (_, k) => open(i + k)));
  out({ event: 'connected', n: sockets.length, failed });
  const t0 = Date.now();
  const timer = setInterval(() => {
    for (const s of sockets) {
      // A client that cannot keep up (its socket buffer full) skips a tick rather than queue.
      if (s.ws.bufferedAmount > 64 * 1024) continue;
      s.ws.send(s.f, { binary: true });
      frames++;
    }
  }, 10);
  process.on('SIGTERM', () => {
    clearInterval(timer);
    out({ event: 'done', frames, seconds: (Date.now() - t0) / 1000 });
    for (const s of sockets) s.ws.terminate();
    setTimeout(() => process.exit(0), 200);
  });
})();
