/** Types of reap.js (plain JavaScript so that it runs detached, without the TypeScript toolchain). */
export type Kind = 'pid' | 'cgroup' | 'netns' | 'path';
/** Notes that this process made `what`; if it dies before disown(), its watcher (or the next run) removes it. */
export function own(kind: Kind, ...what: string[]): void;
/** This process has removed `what` itself. */
export function disown(kind: Kind, ...what: string[]): void;
/** Reaps what every owner that is no longer running left; returns the lines reaped, and what could not be. */
export function reap(): { reaped: string[]; errors: string[] };
export const DIR: string;
