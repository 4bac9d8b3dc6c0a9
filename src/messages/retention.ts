import { sql } from "drizzle-orm";
import type { Config } from "../config";
import type { Context } from "../core/context";
import { queryRows, type Transaction } from "../core/db/client";
import { withTransaction } from "../core/db/transaction";
import { recordEvents } from "../webhooks/outbox";

/* Retention (MESSAGE_RETENTION_DAYS): messages older than the policy are deleted for good, in batches. */

/** The advisory lock a retention batch holds: one instance works a batch at a time. */
const RETENTION_LOCK = 0x63_68_61_01;

const DAY_MS = 86_400_000;

/** Messages created before this time (ms) are past the retention policy; undefined: kept forever. */
export const retentionCutoff = (config: Pick<Config, "MESSAGE_RETENTION_DAYS">, now = Date.now()): number | undefined =>
  config.MESSAGE_RETENTION_DAYS === undefined ? undefined : now - config.MESSAGE_RETENTION_DAYS * DAY_MS;

/** The smallest UUIDv7 made at `ms`: every id below it was made earlier (ids start with their millisecond time). */
export function firstUuidAt(ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`;
}

/** When a UUIDv7 was made (ms); undefined for another version. */
export function uuidTime(id: string): number | undefined {
  const hex = id.replaceAll("-", "");
  if (hex[12] !== "7") return undefined;
  return Number.parseInt(hex.slice(0, 12), 16);
}

/**
 * Sets the transaction's statement timeout to the configured one: behind a transaction-mode pooler
 * the pool's connections carry none of ours, and a batch must never run unbounded.
 */
export async function boundStatements(ctx: Context, tx: Transaction): Promise<void> {
  if (ctx.storage.driver !== "postgres") return;
  await tx.execute(sql.raw(`set local statement_timeout = ${Math.floor(ctx.config.DATABASE_STATEMENT_TIMEOUT_MS)}`));
}

/** What a retention batch did: messages deleted, or `busy` when another instance holds the batch lock. */
export type ExpiredBatch = { messages: number; conversations: { conversationId: string; upToSeq: number }[]; busy: boolean };

/**
 * Deletes one batch of messages past the retention policy (at most LIFECYCLE_BATCH_SIZE, taken
 * oldest id first), in one transaction under a transaction-level advisory lock (so it works through
 * a transaction-mode pooler, and a second instance skips rather than waits).
 *
 * A conversation always loses a prefix of its history: every message up to the batch's highest seq
 * in it (`upToSeq`). Replies come after their parent, so a kept parent keeps all its replies and its
 * replyCount stays true. The conversation's lastSeq is not lowered (seqs are never reused); its
 * expiredUpToSeq records the cut for sync and paging. Reactions, flags and mention rows go with
 * their messages (foreign keys), pins with the rows (columns of the message), read marks and
 * notification jobs of the range here.
 *
 * Unread counts are arithmetic on the conversation's lastSeq, each participant's read marker and
 * their own messages above it (src/receipts/service.ts). The messages between a marker below the cut
 * and the cut no longer exist, so such markers move up to the cut (the watermark others see and the
 * own marker alike) and the participant's own purged messages above the old marker leave their
 * count: the unread count then counts exactly the kept messages it counted before.
 *
 * Records `messages.expired` `{ conversationId, upToSeq }` per conversation in the same transaction.
 */
export async function expireBatch(ctx: Context, now = Date.now()): Promise<ExpiredBatch> {
  const cutoff = retentionCutoff(ctx.config, now);
  const none: ExpiredBatch = { messages: 0, conversations: [], busy: false };
  if (cutoff === undefined) return none;
  return withTransaction(ctx, async (tx) => {
    await boundStatements(ctx, tx);
    const [lock] = await queryRows<{ ok: boolean }>(tx, sql`select pg_try_advisory_xact_lock(${RETENTION_LOCK}) as ok`);
    if (!lock?.ok) return { ...none, busy: true };
    // The oldest messages by id (the primary key: no scan of anything younger), per conversation the highest seq among them.
    const cuts = await queryRows<{ c: string; s: number }>(
      tx,
      sql`select conversation_id as c, max(seq)::int as s
        from (select conversation_id, seq from messages where id < ${firstUuidAt(cutoff)}::uuid order by id limit ${ctx.config.LIFECYCLE_BATCH_SIZE}) oldest
        group by conversation_id order by conversation_id`,
    );
    if (cuts.length === 0) return none;
    // In id order, as sends lock them; a send waits for the batch and then numbers after lastSeq.
    await tx.execute(sql`select id from conversations where id = any(${sql`array(select value::uuid from jsonb_array_elements_text(${JSON.stringify(cuts.map((c) => c.c))}::jsonb))`}) order by id for no key update`);
    const [row] = await queryRows<{ n: number }>(
      tx,
      sql`
      with cut as (
        select * from jsonb_to_recordset(${JSON.stringify(cuts)}::jsonb) as t(c uuid, s int)
      ),
      purged as (
        delete from messages m using cut where m.conversation_id = cut.c and m.seq <= cut.s
        returning m.id, m.conversation_id, m.seq, m.sender_id
      ),
      -- Each sender's purged seqs: their own messages above their marker leave sent_since_read.
      own as (
        select conversation_id as c, sender_id as u, array_agg(seq) as seqs from purged group by conversation_id, sender_id
      ),
      moved as (
        update participants p
        set last_read_seq = greatest(p.last_read_seq, cut.s),
            own_read_seq = case when p.last_read_seq > cut.s then cut.s end,
            sent_since_read = p.sent_since_read - (
              select count(*) from own cross join unnest(own.seqs) as q(seq)
              where own.c = p.conversation_id and own.u = p.user_id and q.seq > coalesce(p.own_read_seq, p.last_read_seq))::int
        from cut
        where p.conversation_id = cut.c and coalesce(p.own_read_seq, p.last_read_seq) < cut.s
      ),
      marks as (
        delete from read_marks r using cut where r.conversation_id = cut.c and r.seq <= cut.s
      ),
      jobs as (
        delete from notification_jobs j using purged x where j.message_id = x.id
      ),
      cut_conversations as (
        update conversations v
        set expired_up_to_seq = greatest(v.expired_up_to_seq, cut.s),
            last_message_id = case when v.last_message_id in (select id from purged) then null else v.last_message_id end
        from cut where v.id = cut.c
      )
      select (select count(*) from purged)::int as n`,
    );
    const conversations = cuts.map((c) => ({ conversationId: c.c, upToSeq: c.s }));
    await recordEvents(ctx, tx, conversations.map((data) => ({ type: "messages.expired", data })));
    return { messages: row?.n ?? 0, conversations, busy: false };
  });
}
