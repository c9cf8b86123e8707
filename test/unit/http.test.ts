import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientCapacity, createServer, readTls } from '../../src/http/listeners';
import { createLogger } from '../../src/log';
import { openFilesLimit } from '../../src/fdlimit';
import { atMost } from '../../src/deadline';

const quiet = createLogger('error', () => {});
const options = (handshakeTimeout: number) => ({ handshakeTimeout, maxConnections: 0, onUpgrade: () => {}, log: quiet });

t.test('Node\'s own header and request timeouts follow handshake_timeout', async (t) => {
  for (const seconds of [1, 10, 300]) {
    const server = createServer(undefined, options(seconds));
    t.equal(server.headersTimeout, seconds * 1000, `headersTimeout for ${seconds} s`);
    t.equal(server.requestTimeout, seconds * 1000, `requestTimeout for ${seconds} s`);
  }
});

t.test('a certificate that cannot be read names the key and the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wsnic-http-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.throws(() => readTls(join(dir, 'absent.crt'), ''), /^wss_certificate .*absent\.crt: ENOENT/);
  mkdirSync(join(dir, 'cert.crt')); // what `docker run -v` mounts for a host file that does not exist
  t.throws(() => readTls(join(dir, 'cert.crt'), ''), /wss_certificate .*cert\.crt: is a directory, not a PEM file/);
  writeFileSync(join(dir, 'junk.pem'), 'not a certificate\n');
  t.throws(() => readTls(join(dir, 'junk.pem'), ''), /wss_certificate .*junk\.pem \(no wss_private_key: the file must hold the key too\): not a usable certificate and key/);
});

t.test('clients fit under the open-file limit: a socket and a TAP each, 64 kept aside', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wsnic-limits-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const limits = (soft: string): string => {
    const p = join(dir, soft);
    writeFileSync(p, `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${soft}                524288               files\n`);
    return p;
  };
  t.equal(clientCapacity(limits('1024')), 480);
  t.equal(clientCapacity(limits('65536')), 32736);
  t.equal(clientCapacity(limits('unlimited')), 0, 'no limit known');
  t.equal(clientCapacity(join(dir, 'absent')), 0);
  // The one reading the hand-over shares: the soft limit, not the hard one; no bound known is undefined.
  t.equal(openFilesLimit(limits('1024')), 1024);
  t.equal(openFilesLimit(limits('unlimited')), undefined);
  t.equal(openFilesLimit(join(dir, 'absent')), undefined);
  t.ok((openFilesLimit() ?? Infinity) > 0, 'this process\'s own');
});

t.test('atMost: the value if it comes in time, undefined after the deadline', async (t) => {
  const hold = setInterval(() => {}, 1000); // atMost's timer holds no process alive: the caller does
  t.teardown(() => clearInterval(hold));
  t.equal(await atMost(1000, Promise.resolve(7)), 7);
  t.equal(await atMost(10, new Promise(() => {})), undefined, 'a promise that never settles does not hold the caller');
});
