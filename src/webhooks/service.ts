import { and, desc, eq, lt, sql } from "drizzle-orm";
import type { Context } from "../core/context";
import { type WebhookEventRow, webhookEvents } from "../core/db/schema";
import { notFound } from "../core/errors";
import { iso, type List, pageOf } from "../core/schemas";
import type { EventPage, WebhookEvent } from "./model";
import { purgeDelivered } from "./outbox";

/** Operator tools on the internal API: look into the outbox, send events again, purge. */

function toView(row: WebhookEventRow): WebhookEvent {
  return {
    id: row.id,
    type: row.type as WebhookEvent["type"],
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.status === "pending" ? iso(row.nextAttemptAt) : null,
    lastError: row.lastError,
    lastStatus: row.lastStatus,
    deliveredAt: iso(row.deliveredAt),
    createdAt: iso(row.createdAt)!,
    updatedAt: iso(row.updatedAt)!,
    payload: row.payload,
  };
}

/** Newest first; the cursor is the last id of the page (ids sort by creation time). */
export async function listEvents(ctx: Context, page: EventPage): Promise<List<WebhookEvent>> {
  const limit = page.limit ?? 50;
  const rows = await ctx.db
    .select()
    .from(webhookEvents)
    .where(and(page.status ? eq(webhookEvents.status, page.status) : undefined, page.cursor ? lt(webhookEvents.id, page.cursor) : undefined))
    .orderBy(desc(webhookEvents.id))
    .limit(limit + 1);
  return pageOf(rows, limit, (page) => page.map(toView), (last) => last.id);
}

export async function getEvent(ctx: Context, id: string): Promise<WebhookEvent> {
  const [row] = await ctx.db.select().from(webhookEvents).where(eq(webhookEvents.id, id));
  if (!row) throw notFound("Webhook event");
  return toView(row);
}

/**
 * Due again now, with a fresh retry schedule; the same id, so receivers that already have it
 * drop the copy. A delivery in flight keeps its lease and settles the event as usual.
 */
const redeliverNow = {
  status: "pending" as const,
  attempts: 0,
  nextAttemptAt: sql`now()`,
  deliveredAt: null,
  updatedAt: sql`now()`,
};

export async function redeliverEvent(ctx: Context, id: string): Promise<WebhookEvent> {
  const [row] = await ctx.db.update(webhookEvents).set(redeliverNow).where(eq(webhookEvents.id, id)).returning();
  if (!row) throw notFound("Webhook event");
  return toView(row);
}

export async function redeliverDead(ctx: Context): Promise<{ redelivered: number }> {
  const rows = await ctx.db.update(webhookEvents).set(redeliverNow).where(eq(webhookEvents.status, "dead")).returning({ id: webhookEvents.id });
  return { redelivered: rows.length };
}

/** Pending and dead events are never purged: only what the host has acknowledged. */
export async function purgeEvents(ctx: Context, olderThanHours = ctx.config.WEBHOOK_RETENTION_HOURS): Promise<{ purged: number }> {
  return { purged: await purgeDelivered(ctx.db, olderThanHours * 3_600_000) };
}
