import { and, asc, getTableColumns, inArray, isNull, sql } from "drizzle-orm";
import { type Executor, queryRows, type Storage, type Transaction } from "../core/db/client";
import { type MessageRow, messages } from "../core/db/schema";
import { AppError, conflict, forbidden, invalid, notFound } from "../core/errors";
import { CALLER_REFUSALS } from "../core/auth";
import { mentionRefusal, uniqueMentions } from "./mentions";
import type { QueuedSend } from "./send-queue";

/**
 * A send the statement stored (`created`), or the message a retry of it finds. `thread`: the
 * parent's counters once the batch's replies to it are in, on the batch's last reply to it.
 */
export type StoredSend = { row: MessageRow; created: boolean; thread?: ThreadCounters };
export type ThreadCounters = { parentId: string; replyCount: number; lastReplyAt: Date | null };

/**
 * Why a send is not stored, in the order a send is judged: its sender's user refused as
 * authentication refuses it (a REST caller's token is verified before, its user only read here),
 * not a participant (404), a retry of a stored message (not an error: the stored one is the
 * answer), a sender the other side of a direct conversation blocks (403), a replyTo outside the
 * conversation (400), a parentId that is not a top-level message of the conversation (400) or is
 * deleted (409), mentions of users who are not participants (400), a member's send inside the
 * conversation's slow-mode window (429). A new rule is one more `when` in the statement's `judged`
 * step and one more entry here.
 */
const REFUSALS = {
  ...CALLER_REFUSALS,
  not_member: () => notFound("Conversation"),
  blocked: () => forbidden("You cannot send messages in this conversation"),
  bad_reply: () => invalid("replyTo must be a message of this conversation", [{ path: "/replyTo", message: "unknown message" }]),
  bad_parent: () => invalid("parentId must be a top-level message of this conversation", [{ path: "/parentId", message: "not a top-level message of this conversation" }]),
  parent_deleted: () => conflict("The thread's message is deleted"),
  bad_mentions: ({ userIds }) => mentionRefusal(userIds),
  slow_mode: ({ retryAfter }) => new AppError("RATE_LIMITED", `Slow mode: the next message can be sent in ${retryAfter} s`, { retryAfter }, retryAfter),
} satisfies Record<string, (facts: RefusalFacts) => AppError>;
/** What the statement tells about a refused send, for its error. */
type RefusalFacts = { retryAfter: number; userIds: string[] };
type Refusal = keyof typeof REFUSALS | "duplicate";

/**
 * Stores a batch of sends; `tx` must be a transaction. Two statements (three with replies): the
 * first locks the batch's conversations in id order, the next the top-level messages replied to
 * (in id order, after the conversations, as everywhere); the last judges each send, bumps each
 * conversation's counter by its number of sends, numbers them in arrival order, inserts them
 * (with their mention index rows), bumps each parent's reply counters and each sender's count of
 * own messages above their read marker (a participant row the conversation's lock guards: take it
 * after that lock, never before).
 * The judgement must run in a statement of its own, started once the locks are held: a statement
 * sees the database as it was when it started, so a check made in the statement that waits for
 * a lock would miss a removal committed during the wait (every change of membership holds the
 * conversation's lock), and one that waits for a parent's lock would miss its deletion (the
 * delete transaction holds that lock too). The transaction commits or fails as a whole, so seqs
 * and reply counts stay exact.
 * Returns, in batch order, each send's stored row (or the one its clientMessageId already names)
 * or the error that refuses it.
 */
