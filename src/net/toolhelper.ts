/**
 * The relay's tool runner (see tools.ts): a child started before any TAP exists, which runs
 * `nft` and `ip` for it and sends back what they printed. Its own forks copy no TAP.
 */
import { execFile } from 'node:child_process';
import type { ToolRequest, ToolResult } from './tools';

process.on('message', (req: ToolRequest) => {
  const child = execFile(req.file, req.args, { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
    const reply: ToolResult = { id: req.id, ok: !err, stdout, stderr, ...(err ? { error: err.message } : {}) };
    process.send?.(reply);
  });
  child.stdin?.on('error', () => {}); // the tool exited unread: its exit says why
  child.stdin?.end(req.input ?? '');
});
process.on('disconnect', () => process.exit(0)); // the relay is gone
