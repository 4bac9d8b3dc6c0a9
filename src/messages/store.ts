import { asc, getTableColumns, inArray, sql } from "drizzle-orm";
import { queryRows, type Transaction } from "../core/db/client";
import { conversations, type MessageRow, messages } from "../core/db/schema";
import { type AppError, invalid, notFound } from "../core/errors";
import type { QueuedSend } from "./send-queue";

/** A send the statement stored (`created`), or the message a retry of it finds. */
export type StoredSend = { row: MessageRow; created: boolean };

/**
 * Why a send is not stored, in the order a send is judged: not a participant (404), a retry of a
 * stored message (not an error: the stored one is the answer), a replyTo outside the conversation
 * (400). A new rule is one more `when` in the statement's `judged` step and one more entry here.
 */
const REFUSALS = {
  not_member: () => notFound("Conversation"),
  bad_reply: () => invalid("replyTo must be a message of this conversation", [{ path: "/replyTo", message: "unknown message" }]),
} satisfies Record<string, () => AppError>;
type Refusal = keyof typeof REFUSALS | "duplicate";

/**
 * Stores a batch of sends; `tx` must be a transaction. Two statements: the first
 * locks the batch's conversations in id order; the second judges each send, bumps each
 * conversation's counter by its number of sends, numbers them in arrival order and inserts them.
 * The judgement must run in a statement of its own, started once the locks are held: a statement
 * sees the database as it was when it started, so a check made in the statement that waits for
 * a lock would miss a removal committed during the wait (every change of membership holds the
 * conversation's lock). The transaction commits or fails as a whole, so seqs stay gapless.
 * Returns, in batch order, each send's stored row (or the one its clientMessageId already names)
 * or the error that refuses it.
 */
export async function storeSends(tx: Transaction, batch: QueuedSend[]): Promise<(StoredSend | AppError)[]> {
  const input: SendRow[] = batch.map(({ actor, conversationId, input }, i) => ({
    i,
    id: Bun.randomUUIDv7(),
    c: conversationId,
    s: actor.userId,
    t: input.content ?? "",
    a: input.attachments ?? [],
    r: input.replyTo ?? null,
    k: input.clientMessageId ?? null,
    m: input.metadata ?? {},
  }));
  const conversationIds = [...new Set(batch.map((send) => send.conversationId))];
  // Sent together, the lock first (the server runs a connection's statements in the order sent, so
  // the second still starts once the locks are held): one round trip instead of two.
  const locked = tx.select({ id: conversations.id }).from(conversations).where(inArray(conversations.id, conversationIds)).orderBy(asc(conversations.id)).for("update").execute();
  const [, rows] = await Promise.all([locked, storeStatement(tx, input)]);
  return rows.map(({ refusal, ...row }) => {
    if (refusal === "duplicate") return { row: messageRowOf(row), created: false };
    if (refusal) return REFUSALS[refusal]();
    // Allowed, yet not stored: the conversation no longer exists.
    if (row.id == null) return notFound("Conversation");
    return { row: messageRowOf(row), created: true };
  });
}

type SendRow = { i: number; id: string; c: string; s: string; t: string; a: unknown[]; r: string | null; k: string | null; m: Record<string, unknown> };

/**
 * The rules: each send gets its refusal, or none, in the `judged` step, in the order a send is
 * judged. The counters and the inserted rows follow from the sends allowed through.
 */
const storeStatement = (tx: Transaction, input: SendRow[]) =>
  queryRows<{ i: number; refusal: Refusal | null } & Record<string, unknown>>(
    tx,
    sql`
    with input as (
      select * from jsonb_to_recordset(${JSON.stringify(input)}::jsonb)
        as t(i int, id uuid, c uuid, s text, t text, a jsonb, r uuid, k text, m jsonb)
    ),
    judged as (
      select input.*, earlier.id as earlier_id,
        case
          when not exists (select 1 from participants p where p.conversation_id = input.c and p.user_id = input.s) then 'not_member'
          when earlier.id is not null then 'duplicate'
          when input.r is not null and not exists (select 1 from messages x where x.id = input.r and x.conversation_id = input.c) then 'bad_reply'
        end as refusal
      from input
      left join messages earlier
        on input.k is not null and earlier.conversation_id = input.c and earlier.sender_id = input.s and earlier.client_message_id = input.k
    ),
    ok as (
      select * from judged where refusal is null
    ),
    counts as (
      select ok.c, count(*)::int as n, (array_agg(ok.id order by ok.i desc))[1] as last_id
      from ok group by ok.c
    ),
    bumped as (
      update conversations v
      set last_seq = v.last_seq + counts.n, last_message_id = counts.last_id,
          last_message_at = clock_timestamp(), last_activity_at = clock_timestamp()
      from counts where v.id = counts.c
      returning v.id, v.last_seq - counts.n as base, v.last_message_at as at
    ),
    inserted as (
      insert into messages (id, conversation_id, seq, sender_id, content, attachments, reply_to, client_message_id, metadata, created_at, updated_at)
      select ok.id, ok.c, (b.base + row_number() over (partition by ok.c order by ok.i))::int, ok.s, ok.t, ok.a, ok.r, ok.k, ok.m, b.at, b.at
      from ok join bumped b on b.id = ok.c
      returning *
    ),
    stored as (
      select * from inserted
      union all
      select * from messages where id in (select earlier_id from judged where refusal = 'duplicate')
    )
    select judged.i, judged.refusal, stored.*
    from judged left join stored on stored.id = coalesce(judged.earlier_id, judged.id)
    order by judged.i`,
  );

const columns = Object.entries(getTableColumns(messages));

/** A row of raw SQL (snake_case, as the driver decodes it) as drizzle would return it. */
function messageRowOf(raw: Record<string, unknown>): MessageRow {
  return Object.fromEntries(
    columns.map(([key, column]) => {
      const value = raw[column.name];
      return [key, value == null ? null : column.mapFromDriverValue(value)];
    }),
  ) as MessageRow;
}
