import t from 'tap';
import type { IncomingMessage } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admission, originPattern } from '../../src/http/admission';

const req = (remote: string, headers: Record<string, string> = {}, url = '/'): IncomingMessage =>
  ({ socket: { remoteAddress: remote }, headers, url }) as unknown as IncomingMessage;
const base = { allowedOrigins: [], tokensFile: '', maxClients: 0, maxPerIp: 0, trustedProxies: [] };

t.test('origin patterns match whole origins, * within one label run', async (t) => {
  t.ok(originPattern('https://*.example.org').test('https://a.example.org'));
  t.notOk(originPattern('https://*.example.org').test('https://a.example.org.evil.test'));
  t.notOk(originPattern('https://*.example.org').test('http://a.example.org'));
  t.ok(originPattern('*').test('null'));
});

t.test('X-Forwarded-For counts only from trusted proxies, and only their hops', async (t) => {
  const a = new Admission({ ...base, trustedProxies: ['10.0.0.0/8', '::1'] });
  t.equal(a.clientAddress(req('198.51.100.7', { 'x-forwarded-for': '203.0.113.1' })), '198.51.100.7', 'untrusted peer: header ignored');
  t.equal(a.clientAddress(req('10.1.2.3', { 'x-forwarded-for': '203.0.113.1' })), '203.0.113.1');
  t.equal(a.clientAddress(req('10.1.2.3', { 'x-forwarded-for': '6.6.6.6, 203.0.113.1, 10.9.9.9' })), '203.0.113.1', 'the last untrusted hop, not a forged first one');
  t.equal(a.clientAddress(req('::ffff:10.1.2.3', { 'x-forwarded-for': 'garbage' })), '10.1.2.3', 'garbage keeps the proxy');
});

t.test('limits count admitted clients and free them on release', async (t) => {
  const a = new Admission({ ...base, maxClients: 2, maxPerIp: 1 });
  t.match(a.check(req('192.0.2.1')), { ok: true });
  a.admit('192.0.2.1');
  t.match(a.check(req('192.0.2.1')), { ok: false, status: 429 });
  a.admit('192.0.2.2');
  t.match(a.check(req('192.0.2.3')), { ok: false, status: 503 });
  a.release('192.0.2.1');
  t.match(a.check(req('192.0.2.1')), { ok: true });
});

t.test('the open-file capacity applies with max_clients off', async (t) => {
  const a = new Admission({ ...base, capacity: 2 });
  a.admit('192.0.2.1');
  a.admit('192.0.2.2');
  t.match(a.check(req('192.0.2.3')), { ok: false, status: 503, reason: /open-file limit/ });
  a.release('192.0.2.2');
  t.match(a.check(req('192.0.2.3')), { ok: true });
});

t.test('a client-chosen path cannot break the token lookup', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wsnic-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const tokensFile = join(dir, 'tokens');
  writeFileSync(tokensFile, 'secret-one\n');
  const a = new Admission({ ...base, tokensFile });
  // Odd paths neither throw nor pass: a refusal with the reason, as for any request.
  const odd: [string, string][] = [['//', 'no token'], ['/?', 'no token'], ['/?token', 'no token'], ['/%%%?token=%zz', 'wrong token'], ['http://[', 'no token']];
  for (const [url, reason] of odd) t.match(a.check(req('192.0.2.1', {}, url)), { ok: false, status: 401, reason }, url);
  // And the token is still found after an odd path.
  for (const url of ['//?token=secret-one', '/%%%?token=secret-one', 'http://[?token=secret-one']) t.match(a.check(req('192.0.2.1', {}, url)), { ok: true }, url);
});
