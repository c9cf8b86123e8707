/** dnsmasq as a child of `wsnic run`: started on the rendered configuration, restarted if it dies. */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import type { Logger } from '../log';
import { findTool } from './tool';
import { childFile, killStaleDnsmasq, startTime } from './dnsmasq-stale';

/** Runs dnsmasq in the foreground as a child, restarting it with backoff if it exits. */
export class DnsmasqSupervisor {
  private child: ChildProcess | undefined;
  private stopping = false;
  private restarts = 0;
  private timer: NodeJS.Timeout | undefined;
  private everStarted = false;

  constructor(private readonly confFile: string, private readonly log: Logger) {}

  /** Starts dnsmasq; resolves once it has run for a moment, rejects if it exits at once. */
  start(): Promise<void> {
    const bin = findTool('dnsmasq');
    if (!this.everStarted) killStaleDnsmasq(this.confFile, this.log);
    return new Promise((resolve, reject) => {
      const child = spawn(bin, ['--keep-in-foreground', `--conf-file=${this.confFile}`], { stdio: ['ignore', 'pipe', 'pipe'] });
      this.child = child;
      // Recorded at once: a SIGKILL of wsnic run a moment later must still find it.
      if (child.pid !== undefined) writeFileSync(childFile(this.confFile), `${child.pid} ${startTime(child.pid) ?? ''}\n`);
      let output = '';
      const onLine = (chunk: Buffer): void => {
        output = (output + chunk.toString()).slice(-2000);
        for (const line of chunk.toString().split('\n')) if (line.trim()) this.log.debug('dnsmasq', { line: line.trim() });
      };
      child.stdout!.on('data', onLine);
      child.stderr!.on('data', onLine);
      const early = setTimeout(() => {
        this.everStarted = true;
        this.restarts = 0;
        resolve();
      }, 500);
      child.on('error', (err) => {
        clearTimeout(early);
        reject(new Error(`cannot start dnsmasq: ${err.message}`));
      });
      child.on('exit', (code, signal) => {
        this.child = undefined;
        rmSync(childFile(this.confFile), { force: true });
        if (this.stopping) return;
        const why = `dnsmasq exited (${signal ?? `code ${code}`}): ${output.trim().split('\n').slice(-3).join(' | ')}`;
        clearTimeout(early);
        if (!this.everStarted) {
          reject(new Error(why)); // the first start failed: the caller reports it and stops
          return;
        }
        this.restarts++;
        const delay = Math.min(30_000, 1000 * 2 ** Math.min(this.restarts - 1, 5));
        this.log.error('dnsmasq died, restarting', { reason: why, in_ms: delay });
        this.timer = setTimeout(() => {
          this.start().then(
            () => this.log.info('dnsmasq restarted', { pid: this.pid }),
            (err: Error) => this.log.error('cannot restart dnsmasq', { reason: err.message }),
          );
        }, delay);
      });
    });
  }

  /** Whether dnsmasq runs now (not between a death and its restart). */
  readonly running = (): boolean => this.child?.pid !== undefined;

  /** "running (pid N)", or why not, for `wsnic status`. */
  readonly state = (): string => {
    const pid = this.child?.pid;
    if (pid !== undefined) return `running (pid ${pid}${this.restarts > 0 ? `, ${this.restarts} restarts` : ''})`;
    return this.stopping ? 'stopped' : 'restarting';
  };

  get pid(): number | undefined {
    return this.child?.pid;
  }

  stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    const child = this.child;
    if (!child) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      // dnsmasq runs as nobody: signalling it takes CAP_KILL, which a container may not have.
      if (!child.kill('SIGTERM') && child.exitCode === null) {
        clearTimeout(kill);
        reject(new Error(`cannot signal dnsmasq (pid ${child.pid}), which runs as another user: wsnic needs CAP_KILL (docker run: --cap-add=KILL)`));
      }
    });
  }
}
