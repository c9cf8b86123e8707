/**
 * Runs e2e test files again in a child node-tap with extra environment (the sanitizer build, the
 * JavaScript data path): which files passed, and the output to show when one did not.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

export interface Rerun {
  code: number | null;
  out: string;
  /** Each file's top-level result, and how long it took. */
  files: { ok: boolean; file: string; seconds: number }[];
  /** The `not ok` lines, for the message of a failure. */
  failures: string;
}

/** "protocol 21 s, backpressure 12 s": what each file took, for the test's comment. */
export function times(r: Rerun): string {
  return r.files.map((f) => `${f.file.replace(/^test\/e2e\/|\.test\.ts$/g, '')} ${f.seconds} s`).join(', ');
}

/**
 * Runs them; a child tap that ran no file at all (seen once in CI, ending within 3 s) is run
 * once more, its output kept in `out` for the failure message.
 */
export async function rerun(files: string[], env: NodeJS.ProcessEnv): Promise<Rerun> {
  const first = await runOnce(files, env);
  if (first.files.length > 0) return first;
  const again = await runOnce(files, env);
  return { ...again, out: `${again.out}\n(first attempt ran no file, exit ${first.code}:)\n${first.out.slice(-4000)}` };
}

function runOnce(files: string[], env: NodeJS.ProcessEnv): Promise<Rerun> {
  return new Promise((resolve) => {
    const child = spawn(join(ROOT, 'node_modules', '.bin', 'tap'), ['--jobs=1', '--reporter=tap', ...files], { cwd: ROOT, env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({
      code,
      out,
      files: [...out.matchAll(/^(not )?ok \d+ - (test\/e2e\/\S+)(?: # time=([\d.]+)ms)?/gm)].map((m) => ({ ok: !m[1], file: m[2]!, seconds: Math.round(Number(m[3] ?? 0) / 1000) })),
      failures: out.split('\n').filter((l) => /^\s*not ok/.test(l)).join('\n'),
    }));
  });
}
