/**
 * libFuzzer against what a client sends the native data path (native/fuzz/wsframe_fuzz.c: the
 * frame codec fed as a session feeds it, the guard, the DHCP parsers, the TCP segment joiner), built with clang's
 * AddressSanitizer and UBSan. Seeds: the live fuzzer's frame cases (test/fixtures/fuzz.js
 * --seeds). Every input that ever crashed it is kept in test/fixtures/codec-crashes/ and run
 * first. WSNIC_CODEC_FUZZ_RUNS runs longer (npm run fuzz:codec: 50,000,000).
 */
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const RUNS = Number(process.env.WSNIC_CODEC_FUZZ_RUNS ?? 1_000_000);
const SOURCES = ['native/fuzz/wsframe_fuzz.c', 'native/wsframe.c', 'native/guard.c', 'native/coalesce.c', 'native/wsframe.h', 'native/guard.h', 'native/coalesce.h'];
const CRASHES = join(ROOT, 'test', 'fixtures', 'codec-crashes');

t.setTimeout(Math.max(600_000, RUNS / 2));

/** The harness, built once per source version (cached under /var/tmp). */
function build(): string {
  const hash = createHash('sha256');
  for (const f of SOURCES) hash.update(readFileSync(join(ROOT, f)));
  const dir = join('/var/tmp', 'wsnic-fuzz', hash.digest('hex').slice(0, 16));
  const bin = join(dir, 'wsframe_fuzz');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  execFileSync('clang-14', ['-g', '-O1', '-fsanitize=fuzzer,address,undefined', '-fno-sanitize-recover=all', '-Wall', '-Wextra', '-Werror',
    ...SOURCES.filter((f) => f.endsWith('.c')).map((f) => join(ROOT, f)), '-o', `${bin}.tmp`]);
  execFileSync('mv', [`${bin}.tmp`, bin]);
  return bin;
}

t.test('the codec harness survives the kept crashes and a million fuzzed inputs', async (t) => {
  const bin = build();
  const work = join('/tmp', `wsnic-codec-fuzz-${process.pid}`);
  const seeds = join(work, 'seeds');
  const corpus = join(work, 'corpus');
  mkdirSync(corpus, { recursive: true });
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  execFileSync(process.execPath, [join(ROOT, 'test', 'fixtures', 'fuzz.js'), '--seeds', seeds, '--cases', '300', '--seed', '6455']);

  const kept = readdirSync(CRASHES).filter((f) => !f.startsWith('.')).map((f) => join(CRASHES, f));
  if (kept.length > 0) {
    const r = spawnSync(bin, kept, { encoding: 'utf8' });
    t.equal(r.status, 0, `the ${kept.length} kept crash inputs run clean\n${r.stderr.slice(-3000)}`);
  }

  const started = Date.now();
  const r = spawnSync(bin, [`-runs=${RUNS}`, '-max_len=70000', '-seed=1', '-print_final_stats=1', `-artifact_prefix=${work}/`, corpus, seeds],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const seconds = (Date.now() - started) / 1000;
  const execs = /stat::number_of_executed_units:\s*(\d+)/.exec(r.stderr)?.[1];
  const crash = /Test unit written to (\S+)/.exec(r.stderr)?.[1];
  t.comment(`${execs ?? '?'} executions in ${seconds.toFixed(0)} s, corpus ${readdirSync(corpus).length} inputs`);
  t.equal(r.status, 0, crash ? `crash found: keep ${crash} in test/fixtures/codec-crashes/\n${r.stderr.slice(-4000)}` : 'no crash, no leak');
  t.ok(Number(execs) >= RUNS, `at least ${RUNS} executions`);
});
