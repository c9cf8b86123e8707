/**
 * The native data path's frame codec (native/wsframe.c) through the test-only addon's wsParse
 * (native/wsparse_test.c, built as binding.gyp's wsnic_test beside the addon): every
 * RFC 6455 edge the live fuzzer (test/fixtures/fuzz.js) sends, with the close code the `ws`
 * package gives for the same bytes, so both data paths answer a client alike.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

interface Parsed {
  frames: { opcode: number; data: Buffer }[];
  used: number;
  error?: { code: number; reason: string };
}
const codec = require(join(__dirname, '..', '..', 'native', 'build', 'Release', 'wsnic_test.node')) as {
  /** The whole frames of `bytes` (a server's reader if server), or the close they call for. */
  wsParse(bytes: Buffer, server: boolean): Parsed;
};

const OP = { cont: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 };

interface FrameSpec {
  fin?: boolean;
  rsv?: number;
  opcode: number;
  payload?: Buffer;
  mask?: boolean;
  /** A length to declare instead of the payload's. */
  declared?: bigint;
  /** Force the 16-bit (2) or 64-bit (8) length form. */
  wide?: 2 | 8;
}

function frame({ fin = true, rsv = 0, opcode, payload = Buffer.alloc(0), mask = true, declared, wide }: FrameSpec): Buffer {
  const len = declared ?? BigInt(payload.length);
  let head: Buffer;
  if (wide === 8 || len > 65535n) {
    head = Buffer.alloc(10);
    head[1] = 127;
    head.writeBigUInt64BE(len, 2);
  } else if (wide === 2 || len > 125n) {
    head = Buffer.alloc(4);
    head[1] = 126;
    head.writeUInt16BE(Number(len), 2);
  } else {
    head = Buffer.alloc(2);
    head[1] = Number(len);
  }
  head[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  if (!mask) return Buffer.concat([head, payload]);
  head[1]! |= 0x80;
  const key = randomBytes(4);
  return Buffer.concat([head, key, Buffer.from(payload.map((b, i) => b ^ key[i & 3]!))]);
}

const parse = (bytes: Buffer, server = true) => codec.wsParse(bytes, server);
const closePayload = (code: number, reason: Buffer | string = ''): Buffer => {
  const p = Buffer.alloc(2);
  p.writeUInt16BE(code);
  return Buffer.concat([p, Buffer.from(reason)]);
};

t.test('binary frames at every length form, masked by the client, come out unmasked', async (t) => {
  for (const len of [0, 1, 14, 125, 126, 1514, 65535, 65536, 65549]) {
    const payload = randomBytes(len);
    const r = parse(frame({ opcode: OP.binary, payload }));
    t.equal(r.error, undefined, `${len} bytes: no error`);
    t.equal(r.frames.length, 1);
    t.ok(r.frames[0]!.data.equals(payload), `${len} bytes: the payload`);
  }
  const r = parse(frame({ opcode: OP.binary, payload: randomBytes(60), wide: 8 }));
  t.equal(r.frames[0]?.data.length, 60, 'a non-minimal length form is accepted (as ws does)');
});

t.test('a partial frame is left for the next read; whole frames before it are used', async (t) => {
  const a = frame({ opcode: OP.binary, payload: randomBytes(100) });
  const b = frame({ opcode: OP.binary, payload: randomBytes(3000) });
  for (const cut of [1, 2, 3, 4, 7, 8, 100, b.length - 1]) {
    const r = parse(Buffer.concat([a, b.subarray(0, cut)]));
    t.equal(r.used, a.length, `cut after ${cut} bytes of the second frame`);
    t.equal(r.frames.length, 1);
  }
  t.same(parse(Buffer.alloc(0)), { frames: [], used: 0 }, 'nothing: nothing');
});

t.test('size limits: 65,549 bytes pass, more is 1009 as soon as the header says so', async (t) => {
  t.equal(parse(frame({ opcode: OP.binary, payload: Buffer.alloc(65550) })).error?.code, 1009);
  const header = frame({ opcode: OP.binary, declared: 65550n }).subarray(0, 10);
  t.equal(parse(header).error?.code, 1009, 'the header alone');
  for (const declared of [2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 53n, 2n ** 32n]) {
    t.equal(parse(frame({ opcode: OP.binary, declared })).error?.code, 1009, `declared ${declared}`);
  }
  const over = Buffer.concat([frame({ fin: false, opcode: OP.binary, payload: Buffer.alloc(40000) }), frame({ opcode: OP.cont, payload: Buffer.alloc(40000) })]);
  t.equal(parse(over).error?.code, 1009, 'fragments together over the limit');
});

t.test('fragmented messages are joined; control frames may come between fragments', async (t) => {
  const msg = randomBytes(5000);
  const bytes = Buffer.concat([
    frame({ fin: false, opcode: OP.binary, payload: msg.subarray(0, 10) }),
    frame({ opcode: OP.ping, payload: Buffer.from('hi') }),
    frame({ fin: false, opcode: OP.cont, payload: msg.subarray(10, 4000) }),
    frame({ opcode: OP.close, payload: closePayload(1000, 'mid-message') }),
    frame({ opcode: OP.cont, payload: msg.subarray(4000) }),
  ]);
  const r = parse(bytes);
  t.equal(r.error, undefined);
  t.same(r.frames.map((f) => f.opcode), [OP.ping, OP.close, OP.binary], 'the ping and a close mid-message, then the message');
  t.ok(r.frames[2]!.data.equals(msg), 'joined whole');
  const text = Buffer.from('h\u00e9llo \u4e2d\ud83d\ude00');
  const split = Buffer.concat([frame({ fin: false, opcode: OP.text, payload: text.subarray(0, 2) }), frame({ opcode: OP.cont, payload: text.subarray(2) })]);
  t.equal(parse(split).frames[0]?.data.toString(), text.toString(), 'a character split between fragments is fine');
});

t.test('protocol errors close with 1002, bad UTF-8 with 1007', async (t) => {
  const cases: [string, Buffer, number][] = [
    ['unmasked from a client', frame({ opcode: OP.binary, mask: false, payload: randomBytes(60) }), 1002],
    ['continuation first', frame({ opcode: OP.cont, payload: randomBytes(5) }), 1002],
    ['new message mid-fragment', Buffer.concat([frame({ fin: false, opcode: OP.binary, payload: randomBytes(30) }), frame({ opcode: OP.binary, payload: randomBytes(20) })]), 1002],
    ['text mid-fragment', Buffer.concat([frame({ fin: false, opcode: OP.binary, payload: randomBytes(30) }), frame({ opcode: OP.text, payload: Buffer.from('x') })]), 1002],
    ['fragmented ping', frame({ fin: false, opcode: OP.ping, payload: randomBytes(4) }), 1002],
    ['fragmented close', frame({ fin: false, opcode: OP.close, payload: closePayload(1000) }), 1002],
    ['ping of 126 bytes', frame({ opcode: OP.ping, payload: randomBytes(126) }), 1002],
    ['close of 1 byte', frame({ opcode: OP.close, payload: Buffer.from([3]) }), 1002],
    ['close, bad UTF-8 reason', frame({ opcode: OP.close, payload: closePayload(1000, Buffer.from([0xc3, 0x28])) }), 1007],
    ['text, bad UTF-8', frame({ opcode: OP.text, payload: Buffer.from([0xc3, 0x28, 0xff]) }), 1007],
    ['text, overlong', frame({ opcode: OP.text, payload: Buffer.from([0xc0, 0x80]) }), 1007],
    ['text, a surrogate', frame({ opcode: OP.text, payload: Buffer.from([0xed, 0xa0, 0x80]) }), 1007],
    ['text, past U+10FFFF', frame({ opcode: OP.text, payload: Buffer.from([0xf4, 0x90, 0x80, 0x80]) }), 1007],
    ['text, truncated character', frame({ opcode: OP.text, payload: Buffer.from([0xe4, 0xb8]) }), 1007],
  ];
  for (const rsv of [1, 2, 4, 7]) cases.push([`RSV ${rsv}`, frame({ opcode: OP.binary, rsv, payload: randomBytes(60) }), 1002]);
  for (const op of [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]) cases.push([`opcode ${op}`, frame({ opcode: op, payload: randomBytes(5) }), 1002]);
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]) {
    cases.push([`close code ${code}`, frame({ opcode: OP.close, payload: closePayload(code) }), 1002]);
  }
  for (const [name, bytes, code] of cases) {
    const r = parse(bytes);
    t.equal(r.error?.code, code, `${name}: ${code} (${r.error?.reason})`);
    t.equal(r.used, -1);
  }
  t.equal(parse(frame({ opcode: OP.binary, payload: randomBytes(9) }), false).error?.code, 1002, 'masked from a server (the client side)');
  t.equal(parse(frame({ opcode: OP.binary, mask: false, payload: randomBytes(9) }), false).frames.length, 1, 'unmasked from a server is right');
});

t.test('valid close frames, pings and pongs are handed over as they are', async (t) => {
  for (const code of [1000, 1001, 1003, 1007, 1011, 1012, 1014, 3000, 4999]) {
    const r = parse(frame({ opcode: OP.close, payload: closePayload(code, 'bye') }));
    t.equal(r.error, undefined, `close ${code}`);
    t.equal(r.frames[0]?.data.readUInt16BE(0), code);
  }
  t.equal(parse(frame({ opcode: OP.close })).frames[0]?.data.length, 0, 'a close without a code');
  const pings = parse(Buffer.concat(Array.from({ length: 3000 }, () => frame({ opcode: OP.ping, payload: Buffer.from('p') }))));
  t.equal(pings.frames.length, 3000, 'a ping flood parses frame by frame');
  t.equal(parse(Buffer.concat([frame({ opcode: OP.text, payload: Buffer.from('ping:1') }), frame({ opcode: OP.pong })])).frames.length, 2);
});
