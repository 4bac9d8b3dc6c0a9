import { sql } from "drizzle-orm";
import type { Context } from "../core/context";
import { queryRows } from "../core/db/client";

/** Upper bounds (ms) of the commit→2xx latency histogram; the last bucket is +Inf. */
export const LATENCY_BUCKETS_MS = [50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 3600000] as const;

export type WebhookCounters = {
  /** Events answered with a 2xx by this instance. */
  delivered: number;
  /** Attempts that got no 2xx in time (each retry counts). */
  failedAttempts: number;
  /** Events this instance gave up on after WEBHOOK_MAX_ATTEMPTS. */
  dead: number;
  /** Time from the change's transaction to the 2xx: cumulative counts per LATENCY_BUCKETS_MS bound, then +Inf. */
  latency: { buckets: number[]; count: number; sumMs: number };
};

export type OutboxDepth = { pending: number; due: number; dead: number; oldestPendingAgeMs: number | null };
export type WebhookStats = WebhookCounters & { outbox: OutboxDepth };

export function newCounters(): WebhookCounters {
  return { delivered: 0, failedAttempts: 0, dead: 0, latency: { buckets: Array(LATENCY_BUCKETS_MS.length + 1).fill(0), count: 0, sumMs: 0 } };
}

export function observeLatency(counters: WebhookCounters, ms: number): void {
  const { latency } = counters;
  latency.count += 1;
  latency.sumMs += ms;
  LATENCY_BUCKETS_MS.forEach((bound, i) => {
    if (ms <= bound) latency.buckets[i]! += 1;
  });
  latency.buckets[LATENCY_BUCKETS_MS.length]! += 1;
}

/** Counters of the drainer running with each context (tests run several instances in one process). */
const countersOf = new WeakMap<Context, WebhookCounters>();
export const registerCounters = (ctx: Context, counters: WebhookCounters) => countersOf.set(ctx, counters);

/** Events waiting in the outbox, shared by every instance (one query on the status index). */
export async function outboxDepth(ctx: Context): Promise<OutboxDepth> {
  const [row] = await queryRows<{ pending: number; due: number; dead: number; oldest_ms: number | null }>(
    ctx.db,
    sql`select
          count(*) filter (where status = 'pending')::int as pending,
          count(*) filter (where status = 'pending' and next_attempt_at <= now())::int as due,
          count(*) filter (where status = 'dead')::int as dead,
          (extract(epoch from now() - min(created_at) filter (where status = 'pending')) * 1000)::float8 as oldest_ms
        from webhook_events
        where status in ('pending', 'dead')`,
  );
  return {
    pending: Number(row?.pending ?? 0),
    due: Number(row?.due ?? 0),
    dead: Number(row?.dead ?? 0),
    oldestPendingAgeMs: row?.oldest_ms == null ? null : Math.round(Number(row.oldest_ms)),
  };
}

/** What /metrics publishes about webhooks: this instance's counters and the shared outbox depth. */
export async function webhookStats(ctx: Context): Promise<WebhookStats> {
  const counters = countersOf.get(ctx) ?? newCounters();
  return { ...structuredClone(counters), outbox: await outboxDepth(ctx) };
}
