/**
 * Keeps the order in which tasks of one key arrived at the one step where it matters, while
 * everything before that step runs at once. A send that waits on the pre-send hook must not hold
 * up other sends, yet one sender's sends into one conversation must reach the send queue (which
 * keeps each conversation's order from there on) in the order they came: each task's `enter`
 * waits until the previous task of its key has entered, or finished without entering (refused,
 * failed).
 */
export class ArrivalOrder {
  /** Per key, the newest task's "has entered or finished" signal; absent when none is running. */
  private readonly newest = new Map<string, Promise<void>>();

  /**
   * Runs `task` now. Its `enter(step)` runs `step` synchronously once every earlier task of `key`
   * has entered or finished, and returns what it returns: a step that hands work to a queue
   * synchronously (SendQueue.send does) keeps the order of arrival in that queue, and the next
   * task may enter at once. With `{ settled: true }` the next task enters only once the promise
   * `step` returned has settled: for a step that is the whole change, with no queue to keep its
   * order (an edit's transaction).
   */
  async run<T>(key: string, task: (enter: Enter) => Promise<T>): Promise<T> {
    const previous = this.newest.get(key);
    const { promise: passed, resolve: pass } = Promise.withResolvers<void>();
    this.newest.set(key, passed);
    const enter = async <R>(step: () => R, opts?: { settled?: boolean }): Promise<Awaited<R>> => {
      if (previous) await previous;
      try {
        const result = step();
        // An async function resolves what it returns: Awaited<R> either way.
        return (opts?.settled ? await result : result) as Awaited<typeof result>;
      } finally {
        pass();
      }
    };
    try {
      return await task(enter);
    } finally {
      // Refused or failed without entering: its turn still comes after those before it, or a later
      // task would overtake a slower earlier one.
      if (previous) void previous.then(pass);
      else pass();
      // Forgotten only once passed: a task arriving meanwhile must still wait behind it.
      void passed.then(() => {
        if (this.newest.get(key) === passed) this.newest.delete(key);
      });
    }
  }
}

type Enter = <R>(step: () => R, opts?: { settled?: boolean }) => Promise<Awaited<R>>;
