import { and, desc, eq, gt, gte, inArray, isNull, lt, lte, min, ne, type Placeholder, sql } from "drizzle-orm";
import type { Actor } from "../core/auth";
import type { Context } from "../core/context";
import type { Executor, Transaction } from "../core/db/client";
import { type ConversationRow, conversations, mentions, messages, participants, readMarks } from "../core/db/schema";
import { preparedStatements } from "../core/db/prepared";
import { withTransaction } from "../core/db/transaction";
import { notFound } from "../core/errors";
import { type List, listOf } from "../core/schemas";
import { requireMembership } from "../conversations/membership";
import { requireMessage } from "../messages/service";
import { isBlocked, otherSideOf } from "../moderation/store";
import type { ConversationRead, ConversationUnread, MessageRead, Reader, UnreadCount, UnreadTotals } from "./model";

/** The caller's own counts in one conversation, and the read marker they start from. */
export type UnreadOf = { unreadCount: number; unreadMentionCount: number; lastReadSeq: number };

/** Where a participant's own unread messages start: their marker after a mark-unread, else their watermark. */
const ownMarker = sql<number>`coalesce(${participants.ownReadSeq}, ${participants.lastReadSeq})`;

/**
 * Messages from others, not deleted, above the marker: every seq above it is a message (seqs have
 * no gaps), less the participant's own (counted on the participant) and others' deleted ones (a
 * partial index of tombstones). Nothing here reads the history itself, however long it is. A
 * conversation with nothing new above the marker (most of a user's, most of the time) is answered
 * from the counters alone: with 10,000 conversations the two lookups each would be most of the cost.
 */
const unreadExpr = sql<number>`(case when ${conversations.lastSeq} - ${ownMarker} - ${participants.sentSinceRead} <= 0 then 0
  else greatest(${conversations.lastSeq} - ${ownMarker} - ${participants.sentSinceRead} - (
    select count(*) from ${messages} d
    where d.conversation_id = ${participants.conversationId} and d.seq > ${ownMarker}
      and d.deleted_at is not null and d.sender_id <> ${participants.userId}
  ), 0) end)::int`;

/** Messages above the marker that mention the participant: a range of the mentions table's key. */
const mentionExpr = sql<number>`(case when ${conversations.lastSeq} <= ${ownMarker} then 0 else (
  select count(*) from ${mentions} x
  where x.user_id = ${participants.userId} and x.conversation_id = ${participants.conversationId} and x.seq > ${ownMarker}
) end)::int`;

/** One row per conversation of `userId` (all of them, or those listed) with their unread counts. */
export const unreadQuery = (db: Executor, userId: string | Placeholder, conversationIds?: string[] | Placeholder) =>
  db
    .select({ conversationId: participants.conversationId, unreadCount: unreadExpr.as("unread_count"), unreadMentionCount: mentionExpr.as("unread_mention_count"), lastReadSeq: ownMarker.as("marker") })
    .from(participants)
    .innerJoin(conversations, eq(conversations.id, participants.conversationId))
    .where(
      and(
        eq(participants.userId, userId),
        conversationIds === undefined
          ? undefined
          : // A prepared statement takes the list as one array parameter; a built query lists them.
            Array.isArray(conversationIds)
            ? inArray(participants.conversationId, conversationIds)
            : sql`${participants.conversationId} = any(${conversationIds}::uuid[])`,
      ),
    );

/** The totals of GET /api/me/unread, in one statement over the caller's participant rows. */
export const totalsQuery = (db: Executor, userId: string | Placeholder) => {
  const each = unreadQuery(db, userId).as("each");
  return db
    .select({
      unreadCount: sql<number>`coalesce(sum(${each.unreadCount}), 0)::int`,
      unreadMentionCount: sql<number>`coalesce(sum(${each.unreadMentionCount}), 0)::int`,
      unreadConversations: sql<number>`(count(*) filter (where ${each.unreadCount} > 0))::int`,
    })
    .from(each);
};

const statements = preparedStatements((db) => ({
  unread: unreadQuery(db, sql.placeholder("userId"), sql.placeholder("conversationIds")).prepare("unread_counts"),
  totals: totalsQuery(db, sql.placeholder("userId")).prepare("unread_totals"),
}));

/** `userId`'s unread counts in each of the conversations (those they are a participant of). */
export async function unreadCounts(db: Executor, userId: string, conversationIds: string[]): Promise<Map<string, UnreadOf>> {
  if (conversationIds.length === 0) return new Map();
  const prepared = statements(db);
  const rows = prepared ? await prepared.unread.execute({ userId, conversationIds }) : await unreadQuery(db, userId, conversationIds);
  return new Map(rows.map(({ conversationId, ...counts }) => [conversationId, counts]));
}

