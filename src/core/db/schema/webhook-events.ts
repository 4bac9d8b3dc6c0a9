import { sql } from "drizzle-orm";
import { check, index, integer, jsonb, pgTable, text } from "drizzle-orm/pg-core";
import { createdAt, timestampMs, updatedAt } from "./columns";

/**
 * The webhook outbox. A row is written in the same transaction as the change it reports and
 * drained by a timer in every instance (rows claimed with FOR UPDATE SKIP LOCKED and a lease).
 */
export const webhookEvents = pgTable(
  "webhook_events",
  {
    id: text("id").primaryKey(),
    type: text("type").notNull(),
    /** The JSON body POSTed to the host: { id, type, timestamp, data }. */
    payload: jsonb("payload").$type<{ id: string; type: string; timestamp: string; data: unknown }>().notNull(),
    status: text("status", { enum: ["pending", "delivered", "dead"] }).notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: timestampMs("next_attempt_at").notNull().defaultNow(),
    /** Lease of the instance delivering it; an expired lease makes the row claimable again. */
    lockedUntil: timestampMs("locked_until"),
    lockedBy: text("locked_by"),
    lastError: text("last_error"),
    lastStatus: integer("last_status"),
    deliveredAt: timestampMs("delivered_at"),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check("webhook_events_status_check", sql`${t.status} in ('pending', 'delivered', 'dead')`),
    index("webhook_events_due_idx").on(t.status, t.nextAttemptAt),
    // Operators page through one status newest first; ids sort by creation time.
    index("webhook_events_status_id_idx").on(t.status, t.id),
  ],
);

export type WebhookEventRow = typeof webhookEvents.$inferSelect;
