/**
 * WebSocket (un)masking in the addon instead of ws's per-byte JS loop (ws would use the
 * `bufferutil` package, or Node's own when it has one; Node 18 and 20 have none). Clients mask
 * every frame they send, so the relay unmasks every byte it receives, and `wsnic connect` masks
 * every byte it sends. ws's receiver and sender take these functions from its buffer-util
 * module when they load: this module must be loaded before `ws`.
 */
import { dirname, join } from 'node:path';
import { native } from '../native';

interface BufferUtil {
  mask(source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number): void;
  unmask(buffer: Buffer, mask: Buffer): void;
}

/** Below this many bytes a JS loop beats the cost of a call into the addon. */
const NATIVE_FROM = 48;

export function installNativeMasking(): boolean {
  let util: BufferUtil;
  let addon: ReturnType<typeof native>;
  try {
    // By absolute path: ws's "exports" hides lib/; the module cache is keyed by this path, so
    // ws's own require('../relay/buffer-util') gets this same object.
    util = require(join(dirname(require.resolve('ws')), 'lib', 'buffer-util.js')) as BufferUtil;
    addon = native();
  } catch {
    return false; // ws laid out differently, or no addon: ws's own masking
  }
  const jsMask = util.mask;
  const jsUnmask = util.unmask;
  util.mask = (source, mask, output, offset, length) =>
    length < NATIVE_FROM ? jsMask(source, mask, output, offset, length) : addon.wsMask(source, mask, output, offset, length);
  util.unmask = (buffer, mask) => (buffer.length < NATIVE_FROM ? jsUnmask(buffer, mask) : addon.wsUnmask(buffer, mask));
  return true;
}

installNativeMasking();
