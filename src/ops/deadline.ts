/** A wait that outlived its bound (the work itself goes on; nothing here can cancel it). */
export class TimeoutError extends Error {}

/** `work`'s outcome, or a TimeoutError once `ms` passed: probes and shutdown must not hang on a dependency. */
export async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what} did not finish within ${Math.round(ms)} ms`)), Math.max(0, ms));
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