/** The caller's unread totals over every conversation of theirs, muted ones included. */
export async function unreadTotals(ctx: Context, actor: Actor): Promise<UnreadTotals> {
  const prepared = statements(ctx.db)!;
  const [row] = await prepared.totals.execute({ userId: actor.userId });
  return row ?? { unreadCount: 0, unreadMentionCount: 0, unreadConversations: 0 };
}

/** A user's unread totals as GET /api/me/unread counts them: a push notification's badge. */
export type UnreadBadge = { unreadCount: number; unreadMentionCount: number };

/**
 * The unread totals of many users at once, in one statement over their participant rows (the same
 * counters as GET /api/me/unread, no history read); a user in no conversation reads zero.
 */
export async function unreadBadges(db: Executor, userIds: string[]): Promise<Map<string, UnreadBadge>> {
  if (userIds.length === 0) return new Map();
  const each = db
    .select({ userId: participants.userId, unreadCount: unreadExpr.as("unread_count"), unreadMentionCount: mentionExpr.as("unread_mention_count") })
    .from(participants)
    .innerJoin(conversations, eq(conversations.id, participants.conversationId))
    // One parameter however many users: a pass may badge tens of thousands.
    // (= any(array(…)) keeps it an index condition on participants_user_idx.)
    .where(sql`${participants.userId} = any(array(select value from jsonb_array_elements_text(${JSON.stringify(userIds)}::jsonb)))`)
    .as("each");
  const rows = await db
    .select({
      userId: each.userId,
      unreadCount: sql<number>`coalesce(sum(${each.unreadCount}), 0)::int`,
      unreadMentionCount: sql<number>`coalesce(sum(${each.unreadMentionCount}), 0)::int`,
    })
    .from(each)
    .groupBy(each.userId);
  const found = new Map(rows.map(({ userId, ...badge }) => [userId, badge]));
  return new Map(userIds.map((userId) => [userId, found.get(userId) ?? { unreadCount: 0, unreadMentionCount: 0 }]));
}

/** Messages in (fromSeq, toSeq]: `others`, those that count as unread for `userId`; `mine`, their own. */
async function countBetween(tx: Executor, conversationId: string, userId: string, fromSeq: number, toSeq: number) {
  const [row] = await tx
    .select({
      others: sql<number>`(count(*) filter (where ${messages.senderId} <> ${userId} and ${messages.deletedAt} is null))::int`,
      mine: sql<number>`(count(*) filter (where ${messages.senderId} = ${userId}))::int`,
    })
    .from(messages)
    .where(and(eq(messages.conversationId, conversationId), gt(messages.seq, fromSeq), lte(messages.seq, toSeq)));
  return row ?? { others: 0, mine: 0 };
}

/**
 * The participant row that read state changes, locked until the transaction ends. The
 * conversation is key-share locked first, as a read mark's foreign key would lock it, so that
 * nothing (a conversation being deleted) is waited for after the participant's lock is held;
 * a send of the same user holds the participant row, and the reader waits for it there.
 */
async function lockReader(tx: Transaction, conversationId: string, userId: string) {
  await tx.select({ id: conversations.id }).from(conversations).where(eq(conversations.id, conversationId)).for("key share");
  const [row] = await tx
    .select({ lastReadSeq: participants.lastReadSeq, ownReadSeq: participants.ownReadSeq, sentSinceRead: participants.sentSinceRead })
    .from(participants)
    .where(and(eq(participants.conversationId, conversationId), eq(participants.userId, userId)))
    .for("update");
  return row && { ...row, own: row.ownReadSeq ?? row.lastReadSeq };
}

/**
 * Reads up to `seq`: moves the watermark others see up to it if it is below (it never moves
 * backwards) and the reader's own marker likewise (it may be below the watermark after a mark
 * unread). Returns undefined when neither moved; else the time of the move, the own marker's
 * move (`from` → `to`), whether the watermark others see moved (`shared`) and, with `count`, how
 * many messages became read for the reader.
 */
