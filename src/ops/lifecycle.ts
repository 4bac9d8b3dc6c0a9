import type { Context } from "../core/context";
import type { Logger } from "../core/log";
import { expireBatch } from "../messages/retention";
import { eraseBatch } from "../users/erase";

/**
 * The data-lifecycle worker of one instance: erase jobs and retention, a batch (one transaction)
 * at a time. Every instance runs one; erase jobs are shared with FOR UPDATE SKIP LOCKED and
 * retention batches with an advisory lock, so two instances never work the same batch. Every
 * LIFECYCLE_INTERVAL_MS (and at once when this instance records an erase) it works batch after
 * batch while there is work; a stop lets the batch in flight commit, and what is left waits in
 * the database for the next start of any instance.
 */
export class LifecycleWorker {
  private readonly log: Logger;
  private timer: ReturnType<typeof setInterval> | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private failing = false;
  private stopped: Promise<void> | undefined;
  /** Batches run by this instance, the longest of them (ms), and the messages its erase batches made tombstones. */
  readonly stats = { batches: 0, longestBatchMs: 0, erased: 0 };

  constructor(private readonly ctx: Context) {
    this.log = ctx.log.child({ component: "lifecycle" });
  }

  start(): void {
    this.timer = setInterval(() => void this.runDue(), this.ctx.config.LIFECYCLE_INTERVAL_MS);
    void this.runDue();
  }

  /** Works through what is due (the timer and erase requests call it; tests may too). */
  runDue(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      // Asked while a pass runs: one more pass after it, so that new work is not left for the timer.
      this.again = true;
      return this.running;
    }
    return (this.running = this.passes().finally(() => {
      this.running = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        void this.runDue();
      }
    }));
  }

  private async passes(): Promise<void> {
    while (!this.stopped) {
      let worked: boolean;
      try {
        const erased = await this.timed(() => eraseBatch(this.ctx));
        this.stats.erased += erased.messages;
        if (erased.finished) this.log.info("user erased", erased.finished);
        if (this.stopped) return;
        const expired = await this.timed(() => expireBatch(this.ctx));
        if (expired.messages) this.ctx.metrics.count("messages_expired_total", undefined, expired.messages);
        worked = erased.worked || (expired.messages > 0 && !expired.busy);
      } catch (error) {
        if (!this.failing) this.log.warn("a data-lifecycle batch failed; retrying every LIFECYCLE_INTERVAL_MS", { error });
        this.failing = true;
        return;
      }
      if (this.failing) this.log.info("data-lifecycle batches work again");
      this.failing = false;
      if (!worked) return;
      // A turn of the event loop between batches: with the embedded database every query
      // resolves without one, and a long erase would otherwise hold off requests and timers.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private async timed<T>(batch: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const result = await batch();
    const ms = performance.now() - started;
    this.stats.batches++;
    this.stats.longestBatchMs = Math.max(this.stats.longestBatchMs, ms);
    this.ctx.metrics.observe("lifecycle_batch_ms", ms);
    return result;
  }

  /** Stops the timer and lets a batch in flight commit; the rest stays for the next start. */
  stop(): Promise<void> {
    return (this.stopped ??= (async () => {
      clearInterval(this.timer);
      await this.running;
    })());
  }
}
