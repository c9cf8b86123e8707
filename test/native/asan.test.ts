/**
 * The data-path tests again, with the relays and clients on an AddressSanitizer + UBSan build of
 * the addon (test/tools/asan-addon.sh; WSNIC_ASAN_ADDON in test/e2e/topology.ts): a finding
 * aborts the relay, which fails the test it serves. The files are the ones that drive the
 * native path (the rest of the suite runs on the normal build); the live fuzzer runs 20,000
 * connections here (100,000 in its own run).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { rerun } from './rerun';

const ROOT = join(__dirname, '..', '..');
// Not plane.test.ts: what it asserts is latency (no ping waits while the event loop is blocked),
// which a sanitized relay beside other suites on 2 cores cannot promise (seen once in CI: one
// ping 1,018 ms, on a build that passed it four times). Its code paths run here in the others;
// the plain run keeps the latency check.
const FILES = ['protocol', 'backpressure', 'antispoof', 'status', 'tapwrite', 'fuzz', 'coalesce'].map((f) => `test/e2e/${f}.test.ts`);

t.setTimeout(1_200_000);

t.test('the data-path e2e tests pass with the addon under AddressSanitizer and UBSan', async (t) => {
  const addon = execFileSync(join(ROOT, 'test', 'tools', 'asan-addon.sh'), { encoding: 'utf8' }).trim();
  t.comment(`sanitized addon: ${addon}`);
  const env = { WSNIC_ASAN_ADDON: addon, WSNIC_FUZZ_CASES: '20000', WSNIC_FUZZ_RSS_CEILING_MB: '1500' };
  const { code, out, files, failures } = await rerun(FILES, env);
  const findings = out.split('\n').filter((l) => /AddressSanitizer|runtime error:|LeakSanitizer/.test(l));
  t.same(findings, [], 'no sanitizer finding');
  t.same(files.filter((f) => !f.ok).map((f) => f.file), [], `every file passed\n${failures}`);
  t.same(files.map((f) => f.file).sort(), [...FILES].sort(), `each file ran${files.length ? '' : `\n${out.slice(-4000)}`}`);
  t.equal(code, 0, 'tap exited 0');
});
