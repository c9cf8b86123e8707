/**
 * libFuzzer against what a client sends the native data path, built with clang's AddressSanitizer
 * and UBSan, two harnesses:
 *   - native/fuzz/wsframe_fuzz.c: the frame codec fed as a session feeds it, the guard, the DHCP
 *     parsers, the TCP segment joiner and cutter, the IPv6 rules; seeds: the live fuzzer's frame
 *     cases (test/fixtures/fuzz.js --seeds) and each IPv6 vector's frames in one input;
 *   - native/fuzz/session_fuzz.c: one whole session (session*.c) on real sockets, its buffering,
 *     holds, rests, backpressure, close handshake and hand-over, checked against the same bytes
 *     parsed in one piece; seeds: test/fixtures/session-seeds.js.
 * Every input that ever crashed one is kept (test/fixtures/codec-crashes/, session-crashes/) and
 * run first. WSNIC_CODEC_FUZZ_RUNS and WSNIC_SESSION_FUZZ_RUNS run them longer.
 */
import t, { type Test } from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expand } from '../unit/guard-vectors';
import { VECTORS6 } from '../unit/guard6-vectors';

const ROOT = join(__dirname, '..', '..');
const CODEC_RUNS = Number(process.env.WSNIC_CODEC_FUZZ_RUNS ?? 1_000_000);
const SESSION_RUNS = Number(process.env.WSNIC_SESSION_FUZZ_RUNS ?? 30_000);
const HEADERS = ['native/abi.h', 'native/counter.h', 'native/wsframe.h', 'native/guard.h', 'native/guard6.h', 'native/coalesce.h'];
const CODEC = ['native/fuzz/wsframe_fuzz.c', 'native/wsframe.c', 'native/guard.c', 'native/guard6.c', 'native/coalesce.c', ...HEADERS];
const SESSION = ['native/fuzz/session_fuzz.c', 'native/session.c', 'native/session_up.c', 'native/session_down.c', 'native/wsframe.c', 'native/guard.c', 'native/guard6.c',
  'native/coalesce.c', 'native/session.h', 'native/session_parts.h', ...HEADERS];

t.setTimeout(Math.max(900_000, CODEC_RUNS / 2 + SESSION_RUNS * 20));

/** A harness, built once per source version (cached under /var/tmp). */
function build(name: string, sources: string[], flags: string[] = []): string {
  const hash = createHash('sha256');
  for (const f of sources) hash.update(readFileSync(join(ROOT, f)));
  hash.update(flags.join(' '));
  const dir = join('/var/tmp', 'wsnic-fuzz', hash.digest('hex').slice(0, 16));
  const bin = join(dir, name);
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  execFileSync('clang-14', ['-g', '-O1', '-fsanitize=fuzzer,address,undefined', '-fno-sanitize-recover=all', '-Wall', '-Wextra', '-Werror', ...flags,
    ...sources.filter((f) => f.endsWith('.c')).map((f) => join(ROOT, f)), '-o', `${bin}.tmp`]);
  execFileSync('mv', [`${bin}.tmp`, bin]);
  return bin;
}

/**
 * The kept crash inputs, then `runs` fuzzed ones from the seeds; asserts no crash (naming the
 * input to keep) and that they all ran.
 */
async function fuzz(t: Test, o: { bin: string; crashes: string; seeds: (dir: string) => void; runs: number; maxLen: number }): Promise<void> {
  const work = join('/tmp', `wsnic-fuzz-${process.pid}-${o.bin.split('/').pop()}`);
  const seeds = join(work, 'seeds');
  const corpus = join(work, 'corpus');
  mkdirSync(corpus, { recursive: true });
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  o.seeds(seeds);

  const kept = readdirSync(o.crashes).filter((f) => !f.startsWith('.')).map((f) => join(o.crashes, f));
  if (kept.length > 0) {
    const r = spawnSync(o.bin, kept, { encoding: 'utf8' });
    t.equal(r.status, 0, `the ${kept.length} kept crash inputs run clean${r.status === 0 ? '' : `\n${r.stderr.slice(-3000)}`}`);
  }

  const started = Date.now();
  const r = spawnSync(o.bin, [`-runs=${o.runs}`, `-max_len=${o.maxLen}`, '-seed=1', '-print_final_stats=1', `-artifact_prefix=${work}/`, corpus, seeds],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const seconds = (Date.now() - started) / 1000;
  const execs = /stat::number_of_executed_units:\s*(\d+)/.exec(r.stderr)?.[1];
  const crash = /Test unit written to (\S+)/.exec(r.stderr)?.[1];
  t.comment(`${execs ?? '?'} executions in ${seconds.toFixed(0)} s, corpus ${readdirSync(corpus).length} inputs`);
  t.equal(r.status, 0, crash ? `crash found: keep ${crash} in ${o.crashes}/\n${r.stderr.slice(-4000)}` : 'no crash, no leak');
  t.ok(Number(execs) >= o.runs, `at least ${o.runs} executions`);
}

/**
 * Each IPv6 vector's frames from the client as one input (the IPv6 rules keep state: a claim,
 * then frames from it): a first byte for the server side, no limits, 3,008-byte chunks, then
 * each frame as a binary message masked with a zero key (the bytes as they are).
 */
function v6Seeds(dir: string): void {
  VECTORS6.forEach((v, i) => {
    const messages = v.steps.filter((s) => s.dir === 'up').map((s) => {
      const f = Buffer.from(expand(s.frame), 'hex');
      const len = f.length < 126 ? Buffer.from([0x80 | f.length]) : Buffer.from([0x80 | 126, f.length >> 8, f.length & 255]);
      return Buffer.concat([Buffer.from([0x82]), len, Buffer.alloc(4), f]);
    });
    writeFileSync(join(dir, `ipv6-${i}`), Buffer.concat([Buffer.from([0xf8]), ...messages]));
  });
}

t.test('the codec harness survives the kept crashes and a million fuzzed inputs', async (t) => {
  await fuzz(t, {
    bin: build('wsframe_fuzz', CODEC),
    crashes: join(ROOT, 'test', 'fixtures', 'codec-crashes'),
    seeds: (dir) => {
      execFileSync(process.execPath, [join(ROOT, 'test', 'fixtures', 'fuzz.js'), '--seeds', dir, '--cases', '300', '--seed', '6455']);
      v6Seeds(dir);
    },
    runs: CODEC_RUNS,
    maxLen: 70000,
  });
});

t.test('the session harness survives the kept crashes and fuzzed sessions, every frame accounted for', async (t) => {
  await fuzz(t, {
    // (the harness is the session's host, as plane.c is: session.h needs no Node headers)
    bin: build('session_fuzz', SESSION),
    crashes: join(ROOT, 'test', 'fixtures', 'session-crashes'),
    seeds: (dir) => execFileSync(process.execPath, [join(ROOT, 'test', 'fixtures', 'session-seeds.js'), dir]),
    runs: SESSION_RUNS,
    maxLen: 16384,
  });
});
