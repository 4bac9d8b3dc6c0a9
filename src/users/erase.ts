import { asc, eq, sql } from "drizzle-orm";
import type { Context } from "../core/context";
import { queryRows, type Transaction } from "../core/db/client";
import { mentions, notificationJobs, reactions, readMarks, type UserErasureRow, userErasures, users } from "../core/db/schema";
import { withTransaction } from "../core/db/transaction";
import { notFound } from "../core/errors";
import { boundStatements } from "../messages/retention";
import { recordEvent } from "../webhooks/outbox";
import { deleteUserIn } from "./service";

/*
 * Erase (DELETE /api/users/:id?erase=true): the user is deleted at once, then their data is erased
 * in batches by the lifecycle worker of every instance, from a job row that survives restarts.
 */

/** Rows of messages (or outbox events) looked at per batch when searching for mentions of the user (or their content). */
const SCAN_FACTOR = 10;

/**
 * Deletes the user as DELETE does (when still active: an already deleted user may be erased too)
 * and records the erase job in the same transaction; the batches start at once on this instance.
 * Asking again while an erase runs changes nothing. NOT_FOUND for a user never synced.
 */
export async function requestErase(ctx: Context, externalUserId: string): Promise<void> {
  await withTransaction(ctx, async (tx, after) => {
    // Locked, as a sync locks it: a sync restoring the user meanwhile is either before this (and
    // erased with the rest) or after it (and refused while the erase runs).
    const [user] = await tx.select({ deletedAt: users.deletedAt }).from(users).where(eq(users.externalId, externalUserId)).for("update");
    if (!user) throw notFound("User");
    if (!user.deletedAt) await deleteUserIn(ctx, tx, after, externalUserId);
    // Their profile goes too: a delete keeps it for a restore, an erase is for good.
    await tx.update(users).set({ name: null, avatarUrl: null, metadata: {} }).where(eq(users.externalId, externalUserId));
    await tx.insert(userErasures).values({ userId: externalUserId }).onConflictDoNothing();
    after(() => ctx.lifecycle.wake());
  });
}

/** What an erase batch did: nothing (no job free), a step of a job, or its end (`user.erased` recorded). */
export type ErasedBatch = { worked: boolean; messages: number; finished?: { userId: string; messages: number } };

/**
 * One batch of the oldest erase job nobody else is working (FOR UPDATE SKIP LOCKED: one instance
 * per job at a time; a batch that fails or dies rolls back and the job is taken again), each in
 * one transaction under the statement timeout, advancing the job's phase and cursor with it:
 * 1. messages: LIFECYCLE_BATCH_SIZE of the user's messages, in id order, become tombstones as a
 *    delete leaves them (content, attachments, metadata and mentions cleared, deletedAt set,
 *    unpinned without a message.unpinned), their
 *    reactions, mention rows and pending notification jobs go, and each thread parent counts the
 *    replies that are no longer there. No message.deleted webhook or room event: one
 *    `user.erased` tells the host at the end. Unread counts follow by themselves: they subtract
 *    other people's tombstones above a reader's marker.
 * 2. reactions: the user's reactions on other messages, a batch at a time; then their read marks
 *    and mention rows (left with the deletion already; gone for good here).
 * 3. mentions: other messages naming them in `mentions`, scanned by id a range at a time (no index
 *    on the array: the send path would pay for it, an erase is rare).
 * 4. outbox: webhook payloads still kept that carry the user's content (their message.created /
 *    message.updated, notification.message of their messages) are cleared as the messages were.
 * Then `user.erased` `{ userId, messages }` in the transaction that deletes the job.
 */
export async function eraseBatch(ctx: Context): Promise<ErasedBatch> {
  return withTransaction(ctx, async (tx) => {
    await boundStatements(ctx, tx);
    const [job] = await tx.select().from(userErasures).orderBy(asc(userErasures.createdAt), asc(userErasures.userId)).limit(1).for("update", { skipLocked: true });
    if (!job) return { worked: false, messages: 0 };
    const batch = ctx.config.LIFECYCLE_BATCH_SIZE;
    const step = await STEPS[job.phase](tx, job, batch);
    if (step.next === "done") {
      await tx.delete(userErasures).where(eq(userErasures.userId, job.userId));
      const finished = { userId: job.userId, messages: job.messages + step.messages };
      await recordEvent(ctx, tx, "user.erased", finished);
      return { worked: true, messages: step.messages, finished };
    }
    await tx
      .update(userErasures)
      .set({ phase: step.next, cursor: step.cursor, messages: job.messages + step.messages, updatedAt: new Date() })
      .where(eq(userErasures.userId, job.userId));
    return { worked: true, messages: step.messages };
  });
}

type Phase = UserErasureRow["phase"];
type Step = { next: Phase | "done"; cursor: string | null; messages: number };

const STEPS: Record<Phase, (tx: Transaction, job: UserErasureRow, batch: number) => Promise<Step>> = {
  messages: tombstoneMessages,
  reactions: removeReactions,
  mentions: removeMentionsOfUser,
  outbox: clearOutboxContent,
};

