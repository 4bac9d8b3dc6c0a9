import { and, asc, eq, inArray, isNull, lt, lte, or, sql } from "drizzle-orm";
import type { Context } from "../core/context";
import { type Database, type Executor, queryRows } from "../core/db/client";
import { type WebhookEventRow, webhookEvents } from "../core/db/schema";

export const WEBHOOK_EVENT_TYPES = [
  "message.created",
  "message.updated",
  "message.deleted",
  "message.pinned",
  "message.unpinned",
  "message.flagged",
  "conversation.created",
  "conversation.deleted",
  "conversation.updated",
  "participant.added",
  "participant.removed",
  "reaction.added",
  "reaction.removed",
  "user.online",
  "user.offline",
  "notification.message",
  "messages.expired",
  "user.erased",
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
export type WebhookPayload = WebhookEventRow["payload"];

/** `evt_` + a UUIDv7 without dashes: unique, and sorting by id sorts by creation time. */
export const newEventId = () => `evt_${Bun.randomUUIDv7().replaceAll("-", "")}`;
export const EVENT_ID_PATTERN = "^evt_[0-9a-f]{32}$";
/** The smallest id an event created at `ms` can have (a UUIDv7 starts with its millisecond time). */
const firstEventIdAt = (ms: number) => `evt_${Math.max(0, Math.floor(ms)).toString(16).padStart(12, "0")}${"0".repeat(20)}`;

/**
 * Writes webhook events to the outbox with the executor of the change they report, so that the
 * event commits (or rolls back) with it. Without WEBHOOK_URL nothing is recorded.
 */
export async function recordEvents(ctx: Context, tx: Executor, events: { type: WebhookEventType; data: unknown }[]): Promise<void> {
  if (!ctx.config.WEBHOOK_URL || events.length === 0) return;
  const timestamp = new Date().toISOString();
  await tx.insert(webhookEvents).values(
    events.map(({ type, data }) => {
      const id = newEventId();
      return { id, type, payload: { id, type, timestamp, data } };
    }),
  );
}

export const recordEvent = (ctx: Context, tx: Executor, type: WebhookEventType, data: unknown) => recordEvents(ctx, tx, [{ type, data }]);

const msFromNow = (ms: number) => sql`now() + ${ms}::float8 * interval '1 millisecond'`;

/** `attempts`: made before this claim. */
export type ClaimedEvent = { id: string; payload: WebhookPayload; attempts: number };

/**
 * An event carrying the content of a user being erased waits until the erase has cleared it: from
 * the erase's request on, the host is not sent what it asked to have erased. (The erase's last
 * step clears these payloads, then deletes its job, which lets them go.) Written as an OR so the
 * planner keeps it a per-row check instead of an anti-join over the whole backlog, and without a
 * running erase (the usual case) it does not even look into the payloads.
 */
const heldForErasure = sql`(
  not exists (select 1 from user_erasures)
  or not exists (
    select 1 from user_erasures e
    where e.user_id = coalesce(${webhookEvents.payload} -> 'data' ->> 'senderId', ${webhookEvents.payload} -> 'data' -> 'message' ->> 'senderId')
  )
)`;

/**
 * Leases up to `limit` due events to `owner` until now + `leaseMs`. SKIP LOCKED lets every
 * instance claim at once without waiting on each other, and a lease that ran out (its instance
 * died mid-delivery) makes the event due again.
 *
 * The claim walks the due index oldest first and stops after `limit` rows, whatever the backlog.
 * The planner would rather not: a backlog is made of rows written since the last ANALYZE, which
 * still sees few pending ones, so it reads every pending row and sorts them (tens of milliseconds
 * per claim for 20,000 events, a hundred times the index walk). Bitmap scans and sorts are
 * therefore off for this one transaction.
 */
export async function claimDueEvents(db: Database, owner: string, limit: number, leaseMs: number): Promise<ClaimedEvent[]> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true)`);
    const due = tx
      .select({ id: webhookEvents.id })
      .from(webhookEvents)
      .where(
        and(
          eq(webhookEvents.status, "pending"),
          lte(webhookEvents.nextAttemptAt, sql`now()`),
          or(isNull(webhookEvents.lockedUntil), lte(webhookEvents.lockedUntil, sql`now()`)),
          heldForErasure,
        ),
      )
      .orderBy(asc(webhookEvents.nextAttemptAt))
      .limit(limit)
      .for("update", { skipLocked: true });
    return tx
      .update(webhookEvents)
      .set({ lockedBy: owner, lockedUntil: msFromNow(leaseMs), updatedAt: sql`now()` })
      .where(inArray(webhookEvents.id, due))
      .returning({ id: webhookEvents.id, payload: webhookEvents.payload, attempts: webhookEvents.attempts });
  });
}

/** Only while `owner` still holds the lease: a lease lost to another instance is theirs to settle. */
const heldBy = (id: string, owner: string) => and(eq(webhookEvents.id, id), eq(webhookEvents.lockedBy, owner));

/**
 * Marks 2xx answers, many in one statement; returns for each event still leased to `owner` the
 * milliseconds from its change's transaction to now (an event whose lease was lost is left alone).
 */
export async function markDelivered(db: Database, owner: string, delivered: { id: string; status: number }[]): Promise<number[]> {
  if (delivered.length === 0) return [];
  const rows = await queryRows<{ latency_ms: number }>(
    db,
    sql`update ${webhookEvents} as w
      set status = 'delivered', attempts = w.attempts + 1, delivered_at = now(), last_status = d.status,
          last_error = null, locked_by = null, locked_until = null, updated_at = now()
      from jsonb_to_recordset(${JSON.stringify(delivered)}::jsonb) as d(id text, status int)
      where w.id = d.id and w.locked_by = ${owner}
      returning (extract(epoch from now() - w.created_at) * 1000)::float8 as latency_ms`,
  );
  return rows.map((r) => Number(r.latency_ms));
}

/**
 * Records a failed attempt: the event waits `retryInMs` for the next one, or becomes dead once
 * it has had `maxAttempts` (kept for the operator, never dropped). Returns the new status.
 */
export async function markFailed(
  db: Database,
  owner: string,
  id: string,
  failure: { status: number | null; error: string },
  maxAttempts: number,
  retryInMs: number,
): Promise<"pending" | "dead" | null> {
  const [row] = await db
    .update(webhookEvents)
    .set({
      attempts: sql`${webhookEvents.attempts} + 1`,
      status: sql`case when ${webhookEvents.attempts} + 1 >= ${maxAttempts}::int then 'dead' else 'pending' end`,
      nextAttemptAt: msFromNow(retryInMs),
      lastStatus: failure.status,
      lastError: failure.error,
      lockedBy: null,
      lockedUntil: null,
      updatedAt: sql`now()`,
    })
    .where(heldBy(id, owner))
    .returning({ status: webhookEvents.status });
  return row ? (row.status as "pending" | "dead") : null;
}

/** Gives back claimed events `owner` did not attempt, so that the next claim (any instance's) takes them. */
export async function releaseEvents(db: Database, owner: string, ids: string[]): Promise<void> {
  await db
    .update(webhookEvents)
    .set({ lockedBy: null, lockedUntil: null, updatedAt: sql`now()` })
    .where(and(inArray(webhookEvents.id, ids), eq(webhookEvents.lockedBy, owner), eq(webhookEvents.status, "pending")));
}

/** Gives back the events `owner` claimed but will not settle (shutdown), so others take them now. */
export async function releaseLeases(db: Database, owner: string): Promise<number> {
  const rows = await db
    .update(webhookEvents)
    .set({ lockedBy: null, lockedUntil: null, updatedAt: sql`now()` })
    .where(and(eq(webhookEvents.lockedBy, owner), eq(webhookEvents.status, "pending")))
    .returning({ id: webhookEvents.id });
  return rows.length;
}

const PURGE_BATCH = 5000;

/**
 * Deletes delivered events older than `olderThanMs`, in batches so no statement holds locks for
 * long. An event delivered before the cutoff was created before it too, so the id bound keeps the
 * scan of the (status, id) index to old rows instead of every delivered one.
 */
export async function purgeDelivered(db: Database, olderThanMs: number): Promise<number> {
  const createdBefore = firstEventIdAt(Date.now() - olderThanMs + 60_000); // a minute of slack for clock skew
  let purged = 0;
  for (;;) {
    const batch = db
      .select({ id: webhookEvents.id })
      .from(webhookEvents)
      .where(
        and(
          eq(webhookEvents.status, "delivered"),
          lt(webhookEvents.id, createdBefore),
          lt(webhookEvents.deliveredAt, sql`now() - ${olderThanMs}::float8 * interval '1 millisecond'`),
        ),
      )
      .orderBy(asc(webhookEvents.id))
      .limit(PURGE_BATCH)
      .for("update", { skipLocked: true });
    const rows = await db.delete(webhookEvents).where(inArray(webhookEvents.id, batch)).returning({ id: webhookEvents.id });
    purged += rows.length;
    if (rows.length < PURGE_BATCH) return purged;
  }
}