export async function storeSends(storage: Storage, tx: Transaction, batch: QueuedSend[]): Promise<(StoredSend | AppError)[]> {
  const input = sendRows(batch);
  const conversationIds = [...new Set(batch.map((send) => send.conversationId))];
  // Sent together, the lock first (the server runs a connection's statements in the order sent, so
  // the second still starts once the locks are held): one round trip instead of two.
  const locked = storage.queryIn(tx, LOCK_CONVERSATIONS, [conversationIds]);
  const parentIds = [...new Set(input.flatMap((send) => (send.p ? [send.p] : [])))];
  // Top-level ones only: a reply named as a parent is refused, and locking it could deadlock with
  // the deletion of that reply (which locks the reply, then its parent).
  const parentsLocked = parentIds.length
    ? tx
        .select({ id: messages.id })
        .from(messages)
        .where(and(inArray(messages.id, parentIds), inArray(messages.conversationId, conversationIds), isNull(messages.parentId)))
        .orderBy(asc(messages.id))
        .for("no key update")
        .execute()
    : undefined;
  const [, , rows] = await Promise.all([locked, parentsLocked, storage.queryIn<StatementRow>(tx, SEND_STATEMENT, sendParams(input))]);
  return rows.map(({ refusal, retry_after, bad_mentions, thread_reply_count, thread_last_reply_at, ...row }) => {
    if (refusal === "duplicate") return { row: messageRowOf(row), created: false };
    if (refusal) return REFUSALS[refusal]({ retryAfter: retry_after ?? 0, userIds: bad_mentions ?? [] });
    // Allowed, yet not stored: the conversation no longer exists.
    if (row.id == null) return notFound("Conversation");
    const stored = messageRowOf(row);
    if (thread_reply_count == null) return { row: stored, created: true };
    const lastReplyAt = thread_last_reply_at == null ? null : (messages.lastReplyAt.mapFromDriverValue(thread_last_reply_at as string) as Date);
    return { row: stored, created: true, thread: { parentId: stored.parentId!, replyCount: thread_reply_count, lastReplyAt } };
  });
}

/** The send statement's rows, one per send of the batch (its message's id chosen here). */
export const sendRows = (batch: QueuedSend[]): SendRow[] =>
  batch.map(({ actor, conversationId, input }, i) => ({
    i,
    id: Bun.randomUUIDv7(),
    c: conversationId,
    s: actor.userId,
    ia: actor.issuedAt,
    t: input.content ?? "",
    a: input.attachments ?? [],
    r: input.replyTo ?? null,
    p: input.parentId ?? null,
    k: input.clientMessageId ?? null,
    m: input.metadata ?? {},
    // Left out when empty: the statement then skips the mention rules.
    ...(input.mentions?.length ? { n: uniqueMentions(input.mentions) } : {}),
  }));

type SendRow = { i: number; id: string; c: string; s: string; ia: number | null; t: string; a: unknown[]; r: string | null; p: string | null; k: string | null; m: Record<string, unknown>; n?: string[] };

type StatementRow = { i: number; refusal: Refusal | null; retry_after: number | null; bad_mentions: string[] | null; thread_reply_count: number | null; thread_last_reply_at: unknown } & Record<string, unknown>;

/**
 * How authentication judges a token's user (the active user `sender`; the token's `iat`): as
 * `isRevoked` and `isSuspended` do, for the same refusals (CALLER_REFUSALS), null when allowed. A
 * lookup by key rather than a join: a join's plan follows the table's statistics, and read the
 * whole users table while they still called it small.
 */
const callerRules = (sender: string, iat: string) => `nullif(coalesce((select case
          when cu.tokens_revoked_before is not null and (${iat} is null or ${iat} <= cu.tokens_revoked_before) then 'revoked'
          when cu.suspended and (cu.suspended_until is null or cu.suspended_until > clock_timestamp()) then 'suspended'
          else 'ok' end
        from users cu where cu.external_id = ${sender} and cu.deleted_at is null), 'no_user'), 'ok')`;

/** Locks the batch's conversations ($1), in id order and as strongly as every writer does (src/core/db/lock-order.ts). */
const LOCK_CONVERSATIONS = "select id from conversations where id = any($1::uuid[]) order by id for no key update";

/** The send statement's parameters: the batch as JSON text, and its size. */
export const sendParams = (input: SendRow[]) => [JSON.stringify(input), input.length];

