/**
 * What wsnic takes from inside `ws`, which no semver range promises: its buffer-util module
 * (native masking, src/datapath/wsmask.ts), a WebSocket's `_socket` (one cork per batch,
 * src/datapath/pump.ts) and the receiver's error codes (close statuses, src/relay/session.ts).
 * `ws` is pinned to one version; this fails loudly when an upgrade moves any of them.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { native } from '../../src/native';

const ROOT = join(__dirname, '..', '..');

/** ws's Receiver: exported, not in @types/ws. */
interface Receiver {
  write(chunk: Buffer): void;
  on(event: 'message', fn: (data: Buffer) => void): void;
  on(event: 'error', fn: (err: Error & { code?: string }) => void): void;
}
type ReceiverClass = new (opts: { isServer: boolean; maxPayload: number }) => Receiver;
const receiverClass = async (): Promise<ReceiverClass> => ((await import('ws')) as unknown as { Receiver: ReceiverClass }).Receiver;

t.test('ws is pinned to the exact version installed', async (t) => {
  const wanted = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies.ws;
  t.match(wanted, /^\d+\.\d+\.\d+$/, 'an exact version, no range');
  t.equal((JSON.parse(readFileSync(require.resolve('ws/package.json'), 'utf8')) as { version: string }).version, wanted);
});

t.test('the receiver unmasks through the addon (buffer-util patched before ws loads)', async (t) => {
  const addon = native();
  const original = addon.wsUnmask;
  let calls = 0;
  addon.wsUnmask = (buffer, mask) => {
    calls++;
    original(buffer, mask);
  };
  t.teardown(() => {
    addon.wsUnmask = original;
  });
  await import('../../src/datapath/wsmask');
  const Receiver = await receiverClass();
  const payload = Buffer.from('a frame long enough for the native path to unmask it: 64 bytes!!');
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  const receiver = new Receiver({ isServer: true, maxPayload: 1024 });
  const got = new Promise<Buffer>((resolve) => receiver.on('message', resolve));
  receiver.write(Buffer.concat([Buffer.from([0x82, 0x80 | payload.length]), mask, masked]));
  t.same(await got, payload, 'the binary message, unmasked');
  t.equal(calls, 1, 'by the addon, once');
});

t.test('the receiver\'s error codes that session.ts maps to close statuses', async (t) => {
  const Receiver = await receiverClass();
  const error = (frame: Buffer): Promise<Error & { code?: string }> => {
    const r = new Receiver({ isServer: true, maxPayload: 16 });
    const p = new Promise<Error & { code?: string }>((resolve) => r.on('error', resolve));
    r.write(frame);
    return p;
  };
  const mask = Buffer.alloc(4);
  t.equal((await error(Buffer.concat([Buffer.from([0x82, 0x80 | 100]), mask]))).code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', 'over maxPayload');
  t.equal((await error(Buffer.concat([Buffer.from([0x81, 0x80 | 2]), mask, Buffer.from([0xc3, 0x28])]))).code, 'WS_ERR_INVALID_UTF8', 'a text frame that is not UTF-8');
});

t.test('a WebSocket\'s _socket is its net.Socket, with cork and uncork', async (t) => {
  const { WebSocket, WebSocketServer } = await import('ws');
  const wss = new WebSocketServer({ noServer: true });
  const server = createServer();
  server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => ws.close()));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  await new Promise((r) => ws.once('open', r));
  const socket = (ws as unknown as { _socket?: { cork?: unknown; uncork?: unknown; remotePort?: number } })._socket;
  t.type(socket?.cork, 'function');
  t.type(socket?.uncork, 'function');
  t.equal(socket?.remotePort, (server.address() as AddressInfo).port, 'the connection itself');
  await new Promise((r) => ws.once('close', r));
});
