import type { Context } from "../core/context";
import { retryDelayMs } from "./backoff";
import { postEvent } from "./delivery";
import { type ClaimedEvent, claimDueEvents, markDelivered, markFailed, purgeDelivered, releaseLeases } from "./outbox";
import { signingKey } from "./signing";

/**
 * A claim must outlive the attempt it covers (the POST and recording its result), or another
 * instance would take the event while it is still being delivered.
 */
export const LEASE_MARGIN_MS = 5000;
export const leaseMs = (timeoutMs: number) => timeoutMs + LEASE_MARGIN_MS;

const MS_PER_HOUR = 3_600_000;

export type WebhookDrainer = {
  /** Claims and starts what is due now (the timer calls it; tests and operators may too). */
  drain(): Promise<void>;
  /** Purges delivered events older than WEBHOOK_RETENTION_HOURS (also on a slow timer). */
  purge(): Promise<number>;
  /** Stops claiming, lets attempts in flight finish (bounded), gives back the rest. */
  stop(): Promise<void>;
};

/**
 * The outbox drainer of one instance. Every instance runs one: claims are leases taken with
 * SKIP LOCKED, so instances share the work and an instance that dies only delays its events
 * until their leases end. Without WEBHOOK_URL there is nothing to deliver and no drainer.
 */
export function startWebhookDrainer(ctx: Context): WebhookDrainer | undefined {
  const { config, db } = ctx;
  if (!config.WEBHOOK_URL || !config.WEBHOOK_SECRET) return undefined;
  const url: string = config.WEBHOOK_URL;
  const log = ctx.log.child({ component: "webhooks" });
  const keys = config.WEBHOOK_SECRET.map(signingKey);
  const owner = ctx.instanceId;
  const lease = leaseMs(config.WEBHOOK_TIMEOUT_MS);
  const { metrics } = ctx;
  const tally = (name: "delivered" | "failed_attempt" | "dead", by = 1) => metrics.count("webhook_deliveries_total", { outcome: name }, by);

  const inFlight = new Set<Promise<void>>();
  const shutdown = new AbortController();
  let claiming: Promise<void> | undefined;
  let stopping = false;
  let backlog = false;
  /** A slot freed while a claim was running: claim again right after it. */
  let claimAgain = false;
  let claimsFailing = false;

  const drain = (): Promise<void> => {
    if (stopping) return Promise.resolve();
    if (claiming) {
      claimAgain = true;
      return claiming;
    }
    claimAgain = false;
    return (claiming = claimAndStart().finally(() => {
      claiming = undefined;
      if (claimAgain && backlog) void drain();
    }));
  };

  async function claimAndStart(): Promise<void> {
    const room = config.WEBHOOK_CONCURRENCY - inFlight.size;
    if (room <= 0) return;
    let claimed: ClaimedEvent[];
    try {
      claimed = await claimDueEvents(db, owner, room, lease);
    } catch (error) {
      // Once per outage, not on every tick; the events wait in the outbox meanwhile.
      if (!claimsFailing) log.warn("claiming webhook events failed; retrying every tick", { error });
      claimsFailing = true;
      return;
    }
    if (claimsFailing) log.info("claiming webhook events works again");
    claimsFailing = false;
    // A full batch means more may be due: claim again as soon as a slot frees, not at the next tick.
    backlog = claimed.length === room;
    if (stopping) return; // stop() gives these back
    for (const event of claimed) {
      const attempt: Promise<void> = deliver(event).finally(() => {
        inFlight.delete(attempt);
        if (backlog) void drain();
      });
      inFlight.add(attempt);
    }
  }

  /**
   * 2xx answers are recorded together: one statement for every event answered while the previous
   * one ran. The slot of an answered event frees at once; its lease keeps other instances off it
   * until the mark commits (and if the mark is lost, the event is delivered again: at least once).
   */
  let answered: { id: string; status: number }[] = [];
  let marking: Promise<void> | undefined;
  function settleDelivered(): Promise<void> {
    if (marking || answered.length === 0) return marking ?? Promise.resolve();
    const batch = answered;
    answered = [];
    marking = markDelivered(db, owner, batch)
      .then((latencies) => {
        tally("delivered", latencies.length);
        for (const ms of latencies) metrics.observe("webhook_delivery_latency_ms", ms);
      })
      .catch((error) => log.error("recording webhook deliveries failed; their leases end and they are sent again", { count: batch.length, error }))
      .finally(() => {
        marking = undefined;
        void settleDelivered();
      });
    return marking;
  }

  async function deliver(event: ClaimedEvent): Promise<void> {
    const outcome = await postEvent(url, keys, event.payload, config.WEBHOOK_TIMEOUT_MS, shutdown.signal);
    if (!outcome.ok && outcome.interrupted) return;
    try {
      if (outcome.ok) {
        answered.push({ id: event.id, status: outcome.status });
        void settleDelivered();
        return;
      }
      tally("failed_attempt");
      const failures = event.attempts + 1;
      const status = await markFailed(db, owner, event.id, outcome, config.WEBHOOK_MAX_ATTEMPTS, retryDelayMs(config, failures));
      if (status === "dead") {
        tally("dead");
        log.error("webhook event is dead after its last attempt", { eventId: event.id, type: event.payload.type, error: outcome.error });
      } else {
        // One warning per event; its further retries (an outage means many) only at debug level.
        const fields = { eventId: event.id, type: event.payload.type, error: outcome.error, attempt: failures };
        if (failures === 1) log.warn("webhook attempt failed; retrying with backoff", fields);
        else log.debug("webhook attempt failed again", fields);
      }
    } catch (error) {
      // The lease runs out and another attempt follows: at-least-once, never lost.
      log.error("recording a webhook attempt failed", { eventId: event.id, error });
    }
  }

  let purging = false;
  async function purge(): Promise<number> {
    if (purging) return 0;
    purging = true;
    try {
      const purged = await purgeDelivered(db, config.WEBHOOK_RETENTION_HOURS * MS_PER_HOUR);
      if (purged) log.info("purged delivered webhook events", { purged, retentionHours: config.WEBHOOK_RETENTION_HOURS });
      return purged;
    } finally {
      purging = false;
    }
  }

  const drainTimer = setInterval(() => void drain(), config.WEBHOOK_DRAIN_INTERVAL_MS);
  // Purging is housekeeping: a slower timer (30 s with the default drain interval), at most hourly.
  const purgeTimer = setInterval(
    () => void purge().catch((error) => log.warn("purging webhook events failed", { error })),
    Math.min(MS_PER_HOUR, config.WEBHOOK_DRAIN_INTERVAL_MS * 120),
  );
  void drain();

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      stopping = true;
      clearInterval(drainTimer);
      clearInterval(purgeTimer);
      await claiming;
      // Attempts in flight end by themselves within WEBHOOK_TIMEOUT_MS; shutdown may not wait that long.
      const grace = Math.min(config.WEBHOOK_TIMEOUT_MS, config.SHUTDOWN_TIMEOUT_MS / 2);
      const interrupt = setTimeout(() => shutdown.abort(), grace);
      await Promise.allSettled([...inFlight]);
      clearTimeout(interrupt);
      while (marking || answered.length) await settleDelivered();
      try {
        const released = await releaseLeases(db, owner);
        if (released) log.info("released webhook events on shutdown", { released });
      } catch (error) {
        log.warn("releasing webhook leases failed; they end by themselves", { error, leaseMs: lease });
      }
    })());

  return { drain, purge, stop };
}