/**
 * The rules: each send gets its refusal, or none, in the `judged` step, in the order a send is
 * judged. The counters and the inserted rows follow from the sends allowed through. One text for
 * every batch, so that the driver prepares it once per connection.
 */
export const SEND_STATEMENT = `
    with input as (
      select * from jsonb_to_recordset($1::text::jsonb)
        as t(i int, id uuid, c uuid, s text, ia float8, t text, a jsonb, r uuid, p uuid, k text, m jsonb, n text[])
      -- The batch's size: without a limit the planner takes the function for 100 rows, and joins
      -- them to conversations and participants by reading both tables whole (a hash join) rather
      -- than looking up the batch's rows by key. Planned for each batch with its size: a plan made
      -- once for any size was kept by each connection from its first send, and one made while
      -- the tables were still small read them whole long after they had grown.
      limit $2::int
    ),
    facts as (
      select input.*, ${callerRules("input.s", "input.ia")} as caller, earlier.id as earlier_id, p.user_id is not null as is_member,
        -- Seconds this member must still wait: slow mode applies to members only.
        case when p.role = 'member' then v.slow_mode_seconds else 0 end as slow,
        ceil(extract(epoch from p.last_sent_at + make_interval(secs => v.slow_mode_seconds) - clock_timestamp()))::int as wait,
        input.r is null or exists (select 1 from messages x where x.id = input.r and x.conversation_id = input.c) as reply_ok,
        -- Why the parent cannot take a reply (null: no parent, or it can). Read once its lock is held.
        case when input.p is not null then nullif(coalesce(
          (select case when x.conversation_id <> input.c or x.parent_id is not null then 'bad_parent'
                       when x.deleted_at is not null then 'parent_deleted' else 'ok' end
           from messages x where x.id = input.p),
          'bad_parent'), 'ok') end as parent_fault,
        -- Mentioned ids that are not participants now (null when all are, or none is mentioned).
        case when input.n is not null then (
          select array_agg(u order by o) from unnest(input.n) with ordinality as mentioned(u, o)
          where not exists (select 1 from participants q where q.conversation_id = input.c and q.user_id = mentioned.u)
        ) end as bad_mentions,
        -- Blocks only concern direct conversations: a group's sends look nothing up.
        v.type = 'direct' and exists (select 1 from user_blocks b where b.blocked_id = input.s
          and b.blocker_id in (split_part(v.direct_key, ' ', 1), split_part(v.direct_key, ' ', 2))) as blocked
      from input
      left join conversations v on v.id = input.c
      left join participants p on p.conversation_id = input.c and p.user_id = input.s
      left join messages earlier
        on input.k is not null and earlier.conversation_id = input.c and earlier.sender_id = input.s and earlier.client_message_id = input.k
    ),
    -- Slow mode compares with the member's last_sent_at (one row already read for the membership
    -- check, written only while slow mode is on) rather than with their newest message, which
    -- would need an index on messages that every send pays for. A send earlier in this batch that
    -- the other rules let through counts too: it is stored at the same moment as this one.
    judged as (
      select facts.*,
        case
          when caller is not null then caller
          when not is_member then 'not_member'
          when earlier_id is not null then 'duplicate'
          when blocked then 'blocked'
          when not reply_ok then 'bad_reply'
          when parent_fault is not null then parent_fault
          when bad_mentions is not null then 'bad_mentions'
          when slow > 0 and (wait > 0 or count(*) filter (where caller is null and earlier_id is null and reply_ok and parent_fault is null and bad_mentions is null)
            over (partition by c, s order by i rows between unbounded preceding and 1 preceding) > 0) then 'slow_mode'
        end as refusal
      from facts
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
      insert into messages (id, conversation_id, seq, sender_id, content, attachments, reply_to, parent_id, client_message_id, metadata, mentions, created_at, updated_at)
      select ok.id, ok.c, (b.base + row_number() over (partition by ok.c order by ok.i))::int, ok.s, ok.t, ok.a, ok.r, ok.p, ok.k, ok.m, coalesce(ok.n, '{}'), b.at, b.at
      from ok join bumped b on b.id = ok.c
      returning *
    ),
    -- The unread-count index of mentions (a sender's own message is never unread to them).
    mentioned as (
      insert into mentions (user_id, conversation_id, seq, message_id)
      select u, inserted.conversation_id, inserted.seq, inserted.id
      from inserted cross join unnest(inserted.mentions) as u
      where u <> inserted.sender_id
    ),
    -- Each sender's own messages above their read marker (unread counts subtract them); the time
    -- of a member's send is remembered only in a conversation in slow mode.
    sent as (
      update participants p
      set sent_since_read = p.sent_since_read + mine.n,
          last_sent_at = case when mine.slow then b.at else p.last_sent_at end
      from (select c, s, count(*)::int as n, bool_or(slow > 0) as slow from ok group by c, s) mine
      join bumped b on b.id = mine.c
      where p.conversation_id = mine.c and p.user_id = mine.s
    ),
    -- Each parent counts the batch's replies to it; the newest of them was sent at the batch's time.
    threads as (
      update messages x set reply_count = x.reply_count + r.n, last_reply_at = b.at
      from (select ok.c, ok.p, count(*)::int as n, max(ok.i) as last_i from ok where ok.p is not null group by ok.c, ok.p) r
      join bumped b on b.id = r.c
      where x.id = r.p
      returning x.id, x.reply_count, x.last_reply_at, r.last_i
    ),
    stored as (
      select * from inserted
      union all
      select * from messages where id in (select earlier_id from judged where refusal = 'duplicate')
    )
    select judged.i, judged.refusal, case when judged.wait > 0 then judged.wait else judged.slow end as retry_after, judged.bad_mentions,
      threads.reply_count as thread_reply_count, threads.last_reply_at as thread_last_reply_at, stored.*
    from judged left join stored on stored.id = coalesce(judged.earlier_id, judged.id)
      left join threads on threads.last_i = judged.i and judged.refusal is null
    order by judged.i`;

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

