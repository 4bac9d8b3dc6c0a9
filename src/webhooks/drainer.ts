import type { Context } from "../core/context";
import type { Logger } from "../core/log";
import { retryDelayMs } from "./backoff";
import { postEvent } from "./delivery";
import { type ClaimedEvent, claimDueEvents, markDelivered, markFailed, purgeDelivered, releaseEvents, releaseLeases } from "./outbox";
import { signingKey } from "./signing";

/**
 * A claimed event waits at most this long in its instance's queue for a free slot; one that has
 * not started by then goes back to the outbox (so a slow receiver does not sit on claimed events,
 * and an event claimed just before an erase was requested goes out within this, not later).
 */
export const QUEUE_WAIT_MS = 1000;
/**
 * A claim must outlive the attempt it covers (the wait in the queue, the POST and recording its
 * result), or another instance would take the event while it is still being delivered.
 */
export const LEASE_MARGIN_MS = 5000;
export const leaseMs = (timeoutMs: number) => QUEUE_WAIT_MS + timeoutMs + LEASE_MARGIN_MS;

/** Events claimed in one round trip at most, and how long a claim should keep the slots busy. */
const MAX_CLAIM = 500;
const CLAIM_TARGET_MS = 250;

const MS_PER_HOUR = 3_600_000;

const tally = (ctx: Context, outcome: "delivered" | "failed_attempt" | "dead", by = 1) => ctx.metrics.count("webhook_deliveries_total", { outcome }, by);

type Queued = ClaimedEvent & { startBy: number };

/**
 * The outbox drainer of one instance. Every instance runs one: claims are leases taken with
 * SKIP LOCKED, so instances share the work and an instance that dies only delays its events
 * until their leases end. Built only with WEBHOOK_URL (and its secret): without it there is
 * nothing to deliver.
 *
 * Claimed events wait in a queue for one of the WEBHOOK_CONCURRENCY slots. While a backlog lasts
 * a claim takes as many events as the slots started in the last CLAIM_TARGET_MS (from
 * WEBHOOK_CONCURRENCY up to MAX_CLAIM), so the outbox costs a claim per batch, not per event, and
 * the next claim is made when half the queue is left, so the slots do not wait for it.
 */
export class WebhookDrainer {
  private readonly log: Logger;
  private readonly url: string;
  private readonly keys: ReturnType<typeof signingKey>[];
  private readonly lease: number;
  private readonly slots: number;
  private readonly delivered: DeliveredMarks;
  private readonly inFlight = new Set<Promise<void>>();
  /** Claimed, not started yet, oldest first from `head` on. */
  private queue: Queued[] = [];
  private head = 0;
  /** How many events the next claim asks for; adapts to how fast the slots empty the queue. */
  private claimSize: number;
  private lastClaimAt = 0;
  private startedSinceClaim = 0;
  /** Aborts the attempts still in flight when shutdown cannot wait for them any longer. */
  private readonly shutdown = new AbortController();
  private timers: ReturnType<typeof setInterval>[] = [];
  private claiming: Promise<void> | undefined;
  /** The queue ran low while a claim was running: claim again right after it. */
  private claimAgain = false;
  /** The last claim was full: more may be due. */
  private backlog = false;
  private claimsFailing = false;
  private purging = false;
  private stopped: Promise<void> | undefined;

  constructor(private readonly ctx: Context) {
    const { WEBHOOK_URL, WEBHOOK_SECRET, WEBHOOK_TIMEOUT_MS, WEBHOOK_CONCURRENCY } = ctx.config;
    if (!WEBHOOK_URL || !WEBHOOK_SECRET) throw new Error("A webhook drainer needs WEBHOOK_URL and WEBHOOK_SECRET");
    this.log = ctx.log.child({ component: "webhooks" });
    this.url = WEBHOOK_URL;
    this.keys = WEBHOOK_SECRET.map(signingKey);
    this.lease = leaseMs(WEBHOOK_TIMEOUT_MS);
    this.slots = WEBHOOK_CONCURRENCY;
    this.claimSize = WEBHOOK_CONCURRENCY;
    this.delivered = new DeliveredMarks(ctx, this.log);
  }

