// Sends UDP datagrams to HOST:PORT as fast as the socket takes them, for SECONDS.
//   node blast.js HOST PORT SIZE SECONDS
'use strict';
const dgram = require('dgram');
const [host, port, size, seconds] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])];
const sock = dgram.createSocket('udp4');
const payload = Buffer.alloc(size);
const end = Date.now() + seconds * 1000;
let sent = 0;
function burst() {
  if (Date.now() > end) {
    process.stdout.write(`${JSON.stringify({ sent })}\n`);
    sock.close();
    return;
  }
  let pending = 64;
  for (let i = 0; i < 64; i++) {
    sock.send(payload, port, host, () => {
      sent++;
      if (--pending === 0) setImmediate(burst);
    });
  }
}
burst();