/**
 * The rules of a send that can be judged before it is moderated, in one query and in the order
 * the send statement judges them: the sender's user (as authentication judges it), not a
 * participant (NOT_FOUND), a retry of a stored message (its row: the answer), a sender the other
 * side of a direct conversation blocks (FORBIDDEN). The statement judges them again when the send
 * is stored.
 */
export async function judgeBeforeModeration(db: Executor, send: QueuedSend): Promise<{ stored: MessageRow | undefined }> {
  const { conversationId, actor, input } = send;
  const [row] = await queryRows<{ caller: keyof typeof CALLER_REFUSALS | null; is_member: boolean; earlier_id: string | null; blocked: boolean | null }>(
    db,
    sql`
    select ${sql.raw(callerRules("me.s", "me.ia"))} as caller, p.user_id is not null as is_member,
      (select m.id from messages m where ${input.clientMessageId ?? null}::text is not null and m.conversation_id = v.id
        and m.sender_id = p.user_id and m.client_message_id = ${input.clientMessageId ?? null}::text) as earlier_id,
      v.type = 'direct' and exists (select 1 from user_blocks b where b.blocked_id = p.user_id
        and b.blocker_id in (split_part(v.direct_key, ' ', 1), split_part(v.direct_key, ' ', 2))) as blocked
    from (select ${actor.userId}::text as s, ${actor.issuedAt}::float8 as ia) me
    left join participants p on p.conversation_id = ${conversationId} and p.user_id = me.s
    left join conversations v on v.id = p.conversation_id`,
  );
  // One row always: the caller's, joined to what exists of the rest.
  const facts = row!;
  if (facts.caller) throw CALLER_REFUSALS[facts.caller]();
  if (!facts.is_member) throw REFUSALS.not_member();
  if (facts.earlier_id) {
    const [row] = await db.select().from(messages).where(sql`${messages.id} = ${facts.earlier_id}`);
    if (row) return { stored: row };
  }
  if (facts.blocked) throw REFUSALS.blocked();
  return { stored: undefined };
}