  /** Drains on a timer, and purges on a slower one (30 s with the default drain interval, at most hourly). */
  start(): void {
    const interval = this.ctx.config.WEBHOOK_DRAIN_INTERVAL_MS;
    this.timers = [
      setInterval(() => void this.drain(), interval),
      setInterval(() => void this.purge().catch((error) => this.log.warn("purging webhook events failed", { error })), Math.min(MS_PER_HOUR, interval * 120)),
    ];
    void this.drain();
  }

  /** Claims and starts what is due now (the timer calls it; tests and operators may too). */
  drain(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.startQueued();
    if (this.queued() >= this.lowWater()) return Promise.resolve(); // claim again once it runs low
    if (this.claiming) {
      this.claimAgain = true;
      return this.claiming;
    }
    this.claimAgain = false;
    return (this.claiming = this.claimAndStart().finally(() => {
      this.claiming = undefined;
      if (this.claimAgain && this.backlog) void this.drain();
    }));
  }

  private queued(): number {
    return this.queue.length - this.head;
  }

  private lowWater(): number {
    return Math.max(this.slots, this.claimSize / 2);
  }

  private async claimAndStart(): Promise<void> {
    this.adaptClaimSize();
    const started = performance.now();
    let claimed: ClaimedEvent[];
    try {
      claimed = await claimDueEvents(this.ctx.db, this.ctx.instanceId, this.claimSize, this.lease);
    } catch (error) {
      // Once per outage, not on every tick; the events wait in the outbox meanwhile.
      if (!this.claimsFailing) this.log.warn("claiming webhook events failed; retrying every tick", { error });
      this.claimsFailing = true;
      return;
    }
    if (this.claimsFailing) this.log.info("claiming webhook events works again");
    this.claimsFailing = false;
    // A full batch means more may be due: claim again as soon as the queue runs low, not at the next tick.
    this.backlog = claimed.length === this.claimSize;
    this.lastClaimAt = started;
    this.startedSinceClaim = 0;
    if (this.stopped) return; // stop() gives these back
    // The lease began after `started` on the database's clock: waiting until startBy leaves the attempt all of it.
    const startBy = started + QUEUE_WAIT_MS;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    for (const event of claimed) this.queue.push({ ...event, startBy });
    this.startQueued();
  }

  /**
   * While a backlog lasts, claims what the slots started in the last CLAIM_TARGET_MS (measured
   * since the previous claim): more as the receiver keeps up, fewer as it slows down, never fewer
   * than the slots. It grows fourfold at most per claim.
   */
  private adaptClaimSize(): void {
    if (!this.backlog) return;
    const took = Math.max(1, performance.now() - this.lastClaimAt);
    const wanted = Math.round((this.startedSinceClaim * CLAIM_TARGET_MS) / took);
    this.claimSize = Math.max(this.slots, Math.min(MAX_CLAIM, this.claimSize * 4, wanted));
  }

  /** Fills the free slots from the queue; events that waited too long go back to the outbox. */
  private startQueued(): void {
    if (this.stopped) return;
    const now = performance.now();
    let late: string[] | undefined;
    while (this.inFlight.size < this.slots && this.head < this.queue.length) {
      const event = this.queue[this.head++]!;
      if (now > event.startBy) {
        (late ??= []).push(event.id);
        continue;
      }
      this.startedSinceClaim++;
      const attempt: Promise<void> = this.deliver(event).finally(() => {
        this.inFlight.delete(attempt);
        this.startQueued();
        if (this.backlog && this.queued() < this.lowWater()) void this.drain();
      });
      this.inFlight.add(attempt);
    }
    if (late) {
      this.claimSize = this.slots;
      const ids = late;
      releaseEvents(this.ctx.db, this.ctx.instanceId, ids).catch((error) =>
        this.log.warn("giving back webhook events that waited too long failed; their leases end by themselves", { count: ids.length, error }),
      );
    }
  }

