// N emulated guests, each a WebSocket client of the relay that pings the gateway (the bench's
// `restart` part): no TAP or namespace per guest, the Ethernet frames are made here.
//   node pinger.js URL N FIRST_IP GATEWAY_IP INTERVAL_MS [GATEWAY_MAC]
// Guest i has MAC 02:fd:00:00:ii:ii and address FIRST_IP + i. Once connected it asks the gateway
// for its MAC (an ARP request, from which the gateway learns the guest's; sent to GATEWAY_MAC
// if given, so that a thousand guests do not flood each other), answers ARP requests
// for its own address, and every INTERVAL_MS sends an ICMP echo request to the gateway (id i,
// seq counting up). A closed connection is opened again after 100 ms, and counted.
// Prints {"event":"connected","n":N,"failed":F} once every guest had its first try; on SIGTERM it
// stops pinging, waits 1 s for late replies and prints one line a guest:
//   {"event":"guest","i":i,"ticks":T,"skipped":K,"sent":S,"replies":R,"closes":C,"longestGapMs":G}
// ticks: pings due (sent or not: a ping due while disconnected is lost too); skipped: rounds this
// process was still busy with the last one (its own limit, not counted in ticks); longestGapMs:
// the longest time between two replies (from the first reply on).
'use strict';
const WebSocket = require('ws');

const [url, countArg, firstArg, gwArg, intervalArg, gwMacArg] = process.argv.slice(2);
const N = Number(countArg);
const INTERVAL = Number(intervalArg || 10);
const ipToInt = (s) => s.split('.').reduce((a, b) => a * 256 + Number(b), 0);
const FIRST = ipToInt(firstArg);
const GW = ipToInt(gwArg);
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const BCAST = Buffer.from('ffffffffffff', 'hex');
const GW_MAC = gwMacArg ? Buffer.from(gwMacArg.replace(/:/g, ''), 'hex') : BCAST;

function checksum(buf, start, end) {
  let sum = 0;
  for (let i = start; i < end - 1; i += 2) sum += buf.readUInt16BE(i);
  if ((end - start) & 1) sum += buf[end - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function arp(op, srcMac, srcIp, dstMac, targetMac, targetIp) {
  const f = Buffer.alloc(60);
  dstMac.copy(f, 0);
  srcMac.copy(f, 6);
  f.writeUInt16BE(0x0806, 12);
  f.writeUInt16BE(1, 14); // Ethernet
  f.writeUInt16BE(0x0800, 16);
  f[18] = 6;
  f[19] = 4;
  f.writeUInt16BE(op, 20);
  srcMac.copy(f, 22);
  f.writeUInt32BE(srcIp, 28);
  targetMac.copy(f, 32);
  f.writeUInt32BE(targetIp, 38);
  return f;
}

class Guest {
  constructor(i) {
    this.i = i;
    this.mac = Buffer.from([2, 0xfd, 0, 0, (i >> 8) & 255, i & 255]);
    this.ip = FIRST + i;
    this.gwMac = GW_MAC;
    this.ticks = 0;
    this.skipped = 0;
    this.sent = 0;
    this.replies = 0;
    this.closes = 0;
    this.seq = 0;
    this.lastReply = 0;
    this.longestGap = 0;
    this.ws = undefined;
    this.open = false;
  }

  connect(onFirst) {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 60000 });
    this.ws = ws;
    ws.on('open', () => {
      this.open = true;
      ws.send(arp(1, this.mac, this.ip, GW_MAC, Buffer.alloc(6), GW));
      if (onFirst) onFirst(true);
      onFirst = undefined;
    });
    ws.on('message', (data) => this.frame(data));
    ws.on('error', () => {});
    ws.on('close', () => {
      if (onFirst) onFirst(false);
      onFirst = undefined;
      if (this.open) this.closes++;
      this.open = false;
      if (!stopping) setTimeout(() => this.connect(), 100);
    });
  }

  frame(f) {
    if (f.length < 42) return;
    const type = f.readUInt16BE(12);
    if (type === 0x0806) {
      const op = f.readUInt16BE(20);
      const target = f.readUInt32BE(38);
      if (op === 2 && f.readUInt32BE(28) === GW) this.gwMac = Buffer.from(f.subarray(22, 28));
      if (op === 1 && target === this.ip && this.open) {
        this.ws.send(arp(2, this.mac, this.ip, f.subarray(6, 12), f.subarray(22, 28), f.readUInt32BE(28)));
      }
      return;
    }
    // IPv4, ICMP echo reply (type 0) to us with our id.
    if (type !== 0x0800 || f[23] !== 1 || f.readUInt32BE(30) !== this.ip) return;
    const ihl = (f[14] & 15) * 4;
    const icmp = 14 + ihl;
    if (f[icmp] !== 0 || f.readUInt16BE(icmp + 4) !== (this.i & 0xffff)) return;
    const now = Date.now();
    if (this.lastReply > 0) this.longestGap = Math.max(this.longestGap, now - this.lastReply);
    this.lastReply = now;
    this.replies++;
  }

  ping() {
    this.ticks++;
    if (!this.open) return;
    const f = Buffer.alloc(60);
    this.gwMac.copy(f, 0);
    this.mac.copy(f, 6);
    f.writeUInt16BE(0x0800, 12);
    f[14] = 0x45;
    f.writeUInt16BE(20 + 8 + 18, 16); // IP total length: header, ICMP header, 18 bytes of data
    f.writeUInt16BE(this.seq & 0xffff, 18);
    f[22] = 64;
    f[23] = 1;
    f.writeUInt32BE(this.ip, 26);
    f.writeUInt32BE(GW, 30);
    f.writeUInt16BE(checksum(f, 14, 34), 24);
    f[34] = 8; // echo request
    f.writeUInt16BE(this.i & 0xffff, 38);
    f.writeUInt16BE(this.seq++ & 0xffff, 40);
    f.writeDoubleBE(Date.now(), 42);
    f.writeUInt16BE(checksum(f, 34, 60), 36);
    this.ws.send(f);
    this.sent++;
  }
}

let stopping = false;
const guests = Array.from({ length: N }, (_, i) => new Guest(i));
(async () => {
  let failed = 0;
  for (let i = 0; i < N; i += 50) {
    await Promise.all(guests.slice(i, i + 50).map((g) => new Promise((resolve) => g.connect((ok) => {
      if (!ok) failed++;
      resolve();
    }))));
  }
  out({ event: 'connected', n: N - failed, failed });
  // Each round in slices of 100 guests with I/O between them: a round that took longer than the
  // interval must not keep replies unread (they would back up into the relay).
  let busy = false;
  const timer = setInterval(() => {
    if (busy) {
      for (const g of guests) g.skipped++; // due, not sent: the generator's own limit, not a loss
      return;
    }
    busy = true;
    let i = 0;
    const slice = () => {
      for (const end = Math.min(guests.length, i + 100); i < end; i++) guests[i].ping();
      if (i < guests.length) setImmediate(slice);
      else busy = false;
    };
    slice();
  }, INTERVAL);
  process.once('SIGTERM', () => {
    clearInterval(timer);
    setTimeout(() => {
      stopping = true;
      for (const g of guests) {
        out({ event: 'guest', i: g.i, ticks: g.ticks, skipped: g.skipped, sent: g.sent, replies: g.replies, closes: g.closes, longestGapMs: g.longestGap });
        g.ws.terminate();
      }
      process.exit(0);
    }, 1000);
  });
})();
