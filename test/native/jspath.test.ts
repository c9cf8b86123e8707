/**
 * The data-path e2e tests again with the relay's sessions on the JavaScript path
 * (WSNIC_TEST_DATA_PATH=js, see test/e2e/topology.ts): the path every wss:// client takes, Node
 * owning TLS (test/e2e/tls.test.ts runs wss:// itself). Two paths, one behaviour: the same
 * assertions hold on both.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const FILES = ['protocol', 'backpressure', 'ratelimit', 'antispoof', 'status'].map((f) => `test/e2e/${f}.test.ts`);

t.setTimeout(900_000);

t.test('the data-path e2e tests pass on the JavaScript path too', async (t) => {
  const env = { ...process.env, WSNIC_TEST_DATA_PATH: 'js' };
  const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(join(ROOT, 'node_modules', '.bin', 'tap'), ['--jobs=1', '--reporter=tap', ...FILES], { cwd: ROOT, env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (c) => resolve({ code: c, out }));
  });
  const files = [...out.matchAll(/^(not )?ok \d+ - (test\/e2e\/\S+)/gm)].map((m) => ({ ok: !m[1], file: m[2]! }));
  t.same(files.filter((f) => !f.ok).map((f) => f.file), [], `every file passed\n${out.split('\n').filter((l) => /^\s*not ok/.test(l)).join('\n')}`);
  t.same(files.map((f) => f.file).sort(), [...FILES].sort(), 'each file ran');
  t.equal(code, 0, 'tap exited 0');
});
