import type { Context } from "../core/context";
import type { Logger } from "../core/log";
import { notifyDue } from "./service";

/**
 * Jobs per transaction. Each brings at most its conversation's participants (PRESENCE_MAX_ROOM_SIZE,
 * or its mentions in a larger one) as candidates, so a pass stays a bounded amount of work.
 */
export const JOBS_PER_PASS = 50;

/**
 * The notification worker of one instance. Every instance runs one while webhooks are on: jobs
 * are taken with SKIP LOCKED inside the pass's transaction, so instances share them, and a job
 * whose instance dies mid-pass is back when its transaction rolls back. Every
 * WEBHOOK_DRAIN_INTERVAL_MS it works through what is due (pass after pass while a backlog lasts);
 * `recorded` is told when events were written, so the outbox drainer sends them at once.
 */
export class Notifier {
  private readonly log: Logger;
  private timer: ReturnType<typeof setInterval> | undefined;
  private running: Promise<void> | undefined;
  private failing = false;
  private stopped: Promise<void> | undefined;

  constructor(
    private readonly ctx: Context,
    private readonly recorded: () => void = () => {},
  ) {
    this.log = ctx.log.child({ component: "notifications" });
  }

  start(): void {
    this.timer = setInterval(() => void this.runDue(), this.ctx.config.WEBHOOK_DRAIN_INTERVAL_MS);
    void this.runDue();
  }

  /** Works through the due jobs (the timer calls it; tests may too). */
  runDue(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return (this.running ??= this.passes().finally(() => (this.running = undefined)));
  }

  private async passes(): Promise<void> {
    // Without the presence store nobody can tell who is away: the jobs wait (the pass would fail anyway).
    if (!this.ctx.store.ready) return;
    while (!this.stopped) {
      let taken: number;
      try {
        taken = (await notifyDue(this.ctx, JOBS_PER_PASS, this.recorded)).jobs;
      } catch (error) {
        // Once per outage, not on every tick; the jobs wait in their table meanwhile.
        if (!this.failing) this.log.warn("working out notifications failed; retrying every tick", { error });
        this.failing = true;
        return;
      }
      if (this.failing) this.log.info("working out notifications works again");
      this.failing = false;
      if (taken < JOBS_PER_PASS) return;
    }
  }

  /** Stops the timer and lets a pass in flight commit; jobs not taken stay for other instances. */
  stop(): Promise<void> {
    return (this.stopped ??= (async () => {
      clearInterval(this.timer);
      await this.running;
    })());
  }
}
