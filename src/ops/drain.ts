import type { Drain } from "../core/context";

export type ShutdownDrain = Drain & {
  /** From now on the instance is draining: not ready, and refusing new socket events. */
  begin(): void;
  /** Resolves true once nothing tracked is in flight, false if `timeoutMs` passed first. */
  idle(timeoutMs: number): Promise<boolean>;
  readonly inFlight: number;
};

export function createDrain(): ShutdownDrain {
  let draining = false;
  let inFlight = 0;
  const waiters = new Set<() => void>();
  const settled = () => {
    if (--inFlight > 0) return;
    for (const wake of waiters) wake();
  };
  return {
    get draining() {
      return draining;
    },
    get inFlight() {
      return inFlight;
    },
    begin() {
      draining = true;
    },
    track(work) {
      inFlight++;
      work.then(settled, settled);
      return work;
    },
    idle(timeoutMs) {
      if (inFlight === 0) return Promise.resolve(true);
      return new Promise((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve(true);
        };
        const timer = setTimeout(() => {
          waiters.delete(wake);
          resolve(false);
        }, Math.max(0, timeoutMs));
        waiters.add(wake);
      });
    },
  };
}
