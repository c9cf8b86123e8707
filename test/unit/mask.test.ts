import t from 'tap';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { native } from '../../src/native';

const reference = (src: Buffer, key: Buffer): Buffer => Buffer.from(src.map((b, i) => b ^ key[i & 3]!));

t.test('the addon masks and unmasks exactly as RFC 6455 says, at every length and offset', async (t) => {
  const addon = native();
  for (let len = 0; len < 300; len += len < 40 ? 1 : 17) {
    const src = randomBytes(len);
    const key = randomBytes(4);
    for (const offset of [0, 1, 3, 6]) {
      const out = Buffer.alloc(offset + len + 5, 0xaa);
      addon.wsMask(src, key, out, offset, len);
      t.same(out.subarray(offset, offset + len), reference(src, key), `mask len ${len} offset ${offset}`);
      t.equal(out[offset + len], 0xaa, 'nothing written past the end');
    }
    const copy = Buffer.from(src);
    addon.wsUnmask(copy, key);
    t.same(copy, reference(src, key), `unmask len ${len}`);
  }
  t.throws(() => addon.wsMask(Buffer.alloc(10), Buffer.alloc(4), Buffer.alloc(5), 0, 10), RangeError, 'refuses to write past the output');
});

t.test('ws masks through the addon once wsmask is loaded, from 48 bytes; shorter ones in JS', async (t) => {
  const { installNativeMasking } = await import('../../src/datapath/wsmask');
  t.equal(installNativeMasking(), true, 'installed');
  // The module the sender and receiver of ws take mask() from (the path wsmask.ts patches).
  const util = require(join(dirname(require.resolve('ws')), 'lib', 'buffer-util.js')) as { mask: (s: Buffer, k: Buffer, o: Buffer, off: number, len: number) => void };
  const addon = native();
  const original = addon.wsMask;
  let calls = 0;
  addon.wsMask = (...args) => {
    calls++;
    original(...args);
  };
  t.teardown(() => {
    addon.wsMask = original;
  });
  const key = randomBytes(4);
  for (const [len, native] of [[47, 0], [48, 1], [1500, 1]] as const) {
    const src = randomBytes(len);
    const out = Buffer.alloc(len + 2);
    const before = calls;
    util.mask(src, key, out, 2, len);
    t.same(out.subarray(2), reference(src, key), `${len} bytes masked right`);
    t.equal(calls - before, native, native ? `${len} bytes: by the addon` : `${len} bytes: in JS`);
  }
});