async function tombstoneMessages(tx: Transaction, job: UserErasureRow, batch: number): Promise<Step> {
  const rows = await queryRows<{ id: string; parent_id: string | null; deleted: boolean }>(
    tx,
    sql`select id, parent_id, deleted_at is not null as deleted from messages
      where sender_id = ${job.userId} and id > ${job.cursor ?? "00000000-0000-0000-0000-000000000000"}::uuid
      order by id limit ${batch}`,
  );
  if (rows.length === 0) return { next: "reactions", cursor: null, messages: 0 };
  const ids = JSON.stringify(rows.map((r) => r.id));
  const inBatch = sql`array(select value::uuid from jsonb_array_elements_text(${ids}::jsonb))`;
  // Replies that stop counting, per parent. Parents are locked first, in id order, as a deletion
  // and the sends of replies take them (parent, then reply).
  const uncounted = new Map<string, number>();
  for (const r of rows) if (r.parent_id && !r.deleted) uncounted.set(r.parent_id, (uncounted.get(r.parent_id) ?? 0) + 1);
  const parents = JSON.stringify([...uncounted].map(([p, n]) => ({ p, n })));
  if (uncounted.size) {
    await tx.execute(sql`select id from messages where id = any(array(select p from jsonb_to_recordset(${parents}::jsonb) as t(p uuid))) order by id for no key update`);
  }
  await tx.execute(sql`update messages
    set content = '', attachments = '[]'::jsonb, metadata = '{}'::jsonb, mentions = '{}'::text[],
        deleted_at = coalesce(deleted_at, now()), updated_at = now(), pinned_at = null, pinned_by = null
    where id = any(${inBatch})`);
  if (uncounted.size) {
    // Once the replies are tombstones (this statement sees them), lastReplyAt is the newest still there.
    await tx.execute(sql`update messages x
      set reply_count = greatest(x.reply_count - t.n, 0),
          last_reply_at = (select r.created_at from messages r where r.parent_id = x.id and r.deleted_at is null order by r.seq desc limit 1)
      from jsonb_to_recordset(${parents}::jsonb) as t(p uuid, n int)
      where x.id = t.p`);
  }
  await tx.delete(reactions).where(sql`${reactions.messageId} = any(${inBatch})`);
  await tx.delete(mentions).where(sql`${mentions.messageId} = any(${inBatch})`);
  await tx.delete(notificationJobs).where(sql`${notificationJobs.messageId} = any(${inBatch})`);
  // Counted: the messages this erase made tombstones (those deleted before were tombstones already).
  return { next: "messages", cursor: rows[rows.length - 1]!.id, messages: rows.filter((r) => !r.deleted).length };
}

async function removeReactions(tx: Transaction, job: UserErasureRow, batch: number): Promise<Step> {
  const removed = await queryRows<{ message_id: string }>(
    tx,
    sql`delete from reactions where (message_id, emoji, user_id) in (
      select message_id, emoji, user_id from reactions where user_id = ${job.userId} limit ${batch})
      returning message_id`,
  );
  if (removed.length === batch) return { next: "reactions", cursor: null, messages: 0 };
  // Left with the deletion already (every conversation was left); any made since go now.
  await tx.delete(readMarks).where(eq(readMarks.userId, job.userId));
  await tx.delete(mentions).where(eq(mentions.userId, job.userId));
  return { next: "mentions", cursor: null, messages: 0 };
}

async function removeMentionsOfUser(tx: Transaction, job: UserErasureRow, batch: number): Promise<Step> {
  const [range] = await queryRows<{ last: string | null; n: number }>(
    tx,
    sql`with range as (
        select id from messages where id > ${job.cursor ?? "00000000-0000-0000-0000-000000000000"}::uuid order by id limit ${batch * SCAN_FACTOR}
      ),
      cleared as (
        update messages m set mentions = array_remove(m.mentions, ${job.userId}::text)
        from range where m.id = range.id and ${job.userId}::text = any(m.mentions)
      )
      select max(id::text) as last, count(*)::int as n from range`,
  );
  if (!range || range.n < batch * SCAN_FACTOR) return { next: "outbox", cursor: null, messages: 0 };
  return { next: "mentions", cursor: range.last, messages: 0 };
}

const CLEARED = `'{"content": "", "attachments": [], "metadata": {}, "mentions": []}'::jsonb`;

async function clearOutboxContent(tx: Transaction, job: UserErasureRow, batch: number): Promise<Step> {
  const [range] = await queryRows<{ last: string | null; n: number }>(
    tx,
    sql`with range as (
        select id from webhook_events where id > ${job.cursor ?? ""} order by id limit ${batch * SCAN_FACTOR}
      ),
      own as (
        update webhook_events w set payload = jsonb_set(w.payload, '{data}', (w.payload -> 'data') || ${sql.raw(CLEARED)}), updated_at = now()
        from range where w.id = range.id and w.payload -> 'data' ->> 'senderId' = ${job.userId}
      ),
      notified as (
        update webhook_events w set payload = jsonb_set(w.payload, '{data,message}', (w.payload -> 'data' -> 'message') || ${sql.raw(CLEARED)}), updated_at = now()
        from range where w.id = range.id and w.payload -> 'data' -> 'message' ->> 'senderId' = ${job.userId}
      )
      select max(id) as last, count(*)::int as n from range`,
  );
  if (!range || range.n < batch * SCAN_FACTOR) return { next: "done", cursor: null, messages: 0 };
  return { next: "outbox", cursor: range.last, messages: 0 };
}
