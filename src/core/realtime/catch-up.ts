import type { Context } from "../context";
import { AppError } from "../errors";

/** How long a catch-up read may wait for its turn before it is refused (the SDK waits 10 s for an answer). */
export const CATCH_UP_MAX_WAIT_MS = 3_000;

/**
 * The reads every client makes right after it (re)connects (`messages:sync`, `presence:get`), a
 * bounded number at a time per instance. When an instance dies, all its clients reconnect to
 * the others within seconds and ask at once; unbounded, those reads queued for the database
 * pool longer than clients wait for an answer (handshakes and acks time out), every answer came
 * too late, and the clients' retries queued behind them: the instance stayed busy and no client
 * got synced. Bounded, a read either starts within CATCH_UP_MAX_WAIT_MS or is refused at once
 * with UNAVAILABLE, which clients retry after a backoff with jitter, so the work done is work a
 * client is still waiting for. Handshakes are not gated: a refused handshake is retried within
 * 125–250 ms by the SDK, and on a saturated instance that churn cost more than it saved.
 */
export class CatchUpGate {
  private active = 0;
  private readonly waiting: { start(): void; timer: ReturnType<typeof setTimeout> }[] = [];

  constructor(
    readonly limit: number,
    private readonly maxWaitMs = CATCH_UP_MAX_WAIT_MS,
  ) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit || this.waiting.length > 0) await this.turn();
    else this.active++;
    try {
      return await work();
    } finally {
      this.release();
    }
  }

  /** Resolves holding a slot, handed over by release(); or throws UNAVAILABLE after maxWaitMs. */
  private turn(): Promise<void> {
    return new Promise((resolve, reject) => {
      const entry = {
        start: () => {
          clearTimeout(entry.timer);
          resolve();
        },
        timer: setTimeout(() => {
          const at = this.waiting.indexOf(entry);
          if (at >= 0) this.waiting.splice(at, 1);
          reject(new AppError("UNAVAILABLE", "The server is busy catching clients up; retry shortly", { retryAfter: 1 }, 1));
        }, this.maxWaitMs),
      };
      this.waiting.push(entry);
    });
  }

  private release(): void {
    const next = this.waiting.shift();
    // The slot passes straight to the next in line: active stays the same.
    if (next) next.start();
    else this.active--;
  }
}

const gates = new WeakMap<Context, CatchUpGate>();

/** This instance's gate: twice as many reads at a time as it has database connections (each makes a few queries in turn). */
export function catchUpGate(ctx: Context): CatchUpGate {
  let gate = gates.get(ctx);
  if (!gate) gates.set(ctx, (gate = new CatchUpGate(Math.max(4, 2 * ctx.config.DATABASE_POOL_SIZE))));
  return gate;
}
