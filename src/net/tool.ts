/**
 * Running the system tools wsnic drives (ip, nft): found on the usual paths, run synchronously
 * (setup, teardown) or off the event loop through the fork server (while serving), with errors
 * that say what failed and what to do.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { runTool } from './forkserver';

/** Debian package of each tool, for "not found" errors. */
const PACKAGE: Record<string, string> = { ip: 'iproute2', nft: 'nftables', dnsmasq: 'dnsmasq-base' };

export class ToolError extends Error {}

const SEARCH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Absolute path of a tool, or a ToolError naming the Debian package to install. */
export function findTool(tool: string): string {
  // PATH first, then the usual directories: a non-root PATH often lacks the sbin ones.
  const dirs = [...(process.env.PATH ?? '').split(':').filter((d) => d.startsWith('/')), ...SEARCH];
  for (const d of dirs) if (existsSync(`${d}/${tool}`)) return `${d}/${tool}`;
  const pkg = PACKAGE[tool];
  throw new ToolError(`${tool} not found${pkg ? `: install the Debian package ${pkg} (apt-get install ${pkg})` : ''}`);
}

export function hasTool(tool: string): boolean {
  try {
    findTool(tool);
    return true;
  } catch {
    return false;
  }
}

/** Runs a tool and returns its stdout; a failure carries the command line and its stderr. */
export function run(tool: string, args: string[], input?: string): string {
  const path = findTool(tool);
  try {
    return execFileSync(path, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'], timeout: 30_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    const detail = (e.stderr ?? '').trim() || e.message;
    throw new ToolError(`${tool} ${args.join(' ')} failed: ${detail}`);
  }
}

/**
 * run(), off the event loop: for what the relay does while it serves clients. A tool that
 * changes links waits for the kernel's RTNL lock, held by whoever else configures links on the
 * host: measured, a synchronous `ip` stalled the relay for 3 to 12 s while other relays churned
 * TAPs, and every client's frames with it. It runs from the fork server (see forkserver.ts).
 */
export async function runAsync(tool: string, args: string[], input?: string): Promise<string> {
  const r = await runTool(findTool(tool), args, input);
  if (!r.ok) throw new ToolError(`${tool} ${args.join(' ')} failed: ${r.stderr.trim() || r.error}`);
  return r.stdout;
}

/** `ip -j ...` parsed. */
export function ipJson<T>(args: string[]): T {
  const out = run('ip', ['-j', ...args]).trim();
  return (out === '' ? [] : JSON.parse(out)) as T;
}

export function linkExists(name: string): boolean {
  try {
    run('ip', ['link', 'show', 'dev', name]);
    return true;
  } catch {
    return false;
  }
}
