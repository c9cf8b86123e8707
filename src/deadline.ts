/**
 * Waiting with a deadline, the two ways wsnic needs: for what may never come (a client that does
 * not answer its close, a TAP the kernel is slow to remove), or for an answer that must come.
 */

/**
 * p's value, or undefined once ms have passed. The timer keeps no process alive: a caller that
 * must not exit meanwhile holds the event loop itself.
 */
export function atMost<T>(ms: number, p: Promise<T>): Promise<T | undefined> {
  return Promise.race([p, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms).unref())]);
}

/** p's value, or an Error "what: no answer in ms ms" once ms have passed. */
export function withTimeout<T>(p: Promise<T>, what: string, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: Error) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
