import { sql } from "drizzle-orm";
import type { Context } from "../core/context";
import { type Executor, queryRows, type Transaction } from "../core/db/client";
import { notificationJobs } from "../core/db/schema";

/**
 * Schedules the notification of messages just stored, in the send's transaction: one statement
 * for the whole batch, whatever its size. Without WEBHOOK_URL nothing is written (and the send
 * path pays nothing): there would be nobody to tell.
 */
export async function scheduleNotifications(ctx: Context, tx: Executor, messageIds: string[]): Promise<void> {
  if (!ctx.config.WEBHOOK_URL || messageIds.length === 0) return;
  await tx.execute(sql`
    insert into ${notificationJobs} (message_id, due_at)
    select value::uuid, now() + ${ctx.config.NOTIFY_DELAY_MS}::float8 * interval '1 millisecond'
    from jsonb_array_elements_text(${JSON.stringify(messageIds)}::jsonb)`);
}

/** A job taken for this transaction, and how late it is being worked out. */
export type ClaimedJob = { messageId: string; lagMs: number };

/**
 * Takes up to `limit` due jobs for the transaction `tx` by deleting them: SKIP LOCKED lets every
 * instance take its own share at once, and if the transaction does not commit (the instance
 * died, Redis could not say who is online) the jobs are back, untouched, for the next pass.
 */
export async function takeDueJobs(tx: Transaction, limit: number): Promise<ClaimedJob[]> {
  const rows = await queryRows<{ message_id: string; lag_ms: number }>(
    tx,
    sql`delete from ${notificationJobs}
      where message_id in (
        select message_id from ${notificationJobs} where due_at <= now() order by due_at limit ${limit} for update skip locked
      )
      returning message_id, (extract(epoch from clock_timestamp() - due_at) * 1000)::float8 as lag_ms`,
  );
  return rows.map((r) => ({ messageId: r.message_id, lagMs: Math.max(0, Number(r.lag_ms)) }));
}