async function advance(
  tx: Transaction,
  conversationId: string,
  userId: string,
  seq: number,
  opts: { count?: boolean } = {},
): Promise<{ readAt: Date; from: number; to: number; shared: boolean; count: number } | undefined> {
  const before = await lockReader(tx, conversationId, userId);
  if (!before) return undefined;
  const shared = seq > before.lastReadSeq;
  const to = Math.max(before.own, seq);
  if (!shared && to === before.own) return undefined;
  const readAt = new Date();
  const lastReadSeq = Math.max(before.lastReadSeq, seq);
  // Only a participant with own messages above the marker, or a caller wanting the count, reads the range.
  const between = to > before.own && (opts.count || before.sentSinceRead > 0) ? await countBetween(tx, conversationId, userId, before.own, to) : { others: 0, mine: 0 };
  await tx
    .update(participants)
    .set({
      lastReadSeq,
      ...(shared ? { lastReadAt: readAt } : {}),
      ownReadSeq: to === lastReadSeq ? null : to,
      sentSinceRead: before.sentSinceRead - between.mine,
    })
    .where(and(eq(participants.conversationId, conversationId), eq(participants.userId, userId)));
  if (shared) {
    await tx.insert(readMarks).values({ conversationId, userId, seq, readAt }).onConflictDoNothing();
    await forgetOldMarks(tx, conversationId, userId);
  }
  return { readAt, from: before.own, to, shared, count: between.others };
}

/**
 * Watermark moves kept per participant and conversation. Older ones are deleted as new ones come,
 * so that the table does not grow with every read; a message older than every kept move then
 * reports the oldest kept one's time (later than the truth, never earlier).
 */
const MAX_READ_MARKS = 64;

async function forgetOldMarks(tx: Transaction, conversationId: string, userId: string): Promise<void> {
  const ofParticipant = and(eq(readMarks.conversationId, conversationId), eq(readMarks.userId, userId));
  const oldestKept = tx
    .select({ seq: readMarks.seq })
    .from(readMarks)
    .where(ofParticipant)
    .orderBy(desc(readMarks.seq))
    .offset(MAX_READ_MARKS - 1)
    .limit(1);
  // Fewer marks than that: the subquery is null and nothing is deleted.
  await tx.delete(readMarks).where(and(ofParticipant, lt(readMarks.seq, sql`(${oldestKept})`)));
}

/** A participant left: their read history goes (coming back, they start with the history read, from their new join time). */
export async function forgetReadMarks(tx: Transaction, conversationId: string, userId: string): Promise<void> {
  await tx.delete(readMarks).where(and(eq(readMarks.conversationId, conversationId), eq(readMarks.userId, userId)));
}

/** When `userId` first read message `seq`: the first watermark move at or above it. */
async function readTimeOf(db: Executor, conversationId: string, userId: string, seq: number): Promise<Date | null> {
  const [row] = await db
    .select({ at: min(readMarks.readAt) })
    .from(readMarks)
    .where(and(eq(readMarks.conversationId, conversationId), eq(readMarks.userId, userId), gte(readMarks.seq, seq)));
  return row?.at ? new Date(row.at) : null;
}

/**
 * In a direct conversation, whether the reader blocks the other side: their read events then go
 * to their own sockets only.
 */
async function blocksOtherSide(db: Executor, conversation: ConversationRow, readerId: string): Promise<boolean> {
  if (conversation.type !== "direct") return false;
  const other = otherSideOf(conversation, readerId);
  return other !== undefined && (await isBlocked(db, readerId, other));
}

/** Marks a message, and so every earlier one, read. */
export async function markMessageRead(ctx: Context, actor: Actor, messageId: string): Promise<MessageRead> {
  return withTransaction(ctx, async (tx, after) => {
    const { message, membership } = await requireMessage(tx, messageId, actor.userId);
    const moved = await advance(tx, message.conversationId, actor.userId, message.seq);
    // Already read: when it first was, or, for history that predates the caller, when they joined.
    const readAt = (moved?.shared && moved.readAt) || ((await readTimeOf(tx, message.conversationId, actor.userId, message.seq)) ?? membership.participant.joinedAt);
    const result = { messageId, conversationId: message.conversationId, userId: actor.userId, readAt: readAt.toISOString() };
    // Read again after a mark unread, or by a blocker in their direct conversation: only the
    // reader's own sockets have anything to learn.
    if (moved) {
      const toOwnSocketsOnly = !moved.shared || (await blocksOtherSide(tx, membership.conversation, actor.userId));
      after(() => (toOwnSocketsOnly ? ctx.fanout.toUsers([actor.userId], "message:read", result) : ctx.fanout.toConversation(message.conversationId, "message:read", result)));
    }
    return result;
  });
}