  private async deliver(event: ClaimedEvent): Promise<void> {
    const { config, db, instanceId } = this.ctx;
    const outcome = await postEvent(this.url, this.keys, event.payload, config.WEBHOOK_TIMEOUT_MS, this.shutdown.signal);
    if (!outcome.ok && outcome.interrupted) return;
    try {
      if (outcome.ok) {
        this.delivered.add({ id: event.id, status: outcome.status });
        return;
      }
      tally(this.ctx, "failed_attempt");
      const failures = event.attempts + 1;
      const status = await markFailed(db, instanceId, event.id, outcome, config.WEBHOOK_MAX_ATTEMPTS, retryDelayMs(config, failures));
      if (status === "dead") {
        tally(this.ctx, "dead");
        this.log.error("webhook event is dead after its last attempt", { eventId: event.id, type: event.payload.type, error: outcome.error });
      } else {
        // One warning per event; its further retries (an outage means many) only at debug level.
        const fields = { eventId: event.id, type: event.payload.type, error: outcome.error, attempt: failures };
        if (failures === 1) this.log.warn("webhook attempt failed; retrying with backoff", fields);
        else this.log.debug("webhook attempt failed again", fields);
      }
    } catch (error) {
      // The lease runs out and another attempt follows: at-least-once, never lost.
      this.log.error("recording a webhook attempt failed", { eventId: event.id, error });
    }
  }

  /** Purges delivered events older than WEBHOOK_RETENTION_HOURS (also on a slow timer). */
  async purge(): Promise<number> {
    if (this.purging) return 0;
    this.purging = true;
    try {
      const hours = this.ctx.config.WEBHOOK_RETENTION_HOURS;
      const purged = await purgeDelivered(this.ctx.db, hours * MS_PER_HOUR);
      if (purged) this.log.info("purged delivered webhook events", { purged, retentionHours: hours });
      return purged;
    } finally {
      this.purging = false;
    }
  }

  /** Stops claiming, lets attempts in flight finish (bounded), gives back the rest. */
  stop(): Promise<void> {
    return (this.stopped ??= this.stopNow());
  }

  private async stopNow(): Promise<void> {
    const { config, db, instanceId } = this.ctx;
    for (const timer of this.timers) clearInterval(timer);
    await this.claiming;
    // Attempts in flight end by themselves within WEBHOOK_TIMEOUT_MS; shutdown may not wait that long.
    this.queue = []; // not started: released below with the rest
    this.head = 0;
    const grace = Math.min(config.WEBHOOK_TIMEOUT_MS, config.SHUTDOWN_TIMEOUT_MS / 2);
    const interrupt = setTimeout(() => this.shutdown.abort(), grace);
    await Promise.allSettled([...this.inFlight]);
    clearTimeout(interrupt);
    await this.delivered.settled();
    try {
      const released = await releaseLeases(db, instanceId);
      if (released) this.log.info("released webhook events on shutdown", { released });
    } catch (error) {
      this.log.warn("releasing webhook leases failed; they end by themselves", { error, leaseMs: this.lease });
    }
  }
}

/**
 * 2xx answers are recorded together: one statement for every event answered while the previous
 * one ran. The slot of an answered event frees at once; its lease keeps other instances off it
 * until the mark commits (and if the mark is lost, the event is delivered again: at least once).
 */
class DeliveredMarks {
  private answered: { id: string; status: number }[] = [];
  private marking: Promise<void> | undefined;

  constructor(
    private readonly ctx: Context,
    private readonly log: Logger,
  ) {}

  add(answer: { id: string; status: number }): void {
    this.answered.push(answer);
    void this.record();
  }

  /** Resolves once every answer added so far is recorded (or its recording failed). */
  async settled(): Promise<void> {
    while (this.marking || this.answered.length) await this.record();
  }

  private record(): Promise<void> {
    if (this.marking || this.answered.length === 0) return this.marking ?? Promise.resolve();
    const batch = this.answered;
    this.answered = [];
    this.marking = markDelivered(this.ctx.db, this.ctx.instanceId, batch)
      .then((latencies) => {
        tally(this.ctx, "delivered", latencies.length);
        for (const ms of latencies) this.ctx.metrics.observe("webhook_delivery_latency_ms", ms);
      })
      .catch((error) => this.log.error("recording webhook deliveries failed; their leases end and they are sent again", { count: batch.length, error }))
      .finally(() => {
        this.marking = undefined;
        void this.record();
      });
    return this.marking;
  }
}
