/**
 * The data-path tests again, with the relays and clients on an AddressSanitizer + UBSan build of
 * the addon (test/tools/asan-addon.sh; WSNIC_ASAN_ADDON in test/e2e/topology.ts): a finding
 * aborts the relay, which fails the test it serves. Only what no sanitized run does already:
 * the libFuzzer harnesses (test/native/fuzz.test.ts) run the frame codec, the guard, the TCP
 * joiner and cutter, and one whole session.c on socket pairs, a million inputs and more, under
 * the same sanitizers; what they cannot reach is the plane's threads and epoll, the N-API glue,
 * real TAPs and sessions by the thousand, and that is what these files drive.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { rerun, times } from './rerun';

const ROOT = join(__dirname, '..', '..');
const FILES = [
  // 65,549-byte frames through session.c's buffers on a real socket (the session harness's
  // inputs stop at 16 KiB), and a closed client's TAP removed while its frames are in flight.
  'protocol',
  // The plane's flow control across its threads: a TAP nobody reads, queues held and re-armed.
  'backpressure',
  // Counters read from the plane's threads into JavaScript; one session closed by the control socket.
  'status',
  // A flood of TAP writes at every size the relay writes, nobody reading.
  'tapwrite',
  // A virtio-net header TAP: segments joined into large ones on their way to it, a bulk
  // transfer both ways byte for byte.
  'coalesce',
  // Sessions adopted and torn down by the thousand (5,000 fuzz cases here, 100,000 in the plain
  // run: what their frames hold is the harnesses' part).
  'fuzz',
].map((f) => `test/e2e/${f}.test.ts`);
// Not antispoof.test.ts: its assertions are the guard's verdicts, which both harnesses run
// under the same sanitizers. Not plane.test.ts: what it asserts is latency (no ping waits
// while the event loop is blocked), which a sanitized relay beside other suites on 2 cores
// cannot promise (seen once in CI: one ping 1,018 ms, on a build that passed it four times).

t.setTimeout(1_200_000);

t.test('the data-path e2e tests pass with the addon under AddressSanitizer and UBSan', async (t) => {
  const addon = execFileSync(join(ROOT, 'test', 'tools', 'asan-addon.sh'), { encoding: 'utf8' }).trim();
  t.comment(`sanitized addon: ${addon}`);
  const env = { WSNIC_ASAN_ADDON: addon, WSNIC_FUZZ_CASES: '5000', WSNIC_FUZZ_RSS_CEILING_MB: '1500' };
  const r = await rerun(FILES, env);
  const { code, out, files, failures } = r;
  t.comment(times(r));
  const findings = out.split('\n').filter((l) => /AddressSanitizer|runtime error:|LeakSanitizer/.test(l));
  t.same(findings, [], 'no sanitizer finding');
  t.same(files.filter((f) => !f.ok).map((f) => f.file), [], `every file passed\n${failures}`);
  t.same(files.map((f) => f.file).sort(), [...FILES].sort(), `each file ran${files.length ? '' : `\n${out.slice(-4000)}`}`);
  t.equal(code, 0, 'tap exited 0');
});