/** Marks the conversation read up to a message (default: its newest); `count` is how many became read. */
export async function markConversationRead(ctx: Context, actor: Actor, conversationId: string, upToMessageId?: string | null): Promise<ConversationRead> {
  return withTransaction(ctx, async (tx, after) => {
    const { conversation } = await requireMembership(tx, conversationId, actor.userId);
    let target: { id: string | null; seq: number };
    if (upToMessageId) {
      const [row] = await tx
        .select({ id: messages.id, seq: messages.seq })
        .from(messages)
        .where(and(eq(messages.id, upToMessageId), eq(messages.conversationId, conversationId)));
      if (!row) throw notFound("Message");
      target = row;
    } else {
      const [latest] = await tx.select({ seq: conversations.lastSeq, id: conversations.lastMessageId }).from(conversations).where(eq(conversations.id, conversationId));
      target = { id: latest?.id ?? conversation.lastMessageId, seq: latest?.seq ?? conversation.lastSeq };
    }
    const moved = await advance(tx, conversationId, actor.userId, target.seq, { count: true });
    const readAt = moved?.readAt ?? new Date();
    const result = { conversationId, userId: actor.userId, upToMessageId: target.id, count: moved?.count ?? 0, readAt: readAt.toISOString() };
    if (moved) {
      const toOwnSocketsOnly = !moved.shared || (await blocksOtherSide(tx, conversation, actor.userId));
      after(() => (toOwnSocketsOnly ? ctx.fanout.toUsers([actor.userId], "conversation:read", result) : ctx.fanout.toConversation(conversationId, "conversation:read", result)));
    }
    return result;
  });
}

/**
 * The participants other than the sender whose watermark covers the message, earliest reader
 * first, each with the first watermark move that covered it. Someone added after the message has
 * no such move (the history starts read for them): their join time stands in.
 */
export async function listReaders(ctx: Context, actor: Actor, messageId: string): Promise<List<Reader>> {
  const { message } = await requireMessage(ctx.db, messageId, actor.userId);
  const readAt = sql<Date | string>`coalesce(min(${readMarks.readAt}), ${participants.joinedAt})`;
  const rows = await ctx.db
    .select({ userId: participants.userId, readAt })
    .from(participants)
    .leftJoin(
      readMarks,
      and(eq(readMarks.conversationId, participants.conversationId), eq(readMarks.userId, participants.userId), gte(readMarks.seq, message.seq)),
    )
    .where(
      and(
        eq(participants.conversationId, message.conversationId),
        gte(participants.lastReadSeq, message.seq),
        ne(participants.userId, message.senderId),
      ),
    )
    .groupBy(participants.userId, participants.joinedAt)
    .orderBy(readAt, participants.userId);
  return listOf(rows.map((r) => ({ userId: r.userId, readAt: new Date(r.readAt).toISOString() })));
}

export async function unreadCount(ctx: Context, actor: Actor, conversationId: string): Promise<UnreadCount> {
  await requireMembership(ctx.db, conversationId, actor.userId);
  const counts = (await unreadCounts(ctx.db, actor.userId, [conversationId])).get(conversationId);
  // Left between the two reads: as for any outsider.
  if (!counts) throw notFound("Conversation");
  return { conversationId, ...counts };
}

/**
 * Mark unread: the caller's own marker goes to just below the message, so that their unread counts
 * (and notifications) count again from it until they read again. The watermark others see, and
 * the read receipts already given, stay. The caller's own sockets learn the new marker.
 */
export async function markUnread(ctx: Context, actor: Actor, conversationId: string, messageId: string): Promise<ConversationUnread> {
  return withTransaction(ctx, async (tx, after) => {
    await requireMembership(tx, conversationId, actor.userId);
    const [message] = await tx
      .select({ seq: messages.seq })
      .from(messages)
      .where(and(eq(messages.id, messageId), eq(messages.conversationId, conversationId)));
    if (!message) throw notFound("Message");
    const before = await lockReader(tx, conversationId, actor.userId);
    if (!before) throw notFound("Conversation");
    const to = message.seq - 1;
    if (to !== before.own) {
      // The caller's own messages between the two markers move to the other side of it.
      const { mine } = to < before.own || before.sentSinceRead > 0
        ? await countBetween(tx, conversationId, actor.userId, Math.min(to, before.own), Math.max(to, before.own))
        : { mine: 0 };
      await tx
        .update(participants)
        .set({ ownReadSeq: to === before.lastReadSeq ? null : to, sentSinceRead: before.sentSinceRead + (to < before.own ? mine : -mine) })
        .where(and(eq(participants.conversationId, conversationId), eq(participants.userId, actor.userId)));
    }
    const counts = (await unreadCounts(tx, actor.userId, [conversationId])).get(conversationId);
    const result = { conversationId, userId: actor.userId, lastReadSeq: to, unreadCount: counts?.unreadCount ?? 0 };
    after(() => ctx.fanout.toUsers([actor.userId], "conversation:unread", result));
    return result;
  });
}
