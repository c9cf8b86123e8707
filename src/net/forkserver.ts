/**
 * The fork server: tools the relay runs while it serves (`nft` for the bridge's address set, `ip` for leaf
 * bridges) start from a server process, not from the relay. A child starts as a fork, a copy of
 * every fd its parent holds until its exec closes them; a TAP the relay closed in that moment
 * was then removed by the child's exec (its copy was the last: RTNL, an RCU barrier), and
 * libuv's spawn() waits for the exec. Measured with three relays churning TAPs side by side:
 * the relay's event loop sat in spawn() for 3 to 12 s, the child in tun_chr_close ->
 * netdev_run_todo -> rcu_barrier, and every client's frames waited. The server is forked before
 * the first TAP exists, so it holds none, and its forks copy none. Callers use tool.ts's
 * runAsync(), which runs through it.
 */
import { execFile, fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Logger } from '../log';

export interface ToolRequest {
  id: number;
  file: string;
  args: string[];
  input?: string;
}

export interface ToolResult {
  id: number;
  ok: boolean;
  stdout: string;
  stderr: string;
  error?: string;
}

let server: ChildProcess | undefined;
let stopping = false;
let nextId = 0;
const waiting = new Map<number, (r: ToolResult) => void>();

/** Starts the fork server; call before the first TAP. Idempotent. */
export function startForkServer(log: Logger): void {
  if (server) return;
  stopping = false;
  const child = fork(join(__dirname, 'forkserver-main.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  server = child;
  child.on('message', (r: ToolResult) => {
    waiting.get(r.id)?.(r);
    waiting.delete(r.id);
  });
  child.on('exit', (code, signal) => {
    if (server === child) server = undefined;
    for (const [id, done] of waiting) done({ id, ok: false, stdout: '', stderr: '', error: `the fork server exited (${signal ?? `code ${code}`})` });
    waiting.clear();
    if (!stopping) log.error('the fork server exited; tools now start from the relay itself', { reason: signal ?? `code ${code}` });
  });
  child.on('error', () => {}); // its exit says it
}

/** Stops the fork server (the relay is stopping). */
export function stopForkServer(): void {
  stopping = true;
  server?.disconnect();
  server = undefined;
}

/** Runs `file args` with `input` on stdin: from the fork server if it runs, else from this process. */
export function runTool(file: string, args: string[], input?: string): Promise<ToolResult> {
  const id = nextId++;
  const h = server;
  if (h?.connected) {
    return new Promise((resolve) => {
      waiting.set(id, resolve);
      h.send({ id, file, args, input } satisfies ToolRequest);
    });
  }
  return new Promise((resolve) => execTool({ id, file, args, input }, resolve));
}

/** Runs one request here and now (the fork server's work, or the fallback without it). */
export function execTool(req: ToolRequest, done: (r: ToolResult) => void): void {
  const child = execFile(req.file, req.args, { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) =>
    done({ id: req.id, ok: !err, stdout, stderr, ...(err ? { error: err.message } : {}) }));
  child.stdin?.on('error', () => {}); // the tool exited unread: its exit says why
  child.stdin?.end(req.input ?? '');
}
