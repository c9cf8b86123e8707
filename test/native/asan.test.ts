/**
 * The data-path tests again, with the relays and clients on an AddressSanitizer + UBSan build of
 * the addon (test/tools/asan-addon.sh; WSNIC_ASAN_ADDON in test/e2e/topology.ts): a finding
 * aborts the relay, which fails the test it serves. The files are the ones that drive the
 * native path (the rest of the suite runs on the normal build); the live fuzzer runs 20,000
 * connections here (100,000 in its own run).
 */
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const FILES = ['protocol', 'plane', 'backpressure', 'antispoof', 'status', 'tapwrite', 'fuzz'].map((f) => `test/e2e/${f}.test.ts`);

t.setTimeout(1_200_000);

t.test('the data-path e2e tests pass with the addon under AddressSanitizer and UBSan', async (t) => {
  const addon = execFileSync(join(ROOT, 'test', 'tools', 'asan-addon.sh'), { encoding: 'utf8' }).trim();
  t.comment(`sanitized addon: ${addon}`);
  const env = { ...process.env, WSNIC_ASAN_ADDON: addon, WSNIC_FUZZ_CASES: '20000', WSNIC_FUZZ_RSS_CEILING_MB: '1500' };
  const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(join(ROOT, 'node_modules', '.bin', 'tap'), ['--jobs=1', '--reporter=tap', ...FILES], { cwd: ROOT, env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (c) => resolve({ code: c, out }));
  });
  const findings = out.split('\n').filter((l) => /AddressSanitizer|runtime error:|LeakSanitizer/.test(l));
  t.same(findings, [], 'no sanitizer finding');
  const files = [...out.matchAll(/^(not )?ok \d+ - (test\/e2e\/\S+)/gm)].map((m) => ({ ok: !m[1], file: m[2]! }));
  t.same(files.filter((f) => !f.ok).map((f) => f.file), [], `every file passed\n${out.split('\n').filter((l) => /^\s*not ok/.test(l)).join('\n')}`);
  t.same(files.map((f) => f.file).sort(), [...FILES].sort(), 'each file ran');
  t.equal(code, 0, 'tap exited 0');
});
